//! Deadline runs in `course.db` (SPEC §9): the claim that makes each (assignment, deadline)
//! run once, its completion with a summary, and the records the web and CLI show.
//!
//! The claim alone does not tell a crashed runner from a running one; the caller holds
//! `course/deadlines.lock` (see `crate::deadlines::lock`) around claim, work and finish, so
//! under that lock an unfinished row can only be left by a runner that died.

use std::fmt;

use rusqlite::{OptionalExtension, Row, TransactionBehavior, params};

use super::{CourseDb, text};
use crate::error::CourseDbError;
use crate::model::{AssignmentName, Deadline};

/// What a deadline run did, for its log line and the dashboard (SPEC §9).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// Students frozen because they had no initial submission (initial deadline).
    pub delinquent: u32,
    /// Submissions (patchsets or reviews) released into the journal.
    pub released: u32,
    /// Oopsie users re-allowed (final deadline).
    pub allowed: u32,
    /// Automatic zeros given for missing or fatal work.
    pub auto_zeroed: u32,
}

impl fmt::Display for RunSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} delinquent, {} released, {} re-allowed, {} auto-zeroed",
            self.delinquent, self.released, self.allowed, self.auto_zeroed
        )
    }
}

/// A row of `deadline_runs`: one (assignment, deadline) that was started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadlineRun {
    /// The assignment.
    pub assignment: AssignmentName,
    /// Which of its deadlines.
    pub deadline: Deadline,
    /// When the first runner claimed it, Unix seconds.
    pub started_at: i64,
    /// When it finished; `None` while running or after a crash (the next runner resumes it).
    pub finished_at: Option<i64>,
    /// How many runners worked on it (more than 1 after a resumed crash).
    pub attempts: i64,
    /// The counts, once finished.
    pub summary: Option<RunSummary>,
    /// When it was scheduled, if it ran before that (an instructor ran it early): from the
    /// run on, the deadline counts as passed everywhere (SPEC §10), so the assignment's
    /// deadline was moved to the run's time and this keeps the original date.
    pub scheduled_at: Option<i64>,
}

/// The outcome of [`CourseDb::claim_deadline`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Claim {
    /// Nobody had started it: the caller runs it.
    Fresh,
    /// A runner started it and died: the caller runs it again (every step is idempotent).
    Resumed {
        /// When the crashed run started.
        started_at: i64,
    },
    /// It has run; nothing to do.
    Finished(DeadlineRun),
}

const RUN_COLUMNS: &str = "assignment, component, started_at, finished_at, attempts, \
     delinquent, released, allowed, auto_zeroed, scheduled_at";

fn run_from_row(row: &Row<'_>) -> rusqlite::Result<DeadlineRun> {
    let finished_at: Option<i64> = row.get(3)?;
    let count = |idx: usize| -> rusqlite::Result<u32> {
        let n: Option<i64> = row.get(idx)?;
        Ok(n.and_then(|n| u32::try_from(n).ok()).unwrap_or(0))
    };
    let summary = match finished_at {
        Some(_) => Some(RunSummary {
            delinquent: count(5)?,
            released: count(6)?,
            allowed: count(7)?,
            auto_zeroed: count(8)?,
        }),
        None => None,
    };
    Ok(DeadlineRun {
        assignment: text(row, 0)?,
        deadline: text(row, 1)?,
        started_at: row.get(2)?,
        finished_at,
        attempts: row.get(4)?,
        summary,
        scheduled_at: row.get(9)?,
    })
}

/// The `assignments` column holding `deadline` (a fixed set, so never built from input).
fn deadline_column(deadline: Deadline) -> &'static str {
    match deadline {
        Deadline::Initial => "initial_at",
        Deadline::PeerReview => "peer_review_at",
        Deadline::Final => "final_at",
    }
}

impl CourseDb {
    /// Claims `deadline` of `assignment` for a run at `now`, in one IMMEDIATE transaction.
    ///
    /// With `move_deadline` (a deadline run on request: `assignment trigger`, or the web), the
    /// deadline is first set to `now` if it is unset (a dummy assignment) or still ahead (a
    /// scheduled one run early), in the same transaction, but never before the previous
    /// deadline, to keep them in order. From then on everything that compares with the
    /// deadline (intake's classification, the dashboards, the oopsie) treats it as passed,
    /// exactly as if its date had been that moment (SPEC §10); the run keeps the scheduled date
    /// in [`DeadlineRun::scheduled_at`].
    pub(crate) fn claim_deadline(
        &self,
        assignment: &AssignmentName,
        deadline: Deadline,
        now: i64,
        move_deadline: bool,
    ) -> Result<Claim, CourseDbError> {
        self.with_conn(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let existing = tx
                .prepare_cached(&format!(
                    "SELECT {RUN_COLUMNS} FROM deadline_runs
                     WHERE assignment = ?1 AND component = ?2"
                ))?
                .query_row(
                    params![assignment.as_str(), deadline.as_str()],
                    run_from_row,
                )
                .optional()?;
            let claim = match existing {
                Some(run) if run.finished_at.is_some() => return Ok(Claim::Finished(run)),
                Some(run) => {
                    tx.execute(
                        "UPDATE deadline_runs SET attempts = attempts + 1
                         WHERE assignment = ?1 AND component = ?2",
                        params![assignment.as_str(), deadline.as_str()],
                    )?;
                    Claim::Resumed {
                        started_at: run.started_at,
                    }
                }
                None => {
                    let column = deadline_column(deadline);
                    let scheduled: Option<i64> = tx
                        .query_row(
                            &format!("SELECT {column} FROM assignments WHERE name = ?1"),
                            [assignment.as_str()],
                            |r| r.get(0),
                        )
                        .optional()?
                        .flatten();
                    let early = scheduled.filter(|&at| at > now);
                    if move_deadline && (scheduled.is_none() || early.is_some()) {
                        let floor = match deadline.previous() {
                            Some(p) => format!("max(?2, coalesce({}, ?2))", deadline_column(p)),
                            None => "?2".to_string(),
                        };
                        tx.execute(
                            &format!("UPDATE assignments SET {column} = {floor} WHERE name = ?1"),
                            params![assignment.as_str(), now],
                        )?;
                    }
                    tx.execute(
                        "INSERT INTO deadline_runs (assignment, component, started_at, scheduled_at)
                         VALUES (?1, ?2, ?3, ?4)",
                        params![
                            assignment.as_str(),
                            deadline.as_str(),
                            now,
                            early.filter(|_| move_deadline)
                        ],
                    )?;
                    Claim::Fresh
                }
            };
            tx.commit()?;
            Ok(claim)
        })
    }

    /// Marks a claimed run finished with its summary; returns the finished record.
    pub(crate) fn finish_deadline(
        &self,
        assignment: &AssignmentName,
        deadline: Deadline,
        now: i64,
        summary: &RunSummary,
    ) -> Result<DeadlineRun, CourseDbError> {
        self.with_conn(|conn| {
            Ok(conn
                .prepare_cached(&format!(
                    "UPDATE deadline_runs
                     SET finished_at = ?3, delinquent = ?4, released = ?5, allowed = ?6,
                         auto_zeroed = ?7, summary = ?8
                     WHERE assignment = ?1 AND component = ?2 AND finished_at IS NULL
                     RETURNING {RUN_COLUMNS}"
                ))?
                .query_row(
                    params![
                        assignment.as_str(),
                        deadline.as_str(),
                        now,
                        summary.delinquent,
                        summary.released,
                        summary.allowed,
                        summary.auto_zeroed,
                        summary.to_string(),
                    ],
                    run_from_row,
                )?)
        })
    }

    /// The run of `deadline` of `assignment`, if it was ever started.
    pub fn deadline_run(
        &self,
        assignment: &AssignmentName,
        deadline: Deadline,
    ) -> Result<Option<DeadlineRun>, CourseDbError> {
        self.with_conn(|conn| {
            Ok(conn
                .prepare_cached(&format!(
                    "SELECT {RUN_COLUMNS} FROM deadline_runs
                     WHERE assignment = ?1 AND component = ?2"
                ))?
                .query_row(
                    params![assignment.as_str(), deadline.as_str()],
                    run_from_row,
                )
                .optional()?)
        })
    }

    /// Every started run (of `assignment` only, if given), by start time: the web's and the
    /// CLI's record of what the deadlines did.
    pub fn deadline_runs(
        &self,
        assignment: Option<&AssignmentName>,
    ) -> Result<Vec<DeadlineRun>, CourseDbError> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {RUN_COLUMNS} FROM deadline_runs
                 WHERE ?1 IS NULL OR assignment = ?1
                 ORDER BY started_at, assignment, component"
            ))?;
            let rows = stmt.query_map([assignment.map(AssignmentName::as_str)], run_from_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::assignments::NewAssignment;

    fn course() -> (tempfile::TempDir, CourseDb, accounts::Accounts) {
        let dir = tempfile::tempdir().unwrap();
        let db = CourseDb::open(&dir.path().join("course.db")).unwrap();
        let accounts = accounts::Accounts::open(&dir.path().join("accounts.db")).unwrap();
        (dir, db, accounts)
    }

    fn hw1() -> AssignmentName {
        AssignmentName::parse("hw1").unwrap()
    }

    #[test]
    fn a_deadline_is_claimed_once_resumed_while_unfinished_and_done_when_finished() {
        let (_dir, db, accounts) = course();
        db.create_assignment(&NewAssignment::scheduled(hw1(), 10, 20, 30), &accounts, &[])
            .unwrap();
        let claim = db.claim_deadline(&hw1(), Deadline::Initial, 11, false);
        assert_eq!(claim.unwrap(), Claim::Fresh);
        let again = db.claim_deadline(&hw1(), Deadline::Initial, 12, false);
        assert_eq!(again.unwrap(), Claim::Resumed { started_at: 11 });
        let summary = RunSummary {
            delinquent: 1,
            released: 2,
            allowed: 0,
            auto_zeroed: 3,
        };
        db.finish_deadline(&hw1(), Deadline::Initial, 13, &summary)
            .unwrap();
        let Claim::Finished(run) = db
            .claim_deadline(&hw1(), Deadline::Initial, 14, false)
            .unwrap()
        else {
            panic!("a finished run is not claimed again");
        };
        assert_eq!(run.started_at, 11);
        assert_eq!(run.finished_at, Some(13));
        assert_eq!(run.attempts, 2);
        assert_eq!(run.summary, Some(summary));
        assert_eq!(db.deadline_runs(None).unwrap(), vec![run]);
    }

    #[test]
    fn claiming_a_dummy_deadline_sets_it_once_and_never_before_the_previous_one() {
        let (_dir, db, accounts) = course();
        db.create_assignment(&NewAssignment::dummy(hw1()), &accounts, &[])
            .unwrap();
        db.claim_deadline(&hw1(), Deadline::Initial, 100, true)
            .unwrap();
        // A clock that went backwards must not put peer review before initial.
        db.claim_deadline(&hw1(), Deadline::PeerReview, 90, true)
            .unwrap();
        let d = db.get_assignment("hw1").unwrap().unwrap().deadlines;
        assert_eq!(
            (d.initial, d.peer_review, d.final_),
            (Some(100), Some(100), None)
        );
        db.claim_deadline(&hw1(), Deadline::Initial, 500, true)
            .unwrap();
        let d = db.get_assignment("hw1").unwrap().unwrap().deadlines;
        assert_eq!(
            d.initial,
            Some(100),
            "a resumed claim keeps the first trigger time"
        );
    }
}
