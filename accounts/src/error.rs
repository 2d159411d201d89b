//! The one error type of the crate: what went wrong and, where possible, what to do about it.

use std::path::PathBuf;

use journal::Username;

/// Everything that can go wrong in the accounts crate.
#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    /// The directory that should hold the database could not be created.
    #[error("cannot create the accounts directory {path}: {source}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The database file could not be created.
    #[error("cannot create the accounts database {path}: {source}")]
    CreateFile {
        /// The database file.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// A read-only open found no database file.
    #[error(
        "accounts database {path} does not exist; create it by running a read-write coursemail \
         command once (e.g. `coursemail user add`, or start `coursemail web`)"
    )]
    Missing {
        /// The database file.
        path: PathBuf,
    },
    /// Opening or preparing the database failed.
    #[error("cannot open the accounts database {path}: {source}")]
    Open {
        /// The database file.
        path: PathBuf,
        /// The underlying SQLite error.
        source: rusqlite::Error,
    },
    /// A read-write open could only get read access to the file.
    #[error(
        "accounts database {path} is not writable (read-only mount or file permissions); give this \
         service write access, or open it read-only if it only reads"
    )]
    NotWritable {
        /// The database file.
        path: PathBuf,
    },
    /// The database could not be switched to write-ahead logging.
    #[error(
        "accounts database {path} is in journal mode {mode:?} instead of WAL; check that the \
         directory is writable and on a local file system"
    )]
    NotWal {
        /// The database file.
        path: PathBuf,
        /// The journal mode SQLite reported.
        mode: String,
    },
    /// SQLite refused to keep its `-wal`/`-shm` files, which read-only readers depend on.
    #[error(
        "cannot make SQLite keep the WAL files of {path} (sqlite error code {code}); read-only \
         readers (smtp, pop) would fail"
    )]
    PersistWal {
        /// The database file.
        path: PathBuf,
        /// The SQLite result code.
        code: i32,
    },
    /// After a read-write open, the `-wal` or `-shm` file that read-only readers need is missing.
    #[error(
        "{path} is missing after opening the accounts database read-write; read-only readers \
         (smtp, pop) need it: check the directory's permissions and free space"
    )]
    WalFileMissing {
        /// The missing file.
        path: PathBuf,
    },
    /// The database was written by a newer coursemail.
    #[error(
        "accounts database {path} has schema version {found}, but this coursemail only knows \
         versions up to {supported}; upgrade coursemail (never run an older one on a newer database)"
    )]
    SchemaTooNew {
        /// The database file.
        path: PathBuf,
        /// The version found in the file.
        found: i64,
        /// The newest version this code knows.
        supported: i64,
    },
    /// A read-only open found a database that still needs migrating.
    #[error(
        "accounts database {path} has schema version {found}, older than this coursemail's \
         {expected}, and this service opens it read-only; run a read-write coursemail command once \
         (e.g. `coursemail user list` with the accounts volume writable, or start `coursemail \
         web`) to migrate it"
    )]
    SchemaOutdated {
        /// The database file.
        path: PathBuf,
        /// The version found in the file.
        found: i64,
        /// The version this code needs.
        expected: i64,
    },
    /// A query failed.
    #[error("accounts database query failed: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A row in the database breaks an invariant the code relies on.
    #[error(
        "accounts database holds an invalid {what} {value:?}; fix or remove that row with the \
         sqlite3 shell"
    )]
    CorruptRow {
        /// Which column.
        what: &'static str,
        /// The offending value.
        value: String,
    },
    /// `add_user` with a username that is taken.
    #[error("user {0} already exists; pick another username or remove the existing user first")]
    UserExists(Username),
    /// `add_user` with a student id that another user already has.
    #[error("student id {student_id:?} already belongs to user {owner}; each student id is unique")]
    StudentIdTaken {
        /// The (trimmed) student id.
        student_id: String,
        /// Who has it.
        owner: String,
    },
    /// The named user does not exist.
    #[error("no user named {0}; `coursemail user list` shows who exists")]
    UnknownUser(Username),
    /// A student id that is empty, too long or contains control characters.
    #[error(
        "student id {0:?} is invalid: after trimming spaces it must be 1 to 64 printable characters"
    )]
    InvalidStudentId(String),
    /// A full name with control characters or too long.
    #[error(
        "full name {0:?} is invalid: use at most 200 characters and no control characters \
         (it goes into Signed-off-by lines)"
    )]
    InvalidFullName(String),
    /// A password shorter than the minimum.
    #[error("the password is too short: use at least {min} characters")]
    PasswordTooShort {
        /// The minimum length in characters.
        min: usize,
    },
    /// A password longer than the maximum.
    #[error("the password is too long: use at most {max} characters")]
    PasswordTooLong {
        /// The maximum length in characters.
        max: usize,
    },
    /// argon2 failed to hash a password.
    #[error("password hashing failed: {0}")]
    Hash(String),
    /// The blocking task that checked a password did not finish.
    #[error("the password check was interrupted: {0}")]
    Interrupted(String),
}
