//! denis, coursemail's grader (SPEC §8, §9): the intake that checks every submission as it
//! arrives, the course database, and the `grading.git` repository.
//!
//! The binary wires it in these places:
//! - `coursemail denis` / `up`: [`Intake::open`] then [`Intake::run`] with a shutdown token.
//! - smtp's recipient directory: [`CourseDb::is_assignment`] on a read-only [`CourseDb`].
//! - the CLI: [`CourseDb`]'s assignment functions, [`Intake::process_all_pending`], and the
//!   `inspect` queries in [`query`].
//! - deadlines: [`DeadlineRunner::open`], then [`Scheduler::run`] inside `coursemail denis`;
//!   [`DeadlineRunner::run_due`] for `deadlines run-due`, [`DeadlineRunner::trigger`] for
//!   `assignment trigger`, [`DeadlineRunner::lift_restriction`] for the instructor action.
//! - grades: [`CourseDb::set_grade`], [`grades::gradebook()`] and [`grades::write_csv`] for
//!   `grade set|export`; [`CourseDb::use_oopsie`] for the web.
//!
//! # Layout
//! - [`model`]: the vocabulary: assignment names and deadlines, components, kinds, statuses,
//!   findings and severities (pure).
//! - [`db`]: the [`CourseDb`] handle: WAL setup, read-only opening, connection pool.
//! - `db/migrate`: numbered schema migrations (`migrations/*.sql`) tracked in `user_version`.
//! - [`db::assignments`]: create, get and list assignments; the recipient check; reviewers.
//! - [`db::intake`]: the one-transaction record of a processed session and its lookups.
//! - [`db::deadlines`]: deadline run claims, completion and records (`deadline_runs`).
//! - [`db::reviews`]: the peer-review cycle, stored once per assignment.
//! - [`db::grades`]: instructor grades and automatic zeros (`grades`).
//! - [`db::oopsies`]: using an oopsie (N per term, before the initial deadline).
//! - [`db::requests`]: instructor requests from the web (lift, trigger) that denis carries out.
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
//! - [`deadlines`]: the [`DeadlineRunner`]: run due deadlines, trigger one, lift restrictions.
//! - [`deadlines::due`]: which deadlines are due, and when the next falls (pure).
//! - [`deadlines::cycle`]: the random peer-review cycle, each reviewing the next two (pure).
//! - `deadlines/lock`: the lock file that tells a crashed runner from a running one.
//! - `deadlines/initial`, `peer_review`, `final_`: what each deadline does, in safe order.
//! - `deadlines/release`: a deadline's submissions into the journal in one append.
//! - [`deadlines::scheduler`]: the [`Scheduler`]: sleep until the next deadline, catch up.
//! - [`grades`]: scores, the gradebook and its CSV export; errors for grades and oopsies.
//! - [`mod@grades::total`]: the SPEC §10 total formula (pure).
//! - [`mod@grades::distribution`]: the grade distribution counted in the database, kept until a
//!   total can change.
//! - [`grades::csv`]: RFC 4180 CSV with formula-injection defused (pure).
//! - `git`: the sandboxed git runner (empty environment, no hooks, time limit, killed as a process
//!   group).
//! - [`error`]: [`CourseDbError`], [`GitError`], [`IntakeError`].

#![warn(missing_docs)]

pub mod db;
pub mod deadlines;
pub mod error;
mod git;
pub mod grades;
pub mod grading;
pub mod intake;
pub mod model;
pub mod query;

/// Errors opening `course.db`, wrapped in [`CourseDbError::Database`].
pub use database::DbError;
pub use db::CourseDb;
pub use db::assignments::{NewAssignment, Removal};
pub use db::deadlines::{DeadlineRun, RunSummary};
pub use db::grades::{Grade, GradeEntry};
pub use db::intake::{Gradeable, Submission};
pub use db::oopsies::DEFAULT_OOPSIES_PER_TERM;
pub use db::requests::{Request, RequestAction};
pub use db::reviews::PeerReview;
pub use deadlines::{DeadlineError, DeadlineRunner, DueReport, RunOutcome, Scheduler};
pub use error::{CourseDbError, GitError, IntakeError};
pub use grades::{GradeError, GradebookRow, OopsieError, Score, Total};
pub use grading::GradingRepo;
pub use intake::{Intake, IntakeConfig, IntakeReport};
pub use model::{
    Assignment, AssignmentName, Check, Component, Deadline, Deadlines, Finding, Kind, ReviewSlot,
    Severity, Status, summarize,
};
pub use query::{Filter, GradeableRow, MissingRow, OopsieRow};
