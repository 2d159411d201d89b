//! `course/deadlines.lock`: held by a deadline runner for as long as it runs deadlines.
//!
//! The `deadline_runs` row claims a deadline; this lock says the claimant is alive. The kernel
//! drops an `flock` when its holder dies, so a runner that holds the lock and finds a claimed
//! but unfinished run knows its claimant crashed and resumes it. Two runners (the daemon's
//! scheduler and cron's `coursemail deadlines run-due`) take turns instead of racing.

use std::fs::{File, OpenOptions, TryLockError};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::error::DeadlineError;

/// How often a waiting runner retries the lock.
const RETRY: Duration = Duration::from_millis(100);

/// The lock file of one data root.
#[derive(Debug, Clone)]
pub(crate) struct RunLock {
    path: PathBuf,
}

/// The held lock; dropping it closes the file, which releases the lock.
#[derive(Debug)]
pub(crate) struct Held {
    _file: File,
}

impl RunLock {
    /// The lock at `path` (created when first taken).
    pub(crate) fn new(path: PathBuf) -> RunLock {
        RunLock { path }
    }

    /// Takes the lock, waiting up to `wait` for another runner to release it. Polls rather
    /// than blocking in `flock`, so the wait is bounded and a stuck runner is reported.
    pub(crate) fn acquire(&self, wait: Duration) -> Result<Held, DeadlineError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&self.path)
            .map_err(|source| self.error(source))?;
        let started = Instant::now();
        let mut told = false;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(Held { _file: file }),
                Err(TryLockError::WouldBlock) if started.elapsed() < wait => {
                    if !told {
                        tracing::info!(lock = %self.path.display(), "waiting for another deadline runner");
                        told = true;
                    }
                    std::thread::sleep(RETRY);
                }
                Err(TryLockError::WouldBlock) => {
                    return Err(DeadlineError::LockTimeout {
                        path: self.path.clone(),
                        waited_secs: wait.as_secs(),
                    });
                }
                Err(TryLockError::Error(source)) => return Err(self.error(source)),
            }
        }
    }

    fn error(&self, source: std::io::Error) -> DeadlineError {
        DeadlineError::Lock {
            path: self.path.clone(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_waits_and_gets_the_lock_once_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let lock = RunLock::new(dir.path().join("deadlines.lock"));
        let held = lock.acquire(Duration::ZERO).unwrap();
        let err = lock.acquire(Duration::ZERO).unwrap_err();
        assert!(matches!(err, DeadlineError::LockTimeout { .. }), "{err}");
        drop(held);
        assert!(lock.acquire(Duration::ZERO).is_ok());
    }
}
