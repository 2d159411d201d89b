//! Sessions being processed in this process. The running intake and the scheduler's catch-up
//! before a deadline (or two calls of `process_all_pending`) can reach the same session at once;
//! the second waits for the first and then finds it recorded, instead of checking the same
//! series again beside it. Across processes (the daemon and cron's `run-due`) recording stays
//! idempotent on its own.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use journal::SubmissionId;
use tokio::sync::OwnedMutexGuard;

/// One lock per session being processed; entries go away when nobody holds or waits for them.
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    sessions: Mutex<HashMap<SubmissionId, Arc<tokio::sync::Mutex<()>>>>,
}

/// Exclusive processing of one session, until dropped.
pub(crate) struct Claim<'a> {
    owner: &'a InFlight,
    id: SubmissionId,
    guard: Option<OwnedMutexGuard<()>>,
}

impl InFlight {
    /// Waits until no other task of this process is processing `id`, then claims it.
    pub(crate) async fn claim(&self, id: SubmissionId) -> Claim<'_> {
        let lock = {
            let mut sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(sessions.entry(id).or_default())
        };
        let guard = lock.lock_owned().await;
        Claim {
            owner: self,
            id,
            guard: Some(guard),
        }
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut sessions = self
            .owner
            .sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Only the map's own reference left: nobody holds or awaits this session any more.
        if sessions
            .get(&self.id)
            .is_some_and(|l| Arc::strong_count(l) == 1)
        {
            sessions.remove(&self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_claim_waits_for_the_first_and_the_table_empties() {
        let table = Arc::new(InFlight::default());
        let id: SubmissionId = "0123456789abcdef01234567890000".parse().unwrap();
        let first = table.claim(id).await;
        let t = Arc::clone(&table);
        let second = tokio::spawn(async move {
            let _claim = t.claim(id).await;
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!second.is_finished(), "the second claim waits");
        drop(first);
        second.await.unwrap();
        assert!(table.sessions.lock().unwrap().is_empty());
    }
}
