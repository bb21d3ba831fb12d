//! The one retry policy of the platform: capped exponential backoff with jitter. Every
//! loop that retries a failing database or sink (the outbox reader's cursor load, read
//! and save; a shipper's delivery; the bootstrap tailer's reactions; the notifications
//! reader's windows; the MQTT event writer) waits by it.
//!
//! Built on `backon` rather than by hand: a small, actively maintained crate (Apache
//! OpenDAL's retry layer) whose only runtime dependency is `fastrand`. Its
//! [`ExponentialBuilder`] yields the schedule as a plain iterator of delays, so a loop
//! that must also watch a stop signal (the outbox reader's [`Backoff`]) and one that
//! simply retries a future (`backon::Retryable`, the MQTT writer) use the same numbers.
//!
//! Jitter (backon's rule) adds a random part of up to the delay itself, so a wait is in
//! `[d, 2d)` of the un-jittered schedule `d`: 100 ms, 200 ms, ... capped at 5 s. Without
//! it every reader and shipper of every instance would retry a recovering database or
//! broker in lockstep.

use backon::{BackoffBuilder, ExponentialBuilder};
use std::time::Duration;

/// First retry delay of the schedule; it doubles up to [`BACKOFF_MAX`].
pub const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// The schedule's cap (jitter may add up to as much again).
pub const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// The un-jittered schedule: [`BACKOFF_MIN`] doubling to [`BACKOFF_MAX`], never giving
/// up (the callers stop on shutdown, not after a number of attempts).
pub fn schedule() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(BACKOFF_MIN)
        .with_max_delay(BACKOFF_MAX)
        .with_factor(2.0)
        .without_max_times()
}

/// The policy every retry loop uses: [`schedule`] with jitter.
pub fn policy() -> ExponentialBuilder {
    schedule().with_jitter()
}

/// The policy as state for a loop that sleeps on its own terms (stop-aware): the delay
/// to wait now, and back to the start after a success.
#[derive(Debug)]
pub struct Backoff {
    builder: ExponentialBuilder,
    delays: <ExponentialBuilder as BackoffBuilder>::Backoff,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new(policy())
    }
}

impl Backoff {
    /// Delays from `builder` ([`policy`] in production).
    pub fn new(builder: ExponentialBuilder) -> Backoff {
        Backoff {
            builder,
            delays: builder.build(),
        }
    }

    /// The delay to wait now; the next one is (about) twice as long, up to the cap.
    pub fn next_delay(&mut self) -> Duration {
        // The schedule never ends (`without_max_times`); the cap is the safe answer
        // should it ever.
        self.delays.next().unwrap_or(BACKOFF_MAX)
    }

    /// Back to the first delay after a success.
    pub fn reset(&mut self) {
        self.delays = self.builder.build();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let mut b = Backoff::new(schedule());
        let seq: Vec<u128> = (0..8).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(seq, vec![100, 200, 400, 800, 1600, 3200, 5000, 5000]);
        b.reset();
        assert_eq!(b.next_delay(), BACKOFF_MIN);
    }

    #[test]
    fn jitter_stays_within_one_delay_of_the_schedule() {
        let mut exact = Backoff::new(schedule());
        let mut jittered = Backoff::default();
        for _ in 0..20 {
            let (d, j) = (exact.next_delay(), jittered.next_delay());
            assert!(j >= d && j < d * 2, "{j:?} outside [{d:?}, 2 x {d:?})");
        }
        jittered.reset();
        assert!(jittered.next_delay() < BACKOFF_MIN * 2);
    }

    #[test]
    fn the_schedule_never_gives_up() {
        let mut b = Backoff::new(schedule());
        assert_eq!(b.delays.nth(10_000), Some(BACKOFF_MAX));
    }
}
