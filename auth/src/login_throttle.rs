//! Slows guessing: after [`ThrottlePolicy::free_failures`] failures in a row for one key
//! (a login, an external id, an MQTT client id, a source address), that key is refused
//! without checking anything for a delay that doubles with each further failure, up to
//! [`ThrottlePolicy::max_delay`]. A success clears it. Only that key is affected, so an
//! attacker cannot lock out everyone, and a legitimate user is never blocked for more
//! than the maximum delay.
//!
//! Guesses are counted as they *start* ([`LoginThrottle::begin`] reserves a failure,
//! [`Attempt::succeeded`] clears it): forty concurrent guesses waiting for a hashing slot
//! would otherwise all pass the check before the first one is recorded.
//!
//! Bounded memory whatever callers send: the table is keyed by a 16-byte salted SHA-256
//! of the key (never the string itself) and holds at most
//! [`ThrottlePolicy::max_entries`] entries (about 100 bytes each). When full, entries quiet
//! for [`ThrottlePolicy::forget_after`] go first, then the *least guilty* eighth: fewest
//! failures, oldest first. A throttled account therefore leaves the table only when it is
//! full of keys with at least as many failures, so un-throttling a target by flooding
//! costs the attacker `7/8 × max_entries × its failure count` failed attempts (for logins:
//! ~440,000 Argon2 verifications at the default cap), not one request per entry.

use std::time::{Duration, Instant};

use dashmap::DashMap;
use parking_lot::Mutex;
use sha2::{Digest, Sha256};

use crate::error::AuthError;

/// Failures allowed before a login is delayed.
pub const FREE_FAILURES: u32 = 5;
/// The longest delay.
pub const MAX_DELAY: Duration = Duration::from_secs(300);
/// Entries a throttle keeps at most (the login policy's cap).
pub const MAX_TRACKED: usize = 100_000;

/// How forgiving one throttle is, and how much it may remember.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures in a row before the key waits.
    pub free_failures: u32,
    /// The longest wait (1 s at the limit, doubling per further failure).
    pub max_delay: Duration,
    /// A key with no failure for this long starts from zero again.
    pub forget_after: Duration,
    /// Hard cap on tracked keys.
    pub max_entries: usize,
}

impl ThrottlePolicy {
    /// User logins and device bootstrap: 5 free failures, 1 s doubling to 5 min.
    pub const LOGIN: ThrottlePolicy = ThrottlePolicy {
        free_failures: FREE_FAILURES,
        max_delay: MAX_DELAY,
        forget_after: Duration::from_secs(900),
        max_entries: MAX_TRACKED,
    };
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        ThrottlePolicy::LOGIN
    }
}

/// A fixed-size digest of a normalised key: the table's memory does not depend on what
/// callers send.
type Key = [u8; 16];

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
    blocked_until: Option<Instant>,
}

/// Failure bookkeeping, keyed by a salted hash of the key as typed (trimmed, lowercased).
#[derive(Debug)]
pub struct LoginThrottle {
    policy: ThrottlePolicy,
    /// Random per process: nobody can precompute keys that collide with a victim's.
    salt: [u8; 16],
    failures: DashMap<Key, Failures>,
    /// Serialises inserting new keys, so the cap is hard and one eviction runs at a time.
    inserting: Mutex<()>,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        LoginThrottle::new(ThrottlePolicy::LOGIN)
    }
}

/// One guess in progress, already counted as a failure. Dropping it leaves the failure
/// counted (also when the request is abandoned half-way); [`Attempt::succeeded`] clears
/// the key, [`Attempt::not_a_guess`] takes the reservation back.
#[must_use = "dropping an attempt counts it as a failure"]
#[derive(Debug)]
pub struct Attempt<'a> {
    throttle: &'a LoginThrottle,
    key: Key,
}

impl Attempt<'_> {
    /// The credentials were right: forget the key's failures.
    pub fn succeeded(self) {
        self.throttle.failures.remove(&self.key);
    }

    /// The request turned out to guess nothing (e.g. malformed credentials): undo the
    /// reservation, keeping earlier failures.
    pub fn not_a_guess(self) {
        let policy = self.throttle.policy;
        if let Some(mut f) = self.throttle.failures.get_mut(&self.key) {
            f.count = f.count.saturating_sub(1);
            f.blocked_until =
                (f.count >= policy.free_failures).then(|| f.last + delay_after(&policy, f.count));
        }
        self.throttle
            .failures
            .remove_if(&self.key, |_, f| f.count == 0);
    }
}

impl LoginThrottle {
    pub fn new(policy: ThrottlePolicy) -> Self {
        LoginThrottle {
            policy,
            salt: rand::random(),
            failures: DashMap::new(),
            inserting: Mutex::new(()),
        }
    }

    pub fn policy(&self) -> ThrottlePolicy {
        self.policy
    }

    /// Keys tracked now (for the `/metrics` gauge); never above the policy's cap.
    pub fn len(&self) -> usize {
        self.failures.len()
    }

    pub fn is_empty(&self) -> bool {
        self.failures.is_empty()
    }

    /// How long `login` must still wait, if it is being throttled at `now`.
    pub fn wait(&self, login: &str, now: Instant) -> Option<Duration> {
        self.wait_key(&self.key(login), now)
    }

    fn wait_key(&self, key: &Key, now: Instant) -> Option<Duration> {
        let until = self.failures.get(key)?.blocked_until?;
        (until > now).then(|| until - now)
    }

    /// `Err(TooManyRequests)` (with the seconds to wait) while `login` is throttled.
    pub fn check(&self, login: &str, now: Instant) -> Result<(), AuthError> {
        match self.wait(login, now) {
            Some(wait) => Err(too_many(wait)),
            None => Ok(()),
        }
    }

    /// Starts a guess for `login`: refused while it is throttled, else counted as a
    /// failure right away (check and count are one step, so concurrent guesses cannot
    /// all pass the check).
    pub fn begin(&self, login: &str, now: Instant) -> Result<Attempt<'_>, AuthError> {
        let key = self.key(login);
        if let Some(mut f) = self.failures.get_mut(&key) {
            return match f.blocked_until.filter(|until| *until > now) {
                Some(until) => Err(too_many(until - now)),
                None => {
                    record(&mut f, now, &self.policy);
                    Ok(Attempt {
                        throttle: self,
                        key,
                    })
                }
            };
        }
        self.insert_new(key, now)?;
        Ok(Attempt {
            throttle: self,
            key,
        })
    }

    /// Records a failure for `login` at `now` (a guess that was not reserved).
    pub fn failed(&self, login: &str, now: Instant) {
        let key = self.key(login);
        if let Some(mut f) = self.failures.get_mut(&key) {
            record(&mut f, now, &self.policy);
            return;
        }
        let _ = self.insert_new(key, now);
    }

    /// A correct password for `login`: forget its failures.
    pub fn succeeded(&self, login: &str) {
        self.failures.remove(&self.key(login));
    }

    /// Adds (or, if another request just added it, updates) `key` with one failure,
    /// making room first when the table is full.
    fn insert_new(&self, key: Key, now: Instant) -> Result<(), AuthError> {
        let _guard = self.inserting.lock();
        if self.failures.len() >= self.policy.max_entries && !self.failures.contains_key(&key) {
            self.evict(now);
        }
        let mut f = self.failures.entry(key).or_insert(Failures {
            count: 0,
            last: now,
            blocked_until: None,
        });
        if let Some(until) = f.blocked_until.filter(|until| *until > now) {
            return Err(too_many(until - now));
        }
        record(&mut f, now, &self.policy);
        Ok(())
    }

    /// Forgets quiet keys, then the least guilty eighth (fewest failures, oldest first).
    fn evict(&self, now: Instant) {
        let forget = self.policy.forget_after;
        self.failures
            .retain(|_, f| now.duration_since(f.last) < forget);
        let keep = self.policy.max_entries - self.policy.max_entries.div_ceil(8);
        let excess = self.failures.len().saturating_sub(keep);
        if excess == 0 {
            return;
        }
        let mut ranked: Vec<(u32, Instant, Key)> = self
            .failures
            .iter()
            .map(|e| (e.count, e.last, *e.key()))
            .collect();
        if excess < ranked.len() {
            ranked.select_nth_unstable(excess);
        }
        for (_, _, key) in ranked.iter().take(excess) {
            self.failures.remove(key);
        }
        tracing::warn!(
            evicted = excess,
            cap = self.policy.max_entries,
            "failed-attempt table full: forgot the least-failed keys"
        );
    }

    /// Salted SHA-256 of the trimmed, lowercased key, without copying it. A key that is
    /// already lowercase ASCII (client ids, addresses: every MQTT CONNECT hashes two)
    /// is hashed in one update; others character by character, to the same digest.
    fn key(&self, login: &str) -> Key {
        let mut hash = Sha256::new();
        hash.update(self.salt);
        let login = login.trim();
        if login
            .bytes()
            .all(|b| b.is_ascii() && !b.is_ascii_uppercase())
        {
            hash.update(login.as_bytes());
        } else {
            let mut utf8 = [0u8; 4];
            for c in login.chars().flat_map(char::to_lowercase) {
                hash.update(c.encode_utf8(&mut utf8).as_bytes());
            }
        }
        let digest = hash.finalize();
        let mut key = [0u8; 16];
        key.copy_from_slice(&digest[..16]);
        key
    }
}

fn too_many(wait: Duration) -> AuthError {
    AuthError::TooManyRequests(wait.as_secs_f64().ceil() as u64)
}

/// One more failure at `now`; from the free failures on, a wait.
fn record(f: &mut Failures, now: Instant, policy: &ThrottlePolicy) {
    if now.duration_since(f.last) >= policy.forget_after {
        f.count = 0;
    }
    f.count = f.count.saturating_add(1);
    f.last = now;
    if f.count >= policy.free_failures {
        f.blocked_until = Some(now + delay_after(policy, f.count));
    }
}

/// 1 s at the limit, doubling with each further failure, at most the policy's maximum.
fn delay_after(policy: &ThrottlePolicy, count: u32) -> Duration {
    let doublings = count.saturating_sub(policy.free_failures).min(16);
    Duration::from_secs(1u64 << doublings).min(policy.max_delay)
}

#[cfg(test)]
#[path = "login_throttle_tests.rs"]
mod tests;
