//! The intake service (SPEC §8): every closed SMTP session processed exactly once, in parallel
//! with bounded concurrency, as soon as it closes, and after downtime by a catch-up scan.
//!
//! [`Intake::run`] watches `logs/` (module `watch`) and scans it periodically; the scheduling
//! rules are in `queue`, one session's life in `process`; `in_flight` keeps two dispatchers of
//! one process from checking the same session at once.

pub mod check;
pub mod classify;
mod in_flight;
pub mod message;
mod process;
mod queue;
mod watch;

use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use accounts::Accounts;
use futures_util::FutureExt;
use journal::session_log::{SessionLog, SessionRecord};
use journal::{DataRoot, JournalWriter, MailStore, SubmissionId};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::db::CourseDb;
use crate::db::intake::Submission;
use crate::error::IntakeError;
use crate::git::{Git, Identity};
use crate::grading::GradingRepo;
use queue::Queue;
use watch::{Seen, Watcher};

/// How the intake behaves. [`IntakeConfig::new`] gives the defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntakeConfig {
    /// The course's mail domain (`HOST` in `user@HOST`, in Message-IDs and sign-offs).
    pub host: String,
    /// Local parts of the list addresses (default `["list"]`).
    pub list_addresses: Vec<String>,
    /// Sessions processed at once (default 2: git is CPU-bound).
    pub concurrency: usize,
    /// How often `logs/` is scanned in case inotify missed something (default 5 s).
    pub poll_interval: Duration,
    /// Time limit for the git work of one submission; past it git is killed and the series
    /// gets a fatal finding (default 120 s).
    pub time_limit: Duration,
    /// Where temporary repositories are made (default: the system temporary directory).
    pub work_dir: PathBuf,
}

impl IntakeConfig {
    /// The defaults for a course at `host`.
    pub fn new(host: impl Into<String>) -> IntakeConfig {
        IntakeConfig {
            host: host.into(),
            list_addresses: vec!["list".to_string()],
            concurrency: 2,
            poll_interval: Duration::from_secs(5),
            time_limit: Duration::from_secs(120),
            work_dir: std::env::temp_dir(),
        }
    }
}

/// What [`Intake::process_all_pending`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IntakeReport {
    /// Sessions processed and recorded now.
    pub processed: usize,
    /// Sessions that failed (logged; retried by the next call or scan).
    pub failed: usize,
}

/// Everything one processing task needs, shared by all.
pub(crate) struct Shared {
    pub(crate) config: IntakeConfig,
    pub(crate) db: CourseDb,
    pub(crate) accounts: Accounts,
    pub(crate) store: MailStore,
    pub(crate) logs: SessionLog,
    pub(crate) journal: JournalWriter,
    pub(crate) grading: GradingRepo,
    /// `course/base.git`: used when it exists (checked per submission, so it can be added later).
    pub(crate) base: PathBuf,
    pub(crate) committer: Identity,
    /// Sessions being processed by this process (see [`in_flight`]).
    pub(crate) in_flight: in_flight::InFlight,
    /// Sessions whose checks actually ran (not skipped as already recorded), for tests and
    /// metrics: [`Intake::sessions_checked`].
    pub(crate) checked: std::sync::atomic::AtomicU64,
}

/// The grader's intake over one data root. Cheap to clone.
#[derive(Clone)]
pub struct Intake {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Intake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Intake")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl Intake {
    /// Opens the intake on `root`: `course.db` read-write (created and migrated if needed),
    /// `accounts.db` read-only, the journal (created empty if missing: denis is its writer)
    /// and `grading.git` (created bare if missing). `mail/`, `logs/` and `journal/` must exist.
    pub async fn open(root: &DataRoot, config: IntakeConfig) -> Result<Intake, IntakeError> {
        // Absolute paths: they are passed to git, where a relative one could read as an option.
        let absolute =
            std::path::absolute(root.root()).map_err(IntakeError::io("resolve", root.root()))?;
        let root = DataRoot::new(absolute);
        let db = CourseDb::open(&root.course_db())?;
        let accounts = Accounts::open_read_only(&root.accounts_db())?;
        JournalWriter::init(&root.journal_file())?;
        let journal = JournalWriter::open(&root.journal_file())?;
        let committer = Identity {
            name: "coursemail denis".to_string(),
            email: format!("denis@{}", config.host),
        };
        let grading = GradingRepo::new(root.grading_repo());
        let home = tempfile::Builder::new()
            .prefix("denis-init-")
            .tempdir_in(&config.work_dir)
            .map_err(IntakeError::io(
                "create a temporary directory in",
                &config.work_dir,
            ))?;
        let git = Git::new(
            home.path(),
            committer.clone(),
            0,
            tokio::time::Instant::now() + config.time_limit,
        );
        grading.init(&git).await?;
        Ok(Intake {
            shared: Arc::new(Shared {
                store: MailStore::new(root.mail_dir()),
                logs: SessionLog::new(root.logs_dir()),
                base: root.course_dir().join("base.git"),
                config,
                db,
                accounts,
                journal,
                grading,
                committer,
                in_flight: in_flight::InFlight::default(),
                checked: std::sync::atomic::AtomicU64::new(0),
            }),
        })
    }

    /// How many sessions this intake has checked since it opened (a session found already
    /// recorded is not counted); shows that no session is checked twice.
    pub fn sessions_checked(&self) -> u64 {
        self.shared
            .checked
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The course database this intake writes.
    pub fn db(&self) -> &CourseDb {
        &self.shared.db
    }

    /// The grading repository.
    pub fn grading(&self) -> &GradingRepo {
        &self.shared.grading
    }

    /// Processes one closed session now; `None` if it was already processed.
    pub async fn process(&self, id: &SubmissionId) -> Result<Option<Submission>, IntakeError> {
        let logs = self.shared.logs.clone();
        let id = *id;
        let record = tokio::task::spawn_blocking(move || logs.read(&id))
            .await
            .map_err(|e| IntakeError::Worker(e.to_string()))??;
        process::process_session(Arc::clone(&self.shared), record).await
    }

    /// Processes every closed session without a `submissions` row, with the configured
    /// concurrency, and returns when all are done (the CLI's and the tests' entry point).
    pub async fn process_all_pending(&self) -> Result<IntakeReport, IntakeError> {
        let mut d = Dispatcher::new(Arc::clone(&self.shared)).await?;
        d.scan().await?;
        while !d.queue.is_idle() {
            d.start_ready();
            match d.tasks.join_next().await {
                Some(done) => d.finished(done),
                None => break,
            }
        }
        Ok(d.report)
    }

    /// Runs until `shutdown` is cancelled: catches up on sessions closed while denis was down,
    /// then processes each session as soon as it closes (inotify), scanning `logs/` every
    /// [`IntakeConfig::poll_interval`] in case an event was missed. A failed session is
    /// retried at the next scan.
    ///
    /// At shutdown, running sessions are abandoned, not awaited: none of them has its row yet,
    /// so the next start processes them again from scratch.
    pub async fn run(&self, shutdown: CancellationToken) -> Result<(), IntakeError> {
        let shared = Arc::clone(&self.shared);
        // Watch before the first scan, so a session closing in between is not missed.
        let mut watcher = Watcher::new(shared.logs.dir());
        let mut d = Dispatcher::new(shared).await?;
        d.scan().await?;
        let mut poll = tokio::time::interval(d.shared.config.poll_interval);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        poll.tick().await;
        tracing::info!(concurrency = d.shared.config.concurrency, "intake running");
        loop {
            d.start_ready();
            tokio::select! {
                () = shutdown.cancelled() => break,
                Some(done) = d.tasks.join_next(), if !d.tasks.is_empty() => d.finished(done),
                seen = watcher.next() => {
                    // A passing error (a database busy for too long, a failed read of logs/)
                    // must not stop intake: the next poll scans everything again.
                    let result = match seen {
                        Seen::Closed(ids) => d.offer(ids).await,
                        Seen::Rescan => d.scan().await,
                    };
                    if let Err(e) = result {
                        tracing::error!(error = %e, "taking in new sessions failed; retrying later");
                    }
                }
                _ = poll.tick() => {
                    if let Err(e) = d.scan().await {
                        tracing::error!(error = %e, "scanning logs/ failed; retrying later");
                    }
                }
            }
        }
        d.tasks.shutdown().await;
        tracing::info!("intake stopped");
        Ok(())
    }
}

type TaskResult = (
    SubmissionId,
    String,
    Result<Option<Submission>, IntakeError>,
);

/// The queue plus the running tasks.
struct Dispatcher {
    shared: Arc<Shared>,
    queue: Queue,
    tasks: JoinSet<TaskResult>,
    report: IntakeReport,
}

impl Dispatcher {
    async fn new(shared: Arc<Shared>) -> Result<Dispatcher, IntakeError> {
        let sh = Arc::clone(&shared);
        let done = tokio::task::spawn_blocking(move || sh.db.processed_ids())
            .await
            .map_err(|e| IntakeError::Worker(e.to_string()))??;
        Ok(Dispatcher {
            shared,
            queue: Queue::new(done),
            tasks: JoinSet::new(),
            report: IntakeReport::default(),
        })
    }

    /// Offers every closed session in `logs/` not seen before.
    async fn scan(&mut self) -> Result<(), IntakeError> {
        let logs = self.shared.logs.clone();
        let ids = tokio::task::spawn_blocking(move || logs.list_closed())
            .await
            .map_err(|e| IntakeError::Worker(e.to_string()))??;
        self.offer(ids).await
    }

    /// Reads the records of the sessions in `ids` that are new, and queues them.
    async fn offer(&mut self, ids: Vec<SubmissionId>) -> Result<(), IntakeError> {
        let fresh: Vec<SubmissionId> = ids
            .into_iter()
            .filter(|id| !self.queue.is_known(id))
            .collect();
        if fresh.is_empty() {
            return Ok(());
        }
        let logs = self.shared.logs.clone();
        let read = tokio::task::spawn_blocking(move || {
            fresh
                .into_iter()
                .map(|id| (id, logs.read(&id)))
                .collect::<Vec<_>>()
        })
        .await
        .map_err(|e| IntakeError::Worker(e.to_string()))?;
        for (id, record) in read {
            match record {
                Ok(record) => {
                    self.queue.offer(record);
                }
                Err(e) => {
                    // A damaged record would fail the same way at every scan; skip it until
                    // an operator repairs it and restarts denis.
                    tracing::error!(submission = %id, error = %e, "cannot read session record; skipping it");
                    self.queue.skip(id);
                }
            }
        }
        Ok(())
    }

    /// Starts queued sessions up to the concurrency bound.
    fn start_ready(&mut self) {
        let limit = self.shared.config.concurrency.max(1);
        while let Some(record) = self.queue.next(limit) {
            let shared = Arc::clone(&self.shared);
            self.tasks.spawn(run_one(shared, record));
        }
    }

    fn finished(&mut self, done: Result<TaskResult, tokio::task::JoinError>) {
        match done {
            Ok((id, sender, Ok(outcome))) => {
                self.queue.finish(id, &sender, false);
                if outcome.is_some() {
                    self.report.processed += 1;
                }
            }
            Ok((id, sender, Err(e))) => {
                tracing::error!(submission = %id, error = %e, "processing failed; will retry");
                self.queue.finish(id, &sender, true);
                self.report.failed += 1;
            }
            // Only at shutdown: panics are caught in `run_one`.
            Err(e) => tracing::debug!(error = %e, "intake task cancelled"),
        }
    }
}

async fn run_one(shared: Arc<Shared>, record: SessionRecord) -> TaskResult {
    let id = record.submission;
    let sender = record.username.as_str().to_string();
    // A bug must cost one session, not the service: the panic becomes an error, the session
    // is retried at the next scan, and its sender's slot is freed.
    let result = AssertUnwindSafe(process::process_session(shared, record))
        .catch_unwind()
        .await
        .unwrap_or_else(|_| Err(IntakeError::Worker(format!("processing {id} panicked"))));
    (id, sender, result)
}
