//! The crate's error types: [`CourseDbError`] for `course.db`, [`GitError`] for the sandboxed
//! git runs, and [`IntakeError`] for everything the intake service does.

use std::io;
use std::path::PathBuf;

use journal::SubmissionId;

use crate::model::{AssignmentName, AssignmentNameError, DeadlineOrderError};

/// What went wrong with the course database.
#[derive(Debug, thiserror::Error)]
pub enum CourseDbError {
    /// The database's directory could not be created.
    #[error("cannot create directory {}: {source}", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The database file could not be created.
    #[error("cannot create database file {}: {source}", path.display())]
    CreateFile {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A read-only open found no database.
    #[error(
        "course database {} does not exist; start `coursemail denis` or run any read-write \
         `coursemail assignment` command once to create it",
        path.display()
    )]
    Missing {
        /// The expected file.
        path: PathBuf,
    },
    /// SQLite could not open or configure the file.
    #[error("cannot open course database {}: {source}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: rusqlite::Error,
    },
    /// A read-write open got a read-only database.
    #[error(
        "course database {} is not writable (read-only mount or permissions); denis, web and \
         the CLI need it read-write",
        path.display()
    )]
    NotWritable {
        /// The file.
        path: PathBuf,
    },
    /// WAL mode could not be enabled.
    #[error("course database {} refused WAL mode (got {mode:?}); it must be on a local file system", path.display())]
    NotWal {
        /// The file.
        path: PathBuf,
        /// The journal mode SQLite reported.
        mode: String,
    },
    /// `SQLITE_FCNTL_PERSIST_WAL` failed.
    #[error("cannot keep the WAL files of {} (SQLite error {code})", path.display())]
    PersistWal {
        /// The file.
        path: PathBuf,
        /// The SQLite result code.
        code: i32,
    },
    /// A WAL side file is missing after opening.
    #[error(
        "{} is missing after opening the course database; read-only readers need it, check the \
         directory's permissions",
        path.display()
    )]
    WalFileMissing {
        /// The missing `-wal` or `-shm` file.
        path: PathBuf,
    },
    /// The schema was written by newer code.
    #[error(
        "course database {} has schema version {found}, newer than this coursemail supports \
         ({supported}); upgrade coursemail",
        path.display()
    )]
    SchemaTooNew {
        /// The file.
        path: PathBuf,
        /// The version found.
        found: i64,
        /// The newest version this code knows.
        supported: i64,
    },
    /// A read-only open found an old schema it may not migrate.
    #[error(
        "course database {} has schema version {found}, older than {expected}; run a \
         read-write coursemail command (e.g. `coursemail denis`) once to migrate it",
        path.display()
    )]
    SchemaOutdated {
        /// The file.
        path: PathBuf,
        /// The version found.
        found: i64,
        /// The version this code needs.
        expected: i64,
    },
    /// A query failed.
    #[error("course database query failed: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The assignment name is not valid.
    #[error(transparent)]
    InvalidName(#[from] AssignmentNameError),
    /// The deadlines are out of order.
    #[error(transparent)]
    DeadlineOrder(#[from] DeadlineOrderError),
    /// The assignment name is already used by another address.
    #[error("{name} is already {taken_by}; assignment names must differ from every other address")]
    NameTaken {
        /// The requested name.
        name: AssignmentName,
        /// What holds it ("a username", "a list address").
        taken_by: &'static str,
    },
    /// An assignment of that name exists.
    #[error("assignment {0} already exists; use `coursemail assignment alter` to change it")]
    AssignmentExists(AssignmentName),
    /// The accounts database could not be asked.
    #[error(transparent)]
    Accounts(#[from] accounts::AccountsError),
}

/// What went wrong running git.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// git could not be started.
    #[error("cannot run git ({source}); install git and make sure it is on PATH")]
    Spawn {
        /// The underlying error.
        source: io::Error,
    },
    /// Writing to or reading from git failed.
    #[error("cannot talk to `git {command}`: {source}")]
    Io {
        /// The git subcommand.
        command: String,
        /// The underlying error.
        source: io::Error,
    },
    /// The time limit of the submission ran out; the child was killed.
    #[error("`git {command}` did not finish within the time limit and was killed")]
    TimedOut {
        /// The git subcommand.
        command: String,
    },
    /// git exited unsuccessfully where it must not.
    #[error("`git {command}` failed ({status}): {stderr}")]
    Failed {
        /// The git subcommand.
        command: String,
        /// How it exited.
        status: String,
        /// Its error output, trimmed.
        stderr: String,
    },
}

/// What went wrong in the intake service.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    /// The course database failed.
    #[error(transparent)]
    Db(#[from] CourseDbError),
    /// The accounts database failed.
    #[error(transparent)]
    Accounts(#[from] accounts::AccountsError),
    /// A session record could not be listed or read.
    #[error(transparent)]
    SessionLog(#[from] journal::session_log::SessionLogError),
    /// A stored message could not be read.
    #[error(transparent)]
    Store(#[from] journal::StoreError),
    /// The journal could not be written.
    #[error(transparent)]
    Journal(#[from] journal::JournalError),
    /// git failed outside of what the checks judge (grading.git, the temporary repository).
    #[error(transparent)]
    Git(#[from] GitError),
    /// A file or directory of denis' own could not be used.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path concerned.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// inotify could not be set up on `logs/`.
    #[error(
        "cannot watch {} for closed sessions ({source}); raise fs.inotify.max_user_watches or \
         max_user_instances; intake keeps polling meanwhile",
        path.display()
    )]
    Watch {
        /// The watched directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The sender of a session has no account (removed after sending).
    #[error(
        "session {submission} was sent by {username}, who has no account any more; restore \
         the account or remove logs/{submission}"
    )]
    UnknownSender {
        /// The session.
        submission: SubmissionId,
        /// Its sender.
        username: String,
    },
    /// A worker task ended abnormally.
    #[error("an intake worker stopped unexpectedly: {0}")]
    Worker(String),
}

impl IntakeError {
    /// A closure turning an `io::Error` into [`IntakeError::Io`] for `action` on `path`.
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(io::Error) -> IntakeError {
        let path = path.into();
        move |source| IntakeError::Io {
            action,
            path,
            source,
        }
    }
}
