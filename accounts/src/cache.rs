//! Remembers recent successful logins so that a mail client polling every minute does not pay
//! the argon2 cost each time.
//!
//! The plaintext is never stored: an entry holds a blake3 keyed hash of the password under a
//! random key drawn once per process (useless outside this process's memory), the PHC hash it
//! was checked against, and when. A hit needs the same digest, the same stored hash (so a
//! password change, even by another process, invalidates it) and an age under the TTL.
//! Failures are never cached, so a wrong password always pays full price.
//!
//! The core is pure: callers pass "now", which keeps the tests free of sleeps.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How long a successful check is trusted by default.
pub const DEFAULT_TTL: Duration = Duration::from_secs(15 * 60);
/// Most entries kept by default; the oldest are dropped beyond this.
pub const DEFAULT_CAPACITY: usize = 10_000;

struct Entry {
    digest: blake3::Hash,
    stored_hash: String,
    verified_at: Instant,
}

/// A bounded map from username to its last successful check.
pub(crate) struct SuccessCache {
    key: [u8; 32],
    ttl: Duration,
    capacity: usize,
    entries: HashMap<String, Entry>,
}

impl SuccessCache {
    /// An empty cache with a fresh random key.
    pub(crate) fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            key: rand::random(),
            ttl,
            capacity: capacity.max(1),
            entries: HashMap::new(),
        }
    }

    fn digest(&self, password: &str) -> blake3::Hash {
        blake3::keyed_hash(&self.key, password.as_bytes())
    }

    /// Whether `password` was verified against exactly `stored_hash` less than a TTL ago.
    pub(crate) fn hit(
        &self,
        username: &str,
        password: &str,
        stored_hash: &str,
        now: Instant,
    ) -> bool {
        let Some(entry) = self.entries.get(username) else {
            return false;
        };
        let fresh = now.saturating_duration_since(entry.verified_at) < self.ttl;
        // blake3::Hash compares in constant time, so a near miss does not leak digest bytes.
        fresh && entry.stored_hash == stored_hash && entry.digest == self.digest(password)
    }

    /// Records a successful argon2 check.
    pub(crate) fn remember(
        &mut self,
        username: &str,
        password: &str,
        stored_hash: &str,
        now: Instant,
    ) {
        if !self.entries.contains_key(username) && self.entries.len() >= self.capacity {
            self.make_room(now);
        }
        let entry = Entry {
            digest: self.digest(password),
            stored_hash: stored_hash.to_string(),
            verified_at: now,
        };
        self.entries.insert(username.to_string(), entry);
    }

    /// Drops a user's entry (their password changed or they were removed).
    pub(crate) fn forget(&mut self, username: &str) {
        self.entries.remove(username);
    }

    /// Drops expired entries; if that frees nothing, the oldest one. Only successful logins get
    /// here, so filling the cache requires valid credentials and this O(n) scan stays rare.
    fn make_room(&mut self, now: Instant) {
        let ttl = self.ttl;
        self.entries
            .retain(|_, e| now.saturating_duration_since(e.verified_at) < ttl);
        if self.entries.len() < self.capacity {
            return;
        }
        let oldest = self
            .entries
            .iter()
            .min_by_key(|(_, e)| e.verified_at)
            .map(|(name, _)| name.clone());
        if let Some(name) = oldest {
            self.entries.remove(&name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH_A: &str = "$argon2id$v=19$m=19456,t=2,p=1$salt$aaaa";
    const HASH_B: &str = "$argon2id$v=19$m=19456,t=2,p=1$salt$bbbb";

    #[test]
    fn remembered_password_hits_until_the_ttl() {
        let t0 = Instant::now();
        let mut cache = SuccessCache::new(Duration::from_secs(60), 10);
        assert!(!cache.hit("alice", "pw", HASH_A, t0));
        cache.remember("alice", "pw", HASH_A, t0);
        assert!(cache.hit("alice", "pw", HASH_A, t0 + Duration::from_secs(59)));
        assert!(!cache.hit("alice", "pw", HASH_A, t0 + Duration::from_secs(60)));
    }

    #[test]
    fn other_password_or_changed_hash_misses() {
        let t0 = Instant::now();
        let mut cache = SuccessCache::new(DEFAULT_TTL, DEFAULT_CAPACITY);
        cache.remember("alice", "pw", HASH_A, t0);
        assert!(!cache.hit("alice", "pW", HASH_A, t0));
        assert!(!cache.hit("alice", "pw", HASH_B, t0));
        assert!(!cache.hit("bob", "pw", HASH_A, t0));
        cache.forget("alice");
        assert!(!cache.hit("alice", "pw", HASH_A, t0));
    }

    #[test]
    fn plaintext_is_not_kept() {
        let mut cache = SuccessCache::new(DEFAULT_TTL, DEFAULT_CAPACITY);
        cache.remember("alice", "s3cret-pass", HASH_A, Instant::now());
        let entry = &cache.entries["alice"];
        assert_ne!(entry.digest, blake3::hash(b"s3cret-pass"));
        assert!(!entry.stored_hash.contains("s3cret-pass"));
    }

    #[test]
    fn full_cache_drops_the_oldest_entry() {
        let t0 = Instant::now();
        let mut cache = SuccessCache::new(DEFAULT_TTL, 3);
        for (i, name) in ["a", "b", "c", "d"].iter().enumerate() {
            cache.remember(name, "pw", HASH_A, t0 + Duration::from_secs(i as u64));
        }
        assert_eq!(cache.entries.len(), 3);
        let later = t0 + Duration::from_secs(10);
        assert!(!cache.hit("a", "pw", HASH_A, later));
        assert!(
            ["b", "c", "d"]
                .iter()
                .all(|n| cache.hit(n, "pw", HASH_A, later))
        );
    }
}
