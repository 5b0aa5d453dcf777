//! Slowing password guessing down, as Keystone's account lockout (`[security_compliance]
//! lockout_failure_attempts`) but per user and per source address: failed logins are counted in
//! two bounded tables, and once a key has `max` failures within the window its further attempts
//! are refused with the usual 401, without a password check, until the window has passed. A
//! successful login clears its user's count (not its source's, so that one good account does not
//! buy a source more guesses at others).

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use sha2::{Digest, Sha256};

/// A table key: a digest of the user or source, so that long names cost no memory.
type Key = [u8; 16];

/// Thresholds and bounds (`[auth] lockout_*`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Failures per user before its logins are refused; 0: never.
    pub user_failures: u32,
    /// Failures per source address before its logins are refused; 0: never.
    pub source_failures: u32,
    pub window: Duration,
    /// Most entries per table.
    pub table_size: usize,
}

/// The keys of one login attempt.
#[derive(Debug, Clone)]
pub struct Attempt {
    user: Key,
    source: Option<Key>,
}

impl Attempt {
    /// `user` is what the login presented (`name:…` or `id:…`), whether or not such a user exists;
    /// `source` the peer's address, if known. Loopback peers are not counted per source: they are
    /// this host's own tools or a reverse proxy in front of the server, whose lockout would lock
    /// every client out.
    pub fn new(user: &str, source: Option<IpAddr>) -> Self {
        let source = source.map(|ip| ip.to_canonical()).filter(|ip| !ip.is_loopback());
        Self { user: digest("user", user.as_bytes()), source: source.map(source_key) }
    }
}

fn digest(kind: &str, bytes: &[u8]) -> Key {
    let mut h = Sha256::new();
    h.update(kind.as_bytes());
    h.update([0]);
    h.update(bytes);
    let mut key = [0u8; 16];
    key.copy_from_slice(&h.finalize()[..16]);
    key
}

/// IPv4 addresses count one by one; IPv6 ones by /64, the block one host usually holds.
fn source_key(ip: IpAddr) -> Key {
    match ip {
        IpAddr::V4(v4) => digest("v4", &v4.octets()),
        IpAddr::V6(v6) => digest("v6", &v6.octets()[..8]),
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    /// The first failure counted in the current window.
    first: Instant,
    last: Instant,
    locked_until: Option<Instant>,
}

impl Entry {
    fn stale(&self, now: Instant, window: Duration) -> bool {
        match self.locked_until {
            Some(until) => until <= now,
            None => self.first + window <= now,
        }
    }
}

/// Failure counts by key, at most `cap` of them.
#[derive(Debug)]
struct Table {
    max: u32,
    window: Duration,
    cap: usize,
    entries: HashMap<Key, Entry>,
}

impl Table {
    fn new(max: u32, window: Duration, cap: usize) -> Self {
        Self { max, window, cap: cap.max(1), entries: HashMap::new() }
    }

    fn locked(&mut self, key: &Key, now: Instant) -> bool {
        match self.entries.get(key) {
            Some(e) if e.stale(now, self.window) => {
                self.entries.remove(key);
                false
            }
            Some(e) => e.locked_until.is_some(),
            None => false,
        }
    }

    /// Counts a failure; true when it locks the key.
    fn fail(&mut self, key: Key, now: Instant) -> bool {
        if self.max == 0 {
            return false;
        }
        if !self.entries.contains_key(&key) && self.entries.len() >= self.cap {
            self.evict(now);
        }
        let window = self.window;
        let fresh = Entry { failures: 0, first: now, last: now, locked_until: None };
        let e = self.entries.entry(key).or_insert(fresh);
        if e.stale(now, window) {
            *e = fresh;
        }
        e.failures = e.failures.saturating_add(1);
        e.last = now;
        if e.failures >= self.max && e.locked_until.is_none() {
            e.locked_until = Some(now + window);
            return true;
        }
        false
    }

    /// Makes room for one entry: drops every stale entry, else the unlocked entry (or, if all are
    /// locked, the entry) whose last failure is oldest.
    fn evict(&mut self, now: Instant) {
        let window = self.window;
        self.entries.retain(|_, e| !e.stale(now, window));
        if self.entries.len() < self.cap {
            return;
        }
        let victim =
            self.entries.iter().min_by_key(|(_, e)| (e.locked_until.is_some(), e.last)).map(|(k, _)| *k);
        if let Some(k) = victim {
            self.entries.remove(&k);
        }
    }
}

/// What a refused or counted attempt hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lock {
    User,
    Source,
}

/// The two tables.
#[derive(Debug)]
pub struct Throttle {
    users: Mutex<Table>,
    sources: Mutex<Table>,
}

impl Throttle {
    pub fn new(limits: Limits) -> Self {
        Self {
            users: Mutex::new(Table::new(limits.user_failures, limits.window, limits.table_size)),
            sources: Mutex::new(Table::new(limits.source_failures, limits.window, limits.table_size)),
        }
    }

    /// Whether `attempt` is to be refused without checking its password.
    pub fn refuses(&self, attempt: &Attempt) -> Option<Lock> {
        self.refuses_at(attempt, Instant::now())
    }

    fn refuses_at(&self, attempt: &Attempt, now: Instant) -> Option<Lock> {
        if self.users.lock().locked(&attempt.user, now) {
            return Some(Lock::User);
        }
        match &attempt.source {
            Some(s) if self.sources.lock().locked(s, now) => Some(Lock::Source),
            _ => None,
        }
    }

    /// Counts a failed password check; returns what it locked, if anything.
    pub fn failed(&self, attempt: &Attempt) -> Vec<Lock> {
        self.failed_at(attempt, Instant::now())
    }

    fn failed_at(&self, attempt: &Attempt, now: Instant) -> Vec<Lock> {
        let mut locked = Vec::new();
        if self.users.lock().fail(attempt.user, now) {
            locked.push(Lock::User);
        }
        if let Some(s) = attempt.source
            && self.sources.lock().fail(s, now)
        {
            locked.push(Lock::Source);
        }
        locked
    }

    /// A successful login: forgets the user's failures.
    pub fn succeeded(&self, attempt: &Attempt) {
        self.users.lock().entries.remove(&attempt.user);
    }

    /// Entries held, users and sources (tests, diagnostics).
    pub fn len(&self) -> (usize, usize) {
        (self.users.lock().entries.len(), self.sources.lock().entries.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_secs(300);

    fn throttle(user_failures: u32, source_failures: u32, table_size: usize) -> Throttle {
        Throttle::new(Limits { user_failures, source_failures, window: WINDOW, table_size })
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn a_user_is_locked_after_max_failures_until_the_window_passes() {
        let t = throttle(3, 0, 100);
        let now = Instant::now();
        let a = Attempt::new("id:u1", ip("10.0.0.1"));
        for i in 0..2 {
            assert_eq!(t.refuses_at(&a, now), None);
            assert!(t.failed_at(&a, now + Duration::from_secs(i)).is_empty());
        }
        assert_eq!(t.failed_at(&a, now + Duration::from_secs(2)), vec![Lock::User]);
        assert_eq!(t.refuses_at(&a, now + Duration::from_secs(3)), Some(Lock::User));
        // From another address too; another user is not affected.
        assert_eq!(t.refuses_at(&Attempt::new("id:u1", ip("10.0.0.2")), now), Some(Lock::User));
        assert_eq!(t.refuses_at(&Attempt::new("id:u2", ip("10.0.0.1")), now), None);
        // The lock lasts one window from the failure that set it, then the count starts over.
        let after = now + Duration::from_secs(2) + WINDOW;
        assert_eq!(t.refuses_at(&a, after - Duration::from_secs(1)), Some(Lock::User));
        assert_eq!(t.refuses_at(&a, after), None);
        assert!(t.failed_at(&a, after).is_empty());
    }

    #[test]
    fn failures_older_than_the_window_do_not_count() {
        let t = throttle(2, 0, 100);
        let now = Instant::now();
        let a = Attempt::new("name:x", None);
        assert!(t.failed_at(&a, now).is_empty());
        assert!(t.failed_at(&a, now + WINDOW).is_empty(), "the first failure has aged out");
        assert_eq!(t.failed_at(&a, now + WINDOW + Duration::from_secs(1)), vec![Lock::User]);
    }

    #[test]
    fn success_resets_the_user_but_not_the_source() {
        let t = throttle(2, 3, 100);
        let now = Instant::now();
        let a = Attempt::new("id:u1", ip("192.0.2.7"));
        t.failed_at(&a, now);
        t.succeeded(&a);
        assert!(t.failed_at(&a, now).is_empty(), "the user's count started over");
        assert_eq!(t.failed_at(&a, now), vec![Lock::User, Lock::Source]);
        t.succeeded(&a);
        let other_user = Attempt::new("id:u2", ip("192.0.2.7"));
        assert_eq!(t.refuses_at(&a, now), Some(Lock::Source));
        assert_eq!(t.refuses_at(&other_user, now), Some(Lock::Source));
        assert_eq!(t.refuses_at(&Attempt::new("id:u2", ip("192.0.2.8")), now), None);
        assert_eq!(t.refuses_at(&Attempt::new("id:u2", None), now), None, "unknown sources are not counted");
    }

    #[test]
    fn loopback_sources_are_not_counted() {
        let t = throttle(0, 1, 100);
        let now = Instant::now();
        for lo in ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"] {
            t.failed_at(&Attempt::new("a", ip(lo)), now);
            assert_eq!(t.refuses_at(&Attempt::new("b", ip(lo)), now), None, "{lo}");
        }
        t.failed_at(&Attempt::new("a", ip("10.0.0.1")), now);
        assert_eq!(t.refuses_at(&Attempt::new("b", ip("10.0.0.1")), now), Some(Lock::Source));
    }

    #[test]
    fn ipv6_sources_count_by_64_and_mapped_ipv4_as_ipv4() {
        let t = throttle(0, 1, 100);
        let now = Instant::now();
        t.failed_at(&Attempt::new("a", ip("2001:db8:1:2::10")), now);
        assert!(t.refuses_at(&Attempt::new("b", ip("2001:db8:1:2:ffff::1")), now).is_some());
        assert!(t.refuses_at(&Attempt::new("b", ip("2001:db8:1:3::10")), now).is_none());
        t.failed_at(&Attempt::new("a", ip("::ffff:198.51.100.1")), now);
        assert!(t.refuses_at(&Attempt::new("b", ip("198.51.100.1")), now).is_some());
    }

    #[test]
    fn tables_stay_bounded_and_keep_locked_keys_first() {
        let t = throttle(2, 1_000_000, 64);
        let now = Instant::now();
        let victim = Attempt::new("id:admin", ip("203.0.113.1"));
        t.failed_at(&victim, now);
        t.failed_at(&victim, now);
        for i in 0..10_000u32 {
            let a = Attempt::new(&format!("name:random-{i}"), ip(&format!("10.{}.{}.1", i / 256, i % 256)));
            t.failed_at(&a, now + Duration::from_millis(u64::from(i)));
        }
        let (users, sources) = t.len();
        assert!(users <= 64 && sources <= 64, "{users} {sources}");
        assert_eq!(t.refuses_at(&victim, now + Duration::from_secs(11)), Some(Lock::User));
    }

    #[test]
    fn zero_disables_a_table() {
        let t = throttle(0, 0, 10);
        let now = Instant::now();
        let a = Attempt::new("id:u", ip("10.0.0.1"));
        for _ in 0..100 {
            assert!(t.failed_at(&a, now).is_empty());
        }
        assert_eq!(t.refuses_at(&a, now), None);
        assert_eq!(t.len(), (0, 0));
    }
}
