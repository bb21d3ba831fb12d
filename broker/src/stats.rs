//! The broker's counters, read by the binary's `/metrics`.
//!
//! They are plain atomics bumped with `Relaxed` ordering: the publish path pays one
//! uncontended `fetch_add` per counted event, never a lock or a hash. The broker does not
//! know how they are exposed; the root binary reads them through
//! [`BrokerControl`](crate::broker::BrokerControl) at scrape time.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Counters exported on `/metrics`.
#[derive(Default)]
pub struct Stats {
    pub connections: AtomicUsize,
    pub messages_received: AtomicU64,
    pub messages_sent: AtomicU64,
    /// Bytes read from and written to client sockets after CONNECT (`$SYS/broker/bytes/*`):
    /// one `fetch_add` per read or write wake-up, not per packet.
    pub bytes_received: AtomicU64,
    pub bytes_sent: AtomicU64,
    /// Sessions accepted since start (`$SYS/broker/load/connections/*`).
    pub connects: AtomicU64,
    /// Subscriptions in the router (`$SYS/broker/subscriptions/count`), kept by the one
    /// door that adds and removes them (`Shared::add_subscription` / `remove_subscription`).
    pub subscriptions: AtomicUsize,
    /// Deliveries that never reached a subscriber because of a limit, per reason.
    pub dropped: Drops,
}

/// Why a delivery was dropped (the `reason` label of
/// `magnetite_mqtt_messages_dropped_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// The subscriber's queue (`max_queued`) was full: QoS 0 for an online session, any
    /// QoS for an offline persistent one. The subscriber stays connected.
    QueueFull,
    /// A QoS 1/2 delivery that could not wait for room (a will, a retained replay, a
    /// subscriber stuck past the slow-subscriber limit): the subscriber is disconnected
    /// with "quota exceeded".
    SlowSubscriber,
    /// Larger than the Maximum Packet Size the subscriber announced (MQTT 5.0 §3.1.2.11.4).
    PacketTooLarge,
}

impl DropReason {
    /// Every reason, in the order `/metrics` lists them.
    pub const ALL: [DropReason; 3] = [
        DropReason::QueueFull,
        DropReason::SlowSubscriber,
        DropReason::PacketTooLarge,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::QueueFull => "queue_full",
            DropReason::SlowSubscriber => "slow_subscriber",
            DropReason::PacketTooLarge => "packet_too_large",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One counter per [`DropReason`], indexed by the reason (no map, no hashing).
#[derive(Default)]
pub struct Drops([AtomicU64; DropReason::ALL.len()]);

impl Drops {
    /// Counts one dropped delivery.
    pub fn count(&self, reason: DropReason) {
        self.0[reason.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Deliveries dropped so far for `reason`.
    pub fn get(&self, reason: DropReason) -> u64 {
        self.0[reason.index()].load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_reason_has_its_own_counter() {
        let drops = Drops::default();
        drops.count(DropReason::QueueFull);
        drops.count(DropReason::QueueFull);
        drops.count(DropReason::PacketTooLarge);
        let counts: Vec<u64> = DropReason::ALL.iter().map(|r| drops.get(*r)).collect();
        assert_eq!(counts, [2, 0, 1]);
    }
}
