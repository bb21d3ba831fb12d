//! Overload protection: who is let in when the broker is under pressure, and what it
//! sheds. One door, [`Admission`], with this contract:
//!
//! - **CONNECT admission** ([`Admission::admit`]) runs once a CONNECT has been read and
//!   before anything costly (the connection-slot wait, authentication and its store
//!   reads, the session table): a refused connect has cost a task and its CONNECT's
//!   bytes, both already bounded by `connect_timeout` and `max_connect_packet_size`.
//!   It refuses, in this order: past the memory watermark (5.0 CONNACK 0x97 Quota
//!   exceeded), a source address over `max_connect_rate_per_ip` (0x9F), everyone over
//!   `max_connect_rate` (0x9F). 3.1.1 gets 0x03 Server unavailable. A 5.0 refusal
//!   carries a reason string and a user property `retry-after-ms`: when a token will be
//!   there, plus jitter that grows with the crowd refused in the last second, so a
//!   storm of devices that follow it spreads out instead of coming back at once. With
//!   `server_reference` set the code is 0x9C Use another server and the CONNACK names
//!   it (MQTT 5.0 §4.11: a temporary redirection; 0x9D Server moved is for permanent
//!   moves, an operator's decision, never an overload's).
//! - **QoS 0 shedding** ([`Admission::shedding`]): past the memory watermark every
//!   QoS 0 delivery is dropped and counted; QoS 1/2 are never shed (their publishers
//!   are slowed by the queues' backpressure instead). Normal again at or below the low
//!   watermark (hysteresis, [`crate::memory::shedding_after`]).
//! - **Per-client publish limits** ([`crate::limits::PublishLimiter`], applied by the
//!   connection): a publisher over its rate or bandwidth is throttled by not reading
//!   its socket until its budget allows the next PUBLISH; TCP flow control slows the
//!   device down, and nothing is dropped or disconnected.
//!
//! Nothing here logs per event: a sampler task (once a second, only when a limit is
//! configured) reads the resident size, forgets idle sources, and logs what was
//! refused, shed or throttled at most once per [`LOG_INTERVAL`].

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytestring::ByteString;
use dashmap::DashMap;
use parking_lot::Mutex;
use tokio::sync::watch;

use crate::limits::{PublishLimit, PublishLimiter, TokenBucket};
use crate::memory::{resident_bytes, MemoryGuard};
use crate::protocol::{reason, ConnAck, Properties, ProtocolVersion};

/// How often the sampler reads the resident size and forgets idle sources.
pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(1);
/// Refusals, shed messages and throttled publishers are logged at most this often.
pub const LOG_INTERVAL: Duration = Duration::from_secs(10);
/// Source addresses tracked by the per-source connect limit at once. A source is
/// forgotten once its bucket is full again (a second without a connect), so the table
/// holds the sources of about the last second; past this bound new sources are
/// admitted untracked (the global rate still applies) rather than refused, so a flood
/// from many addresses cannot lock out addresses it does not own.
pub const MAX_SOURCES: usize = 65_536;
/// Base of the retry hint of a memory refusal: the watermark is re-checked each second,
/// and memory falls slowly.
const MEMORY_RETRY: Duration = Duration::from_secs(5);
/// The longest spread of a retry hint.
const MAX_SPREAD: Duration = Duration::from_secs(60);

/// The overload settings (`magnetite serve` flags of the same names); all off by default.
#[derive(Debug, Clone, Default)]
pub struct OverloadConfig {
    /// Resident bytes past which QoS 0 is shed and CONNECTs are refused.
    pub memory_high_watermark: Option<u64>,
    /// Resident bytes at or below which that stops [default: 90% of the high one].
    pub memory_low_watermark: Option<u64>,
    /// CONNECTs admitted per second, all sources together (burst: one second's worth).
    pub max_connect_rate: Option<NonZeroU32>,
    /// CONNECTs admitted per second from one IPv4 address or IPv6 /64.
    pub max_connect_rate_per_ip: Option<NonZeroU32>,
    /// PUBLISH packets per second per connection.
    pub max_publish_rate: Option<NonZeroU32>,
    /// Topic + payload bytes per second per connection.
    pub max_publish_bandwidth: Option<NonZeroU32>,
    /// Another server refused 5.0 clients are sent to (CONNACK 0x9C + Server Reference).
    pub server_reference: Option<String>,
}

/// Why a CONNECT was refused (the `reason` label on `/metrics`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalReason {
    Memory,
    SourceConnectRate,
    ConnectRate,
}

impl RefusalReason {
    pub const ALL: [RefusalReason; 3] = [
        RefusalReason::Memory,
        RefusalReason::SourceConnectRate,
        RefusalReason::ConnectRate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RefusalReason::Memory => "memory",
            RefusalReason::SourceConnectRate => "ip_connect_rate",
            RefusalReason::ConnectRate => "connect_rate",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            RefusalReason::Memory => "server memory above its watermark; retry later",
            RefusalReason::SourceConnectRate => "too many connects from this address; retry later",
            RefusalReason::ConnectRate => "too many connects; retry later",
        }
    }
}

/// A refused CONNECT and when its client should come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub reason: RefusalReason,
    pub retry_after: Duration,
}

/// What overload protection did, for `/metrics` (plain atomics, bumped where it
/// happens; read at scrape time).
#[derive(Debug, Default)]
pub struct OverloadCounters {
    refused: [AtomicU64; RefusalReason::ALL.len()],
    shed_qos0: AtomicU64,
    throttled: [AtomicU64; 2],
}

impl OverloadCounters {
    pub fn refused(&self, reason: RefusalReason) -> u64 {
        self.refused[reason as usize].load(Ordering::Relaxed)
    }

    /// QoS 0 deliveries dropped past the memory watermark.
    pub fn shed_qos0(&self) -> u64 {
        self.shed_qos0.load(Ordering::Relaxed)
    }

    /// Times a publisher was paused by `limit`.
    pub fn throttled(&self, limit: PublishLimit) -> u64 {
        self.throttled[limit as usize].load(Ordering::Relaxed)
    }

    pub(crate) fn count_throttled(&self, limit: PublishLimit) {
        self.throttled[limit as usize].fetch_add(1, Ordering::Relaxed);
    }

    fn total(&self) -> [u64; 6] {
        [
            self.refused(RefusalReason::Memory),
            self.refused(RefusalReason::SourceConnectRate),
            self.refused(RefusalReason::ConnectRate),
            self.shed_qos0(),
            self.throttled(PublishLimit::Rate),
            self.throttled(PublishLimit::Bandwidth),
        ]
    }
}

/// Per-source connect buckets, bounded by [`MAX_SOURCES`].
struct SourceLimiter {
    rate: NonZeroU32,
    buckets: Mutex<HashMap<IpAddr, TokenBucket>>,
}

impl SourceLimiter {
    fn admit(&self, peer: IpAddr, now: Instant) -> Result<(), Duration> {
        let key = source_key(peer);
        let mut buckets = self.buckets.lock();
        if let Some(bucket) = buckets.get_mut(&key) {
            return bucket.take(1, now);
        }
        if buckets.len() < MAX_SOURCES {
            let mut bucket = TokenBucket::per_second(self.rate, now);
            bucket.consume(1);
            buckets.insert(key, bucket);
        }
        Ok(())
    }

    /// Forgets the sources whose bucket is full again (they would start full anyway).
    fn sweep(&self, now: Instant) {
        let mut buckets = self.buckets.lock();
        buckets.retain(|_, bucket| !bucket.is_full(now));
        if buckets.capacity() > 2 * buckets.len().max(1024) {
            buckets.shrink_to_fit();
        }
    }

    fn len(&self) -> usize {
        self.buckets.lock().len()
    }
}

/// What a per-source limit is keyed by: an IPv4 address, or an IPv6 /64 (one host's
/// usual allocation, so a single device cannot dodge the limit by changing addresses).
pub fn source_key(peer: IpAddr) -> IpAddr {
    match peer {
        IpAddr::V4(_) => peer,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(bits.into())
            }
        },
    }
}

/// When a refused client should come back: when the token it lacked will be there,
/// plus `unit_random` (0..1) of a spread that grows with the crowd refused in the last
/// second (`recent` refusals / `rate` seconds: the time the limit needs to let them
/// all in), at least one second, at most [`MAX_SPREAD`].
pub fn retry_hint(wait: Duration, recent: u64, rate: u32, unit_random: f64) -> Duration {
    let spread = (recent as f64 / f64::from(rate.max(1))).clamp(1.0, MAX_SPREAD.as_secs_f64());
    wait + Duration::from_secs_f64(spread * unit_random.clamp(0.0, 1.0))
}

/// The CONNACK refusing a CONNECT for `refusal` (see the module contract).
pub fn refusal_connack(
    version: ProtocolVersion,
    refusal: &Refusal,
    server_reference: Option<&ByteString>,
) -> ConnAck {
    if !version.is_v5() {
        return ConnAck {
            session_present: false,
            code: reason::v3::SERVER_UNAVAILABLE,
            properties: Properties::default(),
        };
    }
    let code = match (server_reference, refusal.reason) {
        (Some(_), _) => reason::USE_ANOTHER_SERVER,
        (None, RefusalReason::Memory) => reason::QUOTA_EXCEEDED,
        (None, _) => reason::CONNECTION_RATE_EXCEEDED,
    };
    let millis = refusal.retry_after.as_millis().max(1).to_string();
    let properties = Properties {
        reason_string: Some(refusal.reason.describe().into()),
        user_properties: vec![("retry-after-ms".into(), millis.into())],
        server_reference: server_reference.cloned(),
        ..Properties::default()
    };
    ConnAck {
        session_present: false,
        code,
        properties,
    }
}

/// The overload state every connection shares (see the module contract).
pub struct Admission {
    memory: Option<MemoryGuard>,
    global: Option<(NonZeroU32, Mutex<TokenBucket>)>,
    sources: Option<SourceLimiter>,
    server_reference: Option<ByteString>,
    publish_rate: Option<NonZeroU32>,
    publish_bandwidth: Option<NonZeroU32>,
    /// Publish budgets of the sessions that published in about the last second, by
    /// session id (forgotten by the sampler once full again, like sources).
    publishers: DashMap<u64, PublishLimiter>,
    /// Refusals since the sampler's last tick, for the retry hint's spread.
    recent_refusals: AtomicU64,
    pub counters: OverloadCounters,
}

impl Admission {
    pub fn new(config: &OverloadConfig) -> Admission {
        let now = Instant::now();
        let memory = config.memory_high_watermark.map(|high| {
            let low = config.memory_low_watermark.unwrap_or(high / 10 * 9);
            MemoryGuard::new(high, low)
        });
        Admission {
            memory,
            global: config
                .max_connect_rate
                .map(|rate| (rate, Mutex::new(TokenBucket::per_second(rate, now)))),
            sources: config.max_connect_rate_per_ip.map(|rate| SourceLimiter {
                rate,
                buckets: Mutex::default(),
            }),
            server_reference: config.server_reference.as_deref().map(ByteString::from),
            publish_rate: config.max_publish_rate,
            publish_bandwidth: config.max_publish_bandwidth,
            publishers: DashMap::new(),
            recent_refusals: AtomicU64::new(0),
            counters: OverloadCounters::default(),
        }
    }

    /// Admits a CONNECT from `peer`, or says why not and when to retry.
    pub fn admit(&self, peer: IpAddr) -> Result<(), Refusal> {
        let result = self.decide(peer, Instant::now());
        if let Err(refusal) = &result {
            self.counters.refused[refusal.reason as usize].fetch_add(1, Ordering::Relaxed);
            self.recent_refusals.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    fn decide(&self, peer: IpAddr, now: Instant) -> Result<(), Refusal> {
        let recent = self.recent_refusals.load(Ordering::Relaxed);
        let jitter = rand::random::<f64>();
        if self.shedding() {
            return Err(Refusal {
                reason: RefusalReason::Memory,
                retry_after: MEMORY_RETRY + MEMORY_RETRY.mul_f64(jitter),
            });
        }
        if let Some(sources) = &self.sources {
            if let Err(wait) = sources.admit(peer, now) {
                return Err(Refusal {
                    reason: RefusalReason::SourceConnectRate,
                    retry_after: retry_hint(wait, 0, sources.rate.get(), jitter),
                });
            }
        }
        if let Some((rate, bucket)) = &self.global {
            if let Err(wait) = bucket.lock().take(1, now) {
                return Err(Refusal {
                    reason: RefusalReason::ConnectRate,
                    retry_after: retry_hint(wait, recent, rate.get(), jitter),
                });
            }
        }
        Ok(())
    }

    /// Whether a per-client publish limit is configured.
    pub fn limits_publishers(&self) -> bool {
        self.publish_rate.is_some() || self.publish_bandwidth.is_some()
    }

    /// Admits one PUBLISH of `bytes` from session `session`, or says which limit it
    /// waits for and how long (see [`PublishLimiter::admit`]).
    pub fn admit_publish(&self, session: u64, bytes: u64) -> Result<(), (PublishLimit, Duration)> {
        let now = Instant::now();
        if let Some(mut limiter) = self.publishers.get_mut(&session) {
            return limiter.admit(bytes, now);
        }
        let Some(mut limiter) = PublishLimiter::new(self.publish_rate, self.publish_bandwidth, now)
        else {
            return Ok(());
        };
        let verdict = limiter.admit(bytes, now);
        self.publishers.insert(session, limiter);
        verdict
    }

    /// Sessions whose publish budget is tracked now.
    pub fn tracked_publishers(&self) -> usize {
        self.publishers.len()
    }

    /// Past the memory watermark: QoS 0 deliveries are dropped. One atomic load.
    pub fn shedding(&self) -> bool {
        self.memory.as_ref().is_some_and(MemoryGuard::is_shedding)
    }

    /// Counts one QoS 0 delivery shed.
    pub(crate) fn count_shed(&self) {
        self.counters.shed_qos0.fetch_add(1, Ordering::Relaxed);
    }

    pub fn server_reference(&self) -> Option<&ByteString> {
        self.server_reference.as_ref()
    }

    /// Moves the memory watermarks at run time (no-op without a configured one); the
    /// next sample, within [`SAMPLE_INTERVAL`], applies them.
    pub fn set_memory_watermarks(&self, high: u64, low: u64) {
        if let Some(memory) = &self.memory {
            memory.set_watermarks(high, low);
        }
    }

    /// The memory guard, when a watermark is configured.
    pub fn memory(&self) -> Option<&MemoryGuard> {
        self.memory.as_ref()
    }

    /// Source addresses the per-source limit tracks now.
    pub fn tracked_sources(&self) -> usize {
        self.sources.as_ref().map_or(0, SourceLimiter::len)
    }

    /// Whether anything needs the sampler (any limit configured).
    fn needs_sampler(&self) -> bool {
        self.memory.is_some()
            || self.global.is_some()
            || self.sources.is_some()
            || self.limits_publishers()
    }

    /// One sampler tick: a memory sample (`rss`), idle sources forgotten, the retry
    /// spread's window restarted.
    fn tick(&self, rss: Option<u64>, now: Instant) {
        if let (Some(memory), Some(rss)) = (&self.memory, rss) {
            match memory.sample(rss) {
                Some(true) => tracing::warn!(
                    rss,
                    high = memory.watermarks().0,
                    "memory above its high watermark: shedding QoS 0 deliveries and refusing new connections"
                ),
                Some(false) => tracing::info!(
                    rss,
                    low = memory.watermarks().1,
                    "memory back at its low watermark: QoS 0 delivered and connections accepted again"
                ),
                None => {}
            }
        }
        if let Some(sources) = &self.sources {
            sources.sweep(now);
        }
        self.publishers.retain(|_, limiter| !limiter.is_full(now));
        self.recent_refusals.store(0, Ordering::Relaxed);
    }
}

/// Starts the sampler when a limit is configured and a Tokio runtime is there (an
/// embedder that builds the broker outside one gets a warning and no watermark).
pub(crate) fn start_sampler(admission: &Arc<Admission>, shutdown: watch::Receiver<bool>) {
    if !admission.needs_sampler() {
        return;
    }
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn(sample(Arc::clone(admission), shutdown));
        }
        Err(_) => {
            tracing::warn!("broker built outside a Tokio runtime: overload sampler not started")
        }
    }
}

async fn sample(admission: Arc<Admission>, mut shutdown: watch::Receiver<bool>) {
    let mut ticker = tokio::time::interval(SAMPLE_INTERVAL);
    let mut logged = admission.counters.total();
    let mut last_log = Instant::now();
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shutdown.changed() => return,
        }
        let now = Instant::now();
        let rss = admission.memory.as_ref().and_then(|_| resident_bytes());
        admission.tick(rss, now);
        if now.duration_since(last_log) >= LOG_INTERVAL {
            let totals = admission.counters.total();
            if let Some(line) = summary(&logged, &totals) {
                tracing::warn!("overload protection in the last {LOG_INTERVAL:?}: {line}");
            }
            logged = totals;
            last_log = now;
        }
    }
}

/// What changed between two counter snapshots, in words; `None` when nothing did.
fn summary(before: &[u64; 6], after: &[u64; 6]) -> Option<String> {
    const WHAT: [&str; 6] = [
        "connects refused (memory)",
        "connects refused (per-address rate)",
        "connects refused (global rate)",
        "QoS 0 deliveries shed",
        "publisher pauses (rate)",
        "publisher pauses (bandwidth)",
    ];
    let parts: Vec<String> = WHAT
        .iter()
        .zip(before.iter().zip(after))
        .filter(|(_, (b, a))| a > b)
        .map(|(what, (b, a))| format!("{} {what}", a - b))
        .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

#[cfg(test)]
mod tests;
