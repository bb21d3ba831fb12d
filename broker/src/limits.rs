//! Token buckets: the one rate-limiting primitive of the engine's overload protection
//! (per-client publish rate and bandwidth, global and per-source connect rates).
//!
//! Pure: every decision takes the current instant as an argument, so the tests drive
//! time by hand and the callers decide how to wait (a publisher's connection pauses its
//! reads; a refused CONNECT is told when to come back).
//!
//! Why not `governor`: its GCRA refuses a batch larger than the burst outright
//! (`InsufficientCapacity`), where a byte budget must let a message bigger than one
//! second's budget through once the bucket is full and make the sender pay it back
//! ([`TokenBucket::wait`] allows that debt); and its keyed store has no bound on
//! memory. A bucket owned by one connection task also needs no atomics: two floats and
//! an instant, kept only for a client that published within the last second while a
//! limit is configured (see `Admission::admit_publish`).

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

/// `rate` tokens per second, holding at most `burst`; the level may go below zero
/// (debt) when one take is larger than the burst.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket: `burst` tokens available at once, then `rate` per second.
    pub fn new(rate: NonZeroU32, burst: NonZeroU32, now: Instant) -> TokenBucket {
        TokenBucket {
            rate: f64::from(rate.get()),
            burst: f64::from(burst.get()),
            tokens: f64::from(burst.get()),
            last: now,
        }
    }

    /// A bucket whose burst is one second's worth of its rate.
    pub fn per_second(rate: NonZeroU32, now: Instant) -> TokenBucket {
        TokenBucket::new(rate, rate, now)
    }

    fn refill(&mut self, now: Instant) {
        if now > self.last {
            let elapsed = now.duration_since(self.last).as_secs_f64();
            self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
            self.last = now;
        }
    }

    /// How long until `n` tokens may be taken (zero: now). A take larger than the
    /// burst only waits for a full bucket.
    pub fn wait(&mut self, n: u64, now: Instant) -> Duration {
        self.refill(now);
        let need = (n as f64).min(self.burst);
        if self.tokens >= need {
            return Duration::ZERO;
        }
        Duration::from_secs_f64((need - self.tokens) / self.rate)
    }

    /// Takes `n` tokens (the level may go negative: the debt delays later takes).
    pub fn consume(&mut self, n: u64) {
        self.tokens -= n as f64;
    }

    /// Takes `n` tokens when they are there; otherwise how long until they are.
    pub fn take(&mut self, n: u64, now: Instant) -> Result<(), Duration> {
        match self.wait(n, now) {
            Duration::ZERO => {
                self.consume(n);
                Ok(())
            }
            wait => Err(wait),
        }
    }

    /// Full again: the bucket remembers nothing a new one would not (it can be
    /// forgotten, e.g. by a table of per-source buckets that must stay bounded).
    pub fn is_full(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= self.burst
    }
}

/// Which per-client limit made a publisher wait (the `limit` label on `/metrics`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishLimit {
    /// `--max-publish-rate`, PUBLISH packets per second.
    Rate,
    /// `--max-publish-bandwidth`, topic + payload bytes per second.
    Bandwidth,
}

/// The per-client publish limits of one session; created on its first PUBLISH, and
/// only when a limit is configured, so idle connections carry none.
#[derive(Debug, Clone)]
pub struct PublishLimiter {
    messages: Option<TokenBucket>,
    bytes: Option<TokenBucket>,
}

impl PublishLimiter {
    /// `None` when neither limit is set.
    pub fn new(
        rate: Option<NonZeroU32>,
        bandwidth: Option<NonZeroU32>,
        now: Instant,
    ) -> Option<PublishLimiter> {
        if rate.is_none() && bandwidth.is_none() {
            return None;
        }
        Some(PublishLimiter {
            messages: rate.map(|r| TokenBucket::per_second(r, now)),
            bytes: bandwidth.map(|b| TokenBucket::per_second(b, now)),
        })
    }

    /// Admits one PUBLISH of `bytes`, taking from both buckets, or says which limit it
    /// must wait for and how long. Nothing is taken unless both allow it, so waiting
    /// and asking again takes each budget once.
    pub fn admit(&mut self, bytes: u64, now: Instant) -> Result<(), (PublishLimit, Duration)> {
        let message_wait = self
            .messages
            .as_mut()
            .map_or(Duration::ZERO, |b| b.wait(1, now));
        let byte_wait = self
            .bytes
            .as_mut()
            .map_or(Duration::ZERO, |b| b.wait(bytes, now));
        if message_wait.is_zero() && byte_wait.is_zero() {
            if let Some(bucket) = self.messages.as_mut() {
                bucket.consume(1);
            }
            if let Some(bucket) = self.bytes.as_mut() {
                bucket.consume(bytes);
            }
            return Ok(());
        }
        if message_wait >= byte_wait {
            Err((PublishLimit::Rate, message_wait))
        } else {
            Err((PublishLimit::Bandwidth, byte_wait))
        }
    }

    /// Both budgets full again: the limiter may be forgotten (a new one starts full).
    pub fn is_full(&mut self, now: Instant) -> bool {
        self.messages.as_mut().is_none_or(|b| b.is_full(now))
            && self.bytes.as_mut().is_none_or(|b| b.is_full(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(value: u32) -> NonZeroU32 {
        NonZeroU32::new(value).unwrap()
    }

    #[test]
    fn a_bucket_allows_its_burst_then_its_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::per_second(n(10), start);
        for _ in 0..10 {
            assert_eq!(bucket.take(1, start), Ok(()));
        }
        let wait = bucket.take(1, start).unwrap_err();
        assert!((wait.as_secs_f64() - 0.1).abs() < 1e-6, "{wait:?}");
        assert_eq!(bucket.take(1, start + Duration::from_millis(100)), Ok(()));
        assert!(bucket.take(1, start + Duration::from_millis(100)).is_err());
    }

    #[test]
    fn a_bucket_never_holds_more_than_its_burst() {
        let start = Instant::now();
        let mut bucket = TokenBucket::per_second(n(5), start);
        let later = start + Duration::from_secs(3600);
        assert!(bucket.is_full(later));
        for _ in 0..5 {
            assert_eq!(bucket.take(1, later), Ok(()));
        }
        assert!(bucket.take(1, later).is_err());
        assert!(!bucket.is_full(later));
    }

    #[test]
    fn a_take_larger_than_the_burst_passes_when_full_and_is_paid_back() {
        let start = Instant::now();
        let mut bucket = TokenBucket::per_second(n(1000), start);
        // 3,000 bytes against 1,000 B/s: passes on a full bucket, leaves 2,000 of debt.
        assert_eq!(bucket.take(3000, start), Ok(()));
        let wait = bucket.take(1, start).unwrap_err();
        assert!((wait.as_secs_f64() - 2.001).abs() < 1e-6, "{wait:?}");
        // Another large one waits for a full bucket again: 3 s after the first.
        let wait = bucket.wait(3000, start);
        assert!((wait.as_secs_f64() - 3.0).abs() < 1e-6, "{wait:?}");
    }

    #[test]
    fn time_going_backwards_adds_nothing() {
        let start = Instant::now() + Duration::from_secs(1);
        let mut bucket = TokenBucket::per_second(n(1), start);
        assert_eq!(bucket.take(1, start), Ok(()));
        assert!(bucket.take(1, start - Duration::from_secs(1)).is_err());
    }

    #[test]
    fn no_limit_no_limiter() {
        assert!(PublishLimiter::new(None, None, Instant::now()).is_none());
    }

    #[test]
    fn the_publish_limiter_takes_both_budgets_only_together() {
        let start = Instant::now();
        let mut limiter = PublishLimiter::new(Some(n(2)), Some(n(100)), start).unwrap();
        assert_eq!(limiter.admit(60, start), Ok(()));
        // 40 bytes left: a 60-byte message waits for bandwidth, taking no message token.
        let (limit, wait) = limiter.admit(60, start).unwrap_err();
        assert_eq!(limit, PublishLimit::Bandwidth);
        assert!((wait.as_secs_f64() - 0.2).abs() < 1e-6, "{wait:?}");
        assert_eq!(limiter.admit(10, start), Ok(()));
        // Two messages in the first second: the third waits for the rate.
        let (limit, wait) = limiter.admit(1, start).unwrap_err();
        assert_eq!(limit, PublishLimit::Rate);
        assert!((wait.as_secs_f64() - 0.5).abs() < 1e-6, "{wait:?}");
        assert_eq!(limiter.admit(1, start + wait), Ok(()));
        assert!(!limiter.is_full(start + wait));
        assert!(limiter.is_full(start + Duration::from_secs(1) + wait));
    }

    #[test]
    fn only_the_configured_limit_applies() {
        let start = Instant::now();
        let mut rate_only = PublishLimiter::new(Some(n(1)), None, start).unwrap();
        assert_eq!(rate_only.admit(10_000_000, start), Ok(()));
        assert_eq!(rate_only.admit(1, start).unwrap_err().0, PublishLimit::Rate);
        let mut bytes_only = PublishLimiter::new(None, Some(n(10)), start).unwrap();
        for _ in 0..10 {
            assert_eq!(bytes_only.admit(1, start), Ok(()));
        }
        assert_eq!(
            bytes_only.admit(1, start).unwrap_err().0,
            PublishLimit::Bandwidth
        );
    }
}
