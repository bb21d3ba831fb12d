//! When a connection is idle: its keep-alive check, and whether and how it parks
//! (gives up its task, see `park` and `parked`).

use std::time::Duration;

use tokio::time::Instant;

use super::io::Io;
use super::Connection;
use crate::hooks::Hooks;

/// A deadline far enough away to mean "never" for a timer that is disabled anyway.
const FAR: Duration = Duration::from_secs(86_400 * 365);

/// The client's keep-alive with the spec's grace: 1.5 times the interval.
pub(super) fn keep_alive_limit(keep_alive: Duration) -> Option<Duration> {
    (!keep_alive.is_zero()).then(|| keep_alive + keep_alive / 2)
}

impl<H: Hooks, S: Io> Connection<H, S> {
    /// How long the connection must stay idle before it parks (`None`: never parks,
    /// e.g. WebSocket and TLS, whose readiness cannot be awaited without a future).
    pub(super) fn park_after(&self) -> Option<Duration> {
        self.shared.config.park_idle_after.filter(|_| S::PARKS)
    }

    pub(super) fn keep_alive_expired(&self) -> bool {
        keep_alive_limit(self.keep_alive).is_some_and(|limit| self.last_read.elapsed() >= limit)
    }

    /// When the event loop next looks at keep-alive and idleness.
    pub(super) fn next_check(&self, park_after: Option<Duration>) -> Instant {
        let keep_alive = keep_alive_limit(self.keep_alive).map(|limit| self.last_read + limit);
        let park = park_after.map(|after| Instant::now() + after);
        match (keep_alive, park) {
            (Some(a), Some(b)) => a.min(b),
            (Some(at), None) | (None, Some(at)) => at,
            (None, None) => Instant::now() + FAR,
        }
    }

    /// Whether the connection holds nothing that needs its task: no bytes to write or
    /// decode, no ack waiting for the store, no message in flight, no takeover waiting.
    pub(super) fn can_park(&self) -> bool {
        self.park_after().is_some()
            && self.wbuf.is_empty()
            && self.rbuf.is_empty()
            && self.acks.is_none()
            && self.pending_done.is_none()
            && self.state.inflight.is_empty()
    }
}
