//! Which server id a client's Message-ID was stored under, across every stored message (SPEC §4
//! "Threads survive the rewrite"): a reply that names a client id sent in an earlier session
//! threads under the stored message.
//!
//! The truth is `mail/` itself: every stored message keeps the client's id as
//! `X-Original-Message-ID`, so nothing new has to be made durable and several smtp processes
//! writing one `mail/` agree. The index is a cache of it in memory: filled from `mail/` in the
//! background at start, extended as this process stores messages, and brought up to date from
//! `mail/` when a lookup misses (at most once a second), which finds what other processes
//! stored. Only replies naming a client id need it: a series threads under its own cover letter
//! through the session's ids, and replies to stored messages already carry server ids.

use std::collections::{HashMap, HashSet};
use std::io::Read as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use journal::MessageId;
use journal::store::MailStore;

/// How often a missed lookup may rescan `mail/`.
const RESCAN_EVERY: Duration = Duration::from_secs(1);
/// How much of a stored message is read to find its client id: the server's fields and the
/// client's header come first, and a Message-ID is near the top.
const HEADER_READ: u64 = 16 * 1024;

#[derive(Default)]
struct State {
    /// Client id (without angle brackets) to the server id it was stored under.
    ids: HashMap<String, MessageId>,
    /// Stored messages already read.
    seen: HashSet<MessageId>,
    /// When `mail/` was last listed.
    scanned_at: Option<Instant>,
}

/// The index of client ids to server ids; cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct MessageIdIndex {
    mail: MailStore,
    state: Arc<Mutex<State>>,
    rescan_every: Duration,
}

impl std::fmt::Debug for MessageIdIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageIdIndex")
            .field("mail", &self.mail.dir())
            .finish_non_exhaustive()
    }
}

impl MessageIdIndex {
    /// An empty index of `mail`; [`MessageIdIndex::fill_in_background`] reads what is stored.
    pub fn new(mail: MailStore) -> MessageIdIndex {
        MessageIdIndex {
            mail,
            state: Arc::new(Mutex::new(State::default())),
            rescan_every: RESCAN_EVERY,
        }
    }

    /// The same index rescanning `mail/` on every miss (tests).
    pub fn rescanning_on_every_miss(mut self) -> MessageIdIndex {
        self.rescan_every = Duration::ZERO;
        self
    }

    /// Reads every stored message's client id on a thread of its own, so that a large `mail/`
    /// never delays the start; lookups meanwhile scan for themselves.
    pub fn fill_in_background(&self) {
        let index = self.clone();
        let spawned = std::thread::Builder::new()
            .name("smtp-message-ids".into())
            .spawn(move || {
                let started = Instant::now();
                let count = index.rescan();
                tracing::info!(
                    messages = count,
                    ms = started.elapsed().as_millis() as u64,
                    "indexed the client Message-IDs of stored mail"
                );
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot index stored Message-IDs in the background");
        }
    }

    /// Records that this process stored `client_id` as `server`.
    pub fn insert(&self, client_id: String, server: MessageId) {
        let mut state = self.lock();
        state.seen.insert(server);
        state.ids.entry(client_id).or_insert(server);
    }

    /// The server id `client_id` was stored under, rescanning `mail/` on a miss (blocking).
    pub fn lookup(&self, client_id: &str) -> Option<MessageId> {
        if let Some(found) = self.lock().ids.get(client_id) {
            return Some(*found);
        }
        let due = self
            .lock()
            .scanned_at
            .is_none_or(|at| at.elapsed() >= self.rescan_every);
        if due {
            self.rescan();
        }
        self.lock().ids.get(client_id).copied()
    }

    /// Reads the client ids of the stored messages not read yet; returns how many are known.
    fn rescan(&self) -> usize {
        let listed = match self.mail.list() {
            Ok(ids) => ids,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list mail/ for Message-IDs");
                return self.lock().seen.len();
            }
        };
        let fresh: Vec<MessageId> = {
            let mut state = self.lock();
            state.scanned_at = Some(Instant::now());
            listed
                .into_iter()
                .filter(|id| !state.seen.contains(id))
                .collect()
        };
        // Read without the lock: lookups of known ids go on meanwhile.
        let found: Vec<(MessageId, Option<String>)> = fresh
            .into_iter()
            .map(|id| (id, self.client_id_of(&id)))
            .collect();
        let mut state = self.lock();
        for (server, client) in found {
            state.seen.insert(server);
            if let Some(client) = client {
                // The first message stored under a client id is the one replies mean.
                state.ids.entry(client).or_insert(server);
            }
        }
        state.seen.len()
    }

    /// The `X-Original-Message-ID` of a stored message, if it has one.
    fn client_id_of(&self, id: &MessageId) -> Option<String> {
        let mut head = Vec::with_capacity(4096);
        std::fs::File::open(self.mail.path(id))
            .and_then(|f| f.take(HEADER_READ).read_to_end(&mut head))
            .ok()?;
        let end = head
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(head.len(), |p| p + 2);
        crate::header::original_message_id(&head[..end])
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Every update leaves the maps consistent, so a poisoned lock is safe to reuse.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use journal::IdGenerator;

    #[test]
    fn ids_stored_by_another_process_are_found_after_a_miss() {
        let dir = tempfile::tempdir().unwrap();
        let mail = MailStore::new(dir.path());
        let index = MessageIdIndex::new(mail.clone()).rescanning_on_every_miss();
        let sub = IdGenerator::new().next_submission();
        let id = sub.message(1).unwrap();
        assert_eq!(index.lookup("cover@laptop"), None);
        // Another process stores a message whose client id is cover@laptop.
        let wire =
            b"Message-ID: <x@h>\r\nX-Original-Message-ID:\r\n <cover@laptop>\r\n\r\nbody\r\n.\r\n";
        mail.write(&id, wire, 60).unwrap();
        assert_eq!(index.lookup("cover@laptop"), Some(id));
        let other = sub.message(2).unwrap();
        index.insert("mine@laptop".into(), other);
        assert_eq!(index.lookup("mine@laptop"), Some(other));
    }
}
