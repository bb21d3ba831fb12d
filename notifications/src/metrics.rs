//! The notifications' `/metrics` families, read at each scrape from [`Counters`].

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;

use crate::Counters;

/// A [`Collector`] over the running notifications' counters.
pub struct NotificationsCollector(pub(crate) Arc<Counters>);

impl fmt::Debug for NotificationsCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NotificationsCollector")
    }
}

impl Collector for NotificationsCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let counters = [
            (
                "magnetite_notifications_created",
                "Personal notifications made.",
                self.0.created.load(Ordering::Relaxed),
            ),
            (
                "magnetite_notifications_dropped",
                "Unacknowledged notifications dropped (oldest first) to keep a user within --notifications-max-per-user.",
                self.0.dropped.load(Ordering::Relaxed),
            ),
            (
                "magnetite_notifications_cert_sweeps",
                "Completed certificate-expiry sweeps.",
                self.0.sweeps.load(Ordering::Relaxed),
            ),
        ];
        for (name, help, value) in counters {
            ConstCounter::new(value).encode(encoder.encode_descriptor(
                name,
                help,
                None,
                MetricType::Counter,
            )?)?;
        }
        let lag = self.0.lag.load(Ordering::Relaxed);
        ConstGauge::new(lag).encode(encoder.encode_descriptor(
            "magnetite_notifications_reader_lag",
            "Outbox rows the notifications reader had not read at its last read.",
            None,
            MetricType::Gauge,
        )?)
    }
}
