//! The intake's work queue: which closed sessions wait, which run, which are done. Pure.
//!
//! Sessions start in id order (the order they began), with one rule on top of the concurrency
//! bound: two sessions of the same student never run at once. A patchset's subject tag must say
//! how many patchsets the student sent before it, which is only known once the earlier ones
//! are recorded.

use std::collections::{BTreeMap, HashSet};

use journal::SubmissionId;
use journal::session_log::SessionRecord;

/// Waiting, running and finished sessions.
#[derive(Debug, Default)]
pub(crate) struct Queue {
    /// Sessions waiting to start, by id.
    pending: BTreeMap<SubmissionId, SessionRecord>,
    /// Every session offered, running or done (processed ones from the database included):
    /// offering one of these again is a no-op.
    known: HashSet<SubmissionId>,
    /// Senders with a session running.
    busy: HashSet<String>,
    running: usize,
}

impl Queue {
    /// A queue that treats `done` as already processed.
    pub(crate) fn new(done: HashSet<SubmissionId>) -> Queue {
        Queue {
            known: done,
            ..Queue::default()
        }
    }

    /// Whether `id` was offered (or processed) before.
    pub(crate) fn is_known(&self, id: &SubmissionId) -> bool {
        self.known.contains(id)
    }

    /// Marks `id` as known without running it (a damaged record, skipped until restart).
    pub(crate) fn skip(&mut self, id: SubmissionId) {
        self.known.insert(id);
    }

    /// Adds a closed session; `false` if it was already known.
    pub(crate) fn offer(&mut self, record: SessionRecord) -> bool {
        if !self.known.insert(record.submission) {
            return false;
        }
        self.pending.insert(record.submission, record);
        true
    }

    /// Takes the oldest waiting session whose sender has nothing running, if fewer than
    /// `limit` sessions run.
    pub(crate) fn next(&mut self, limit: usize) -> Option<SessionRecord> {
        if self.running >= limit {
            return None;
        }
        let id = *self
            .pending
            .iter()
            .find(|(_, r)| !self.busy.contains(r.username.as_str()))?
            .0;
        let record = self.pending.remove(&id)?;
        self.busy.insert(record.username.as_str().to_string());
        self.running += 1;
        Some(record)
    }

    /// Marks a session started by [`Queue::next`] as finished. With `retry`, it is forgotten so
    /// that a later scan offers it again (it failed for a reason that may pass).
    pub(crate) fn finish(&mut self, id: SubmissionId, sender: &str, retry: bool) {
        self.busy.remove(sender);
        self.running = self.running.saturating_sub(1);
        if retry {
            self.known.remove(&id);
        }
    }

    /// Sessions running now.
    #[cfg(test)]
    pub(crate) fn running(&self) -> usize {
        self.running
    }

    /// Nothing waits and nothing runs.
    pub(crate) fn is_idle(&self) -> bool {
        self.pending.is_empty() && self.running == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use journal::{IdGenerator, Username};

    fn record(ids: &IdGenerator, user: &str) -> SessionRecord {
        SessionRecord {
            submission: ids.next_submission(),
            auth_micros: 0,
            username: Username::parse(user).unwrap(),
            messages: Vec::new(),
        }
    }

    #[test]
    fn sessions_start_in_id_order_up_to_the_limit() {
        let ids = IdGenerator::new();
        let (a, b, c) = (record(&ids, "a"), record(&ids, "b"), record(&ids, "c"));
        let mut q = Queue::new(HashSet::new());
        q.offer(c.clone());
        q.offer(a.clone());
        q.offer(b.clone());
        assert_eq!(q.next(2).unwrap().submission, a.submission);
        assert_eq!(q.next(2).unwrap().submission, b.submission);
        assert!(q.next(2).is_none(), "limit reached");
        q.finish(a.submission, "a", false);
        assert_eq!(q.next(2).unwrap().submission, c.submission);
        assert_eq!(q.running(), 2);
    }

    #[test]
    fn a_sender_never_has_two_sessions_running() {
        let ids = IdGenerator::new();
        let (a1, a2, b) = (record(&ids, "a"), record(&ids, "a"), record(&ids, "b"));
        let mut q = Queue::new(HashSet::new());
        for r in [&a1, &a2, &b] {
            q.offer(r.clone());
        }
        assert_eq!(q.next(4).unwrap().submission, a1.submission);
        assert_eq!(
            q.next(4).unwrap().submission,
            b.submission,
            "a2 waits for a1"
        );
        assert!(q.next(4).is_none());
        q.finish(a1.submission, "a", false);
        assert_eq!(q.next(4).unwrap().submission, a2.submission);
    }

    #[test]
    fn known_sessions_are_not_offered_twice_unless_retried() {
        let ids = IdGenerator::new();
        let done = record(&ids, "a");
        let fresh = record(&ids, "b");
        let mut q = Queue::new(HashSet::from([done.submission]));
        assert!(!q.offer(done.clone()));
        assert!(q.offer(fresh.clone()));
        assert!(!q.offer(fresh.clone()));
        let started = q.next(1).unwrap();
        q.finish(started.submission, "b", true);
        assert!(q.is_idle());
        assert!(q.offer(fresh), "a failed session is offered again");
    }
}
