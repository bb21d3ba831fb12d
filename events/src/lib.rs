//! Magnetite events: the Magistrala/SuperMQ-compatible event model, the durable outbox
//! and the sinks (Redis Streams, NATS JetStream, RabbitMQ Streams, embedded HTTP log).
//!
//! Writers put one row per state change in `events_outbox` in the same transaction as
//! the change ([`append_sqlite`], [`append_postgres`]); [`Events::start`] spawns one
//! shipper per `--event-store` that ships the outbox in id order from its own cursor.
//! See `README.md` for the delivery guarantees.

pub mod encode;
pub mod error;
pub mod http;
pub mod kaa;
pub mod liveness;
pub mod metrics;
pub mod model;
pub mod outbox;
pub mod outbox_rows;
pub mod reader;
pub mod retention;
pub mod retry;
pub mod scopes;
pub mod shipper;
pub mod sink;
pub mod url;
pub mod window;
pub mod writer;

pub use encode::Names;
pub use error::EventsError;
pub use model::mqtt::{
    mqtt_event, mqtt_event_at, EndpointChange, MqttEventType, SubscriptionChange,
};
pub use model::{Event, Page, Record, Service};
pub use outbox::{
    append_postgres, append_sqlite, DbSource, Outbox, OutboxDb, OutboxRow, ReadScope,
};
pub use writer::{ClientAncestry, MqttWriter};

use magnetite_db::Db;
use metrics::SinkMetrics;
use sink::{Sink, SinkContext};
use std::sync::Arc;
use tokio::sync::{watch, Mutex};
use tokio::task::JoinHandle;

/// Redis `MAXLEN ~` default.
pub const DEFAULT_MAXLEN: usize = 1_000_000;
/// How long shipped outbox rows are kept (and served by `GET /events`) by default.
pub const DEFAULT_RETENTION: std::time::Duration = std::time::Duration::from_secs(7 * 86_400);

/// Settings from the command line (`--event-prefix`, `--event-store`, ...).
#[derive(Debug, Clone)]
pub struct EventsConfig {
    /// Stream prefix: `magistrala` (default) or `supermq` (SuperMQ naming) or any name.
    pub prefix: String,
    /// `--event-store` URLs (repeatable); empty = embedded log only.
    pub stores: Vec<String>,
    /// Redis `MAXLEN ~` bound.
    pub maxlen: usize,
    /// This broker's instance id (the `instance` field of MQTT events).
    pub instance_id: String,
    /// Outbox rows older than this that every reader has passed are deleted
    /// ([`retention`]); zero keeps everything.
    pub retention: std::time::Duration,
}

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig {
            prefix: "magistrala".to_string(),
            stores: Vec::new(),
            maxlen: DEFAULT_MAXLEN,
            instance_id: String::new(),
            retention: DEFAULT_RETENTION,
        }
    }
}

/// The running event pipeline.
pub struct Events {
    db: Db,
    names: Names,
    config: EventsConfig,
    metrics: Vec<Arc<SinkMetrics>>,
    pruned: Arc<std::sync::atomic::AtomicU64>,
    stop: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Events {
    /// Opens (or adopts) the database, creates the tables, and spawns one shipper per
    /// configured sink. Fails only on configuration errors and an unreachable database;
    /// a sink that is down is retried by its shipper.
    pub async fn start(
        source: impl Into<DbSource>,
        config: EventsConfig,
    ) -> Result<Events, EventsError> {
        let db = match source.into() {
            DbSource::Url(u) => Db::open(&u).await?,
            DbSource::Db(d) => d,
        };
        db.ensure_schema().await?;
        let names = Names::new(&config.prefix);
        let epoch = db.epoch().await?;
        let (stop, stop_rx) = watch::channel(false);
        let mut metrics = Vec::new();
        let mut shippers = Vec::new();
        for url in &config.stores {
            let label = url::redact(url);
            let ctx = SinkContext {
                names: names.clone(),
                maxlen: config.maxlen,
                epoch,
                label: label.clone(),
            };
            let sink = Sink::from_url(url, ctx)?;
            let m = Arc::new(SinkMetrics::new(&label));
            metrics.push(m.clone());
            shippers.push(shipper::Shipper {
                db: db.clone(),
                sink,
                name: format!("{}|{}", label, config.prefix),
                metrics: m,
                stop: stop_rx.clone(),
            });
        }
        let pruned = Arc::default();
        let pruner = (!config.retention.is_zero()).then(|| retention::Pruner {
            db: db.clone(),
            sinks: shippers.iter().map(|s| s.name.clone()).collect(),
            retention: config.retention,
            stop: stop_rx.clone(),
            pruned: Arc::clone(&pruned),
        });
        let mut tasks: Vec<JoinHandle<()>> = shippers
            .into_iter()
            .map(|s| tokio::spawn(s.run()))
            .collect();
        tasks.extend(pruner.map(|p| tokio::spawn(p.run())));
        Ok(Events {
            db,
            names,
            config,
            metrics,
            pruned,
            stop,
            tasks: Mutex::new(tasks),
        })
    }

    /// The outbox database (for writers that have no pool of their own).
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Stream names for the configured prefix.
    pub fn names(&self) -> &Names {
        &self.names
    }

    /// The configuration it was started with.
    pub fn config(&self) -> &EventsConfig {
        &self.config
    }

    /// `GET /events` (the embedded log), readable as `access` decides, to merge into
    /// the root router.
    pub fn router(&self, access: http::LogAccess) -> magnetite_httpkit::routes::Routes {
        http::router(self.db.clone(), self.names.clone(), access)
    }

    /// The `/metrics` families (shipped, pending, failures per sink; rows pruned), read
    /// at each scrape.
    pub fn collector(&self) -> metrics::EventsCollector {
        metrics::EventsCollector {
            sinks: self.metrics.clone(),
            pruned: Arc::clone(&self.pruned),
        }
    }

    /// The same families as Prometheus text (for tests and tools).
    pub fn metrics_text(&self) -> String {
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register_collector(Box::new(self.collector()));
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, &registry);
        text
    }

    /// A batching writer for MQTT connect/disconnect events stamped with this instance.
    pub fn mqtt_writer(&self) -> MqttWriter {
        MqttWriter::spawn(self.db.clone(), self.config.instance_id.clone())
    }

    /// Stops the shippers (each finishes or abandons its current attempt; unsaved
    /// progress is re-shipped from the cursor at the next start).
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        let tasks: Vec<JoinHandle<()>> = std::mem::take(&mut *self.tasks.lock().await);
        for t in tasks {
            let _ = t.await;
        }
    }
}
