//! Login throttling shared by smtp, pop and web (SPEC §6, §7, §11): one [`Throttle`] per
//! process, in an `Arc`.
//!
//! Failures are counted per client address (IPv6 grouped by /64, since one subscriber usually
//! owns a whole /64) and per account. Each key with failures imposes a delay of
//! `base · 2^(failures-1)`, capped at `max_delay`. Every attempt reserves the next free slot of
//! each key it touches, so N parallel guesses wait N delays instead of sharing one; an attempt
//! whose wait would exceed `max_delay` is refused at once, without checking the password.
//!
//! **No lockouts.** An account's counter is a budget shared by the addresses it has *not*
//! logged in from: attempts from an address that logged in successfully as that user within
//! `known_for` (a *known* address) neither count against it nor wait for it, only for their
//! own address's counter. So an attacker without the password, from any number of addresses,
//! exhausts the account's budget for unknown addresses, which bounds online guessing of one
//! account to a few attempts a minute however many addresses guess, but never stops the student
//! from logging in where they have logged in before. Attempts still being checked count as
//! failures for the account's budget (a success refunds them), so a burst of parallel guesses is
//! not all admitted before the first failure is recorded. The trade-off: a student's first login
//! from a new address waits like an attacker's while an attack is under way, and known addresses
//! live in this process's memory, so a restart forgets them until each student's next
//! successful login. A success never clears the account's counter (the student's own logins
//! must not renew an attacker's budget), nor the address's (one valid account must not let an
//! address go on guessing others). A key's failures are forgotten once its latest failure is
//! older than `forget_after`.
//!
//! Memory is bounded: each map holds at most `max_entries`; when full, forgotten entries go
//! first, then the oldest tenth, so an eviction pass is amortised over many insertions.
//!
//! [`ThrottleState`] is the pure core (time is passed in); [`Throttle`] adds the lock and the
//! clock.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use journal::Username;

/// Tuning of a [`Throttle`].
#[derive(Debug, Clone)]
pub struct ThrottleConfig {
    /// Delay after the first failure; doubles with each further one.
    pub base_delay: Duration,
    /// Longest delay; an attempt that would wait longer is refused.
    pub max_delay: Duration,
    /// Failures are forgotten after this long without a new one.
    pub forget_after: Duration,
    /// Most entries per map (addresses, usernames, known addresses).
    pub max_entries: usize,
    /// How long an address stays known for a user after a successful login from it.
    pub known_for: Duration,
}

impl ThrottleConfig {
    /// For registration with a student id (one account key for every attempt, see the web's
    /// register handler): failures from all addresses together are remembered for an hour and
    /// their delay doubles from a second up to 20 s, beyond which queued attempts are refused.
    /// Scanning ids from any number of addresses then gets at most about three guesses a
    /// minute, while a student who registers during such a scan waits at most 20 s (a longer
    /// delay would lock registration for everyone). Short sequential ids stay guessable at that
    /// rate over days; a registration code would close that.
    pub fn registration() -> ThrottleConfig {
        ThrottleConfig {
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(20),
            forget_after: Duration::from_secs(3600),
            ..ThrottleConfig::default()
        }
    }
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(20),
            forget_after: Duration::from_secs(15 * 60),
            max_entries: 100_000,
            known_for: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

/// What a login attempt must do before its password is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Wait this long, then check the password (zero for a clean record).
    Wait(Duration),
    /// Refuse now without checking the password: the queue is already `max_delay` long.
    Refuse,
}

/// The client address as the throttle counts it: IPv6 masked to its /64, IPv4-mapped IPv6
/// turned back into IPv4 (otherwise every IPv4 client of a dual-stack socket would share one
/// /64 and one counter).
pub fn client_key(client: IpAddr) -> IpAddr {
    match client.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
    }
}

/// Failure record of one address or username.
#[derive(Debug, Clone)]
struct Entry {
    failures: u32,
    /// Attempts admitted and still being checked (account entries only): they count like
    /// failures until their outcome is known.
    pending: u32,
    last_failure: Instant,
    /// When the next attempt may start at the earliest (the end of the reserved queue).
    free_at: Instant,
}

/// The pure core: two bounded maps and the arithmetic, with "now" passed in.
#[derive(Debug)]
pub struct ThrottleState {
    config: ThrottleConfig,
    by_address: HashMap<IpAddr, Entry>,
    /// Each account's budget for the addresses it has not logged in from.
    by_username: HashMap<String, Entry>,
    /// (username, address) pairs that logged in, with the time of the latest success.
    known: HashMap<(String, IpAddr), Instant>,
}

impl ThrottleState {
    /// An empty state.
    pub fn new(config: ThrottleConfig) -> Self {
        Self {
            config,
            by_address: HashMap::new(),
            by_username: HashMap::new(),
            known: HashMap::new(),
        }
    }

    /// Whether `username` logged in from `address` within `known_for` of `now`.
    fn is_known(&self, now: Instant, address: IpAddr, username: &str) -> bool {
        self.known
            .get(&(username.to_string(), address))
            .is_some_and(|at| now.saturating_duration_since(*at) < self.config.known_for)
    }

    /// Reserves a slot for an attempt by `client` on `username` at `now`.
    pub fn reserve(&mut self, now: Instant, client: IpAddr, username: &str) -> Admission {
        let address = client_key(client);
        // A known address neither waits for nor spends the account's budget.
        let user = username_key(username).filter(|u| !self.is_known(now, address, u));
        let config = &self.config;
        let address_slot = self
            .by_address
            .get(&address)
            .and_then(|e| next_slot(config, e, now));
        let user_slot = user
            .and_then(|u| self.by_username.get(u))
            .and_then(|e| next_slot(config, e, now));
        let start = match (address_slot, user_slot) {
            (None, None) => {
                self.admit(now, user);
                return Admission::Wait(Duration::ZERO);
            }
            (a, u) => a.max(u).unwrap_or(now),
        };
        let wait = start.saturating_duration_since(now);
        if wait > self.config.max_delay {
            return Admission::Refuse;
        }
        // Each key queues on its own slot, so the address and the username stay independent.
        if let (Some(slot), Some(entry)) = (address_slot, self.by_address.get_mut(&address)) {
            entry.free_at = slot;
        }
        if let (Some(slot), Some(u)) = (user_slot, user)
            && let Some(entry) = self.by_username.get_mut(u)
        {
            entry.free_at = slot;
        }
        self.admit(now, user);
        Admission::Wait(wait)
    }

    /// Counts an admitted attempt on the account `user` (if it spends the account's budget)
    /// as pending until its outcome is recorded.
    fn admit(&mut self, now: Instant, user: Option<&str>) {
        let Some(user) = user else { return };
        if let Some(entry) = self.by_username.get_mut(user) {
            if is_forgotten(&self.config, entry, now) {
                entry.failures = 0;
                entry.pending = 0;
                entry.last_failure = now;
            }
            entry.pending = entry.pending.saturating_add(1);
            return;
        }
        if self.by_username.len() >= self.config.max_entries.max(1) {
            make_room(&self.config, &mut self.by_username, now);
        }
        self.by_username.insert(
            user.to_string(),
            Entry {
                failures: 0,
                pending: 1,
                last_failure: now,
                free_at: now,
            },
        );
    }

    /// The outcome of a pending attempt on `user` is known: it no longer counts as pending.
    fn settle(&mut self, user: &str) {
        if let Some(entry) = self.by_username.get_mut(user) {
            entry.pending = entry.pending.saturating_sub(1);
            if entry.pending == 0 && entry.failures == 0 {
                self.by_username.remove(user);
            }
        }
    }

    /// An admitted attempt ended without a password check (the client went away while it
    /// waited): it stops counting against the account.
    pub fn abandon(&mut self, now: Instant, client: IpAddr, username: &str) {
        let address = client_key(client);
        if let Some(user) = username_key(username).filter(|u| !self.is_known(now, address, u)) {
            self.settle(user);
        }
    }

    /// Records a failed password check.
    pub fn failure(&mut self, now: Instant, client: IpAddr, username: &str) {
        let address = client_key(client);
        record_failure(&self.config, &mut self.by_address, address, now);
        if let Some(user) = username_key(username).filter(|u| !self.is_known(now, address, u)) {
            self.settle(user);
            record_failure(&self.config, &mut self.by_username, user.to_string(), now);
        }
    }

    /// Records a successful login of `username` from `client`: the address becomes known for
    /// that user, and the attempt stops counting against the account. No failure is cleared.
    pub fn success(&mut self, now: Instant, client: IpAddr, username: &str) {
        let Some(user) = username_key(username) else {
            return;
        };
        let address = client_key(client);
        if !self.is_known(now, address, user) {
            self.settle(user);
        }
        if self.known.len() >= self.config.max_entries.max(1) {
            let known_for = self.config.known_for;
            self.known
                .retain(|_, at| now.saturating_duration_since(*at) < known_for);
            if self.known.len() >= self.config.max_entries.max(1) {
                // Still full of recent logins: forget the oldest tenth.
                let mut ages: Vec<(Instant, (String, IpAddr))> =
                    self.known.iter().map(|(k, at)| (*at, k.clone())).collect();
                let excess = (self.known.len() / 10).max(1);
                ages.select_nth_unstable_by_key(excess - 1, |(at, _)| *at);
                for (_, key) in ages.into_iter().take(excess) {
                    self.known.remove(&key);
                }
            }
        }
        self.known.insert((user.to_string(), address), now);
    }

    /// Entries held for addresses and for usernames.
    pub fn len(&self) -> (usize, usize) {
        (self.by_address.len(), self.by_username.len())
    }

    /// Whether nothing is being tracked.
    pub fn is_empty(&self) -> bool {
        self.by_address.is_empty() && self.by_username.is_empty()
    }
}

/// Only valid usernames get a counter: an invalid one can never log in (the address counter
/// still applies), and this bounds the key to 64 bytes whatever a client sends.
fn username_key(username: &str) -> Option<&str> {
    Username::parse(username).ok().map(|_| username)
}

fn is_forgotten(config: &ThrottleConfig, entry: &Entry, now: Instant) -> bool {
    now.saturating_duration_since(entry.last_failure) >= config.forget_after
}

/// `base · 2^(n-1)` for `n` failures and pending attempts, capped; zero for none (remembered).
fn delay(config: &ThrottleConfig, entry: &Entry, now: Instant) -> Duration {
    let count = entry.failures.saturating_add(entry.pending);
    if count == 0 || is_forgotten(config, entry, now) {
        return Duration::ZERO;
    }
    let factor = 1u32.checked_shl(count - 1).unwrap_or(u32::MAX);
    config
        .base_delay
        .saturating_mul(factor)
        .min(config.max_delay)
}

/// The start of the next free slot of this key, or `None` if it imposes no wait.
fn next_slot(config: &ThrottleConfig, entry: &Entry, now: Instant) -> Option<Instant> {
    let delay = delay(config, entry, now);
    if delay.is_zero() {
        return None;
    }
    Some(entry.free_at.max(now) + delay)
}

fn record_failure<K: Hash + Eq + Clone>(
    config: &ThrottleConfig,
    map: &mut HashMap<K, Entry>,
    key: K,
    now: Instant,
) {
    if let Some(entry) = map.get_mut(&key) {
        if is_forgotten(config, entry, now) {
            entry.failures = 0;
            entry.pending = 0;
        }
        entry.failures = entry.failures.saturating_add(1);
        entry.last_failure = now;
        return;
    }
    if map.len() >= config.max_entries.max(1) {
        make_room(config, map, now);
    }
    let entry = Entry {
        failures: 1,
        pending: 0,
        last_failure: now,
        free_at: now,
    };
    map.insert(key, entry);
}

/// Drops forgotten entries; if the map is still over nine tenths full, drops the oldest until
/// it is not. Freeing a tenth at once keeps a flood of new keys at amortised O(1) per insert.
fn make_room<K: Hash + Eq + Clone>(
    config: &ThrottleConfig,
    map: &mut HashMap<K, Entry>,
    now: Instant,
) {
    map.retain(|_, e| !(is_forgotten(config, e, now) && e.free_at <= now));
    let max = config.max_entries.max(1);
    let target = max - (max / 10).max(1);
    if map.len() <= target {
        return;
    }
    let excess = map.len() - target;
    let mut ages: Vec<(Instant, K)> = map
        .iter()
        .map(|(k, e)| (e.last_failure, k.clone()))
        .collect();
    ages.select_nth_unstable_by_key(excess - 1, |(at, _)| *at);
    for (_, key) in ages.into_iter().take(excess) {
        map.remove(&key);
    }
    tracing::warn!(
        evicted = excess,
        "login throttle table full; dropped the oldest failure records"
    );
}

/// The process-wide throttle: [`ThrottleState`] behind a mutex, with tokio's clock (so tests
/// with paused time see consistent waits).
#[derive(Debug)]
pub struct Throttle {
    state: Mutex<ThrottleState>,
}

impl Throttle {
    /// A throttle with no failures recorded.
    pub fn new(config: ThrottleConfig) -> Self {
        Self {
            state: Mutex::new(ThrottleState::new(config)),
        }
    }

    fn now() -> Instant {
        tokio::time::Instant::now().into_std()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, ThrottleState> {
        // The state stays consistent even if a holder panicked: every update is a plain store.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reserves a slot for an attempt; see [`Admission`].
    pub fn reserve(&self, client: IpAddr, username: &str) -> Admission {
        self.state().reserve(Self::now(), client, username)
    }

    /// Records a failed password check.
    pub fn failure(&self, client: IpAddr, username: &str) {
        self.state().failure(Self::now(), client, username);
    }

    /// An admitted attempt ended without a password check.
    pub fn abandon(&self, client: IpAddr, username: &str) {
        self.state().abandon(Self::now(), client, username);
    }

    /// Records a successful login: the address becomes known for the user.
    pub fn success(&self, client: IpAddr, username: &str) {
        self.state().success(Self::now(), client, username);
    }
}

impl Default for Throttle {
    fn default() -> Self {
        Self::new(ThrottleConfig::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const MS: Duration = Duration::from_millis(1);

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn wait(a: Admission) -> Duration {
        match a {
            Admission::Wait(d) => d,
            Admission::Refuse => panic!("refused"),
        }
    }

    /// The wait an attempt would get, without leaving it pending.
    fn probe(state: &mut ThrottleState, now: Instant, client: IpAddr, user: &str) -> Admission {
        let admission = state.reserve(now, client, user);
        if matches!(admission, Admission::Wait(_)) {
            state.abandon(now, client, user);
        }
        admission
    }

    fn fail_n(state: &mut ThrottleState, now: Instant, client: IpAddr, user: &str, n: u32) {
        for _ in 0..n {
            state.failure(now, client, user);
        }
    }

    #[test]
    fn clean_client_waits_nothing() {
        let mut state = ThrottleState::new(ThrottleConfig::default());
        let now = Instant::now();
        for _ in 0..5 {
            assert_eq!(
                state.reserve(now, ip("192.0.2.1"), "alice"),
                Admission::Wait(Duration::ZERO)
            );
            state.success(now, ip("192.0.2.1"), "alice");
        }
        assert_eq!(state.len(), (0, 0), "no failure is tracked");
    }

    #[test]
    fn delay_doubles_with_each_failure_up_to_the_cap() {
        let mut state = ThrottleState::new(ThrottleConfig::default());
        let mut now = Instant::now();
        let client = ip("192.0.2.1");
        let mut seen = Vec::new();
        for _ in 0..10 {
            state.failure(now, client, "alice");
            let d = wait(state.reserve(now, client, "alice"));
            seen.push(d.as_millis());
            now += d; // the attempt runs at its slot, then fails again
        }
        assert_eq!(
            seen,
            [200, 400, 800, 1600, 3200, 6400, 12800, 20000, 20000, 20000]
        );
    }

    #[test]
    fn address_and_username_are_counted_independently() {
        let mut state = ThrottleState::new(ThrottleConfig::default());
        let now = Instant::now();
        fail_n(&mut state, now, ip("192.0.2.1"), "alice", 3);
        // Same username from elsewhere: throttled by the username alone.
        assert_eq!(
            wait(probe(&mut state, now, ip("198.51.100.7"), "alice")),
            800 * MS
        );
        // Same address, other username: throttled by the address alone (its own queue).
        assert_eq!(
            wait(probe(&mut state, now, ip("192.0.2.1"), "bob")),
            800 * MS
        );
        // Neither: free.
        assert_eq!(
            probe(&mut state, now, ip("198.51.100.7"), "bob"),
            Admission::Wait(Duration::ZERO)
        );
    }

    #[test]
    fn parallel_attempts_queue_behind_each_other() {
        let mut state = ThrottleState::new(ThrottleConfig::default());
        let now = Instant::now();
        fail_n(&mut state, now, ip("192.0.2.1"), "alice", 2); // delay 400 ms
        let waits: Vec<_> = (0..5)
            .map(|i| {
                let client = IpAddr::V4(Ipv4Addr::new(203, 0, 113, i));
                wait(state.reserve(now, client, "alice")).as_millis()
            })
            .collect();
        // Each admitted attempt still being checked counts like a failure: the delays grow.
        assert_eq!(waits, [400, 1200, 2800, 6000, 12400]);
    }

    #[test]
    fn attempt_past_the_maximum_wait_is_refused() {
        let mut state = ThrottleState::new(ThrottleConfig::default());
        let now = Instant::now();
        let client = ip("192.0.2.1");
        fail_n(&mut state, now, client, "alice", 6); // delay 6.4 s
        let waits: Vec<_> = (0..3)
            .map(|_| wait(state.reserve(now, client, "x")))
            .collect();
        assert_eq!(waits, [6400 * MS, 12800 * MS, 19200 * MS]);
        assert_eq!(state.reserve(now, client, "x"), Admission::Refuse);
        // A refusal reserves nothing: once the queue drains, attempts are admitted again.
        let later = now + 19200 * MS;
        assert_eq!(wait(state.reserve(later, client, "x")), 6400 * MS);
    }

    #[test]
    fn registration_scans_get_a_few_guesses_a_minute_from_any_number_of_addresses() {
        let mut state = ThrottleState::new(ThrottleConfig::registration());
        let mut now = Instant::now();
        let mut checked = 0;
        // 1,000 addresses, each trying one id a minute for a day, all on the one registration key.
        for minute in 0..24 * 60 {
            for i in 0..1000u32 {
                let client = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
                if let Admission::Wait(d) = state.reserve(now, client, "registration") {
                    checked += 1;
                    state.failure(now + d, client, "registration");
                }
            }
            now += Duration::from_secs(60);
            let _ = minute;
        }
        println!("{checked} registration guesses checked in a day");
        assert!(checked <= 3 * 24 * 60 + 10, "{checked} guesses a day");
    }

    #[test]
    fn failures_are_forgotten_after_a_quiet_period() {
        let config = ThrottleConfig::default();
        let forget = config.forget_after;
        let mut state = ThrottleState::new(config);
        let now = Instant::now();
        let client = ip("192.0.2.1");
        fail_n(&mut state, now, client, "alice", 5);
        let before = now + forget - MS;
        assert!(wait(state.reserve(before, client, "alice")) > Duration::ZERO);
        let after = now + forget + Duration::from_secs(30);
        assert_eq!(
            state.reserve(after, client, "alice"),
            Admission::Wait(Duration::ZERO)
        );
        // The count restarts from one, not from six.
        state.failure(after, client, "alice");
        assert_eq!(wait(state.reserve(after, client, "alice")), 200 * MS);
    }

    #[test]
    fn success_makes_the_address_known_and_clears_no_failure() {
        let mut state = ThrottleState::new(ThrottleConfig::default());
        let now = Instant::now();
        let client = ip("192.0.2.1");
        fail_n(&mut state, now, client, "alice", 4);
        state.success(now, client, "alice");
        // Elsewhere, alice's budget for unknown addresses is still spent.
        assert_eq!(
            wait(state.reserve(now, ip("198.51.100.7"), "alice")),
            1600 * MS
        );
        // The address still counts its failures for every user.
        assert_eq!(wait(state.reserve(now, client, "bob")), 1600 * MS);
    }

    /// The lockout: a spray from 50 addresses against alice's password must not keep alice
    /// out where she has logged in before, while the spray's guesses stay bounded.
    #[test]
    fn a_spray_from_many_addresses_never_locks_out_a_known_address() {
        let mut state = ThrottleState::new(ThrottleConfig::default());
        let mut now = Instant::now();
        let home = ip("192.0.2.1");
        assert_eq!(
            state.reserve(now, home, "alice"),
            Admission::Wait(Duration::ZERO)
        );
        state.success(now, home, "alice");
        let mut checked = 0;
        // 50 addresses, all at once, each trying alice's password every second for two minutes;
        // an admitted attempt is checked (and fails) only after its wait.
        let mut in_flight: Vec<(Instant, IpAddr)> = Vec::new();
        for _ in 0..120 {
            for i in 0..50u8 {
                let attacker = IpAddr::V4(Ipv4Addr::new(203, 0, 113, i));
                if let Admission::Wait(d) = state.reserve(now, attacker, "alice") {
                    in_flight.push((now + d, attacker));
                }
            }
            let (done, waiting): (Vec<_>, Vec<_>) =
                in_flight.into_iter().partition(|(at, _)| *at <= now);
            in_flight = waiting;
            for (_, attacker) in done {
                checked += 1;
                state.failure(now, attacker, "alice");
            }
            // alice, from home, with her password: never waits for the attack.
            assert_eq!(
                state.reserve(now, home, "alice"),
                Admission::Wait(Duration::ZERO)
            );
            state.success(now, home, "alice");
            now += Duration::from_secs(1);
        }
        println!("{checked} guesses checked in two minutes from 50 addresses");
        assert!(
            checked <= 20,
            "{checked} guesses were checked in two minutes"
        );
    }

    #[test]
    fn ipv6_clients_are_grouped_by_slash_64() {
        let mut state = ThrottleState::new(ThrottleConfig::default());
        let now = Instant::now();
        fail_n(&mut state, now, ip("2001:db8:1:2::1"), "x", 1);
        assert_eq!(
            wait(probe(&mut state, now, ip("2001:db8:1:2:ffff::9"), "y")),
            200 * MS
        );
        assert_eq!(
            probe(&mut state, now, ip("2001:db8:1:3::1"), "y"),
            Admission::Wait(Duration::ZERO)
        );
    }

    #[test]
    fn ipv4_mapped_clients_are_not_lumped_into_one_slash_64() {
        assert_eq!(client_key(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
        let mut state = ThrottleState::new(ThrottleConfig::default());
        let now = Instant::now();
        fail_n(&mut state, now, ip("::ffff:192.0.2.1"), "x", 1);
        assert_eq!(
            probe(&mut state, now, ip("::ffff:192.0.2.2"), "y"),
            Admission::Wait(Duration::ZERO)
        );
        assert_eq!(wait(probe(&mut state, now, ip("192.0.2.1"), "y")), 200 * MS);
    }

    #[test]
    fn invalid_usernames_only_count_against_the_address() {
        let mut state = ThrottleState::new(ThrottleConfig::default());
        let now = Instant::now();
        let huge = "X".repeat(100_000);
        fail_n(&mut state, now, ip("192.0.2.1"), &huge, 3);
        assert_eq!(state.len(), (1, 0));
        assert_eq!(wait(state.reserve(now, ip("192.0.2.1"), "alice")), 800 * MS);
    }

    #[test]
    fn memory_stays_bounded_under_a_million_distinct_addresses() {
        let config = ThrottleConfig::default();
        let max = config.max_entries;
        let mut state = ThrottleState::new(config);
        let start = Instant::now();
        let mut last = (ip("0.0.0.0"), String::new(), start);
        for i in 0..1_000_000u32 {
            let client = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
            let user = format!("u{i}");
            let now = start + Duration::from_micros(u64::from(i));
            state.failure(now, client, &user);
            let (addresses, usernames) = state.len();
            assert!(
                addresses <= max && usernames <= max,
                "grew to {addresses}/{usernames}"
            );
            last = (client, user, now);
        }
        // The newest offender is still remembered after all the evictions.
        let (client, user, now) = last;
        assert_eq!(wait(state.reserve(now, client, "someone")), 200 * MS);
        assert_eq!(wait(state.reserve(now, ip("192.0.2.99"), &user)), 200 * MS);
    }

    #[test]
    fn forgotten_entries_are_evicted_before_recent_ones() {
        let config = ThrottleConfig {
            max_entries: 10,
            ..ThrottleConfig::default()
        };
        let forget = config.forget_after;
        let mut state = ThrottleState::new(config);
        let t0 = Instant::now();
        let recent = ip("192.0.2.200");
        for i in 0..9u8 {
            state.failure(t0, IpAddr::V4(Ipv4Addr::new(10, 0, 0, i)), "x");
        }
        let t1 = t0 + forget;
        state.failure(t1, recent, "x");
        state.failure(t1, ip("192.0.2.201"), "x");
        assert_eq!(state.len().0, 2);
        assert!(wait(state.reserve(t1, recent, "y")) > Duration::ZERO);
    }
}
