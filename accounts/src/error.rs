//! The one error type of the crate: what went wrong and, where possible, what to do about it.

use journal::Username;

/// Everything that can go wrong in the accounts crate.
#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    /// Opening, creating or migrating the database failed.
    #[error("accounts: {0}")]
    Database(#[from] database::DbError),
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
