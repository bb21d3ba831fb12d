//! A bridge's counters, read at scrape time by `/metrics` (atomics only: the publish
//! path bumps them inline).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::queue::unix_ms;

/// How often at most a kind of drop is logged (with the count since the last line).
const DROP_LOG_INTERVAL: Duration = Duration::from_secs(10);

#[derive(Debug, Default)]
pub struct BridgeStats {
    /// 1 while the upstream connection is up.
    pub connected: AtomicU64,
    pub connects: AtomicU64,
    pub disconnects: AtomicU64,
    /// Queued QoS 1/2 messages not yet acknowledged upstream.
    pub backlog_messages: AtomicU64,
    pub backlog_bytes: AtomicU64,
    /// When the oldest queued message was queued (Unix ms; 0 when the queue is empty).
    pub oldest_ms: AtomicU64,
    /// Local messages delivered upstream (acknowledged for QoS 1/2, written for QoS 0).
    pub forwarded_out: AtomicU64,
    /// Upstream messages published locally.
    pub forwarded_in: AtomicU64,
    /// QoS 1/2 messages refused because the queue was at its byte bound.
    pub dropped_full: AtomicU64,
    /// Queued messages dropped unsent because they were older than the age bound.
    pub dropped_age: AtomicU64,
    /// Messages dropped unsent because their own 5.0 Message Expiry Interval ran out
    /// while they waited for the link.
    pub dropped_expired: AtomicU64,
    /// Messages dropped unsent because they exceed the upstream's Maximum Packet Size.
    pub dropped_too_large: AtomicU64,
    /// QoS 0 messages dropped because the link was down or slow.
    pub dropped_qos0: AtomicU64,
    /// Appends to the queue that failed (disk full, I/O error): those messages are lost.
    pub write_errors: AtomicU64,
    last_drop_log_ms: AtomicU64,
}

impl BridgeStats {
    pub(crate) fn queued(&self, bytes: u64, written_ms: u64) {
        if self.backlog_messages.fetch_add(1, Ordering::Relaxed) == 0 {
            self.oldest_ms.store(written_ms, Ordering::Relaxed);
        }
        self.backlog_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// `head_ms`: when the oldest record still queued was written, if the caller knows.
    pub(crate) fn released(&self, messages: u64, bytes: u64, head_ms: Option<u64>) {
        let left = self.backlog_messages.fetch_sub(messages, Ordering::Relaxed) - messages;
        self.backlog_bytes.fetch_sub(bytes, Ordering::Relaxed);
        match (left, head_ms) {
            (0, _) => self.oldest_ms.store(0, Ordering::Relaxed),
            (_, Some(ms)) => self.oldest_ms.store(ms, Ordering::Relaxed),
            _ => {}
        }
    }

    /// Age of the oldest queued message.
    pub fn oldest_age(&self) -> Duration {
        match self.oldest_ms.load(Ordering::Relaxed) {
            0 => Duration::ZERO,
            ms => Duration::from_millis(unix_ms().saturating_sub(ms)),
        }
    }

    /// Counts a drop in `counter` and logs the drop totals at most once per interval.
    pub(crate) fn drop_one(&self, bridge: &str, counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
        let now = unix_ms();
        let last = self.last_drop_log_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) < DROP_LOG_INTERVAL.as_millis() as u64 {
            return;
        }
        if self
            .last_drop_log_ms
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
            tracing::warn!(
                bridge,
                full = read(&self.dropped_full),
                too_old = read(&self.dropped_age),
                expired = read(&self.dropped_expired),
                too_large = read(&self.dropped_too_large),
                qos0 = read(&self.dropped_qos0),
                write_errors = read(&self.write_errors),
                "bridge: messages dropped (totals since start; see --bridge-queue-max-bytes / --bridge-queue-max-age)"
            );
        }
    }
}
