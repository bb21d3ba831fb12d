//! Per-sink counters, rendered as Prometheus text for the root binary's `/metrics`.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

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

fn label(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Prometheus text exposition lines for all sinks.
pub fn render(sinks: &[std::sync::Arc<SinkMetrics>]) -> String {
    let mut out = String::new();
    let families: [(&str, &str, &str); 4] = [
        (
            "magnetite_events_shipped_total",
            "counter",
            "Events shipped to the sink.",
        ),
        (
            "magnetite_events_pending",
            "gauge",
            "Outbox events not yet shipped to the sink (lag).",
        ),
        (
            "magnetite_events_failures_total",
            "counter",
            "Failed shipment attempts to the sink.",
        ),
        (
            "magnetite_events_malformed_total",
            "counter",
            "Outbox rows with an unreadable payload.",
        ),
    ];
    for (name, kind, help) in families {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for m in sinks {
            let v = match name {
                "magnetite_events_shipped_total" => m.shipped.load(Ordering::Relaxed) as i64,
                "magnetite_events_pending" => m.pending.load(Ordering::Relaxed),
                "magnetite_events_failures_total" => m.failures.load(Ordering::Relaxed) as i64,
                _ => m.malformed.load(Ordering::Relaxed) as i64,
            };
            let _ = writeln!(out, "{name}{{sink=\"{}\"}} {v}", label(&m.sink));
        }
    }
    out
}

/// The retention counter, in Prometheus text.
pub fn render_pruned(pruned: u64) -> String {
    format!(
        "# HELP magnetite_events_pruned_total Outbox rows deleted by retention after every reader passed them.\n\
         # TYPE magnetite_events_pruned_total counter\n\
         magnetite_events_pruned_total {pruned}\n"
    )
}
