//! Limits and switches of the engine. `magnetite serve` sets most of them from its
//! settings (`broker_config` in the root binary): `--max-connections`,
//! `--max-packet-size`, `--max-connect-packet-size`, `--max-inflight`, `--max-queued`,
//! `--connect-timeout`, `--max-topic-levels`, `--max-keepalive`, and the overload flags
//! (`overload`: `--memory-high-watermark`, `--max-connect-rate`, ...). The others
//! (`receive_maximum`, `topic_alias_maximum`, `max_session_expiry`) keep their defaults
//! in the binary; embedders and tests set them directly.

use std::time::Duration;

use crate::admission::OverloadConfig;

#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// Sockets held at once (TCP + WebSocket + TLS); a CONNECT beyond waits up to
    /// `connect_slot_wait` for a slot, then is answered with CONNACK "server
    /// unavailable" / 0x89 and closed.
    pub max_connections: usize,
    /// Largest packet accepted from a client, fixed header included (v5 `Maximum Packet Size`).
    pub max_packet_size: u32,
    /// Largest CONNECT accepted (bytes): before authentication a peer is anyone, so its
    /// first packet gets a small cap whatever `max_packet_size` is (5.0 CONNACK 0x95,
    /// else the socket is closed).
    pub max_connect_packet_size: u32,
    /// Unacknowledged QoS 1/2 messages sent to one session at once (capped further by
    /// the client's Receive Maximum).
    pub max_inflight: u16,
    /// QoS 2 messages a client may have waiting for PUBREL (our Receive Maximum).
    pub receive_maximum: u16,
    /// Messages queued for one session (online behind the in-flight window, or offline).
    pub max_queued: usize,
    /// A socket that has not sent CONNECT within this time is closed.
    pub connect_timeout: Duration,
    /// How long a CONNECT that finds all `max_connections` slots taken waits for one to
    /// free before it is refused (never past `connect_timeout`). A client that closes and
    /// at once reconnects races its own close: the slot frees only once the broker has
    /// read the close, so without a short wait the reconnect could be refused.
    pub connect_slot_wait: Duration,
    /// Topic names and filters with more levels are refused.
    pub max_topic_levels: usize,
    /// Highest keep-alive granted; 5.0 clients asking for more (or 0) are told this value.
    pub max_keepalive: Option<u16>,
    /// Topic aliases a 5.0 client may use towards us.
    pub topic_alias_maximum: u16,
    /// Upper bound on a session's expiry (seconds); also the lifetime of a 3.1.1
    /// persistent session once offline.
    pub max_session_expiry: u32,
    /// Memory watermark, connect rates, per-client publish limits (all off by default;
    /// see [`crate::admission`]).
    pub overload: OverloadConfig,
    /// A TCP connection idle this long (nothing read or delivered, nothing in flight)
    /// gives up its task until its socket, a delivery, a kick, its keep-alive or
    /// shutdown needs it (`connection::park`); `None` never parks.
    pub park_idle_after: Option<Duration>,
    /// Called (off the workers, at most once a second) after a wave of parks to give the
    /// allocator's free pages back: by default glibc's `malloc_trim`
    /// ([`crate::memory::release_free_memory`]). `None` for a process whose only
    /// allocator returns them by itself. The `magnetite` binary keeps the default: its
    /// Rust heap is jemalloc's (purged by its background thread) but SQLite and the other
    /// C libraries still allocate from glibc, whose holes only `malloc_trim` returns.
    pub release_free_memory: Option<fn()>,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            max_connections: 1_000_000,
            max_packet_size: 1024 * 1024,
            max_connect_packet_size: 64 * 1024,
            max_inflight: 1024,
            receive_maximum: 1024,
            max_queued: 10_000,
            connect_timeout: Duration::from_secs(10),
            connect_slot_wait: Duration::from_secs(1),
            max_topic_levels: 32,
            max_keepalive: None,
            topic_alias_maximum: 1024,
            max_session_expiry: u32::MAX,
            overload: OverloadConfig::default(),
            park_idle_after: Some(Duration::from_secs(2)),
            release_free_memory: Some(crate::memory::release_free_memory),
        }
    }
}
