//! The crate's error types: [`CourseDbError`] for `course.db`, [`GitError`] for the sandboxed
//! git runs, and [`IntakeError`] for everything the intake service does.

use std::io;
use std::path::PathBuf;

use journal::SubmissionId;

use crate::model::{AssignmentName, AssignmentNameError, DeadlineOrderError};

/// What went wrong with the course database.
#[derive(Debug, thiserror::Error)]
pub enum CourseDbError {
    /// Opening, creating or migrating the database failed.
    #[error("course: {0}")]
    Database(#[from] database::DbError),
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
    /// The configuration file every git run reads could not be written to its private home.
    #[error(
        "cannot write git's configuration {} ({source}); make sure denis can write to its \
         work directory",
        path.display()
    )]
    Config {
        /// The file.
        path: PathBuf,
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
