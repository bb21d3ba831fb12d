//! Slows password guessing: after [`FREE_FAILURES`] wrong passwords in a row for one
//! login, that login is refused (429) without checking the password for a delay that
//! doubles with each further failure, up to [`MAX_DELAY`]. A success clears it. Only
//! that login is affected, so an attacker cannot lock out everyone, and the legitimate
//! user is never blocked for more than a few minutes.
//!
//! Memory stays bounded: past [`MAX_TRACKED`] logins, entries quiet for [`FORGET_AFTER`]
//! are dropped, and if that is not enough new logins are not tracked (throttling is
//! then per the ones already tracked; the hashing slots still bound the CPU).

use std::time::{Duration, Instant};

use dashmap::DashMap;

use crate::error::AuthError;

/// Failures allowed before a login is delayed.
pub const FREE_FAILURES: u32 = 5;
/// The longest delay.
pub const MAX_DELAY: Duration = Duration::from_secs(300);
const FORGET_AFTER: Duration = Duration::from_secs(900);
const MAX_TRACKED: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
    blocked_until: Option<Instant>,
}

/// Failed-login bookkeeping, keyed by the login as typed (lowercased).
#[derive(Debug, Default)]
pub struct LoginThrottle {
    failures: DashMap<String, Failures>,
}

impl LoginThrottle {
    /// How long `login` must still wait, if it is being throttled at `now`.
    pub fn wait(&self, login: &str, now: Instant) -> Option<Duration> {
        let entry = self.failures.get(&key(login))?;
        let until = entry.blocked_until?;
        (until > now).then(|| until - now)
    }

    /// `Err(TooManyRequests)` (with the seconds to wait) while `login` is throttled.
    pub fn check(&self, login: &str, now: Instant) -> Result<(), AuthError> {
        match self.wait(login, now) {
            Some(wait) => Err(AuthError::TooManyRequests(wait.as_secs_f64().ceil() as u64)),
            None => Ok(()),
        }
    }

    /// Records a wrong password for `login` at `now`.
    pub fn failed(&self, login: &str, now: Instant) {
        if self.failures.len() >= MAX_TRACKED {
            self.failures
                .retain(|_, f| now.duration_since(f.last) < FORGET_AFTER);
            if self.failures.len() >= MAX_TRACKED && !self.failures.contains_key(&key(login)) {
                return;
            }
        }
        let mut f = self.failures.entry(key(login)).or_insert(Failures {
            count: 0,
            last: now,
            blocked_until: None,
        });
        if now.duration_since(f.last) >= FORGET_AFTER {
            f.count = 0;
        }
        f.count += 1;
        f.last = now;
        if f.count >= FREE_FAILURES {
            f.blocked_until = Some(now + delay_after(f.count));
        }
    }

    /// A correct password for `login`: forget its failures.
    pub fn succeeded(&self, login: &str) {
        self.failures.remove(&key(login));
    }
}

fn key(login: &str) -> String {
    login.trim().to_lowercase()
}

/// 1 s at the limit, doubling with each further failure, at most [`MAX_DELAY`].
fn delay_after(count: u32) -> Duration {
    let doublings = (count - FREE_FAILURES).min(16);
    Duration::from_secs(1u64 << doublings).min(MAX_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_after_the_free_failures_and_doubles() {
        let t = LoginThrottle::default();
        let now = Instant::now();
        for _ in 0..FREE_FAILURES - 1 {
            t.failed("Admin@Example.com", now);
        }
        assert_eq!(t.wait("admin@example.com", now), None);
        t.failed("admin@example.com", now);
        assert_eq!(
            t.wait("ADMIN@example.com", now),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            t.wait("admin@example.com", now + Duration::from_secs(1)),
            None
        );
        t.failed("admin@example.com", now + Duration::from_secs(1));
        assert_eq!(
            t.wait("admin@example.com", now + Duration::from_secs(1)),
            Some(Duration::from_secs(2))
        );
        assert_eq!(t.wait("other@example.com", now), None, "per login");
        for i in 0..40 {
            t.failed("admin@example.com", now + Duration::from_secs(2 + i));
        }
        let last = now + Duration::from_secs(41);
        assert_eq!(t.wait("admin@example.com", last), Some(MAX_DELAY));
        t.succeeded("admin@example.com");
        assert_eq!(t.wait("admin@example.com", last), None);
    }

    #[test]
    fn old_failures_are_forgotten() {
        let t = LoginThrottle::default();
        let now = Instant::now();
        for _ in 0..FREE_FAILURES - 1 {
            t.failed("a", now);
        }
        t.failed("a", now + FORGET_AFTER);
        assert_eq!(t.wait("a", now + FORGET_AFTER), None, "the count restarted");
    }
}
