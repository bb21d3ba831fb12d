//! `/metrics`: one `prometheus_client` registry per running server, filled with
//! collectors that read each part's own counters at scrape time (the broker's atomics,
//! the event sinks', the HTTP accept loop's, the platform services'). Nothing is pushed
//! into the registry on a hot path, and no global recorder is involved, so two servers
//! in one process (tests) never mix their numbers.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use magnetite_broker::admission::Admission;
use magnetite_broker::limits::PublishLimit;
use magnetite_broker::{BrokerHandle, DropReason, RefusalReason};
use magnetite_cluster::ClusterStats;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

/// The `Content-Type` of `/metrics` (Prometheus text format 0.0.4).
pub use prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// A registry with the broker's families first, then `parts` in order.
pub fn registry(broker: BrokerHandle, parts: Vec<Box<dyn Collector>>) -> Registry {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(BrokerCollector(broker)));
    for part in parts {
        registry.register_collector(part);
    }
    registry
}

/// The exposition text of `registry`.
pub fn render(registry: &Registry) -> String {
    let mut text = String::new();
    // Writing to a String cannot fail; a collector's error would only cut the text short.
    if let Err(err) = prometheus_client::encoding::prometheus_text::encode(&mut text, registry) {
        tracing::warn!(%err, "a /metrics collector failed");
    }
    text
}

/// The MQTT engine's families, read from its counters through [`BrokerHandle`].
struct BrokerCollector(BrokerHandle);

impl fmt::Debug for BrokerCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BrokerCollector")
    }
}

impl Collector for BrokerCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let control = self.0.control();
        let gauges = [
            (
                "magnetite_mqtt_connections",
                "Open MQTT connections",
                control.connection_count(),
            ),
            (
                "magnetite_mqtt_parked_connections",
                "Idle MQTT connections parked without a task",
                control.parked_count(),
            ),
            (
                "magnetite_mqtt_sessions",
                "Sessions, online and offline",
                control.session_count(),
            ),
            (
                "magnetite_mqtt_retained_messages",
                "Retained messages",
                control.retained_count(),
            ),
        ];
        for (name, help, value) in gauges {
            let gauge = ConstGauge::new(value as u64);
            gauge.encode(encoder.encode_descriptor(name, help, None, MetricType::Gauge)?)?;
        }
        let persistence = control.persistence();
        let counters = [
            (
                "magnetite_persistence_corrupt_records",
                "Damaged journal stretches and unreadable records skipped at start",
                persistence.corrupt_records,
            ),
            (
                "magnetite_persistence_write_errors",
                "Failed journal writes or fsyncs (a full disk), each retried",
                persistence.write_errors,
            ),
            (
                "magnetite_persistence_refused",
                "CONNECTs and PUBLISHes refused because the store could not write",
                persistence.refused,
            ),
            (
                "magnetite_mqtt_messages_received",
                "PUBLISH packets routed",
                control.messages_received(),
            ),
            (
                "magnetite_mqtt_messages_sent",
                "Messages written to subscribers",
                control.messages_sent(),
            ),
        ];
        for (name, help, value) in counters {
            let counter = ConstCounter::new(value);
            counter.encode(encoder.encode_descriptor(name, help, None, MetricType::Counter)?)?;
        }
        let dropped = DropReason::ALL.map(|r| (r.as_str(), control.messages_dropped(r)));
        labelled_counters(
            &mut encoder,
            (
                "magnetite_mqtt_messages_dropped",
                "Messages dropped (limits)",
            ),
            "reason",
            dropped,
        )?;
        encode_overload(control.admission(), &mut encoder)
    }
}

/// One counter family with one label: `(label value, count)` per series.
fn labelled_counters<'v>(
    encoder: &mut DescriptorEncoder,
    (name, help): (&str, &str),
    label: &str,
    series: impl IntoIterator<Item = (&'v str, u64)>,
) -> fmt::Result {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (value, count) in series {
        ConstCounter::new(count).encode(family.encode_family(&[(label, value)])?)?;
    }
    Ok(())
}

/// Overload protection's families (README "Overload protection"); zeros when no limit
/// is set, the memory gauges only with a watermark.
fn encode_overload(admission: &Admission, encoder: &mut DescriptorEncoder) -> fmt::Result {
    let counters = &admission.counters;
    labelled_counters(
        encoder,
        ("magnetite_mqtt_connects_refused", "MQTT CONNECTs refused by overload protection (memory watermark, per-address or global connect rate)"),
        "reason",
        RefusalReason::ALL.map(|r| (r.as_str(), counters.refused(r))),
    )?;
    labelled_counters(
        encoder,
        (
            "magnetite_mqtt_publish_throttled",
            "Times a publisher's socket was paused by its per-client limit",
        ),
        "limit",
        [
            ("rate", counters.throttled(PublishLimit::Rate)),
            ("bandwidth", counters.throttled(PublishLimit::Bandwidth)),
        ],
    )?;
    ConstCounter::new(counters.shed_qos0()).encode(encoder.encode_descriptor(
        "magnetite_mqtt_qos0_shed",
        "QoS 0 deliveries dropped while memory was past its high watermark",
        None,
        MetricType::Counter,
    )?)?;
    let mut gauges = vec![
        (
            "magnetite_mqtt_connect_rate_sources",
            "Source addresses the per-address connect rate tracks now",
            admission.tracked_sources() as u64,
        ),
        (
            "magnetite_mqtt_publish_limited_sessions",
            "Sessions whose publish budget is tracked now (published within about a second)",
            admission.tracked_publishers() as u64,
        ),
    ];
    if let Some(memory) = admission.memory() {
        let (high, low) = memory.watermarks();
        gauges.extend([
            (
                "magnetite_memory_resident_bytes",
                "Resident memory at the last sample (once a second)",
                memory.rss(),
            ),
            (
                "magnetite_memory_high_watermark_bytes",
                "Resident memory past which QoS 0 is shed and connects refused",
                high,
            ),
            (
                "magnetite_memory_low_watermark_bytes",
                "Resident memory at or below which that stops",
                low,
            ),
            (
                "magnetite_memory_overloaded",
                "1 while QoS 0 is shed and connects refused",
                u64::from(memory.is_shedding()),
            ),
        ]);
    }
    for (name, help, value) in gauges {
        let gauge = ConstGauge::new(value);
        gauge.encode(encoder.encode_descriptor(name, help, None, MetricType::Gauge)?)?;
    }
    Ok(())
}

/// The cluster link's families (`--cluster-nats`).
pub struct ClusterCollector(pub Arc<ClusterStats>);

impl fmt::Debug for ClusterCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClusterCollector")
    }
}

impl Collector for ClusterCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let stats = &self.0;
        let read = |value: &AtomicU64| value.load(Ordering::Relaxed);
        let subscriptions = ConstGauge::new(read(&stats.subscriptions));
        subscriptions.encode(encoder.encode_descriptor(
            "magnetite_cluster_subscriptions",
            "NATS subjects this instance is subscribed to for its local subscribers",
            None,
            MetricType::Gauge,
        )?)?;
        let counters = [
            ("magnetite_cluster_forwarded", "Messages published to the other instances over NATS", &stats.forwarded),
            ("magnetite_cluster_forward_dropped", "Messages not sent to other instances: the queue to NATS was full (NATS down or slow)", &stats.forward_dropped),
            ("magnetite_cluster_forward_dropped_reliable", "Of the messages not sent to other instances, QoS 1/2 ones (wills or publishers racing past the high watermark; publishers otherwise wait for room)", &stats.forward_dropped_reliable),
            ("magnetite_cluster_publish_errors", "Publishes to NATS that failed", &stats.publish_errors),
            ("magnetite_cluster_received", "Messages received from NATS", &stats.received),
            ("magnetite_cluster_delivered", "Messages from other instances routed to local subscribers", &stats.delivered),
            ("magnetite_cluster_duplicates", "Copies of one message received twice (overlapping subscriptions), dropped", &stats.duplicates),
            ("magnetite_cluster_undecodable", "Messages on the bus that were not a valid message, dropped", &stats.undecodable),
            ("magnetite_cluster_own", "Messages this instance published that came back, dropped", &stats.own),
            ("magnetite_cluster_retained_mirrored", "Retained messages applied from the cluster's bucket", &stats.retained_mirrored),
            ("magnetite_cluster_retained_errors", "Retained messages not put into the cluster's bucket (queue full or JetStream failed)", &stats.retained_errors),
            ("magnetite_cluster_persisted", "QoS 1/2 messages the JetStream message stream acknowledged", &stats.persisted),
            ("magnetite_cluster_persist_retries", "Publishes to the message stream tried again (no acknowledgement)", &stats.persist_retries),
            ("magnetite_cluster_catch_ups", "Catch-ups from the message stream after a NATS reconnection", &stats.catch_ups),
            ("magnetite_cluster_caught_up", "QoS 1/2 messages delivered from the message stream by a catch-up", &stats.caught_up),
            ("magnetite_cluster_shared_received", "Messages the bus gave this instance for one of its shared subscription groups", &stats.shared_received),
        ];
        for (name, help, value) in counters {
            let counter = ConstCounter::new(read(value));
            counter.encode(encoder.encode_descriptor(name, help, None, MetricType::Counter)?)?;
        }
        Ok(())
    }
}
