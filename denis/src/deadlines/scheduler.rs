//! The scheduler inside `coursemail denis` (SPEC §9): runs each deadline when it falls, and at
//! start whatever fell while denis was down.
//!
//! It sleeps until the next deadline, but never longer than the poll interval, re-reading
//! `course.db` each time: an assignment created or altered by the web or the CLI (another
//! process) is picked up within one interval without any notification channel.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::{DeadlineError, DeadlineRunner, DueReport};
use crate::intake::Intake;
use database::unix_now;

/// The default poll interval: how soon a changed assignment is noticed.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(5);

type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// Runs deadlines as they fall. Build with [`Scheduler::new`], then [`Scheduler::run`].
pub struct Scheduler {
    runner: Arc<DeadlineRunner>,
    intake: Option<Intake>,
    poll: Duration,
    clock: Clock,
    passes: watch::Sender<u64>,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("poll", &self.poll)
            .field("intake", &self.intake.is_some())
            .finish_non_exhaustive()
    }
}

impl Scheduler {
    /// A scheduler for `runner` on the system clock, polling every [`DEFAULT_POLL_INTERVAL`].
    pub fn new(runner: DeadlineRunner) -> Scheduler {
        Scheduler {
            runner: Arc::new(runner),
            intake: None,
            poll: DEFAULT_POLL_INTERVAL,
            clock: Arc::new(unix_now),
            passes: watch::channel(0).0,
        }
    }

    /// Before running due deadlines, let `intake` process every closed session first, so a
    /// series whose session closed just before the deadline is recorded (and released) by it.
    pub fn with_intake(mut self, intake: Intake) -> Scheduler {
        self.intake = Some(intake);
        self
    }

    /// Re-reads the assignments at least this often.
    pub fn with_poll_interval(mut self, poll: Duration) -> Scheduler {
        self.poll = poll;
        self
    }

    /// Uses `clock` (Unix seconds) instead of the system clock: for tests and simulations.
    pub fn with_clock(mut self, clock: impl Fn() -> i64 + Send + Sync + 'static) -> Scheduler {
        self.clock = Arc::new(clock);
        self
    }

    /// Counts the passes completed so far (each pass runs what is due); for status displays
    /// and tests that wait for the scheduler to have looked.
    pub fn passes(&self) -> watch::Receiver<u64> {
        self.passes.subscribe()
    }

    /// Runs until `shutdown` is cancelled: a pass at once (catching up on deadlines that fell
    /// while denis was down), then one at each deadline and every poll interval. Failures are
    /// logged and retried at the next pass. A pass in progress finishes before shutdown: a
    /// deadline run is short and better completed than resumed.
    pub async fn run(&self, shutdown: CancellationToken) {
        tracing::info!(
            poll_secs = self.poll.as_secs_f64(),
            "deadline scheduler running"
        );
        loop {
            let now = (self.clock)();
            let next = match self.pass(now).await {
                Ok(next) => next,
                Err(e) => {
                    tracing::error!(error = %e, "deadline pass failed; retrying");
                    None
                }
            };
            self.passes.send_modify(|n| *n += 1);
            let wait = match next {
                Some(at) => {
                    let secs = u64::try_from(at.saturating_sub(now)).unwrap_or(0);
                    self.poll.min(Duration::from_secs(secs))
                }
                None => self.poll,
            };
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(wait) => {}
            }
        }
        tracing::info!("deadline scheduler stopped");
    }

    /// Carries out pending instructor requests, then runs what is due at `now`; returns when
    /// the next deadline falls.
    async fn pass(&self, now: i64) -> Result<Option<i64>, DeadlineError> {
        // Instructor requests from the web first: a lifted restriction should not wait for
        // the next deadline. A request may run a deadline, so every session that closed before
        // it is taken in first (waiting for the checks still running, each bounded by the
        // intake's time limit): a series acknowledged before the deadline counts for it.
        let runner = Arc::clone(&self.runner);
        let requested = blocking(move || Ok(!runner.db().pending_requests()?.is_empty())).await?;
        if requested {
            self.catch_up("the instructors' requests").await;
        }
        let runner = Arc::clone(&self.runner);
        let handled = blocking(move || runner.carry_out_requests(now)).await?;
        if handled > 0 {
            tracing::info!(handled, "instructor requests carried out");
        }
        let runner = Arc::clone(&self.runner);
        let due = blocking(move || runner.due(now)).await?;
        if !due.is_empty() {
            self.catch_up("the deadlines").await;
            let runner = Arc::clone(&self.runner);
            let report: DueReport = blocking(move || runner.run_due(now)).await?;
            tracing::debug!(
                ran = report.ran.len(),
                failed = report.failed.len(),
                "deadline pass"
            );
        }
        let runner = Arc::clone(&self.runner);
        blocking(move || runner.next_deadline(now)).await
    }
}

impl Scheduler {
    /// Takes in every closed session not processed yet, waiting for those being checked, before
    /// `what` runs; a failure is logged (the deadline still runs, as it would at its time).
    async fn catch_up(&self, what: &str) {
        let Some(intake) = &self.intake else { return };
        let started = std::time::Instant::now();
        match intake.process_all_pending().await {
            Ok(report) => tracing::info!(
                processed = report.processed,
                ms = started.elapsed().as_millis() as u64,
                "took in the sessions closed before {what}"
            ),
            Err(e) => tracing::warn!(error = %e, "intake catch-up before {what} failed"),
        }
    }
}

/// Runs `f` on the blocking pool (SQLite, journal).
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, DeadlineError> + Send + 'static,
) -> Result<T, DeadlineError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| DeadlineError::Worker(e.to_string()))?
}
