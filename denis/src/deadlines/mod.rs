//! The deadlines of every assignment (SPEC §9): initial, peer review, final, each run once.
//!
//! [`DeadlineRunner`] does the work; it is blocking (SQLite, journal), so the CLI calls it
//! directly and async code through `spawn_blocking` ([`Scheduler`] does). A run is claimed in
//! `deadline_runs` while `course/deadlines.lock` is held (see `lock`), so the daemon's
//! scheduler and cron's `run-due` never both process a deadline, and a run whose runner
//! crashed is resumed by the next one. Every step of a run is idempotent.
//!
//! - `due`: which deadlines are due and when the next one falls (pure).
//! - [`cycle`]: the random peer-review cycle (pure).
//! - `lock`: the lock file that tells a crashed runner from a running one.
//! - `initial`, `peer_review`, `final_`: what each deadline does.
//! - `release`: submissions into the journal in one append.
//! - [`scheduler`]: the [`Scheduler`] inside `coursemail denis`.
//! - [`error`]: the [`DeadlineError`] type.

pub mod cycle;
pub mod due;
pub mod error;
mod final_;
mod initial;
mod lock;
mod peer_review;
mod release;
pub mod scheduler;

use std::collections::{BTreeSet, HashSet};
use std::time::{Duration, Instant};

use accounts::{Accounts, Role};
use journal::{DataRoot, JournalWriter, MailStore, Restriction, Username};

use crate::db::CourseDb;
use crate::db::deadlines::{Claim, DeadlineRun, RunSummary};
use crate::db::requests::RequestAction;
use crate::model::{Assignment, AssignmentName, Deadline};
pub use due::Due;
pub use error::DeadlineError;
use lock::RunLock;
pub use scheduler::Scheduler;

/// How long a runner waits for another to finish before giving up.
const LOCK_WAIT: Duration = Duration::from_secs(600);

/// What [`DeadlineRunner::trigger`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunOutcome {
    /// This call ran the deadline (resuming a crashed run if `resumed`).
    Ran {
        /// The finished run.
        run: DeadlineRun,
        /// A crashed runner had started it.
        resumed: bool,
    },
    /// It had already run: nothing changed.
    AlreadyDone(DeadlineRun),
}

impl RunOutcome {
    /// The run record, either way.
    pub fn run(&self) -> &DeadlineRun {
        match self {
            RunOutcome::Ran { run, .. } | RunOutcome::AlreadyDone(run) => run,
        }
    }
}

/// What [`DeadlineRunner::run_due`] did.
#[derive(Debug, Default)]
pub struct DueReport {
    /// The deadlines this call ran, in order.
    pub ran: Vec<DeadlineRun>,
    /// The deadlines that failed (retried by the next call); later deadlines of the same
    /// assignment were left for then too.
    pub failed: Vec<(AssignmentName, Deadline, DeadlineError)>,
}

/// Runs the deadlines of one data root. `Send + Sync`; methods block.
#[derive(Debug)]
pub struct DeadlineRunner {
    db: CourseDb,
    accounts: Accounts,
    journal: JournalWriter,
    store: MailStore,
    lock: RunLock,
}

impl DeadlineRunner {
    /// Opens the runner on `root`: `course.db` read-write (created and migrated if needed),
    /// `accounts.db` read-only, the journal (created empty if missing: denis is its writer)
    /// and `mail/` for the messages it releases.
    pub fn open(root: &DataRoot) -> Result<DeadlineRunner, DeadlineError> {
        let db = CourseDb::open(&root.course_db())?;
        let accounts = Accounts::open_read_only(&root.accounts_db())?;
        JournalWriter::init(&root.journal_file())?;
        Ok(DeadlineRunner {
            db,
            accounts,
            journal: JournalWriter::open(&root.journal_file())?,
            store: MailStore::new(root.mail_dir()),
            lock: RunLock::new(root.course_dir().join("deadlines.lock")),
        })
    }

    /// The course database this runner writes.
    pub fn db(&self) -> &CourseDb {
        &self.db
    }

    /// Runs every deadline due at `now` (Unix seconds) that has not finished, in the order
    /// they fell: what `coursemail deadlines run-due` and the scheduler call. A failing
    /// deadline is reported and the others still run.
    pub fn run_due(&self, now: i64) -> Result<DueReport, DeadlineError> {
        let _held = self.lock.acquire(LOCK_WAIT)?;
        let assignments = self.db.list_assignments()?;
        let due = due::due(&assignments, &self.finished()?, now);
        let mut report = DueReport::default();
        let mut failed: HashSet<AssignmentName> = HashSet::new();
        for item in due {
            if failed.contains(&item.assignment) {
                continue;
            }
            let Some(assignment) = assignments.iter().find(|a| a.name == item.assignment) else {
                continue;
            };
            match self.run_claimed(assignment, item.deadline, now, false) {
                Ok(RunOutcome::Ran { run, .. }) => report.ran.push(run),
                Ok(RunOutcome::AlreadyDone(_)) => {}
                Err(e) => {
                    tracing::error!(
                        assignment = %item.assignment,
                        deadline = %item.deadline,
                        error = %e,
                        "deadline run failed; retrying at the next run"
                    );
                    failed.insert(item.assignment.clone());
                    report.failed.push((item.assignment, item.deadline, e));
                }
            }
        }
        Ok(report)
    }

    /// Runs `deadline` of `assignment` now (`coursemail assignment trigger`, or an
    /// instructor's request from the web). A dummy assignment's deadline is first set to
    /// `now`, and so is a scheduled one whose date is still ahead: a deadline run early counts
    /// as passed everywhere from then on (SPEC §10). The earlier deadlines must have run; the
    /// error names the first that has not.
    pub fn trigger(
        &self,
        assignment: &AssignmentName,
        deadline: Deadline,
        now: i64,
    ) -> Result<RunOutcome, DeadlineError> {
        let _held = self.lock.acquire(LOCK_WAIT)?;
        let found = self
            .db
            .get_assignment(assignment.as_str())?
            .ok_or_else(|| DeadlineError::UnknownAssignment(assignment.to_string()))?;
        for &earlier in Deadline::ALL.iter().take_while(|d| **d < deadline) {
            let done = self
                .db
                .deadline_run(assignment, earlier)?
                .is_some_and(|r| r.finished_at.is_some());
            if !done {
                return Err(DeadlineError::EarlierDeadlinePending {
                    assignment: assignment.clone(),
                    deadline,
                    earlier,
                });
            }
        }
        self.run_claimed(&found, deadline, now, true)
    }

    /// When the next unfinished deadline falls after `now`, if any.
    pub fn next_deadline(&self, now: i64) -> Result<Option<i64>, DeadlineError> {
        let assignments = self.db.list_assignments()?;
        Ok(due::next_after(&assignments, &self.finished()?, now))
    }

    /// The deadlines due at `now` and not finished (what [`DeadlineRunner::run_due`] would run).
    pub fn due(&self, now: i64) -> Result<Vec<Due>, DeadlineError> {
        let assignments = self.db.list_assignments()?;
        Ok(due::due(&assignments, &self.finished()?, now))
    }

    /// Lifts `user`'s journal restriction (the instructor action, SPEC §9): they see
    /// everything released again. Restrictions otherwise stay until this is called.
    pub fn lift_restriction(&self, user: &Username) -> Result<(), DeadlineError> {
        self.journal.restrict(user, Restriction::Allow)?;
        tracing::info!(%user, "restriction lifted");
        Ok(())
    }

    /// Carries out the instructors' pending requests from the web (SPEC §3), oldest first, and
    /// records each outcome; returns how many were handled. A request that fails (say, a
    /// trigger whose earlier deadline has not run) is finished with the error as its outcome,
    /// so it is not retried forever; the instructor sees why and may ask again.
    pub fn carry_out_requests(&self, now: i64) -> Result<usize, DeadlineError> {
        let pending = self.db.pending_requests()?;
        for request in &pending {
            let result = match &request.action {
                RequestAction::Lift(user) => self.lift_restriction(user),
                RequestAction::Trigger(assignment, deadline) => {
                    self.trigger(assignment, *deadline, now).map(|_| ())
                }
            };
            let outcome = match result {
                Ok(()) => "done".to_string(),
                Err(e) => {
                    tracing::warn!(id = request.id, error = %e, "instructor request failed");
                    e.to_string()
                }
            };
            self.db.finish_request(request.id, &outcome, now)?;
        }
        Ok(pending.len())
    }

    /// The users whose journal view is currently frozen, by name.
    pub fn restricted(&self) -> Result<Vec<Username>, DeadlineError> {
        Ok(self.journal.caps()?.into_iter().map(|(u, _)| u).collect())
    }

    /// Claims and, unless it is done, runs one deadline. The caller holds the lock.
    fn run_claimed(
        &self,
        assignment: &Assignment,
        deadline: Deadline,
        now: i64,
        move_deadline: bool,
    ) -> Result<RunOutcome, DeadlineError> {
        let name = &assignment.name;
        let resumed = match self.db.claim_deadline(name, deadline, now, move_deadline)? {
            Claim::Finished(run) => return Ok(RunOutcome::AlreadyDone(run)),
            Claim::Fresh => false,
            Claim::Resumed { started_at } => {
                tracing::warn!(
                    assignment = %name,
                    %deadline,
                    started_at,
                    "resuming a deadline run whose runner stopped mid-way"
                );
                true
            }
        };
        let started = Instant::now();
        let summary: RunSummary = match deadline {
            Deadline::Initial => initial::run(self, assignment, now)?,
            Deadline::PeerReview => peer_review::run(self, assignment, now)?,
            Deadline::Final => final_::run(self, assignment, now)?,
        };
        let run = self.db.finish_deadline(name, deadline, now, &summary)?;
        tracing::info!(
            assignment = %name,
            %deadline,
            delinquent = summary.delinquent,
            released = summary.released,
            allowed = summary.allowed,
            auto_zeroed = summary.auto_zeroed,
            resumed,
            millis = started.elapsed().as_millis(),
            "deadline {name} {deadline}: {summary}"
        );
        Ok(RunOutcome::Ran { run, resumed })
    }

    /// The finished (assignment, deadline) pairs.
    fn finished(&self) -> Result<HashSet<(AssignmentName, Deadline)>, DeadlineError> {
        Ok(self
            .db
            .deadline_runs(None)?
            .into_iter()
            .filter(|r| r.finished_at.is_some())
            .map(|r| (r.assignment, r.deadline))
            .collect())
    }

    /// Every student (role student, not instructors), by username.
    fn students(&self) -> Result<Vec<Username>, DeadlineError> {
        let students: BTreeSet<Username> = self
            .accounts
            .list_users()?
            .into_iter()
            .filter(|u| u.role == Role::Student)
            .map(|u| u.username)
            .collect();
        Ok(students.into_iter().collect())
    }
}

/// A count for a [`RunSummary`].
fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}
