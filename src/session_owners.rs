//! Session ownership across instances (`--cluster-nats` with a shared PostgreSQL):
//! wires `magnetite_cluster::sessions` into the broker as its `SessionDirectory`, and
//! exports its counters on `/metrics`.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::Context;
use magnetite_broker::{Broker, Hooks};
use magnetite_cluster::sessions::{SessionOwners, SessionOwnersConfig, SessionStats};
use magnetite_db::Db;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::MetricType;

use crate::cli::Settings;
use crate::http::MetricsSource;

/// Makes `broker`'s sessions cluster-wide; nothing without `--cluster-nats`, and only
/// on PostgreSQL (instances on their own SQLite share nothing to own sessions in).
/// Call before the listeners start.
pub async fn start<H: Hooks>(
    settings: &Settings,
    instance_id: &str,
    db: &Db,
    broker: &Broker<H>,
) -> anyhow::Result<Option<MetricsSource>> {
    let Some(url) = settings.cluster_nats() else {
        return Ok(None);
    };
    let Db::Postgres(pool) = db else {
        tracing::warn!("--cluster-nats on SQLite: sessions stay on the instance that holds them");
        return Ok(None);
    };
    let config = SessionOwnersConfig {
        nats_url: url.to_string(),
        instance_id: instance_id.to_string(),
        instance_timeout: settings.instance_timeout,
    };
    let owners = SessionOwners::open(pool.clone(), config)
        .await
        .context("session ownership across instances")?;
    broker.set_directory(owners.directory());
    let stats = owners.stats();
    owners.start(broker.handle());
    Ok(Some(Box::new(SessionsCollector(stats))))
}

/// The session directory's families.
struct SessionsCollector(Arc<SessionStats>);

impl fmt::Debug for SessionsCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionsCollector")
    }
}

impl Collector for SessionsCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let s = &self.0;
        let counters: [(&str, &str, &AtomicU64); 5] = [
            (
                "magnetite_cluster_sessions_taken_over",
                "Sessions taken from a live instance by handover (a device reconnected here)",
                &s.taken_over,
            ),
            (
                "magnetite_cluster_sessions_handed_over",
                "Takeover requests answered: sessions that left this instance for another",
                &s.handed_over,
            ),
            (
                "magnetite_cluster_sessions_resumed_from_dead",
                "Sessions resumed from the subscriptions their owner kept in the table (owner dead or without them)",
                &s.resumed_from_dead,
            ),
            (
                "magnetite_cluster_sessions_leases_lost",
                "Local session copies dropped because another instance owns them now",
                &s.leases_lost,
            ),
            (
                "magnetite_cluster_sessions_errors",
                "Session ownership operations that failed (database or NATS unreachable)",
                &s.errors,
            ),
        ];
        for (name, help, value) in counters {
            let counter = ConstCounter::new(value.load(Ordering::Relaxed));
            counter.encode(encoder.encode_descriptor(name, help, None, MetricType::Counter)?)?;
        }
        Ok(())
    }
}
