//! Per-sink counters and the retention counter, exposed to the root binary's `/metrics`
//! as a `prometheus_client` [`Collector`] that reads them at scrape time.
//!
//! The shippers only bump atomics; nothing here runs on their path.

use std::fmt;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;

/// Counters of one sink. Updated by its shipper, read by `/metrics`.
#[derive(Debug, Default)]
pub struct SinkMetrics {
    /// Redacted sink URL (the `sink` label).
    pub sink: String,
    /// Events acknowledged by the sink and past the cursor.
    pub shipped: AtomicU64,
    /// Outbox rows not yet shipped (max id - cursor).
    pub pending: AtomicI64,
    /// Failed shipment attempts (each followed by a backoff).
    pub failures: AtomicU64,
    /// Rows whose payload could not be parsed (logged and passed over).
    pub malformed: AtomicU64,
}

impl SinkMetrics {
    /// New zeroed counters for `sink` (already redacted).
    pub fn new(sink: &str) -> Self {
        SinkMetrics {
            sink: sink.to_string(),
            ..Default::default()
        }
    }
}

/// The event pipeline's families: shipped / pending / failures / malformed per sink
/// (label `sink`), and rows pruned by retention.
#[derive(Debug, Clone)]
pub struct EventsCollector {
    pub(crate) sinks: Vec<Arc<SinkMetrics>>,
    pub(crate) pruned: Arc<AtomicU64>,
}

/// A per-sink counter family: name (without `_total`, which the encoder adds), help,
/// and which counter of a sink it reads.
type CounterFamily = (&'static str, &'static str, fn(&SinkMetrics) -> &AtomicU64);

const COUNTERS: [CounterFamily; 3] = [
    (
        "magnetite_events_shipped",
        "Events shipped to the sink.",
        |m| &m.shipped,
    ),
    (
        "magnetite_events_failures",
        "Failed shipment attempts to the sink.",
        |m| &m.failures,
    ),
    (
        "magnetite_events_malformed",
        "Outbox rows with an unreadable payload.",
        |m| &m.malformed,
    ),
];

impl Collector for EventsCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let [shipped, failures, malformed] = COUNTERS;
        self.encode_counters(&mut encoder, shipped)?;
        let mut family = encoder.encode_descriptor(
            "magnetite_events_pending",
            "Outbox events not yet shipped to the sink (lag).",
            None,
            MetricType::Gauge,
        )?;
        for m in &self.sinks {
            let labels = [("sink", m.sink.as_str())];
            ConstGauge::new(m.pending.load(Ordering::Relaxed))
                .encode(family.encode_family(&labels)?)?;
        }
        self.encode_counters(&mut encoder, failures)?;
        self.encode_counters(&mut encoder, malformed)?;
        let pruned = ConstCounter::new(self.pruned.load(Ordering::Relaxed));
        pruned.encode(encoder.encode_descriptor(
            "magnetite_events_pruned",
            "Outbox rows deleted by retention after every reader passed them.",
            None,
            MetricType::Counter,
        )?)
    }
}

impl EventsCollector {
    fn encode_counters(
        &self,
        encoder: &mut DescriptorEncoder,
        (name, help, counter): CounterFamily,
    ) -> fmt::Result {
        let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
        for m in &self.sinks {
            let labels = [("sink", m.sink.as_str())];
            ConstCounter::new(counter(m).load(Ordering::Relaxed))
                .encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::encoding::prometheus_text;
    use prometheus_client::registry::Registry;

    /// The exposition is byte for byte what the hand-written text was (names, types,
    /// help, labels, escaping), so dashboards and scrapers see no change.
    #[test]
    fn families_keep_their_names_types_and_labels() {
        let sink = SinkMetrics::new("redis://h:1/\"x\"");
        sink.shipped.store(7, Ordering::Relaxed);
        sink.pending.store(-1, Ordering::Relaxed);
        sink.failures.store(2, Ordering::Relaxed);
        let collector = EventsCollector {
            sinks: vec![Arc::new(sink)],
            pruned: Arc::new(AtomicU64::new(40)),
        };
        let mut registry = Registry::default();
        registry.register_collector(Box::new(collector));
        let mut text = String::new();
        prometheus_text::encode(&mut text, &registry).unwrap();
        let label = r#"{sink="redis://h:1/\"x\""}"#;
        let expected = format!(
            "# HELP magnetite_events_shipped_total Events shipped to the sink.\n\
             # TYPE magnetite_events_shipped_total counter\n\
             magnetite_events_shipped_total{label} 7\n\
             # HELP magnetite_events_pending Outbox events not yet shipped to the sink (lag).\n\
             # TYPE magnetite_events_pending gauge\n\
             magnetite_events_pending{label} -1\n\
             # HELP magnetite_events_failures_total Failed shipment attempts to the sink.\n\
             # TYPE magnetite_events_failures_total counter\n\
             magnetite_events_failures_total{label} 2\n\
             # HELP magnetite_events_malformed_total Outbox rows with an unreadable payload.\n\
             # TYPE magnetite_events_malformed_total counter\n\
             magnetite_events_malformed_total{label} 0\n\
             # HELP magnetite_events_pruned_total Outbox rows deleted by retention after every reader passed them.\n\
             # TYPE magnetite_events_pruned_total counter\n\
             magnetite_events_pruned_total 40\n"
        );
        assert_eq!(text, expected);
    }
}
