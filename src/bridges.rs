//! Gateway bridges of `serve` (`--bridge`, `[[bridge]]`; the `magnetite-bridge` crate):
//! their settings, their start (queues opened, the engine's bridge door installed, one
//! link task each), their `/metrics` families, their link events, and the local
//! sessions' starts and ends for the bridges that declare devices upstream.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use magnetite_bridge::{Bridge, BridgeSpec, BridgeStats, Bridges, LinkObserver, QueueLimits};
use magnetite_broker::{Broker, Hooks};
use magnetite_events::MqttEventType;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;

use crate::event_hooks::WithEvents;
use crate::http::MetricsSource;

#[derive(Args, Debug)]
pub struct BridgeSettings {
    /// Bridge to an upstream MQTT broker (repeatable; `key=value,...`, see README "Gateway"),
    /// e.g. `url=mqtt://cloud:1883,client-id=site-1,out=sensors/# -> site-1/sensors/#`
    #[arg(long = "bridge", env = "MAGNETITE_BRIDGE", hide_env_values = true)]
    pub bridges: Vec<BridgeArg>,
    /// Bytes each bridge keeps queued on disk while its upstream is unreachable; QoS 1/2
    /// messages past it are dropped (counted on /metrics, logged)
    #[arg(long, env = "MAGNETITE_BRIDGE_QUEUE_MAX_BYTES", default_value_t = 1 << 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub bridge_queue_max_bytes: u64,
    /// Queued messages older than this are dropped unsent (counted, logged)
    #[arg(long, env = "MAGNETITE_BRIDGE_QUEUE_MAX_AGE", default_value = "7d", value_parser = humantime::parse_duration)]
    pub bridge_queue_max_age: Duration,
}

/// One `--bridge` value as given. Parsed at start rather than by clap, whose error
/// would quote the whole value — password included; never shown by `Debug`.
#[derive(Clone)]
pub struct BridgeArg(String);

impl std::str::FromStr for BridgeArg {
    type Err = std::convert::Infallible;
    fn from_str(text: &str) -> Result<BridgeArg, Self::Err> {
        Ok(BridgeArg(text.to_string()))
    }
}

impl fmt::Debug for BridgeArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BridgeArg(..)")
    }
}

/// Records a bridge's link going up and down as MQTT connect/disconnect events.
struct LinkEvents<X: Hooks>(Broker<WithEvents<X>>)
where
    WithEvents<X>: Hooks;

impl<X: Hooks> LinkObserver for LinkEvents<X>
where
    WithEvents<X>: Hooks,
{
    fn connected(&self, bridge: &str) {
        self.0.hooks().record_bridge(bridge, MqttEventType::Connect);
    }
    fn disconnected(&self, bridge: &str, _reason: &str) {
        self.0
            .hooks()
            .record_bridge(bridge, MqttEventType::Disconnect);
    }
}

/// Opens every bridge's queue under the data dir, installs them as the broker's bridge
/// door and starts their links; their `/metrics` families (none without a bridge).
pub fn start<X: Hooks>(
    settings: &crate::cli::Settings,
    broker: &Broker<WithEvents<X>>,
) -> anyhow::Result<Option<MetricsSource>>
where
    WithEvents<X>: Hooks,
{
    let own = &settings.bridge;
    if own.bridges.is_empty() {
        return Ok(None);
    }
    let limits = QueueLimits {
        max_bytes: own.bridge_queue_max_bytes,
        max_age: own.bridge_queue_max_age,
    };
    let mut bridges = Vec::new();
    for (at, arg) in own.bridges.iter().enumerate() {
        let spec: BridgeSpec = arg
            .0
            .parse()
            .with_context(|| format!("--bridge #{}", at + 1))?;
        anyhow::ensure!(
            bridges
                .iter()
                .all(|b: &Arc<Bridge>| b.spec.name != spec.name),
            "two bridges are named {} (the name picks the queue directory)",
            spec.name
        );
        let bridge = Bridge::open(spec.clone(), &settings.storage.data_dir, limits)
            .with_context(|| format!("opening the queue of bridge {}", spec.name))?;
        bridges.push(Arc::new(bridge));
    }
    let handle = broker.handle();
    let observer: Arc<dyn LinkObserver> = Arc::new(LinkEvents(broker.clone()));
    for bridge in &bridges {
        magnetite_bridge::link::spawn(Arc::clone(bridge), handle.clone(), Arc::clone(&observer))
            .with_context(|| format!("starting bridge {}", bridge.spec.name))?;
        tracing::info!(bridge = %bridge.spec.name, upstream = %bridge.spec.upstream.host, "bridge on");
    }
    let stats = bridges
        .iter()
        .map(|b| (b.spec.name.clone(), Arc::clone(&b.stats)))
        .collect();
    let door: Arc<Bridges> = Arc::new(Bridges(bridges));
    anyhow::ensure!(
        handle.set_bridge(door.clone()),
        "the broker already has a bridge door"
    );
    // Devices behind the gateway (`declare=true`): the event hooks know the id a session
    // names (platform client id, else MQTT client id) and tell the bridges.
    anyhow::ensure!(
        broker.hooks().set_bridge(door),
        "the event hooks already have a bridge door"
    );
    Ok(Some(Box::new(BridgeCollector(stats))))
}

/// `magnetite_bridge_*`, one series per bridge (label `bridge`).
struct BridgeCollector(Vec<(String, Arc<BridgeStats>)>);

impl fmt::Debug for BridgeCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BridgeCollector")
    }
}

type Read = fn(&BridgeStats) -> u64;

fn load(value: &AtomicU64) -> u64 {
    value.load(Ordering::Relaxed)
}

const GAUGES: [(&str, &str, Read); 4] = [
    (
        "magnetite_bridge_connected",
        "1 while the bridge's upstream connection is up",
        |s| load(&s.connected),
    ),
    (
        "magnetite_bridge_backlog_messages",
        "QoS 1/2 messages queued on disk, not yet acknowledged upstream",
        |s| load(&s.backlog_messages),
    ),
    (
        "magnetite_bridge_backlog_bytes",
        "Bytes of the queued messages",
        |s| load(&s.backlog_bytes),
    ),
    (
        "magnetite_bridge_backlog_oldest_age_seconds",
        "Age of the oldest queued message",
        |s| s.oldest_age().as_secs(),
    ),
];

const COUNTERS: [(&str, &str, Read); 10] = [
    (
        "magnetite_bridge_connects",
        "Upstream connections established",
        |s| load(&s.connects),
    ),
    (
        "magnetite_bridge_disconnects",
        "Upstream connections lost or closed",
        |s| load(&s.disconnects),
    ),
    (
        "magnetite_bridge_forwarded_out",
        "Local messages delivered upstream (QoS 1/2 once acknowledged)",
        |s| load(&s.forwarded_out),
    ),
    (
        "magnetite_bridge_forwarded_in",
        "Upstream messages published locally",
        |s| load(&s.forwarded_in),
    ),
    (
        "magnetite_bridge_dropped_full",
        "QoS 1/2 messages not queued: the queue was at --bridge-queue-max-bytes",
        |s| load(&s.dropped_full),
    ),
    (
        "magnetite_bridge_dropped_age",
        "Queued messages dropped unsent: older than --bridge-queue-max-age",
        |s| load(&s.dropped_age),
    ),
    (
        "magnetite_bridge_dropped_expired",
        "Messages dropped unsent: their MQTT 5 message expiry ran out while queued",
        |s| load(&s.dropped_expired),
    ),
    (
        "magnetite_bridge_dropped_too_large",
        "Messages dropped unsent: larger than the upstream's maximum packet size",
        |s| load(&s.dropped_too_large),
    ),
    (
        "magnetite_bridge_dropped_qos0",
        "QoS 0 messages dropped while the link was down or slow",
        |s| load(&s.dropped_qos0),
    ),
    (
        "magnetite_bridge_write_errors",
        "Messages lost because the queue could not be written",
        |s| load(&s.write_errors),
    ),
];

impl Collector for BridgeCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        for (name, help, read) in GAUGES {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for (bridge, stats) in &self.0 {
                let labels = [("bridge", bridge.as_str())];
                ConstGauge::new(read(stats) as i64).encode(family.encode_family(&labels)?)?;
            }
        }
        for (name, help, read) in COUNTERS {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for (bridge, stats) in &self.0 {
                let labels = [("bridge", bridge.as_str())];
                ConstCounter::new(read(stats)).encode(family.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}
