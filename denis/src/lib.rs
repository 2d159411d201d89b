//! denis, coursemail's grader (SPEC §8, §9): the intake that checks every submission as it
//! arrives, the course database, and the `grading.git` repository.
//!
//! The binary wires it in three places:
//! - `coursemail denis` / `up`: [`Intake::open`] then [`Intake::run`] with a shutdown token.
//! - smtp's recipient directory: [`CourseDb::is_assignment`] on a read-only [`CourseDb`].
//! - the CLI: [`CourseDb`]'s assignment functions, [`Intake::process_all_pending`], and the
//!   `inspect` queries in [`query`].
//!
//! # Layout
//! - [`model`]: the vocabulary: assignment names and deadlines, components, kinds, statuses,
//!   findings and severities (pure).
//! - [`db`]: the [`CourseDb`] handle: WAL setup, read-only opening, connection pool.
//! - `db/migrate`: numbered schema migrations (`migrations/*.sql`) tracked in `user_version`.
//! - [`db::assignments`]: create, get and list assignments; the recipient check; reviewers.
//! - [`db::intake`]: the one-transaction record of a processed session and its lookups.
//! - [`query`]: what `coursemail inspect` shows: submissions, gradeables, missing, oopsies.
//! - [`intake`]: the [`Intake`] service: catch-up scan, inotify, bounded parallel processing.
//! - `intake/queue`: which session runs next: id order, one per sender at a time (pure).
//! - `intake/watch`: inotify on `logs/`, with a rescan when events are lost.
//! - `intake/process`: one session end to end, in crash-safe order.
//! - [`intake::message`]: stored messages back to what was sent; the mailbox `git am` reads.
//! - [`intake::classify`]: patchset, review, discussion or refused (pure).
//! - [`intake::check`]: the patchset checks with `git am` in a temporary repository.
//! - [`intake::check::rules`]: cover letter, paths, sign-off and subject tag rules (pure).
//! - `intake/check/workspace`: the temporary directory and the base the series applies to.
//! - [`grading`]: `grading.git`: one forced tag per submission.
//! - `git`: the sandboxed git runner (empty environment, no hooks, time limit).
//! - [`error`]: [`CourseDbError`], [`GitError`], [`IntakeError`].

#![warn(missing_docs)]

pub mod db;
pub mod error;
mod git;
pub mod grading;
pub mod intake;
pub mod model;
pub mod query;

pub use db::CourseDb;
pub use db::assignments::NewAssignment;
pub use db::intake::{Gradeable, Submission};
pub use error::{CourseDbError, GitError, IntakeError};
pub use grading::GradingRepo;
pub use intake::{Intake, IntakeConfig, IntakeReport};
pub use model::{
    Assignment, AssignmentName, Component, Deadlines, Finding, Kind, ReviewSlot, Severity, Status,
};
pub use query::{Filter, GradeableRow, MissingRow, OopsieRow};
