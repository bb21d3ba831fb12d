//! Bootstrap's `/metrics` families, read at each scrape: the failed-attempt table's size
//! and the attempts against unknown external ids (which leave no event).

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;

use crate::BootstrapService;

/// A [`Collector`] over a running [`BootstrapService`].
pub struct BootstrapCollector(pub Arc<BootstrapService>);

impl fmt::Debug for BootstrapCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BootstrapCollector")
    }
}

impl Collector for BootstrapCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let service = &self.0;
        ConstGauge::new(service.attempts.len() as u64).encode(encoder.encode_descriptor(
            "magnetite_bootstrap_throttle_entries",
            "External ids with recent failed bootstrap attempts (bounded).",
            None,
            MetricType::Gauge,
        )?)?;
        let unknown = service.unknown_attempts.load(Ordering::Relaxed);
        ConstCounter::new(unknown).encode(encoder.encode_descriptor(
            "magnetite_bootstrap_unknown_id",
            "Bootstrap attempts for external ids that have no config (not recorded as events).",
            None,
            MetricType::Counter,
        )?)
    }
}
