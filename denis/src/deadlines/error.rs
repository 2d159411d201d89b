//! [`DeadlineError`]: what can go wrong running a deadline.

use std::path::PathBuf;

use journal::SubmissionId;

use crate::error::CourseDbError;
use crate::model::{AssignmentName, Deadline};

/// What went wrong running, triggering or scheduling deadlines.
#[derive(Debug, thiserror::Error)]
pub enum DeadlineError {
    /// The course database failed.
    #[error(transparent)]
    Db(#[from] CourseDbError),
    /// The accounts database failed.
    #[error(transparent)]
    Accounts(#[from] accounts::AccountsError),
    /// The journal could not be written.
    #[error(transparent)]
    Journal(#[from] journal::JournalError),
    /// A message to release could not be read from `mail/`.
    #[error(transparent)]
    Store(#[from] journal::StoreError),
    /// The lock file that serialises deadline runners could not be used.
    #[error("cannot lock {}: {source}", path.display())]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Another runner held the lock for too long.
    #[error(
        "another deadline runner has held {} for over {waited_secs} s; let it finish (its log \
         says what it runs) and try again",
        path.display()
    )]
    LockTimeout {
        /// The lock file.
        path: PathBuf,
        /// How long this runner waited.
        waited_secs: u64,
    },
    /// No assignment of that name.
    #[error("there is no assignment {0}; `coursemail assignment list` shows them")]
    UnknownAssignment(String),
    /// A deadline was triggered before the one it builds on.
    #[error(
        "the {earlier} deadline of {assignment} has not run yet; trigger it first, then \
         {deadline}"
    )]
    EarlierDeadlinePending {
        /// The assignment.
        assignment: AssignmentName,
        /// The deadline asked for.
        deadline: Deadline,
        /// The deadline that must run first.
        earlier: Deadline,
    },
    /// A gradeable names a submission that is not recorded, or one whose message ids cannot
    /// exist: `course.db` is damaged.
    #[error(
        "submission {0} has a gradeable but no usable record in course.db; restore course.db \
         from a backup"
    )]
    DamagedSubmission(SubmissionId),
    /// A blocking task of the scheduler ended abnormally.
    #[error("a deadline task stopped unexpectedly: {0}")]
    Worker(String),
}
