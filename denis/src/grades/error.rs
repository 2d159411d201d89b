//! What can go wrong recording grades and oopsies: [`GradeError`], [`OopsieError`],
//! [`ScoreError`].

use journal::Username;

use crate::error::CourseDbError;
use crate::model::AssignmentName;

/// A score outside 0–100, or not a whole number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a valid score: use a whole number from 0 to 100")]
pub struct ScoreError(pub String);

/// What went wrong entering or exporting grades.
#[derive(Debug, thiserror::Error)]
pub enum GradeError {
    /// The course database failed.
    #[error(transparent)]
    Db(#[from] CourseDbError),
    /// The accounts database failed.
    #[error(transparent)]
    Accounts(#[from] accounts::AccountsError),
    /// No assignment of that name.
    #[error("there is no assignment {0}; `coursemail assignment list` shows them")]
    UnknownAssignment(AssignmentName),
    /// The user does not exist or is not a student.
    #[error("{0} is not a student of this course; `coursemail user list` shows the roster")]
    NotAStudent(Username),
    /// Writing the export failed.
    #[error("cannot write the gradebook: {0}")]
    Write(#[source] std::io::Error),
    /// A gradebook page that does not exist (past the last, or 0).
    #[error("there is no page {page} of the gradebook: it has {pages} {}, numbered from 1",
        if *pages == 1 { "page" } else { "pages" })]
    NoSuchPage {
        /// The page asked for.
        page: usize,
        /// How many pages there are.
        pages: usize,
    },
}

/// Why an oopsie (SPEC §10) cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum OopsieError {
    /// The course database failed.
    #[error(transparent)]
    Db(#[from] CourseDbError),
    /// No assignment of that name.
    #[error("there is no assignment {0}")]
    UnknownAssignment(AssignmentName),
    /// The initial deadline has passed (or was triggered).
    #[error(
        "the initial deadline of {0} has passed; an oopsie can only be used before it, ask an \
         instructor instead"
    )]
    TooLate(AssignmentName),
    /// This student already used an oopsie on this assignment.
    #[error("you already used an oopsie on {0}; it applies once per assignment")]
    AlreadyUsed(AssignmentName),
    /// No oopsie left this term.
    #[error("you have used all {allowance} of your oopsies this term (last on {used_on})")]
    NoneLeft {
        /// Oopsies per term.
        allowance: u32,
        /// The assignment of the most recent one.
        used_on: AssignmentName,
    },
}
