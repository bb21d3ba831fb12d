//! Sinks: where the shippers send outbox events. Enum dispatch (no trait objects)
//! because there are exactly three kinds and each ships a whole ordered batch.

pub mod nats;
pub mod rabbit;
pub mod redis;

use crate::encode::Names;
use crate::error::EventsError;
use crate::url::StoreUrl;
use serde_json::{Map, Value};

/// An outbox row ready to ship: canonical service and renamed fields.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Outbox id (also the dedup id where the sink supports one).
    pub id: i64,
    /// Canonical service (`users`, `clients`, ...).
    pub service: String,
    /// Fields with the prefix's naming applied.
    pub fields: Map<String, Value>,
    /// A row of the `kaa` stream: its subject and Avro body (then `fields` is empty).
    /// Only the NATS sink is handed these.
    pub kaa: Option<crate::kaa::KaaMessage>,
}

/// One configured sink.
pub enum Sink {
    /// Redis Streams.
    Redis(redis::RedisSink),
    /// NATS JetStream.
    Nats(nats::NatsSink),
    /// RabbitMQ Streams.
    Rabbit(rabbit::RabbitSink),
}

/// What every sink needs besides its URL.
#[derive(Debug, Clone)]
pub struct SinkContext {
    /// Stream / subject names.
    pub names: Names,
    /// Redis `MAXLEN ~`.
    pub maxlen: usize,
    /// Outbox epoch: makes dedup ids unique across databases.
    pub epoch: i64,
    /// Redacted URL, for errors and logs.
    pub label: String,
}

impl Sink {
    /// Builds the sink for an `--event-store` URL. Does not connect yet: connecting
    /// happens (and is retried) in the shipper, so a sink that is down at start only
    /// delays its events.
    pub fn from_url(url: &str, ctx: SinkContext) -> Result<Sink, EventsError> {
        let parsed = StoreUrl::parse(url)?;
        match parsed.scheme.as_str() {
            "redis" => Ok(Sink::Redis(redis::RedisSink::new(url, ctx)?)),
            "nats" => Ok(Sink::Nats(nats::NatsSink::new(parsed, ctx))),
            "rabbitmq-stream" => Ok(Sink::Rabbit(rabbit::RabbitSink::new(parsed, ctx))),
            other => Err(EventsError::Config(format!(
                "unknown event store scheme {other}"
            ))),
        }
    }

    /// Ships a batch, in order. `Ok` means every event was acknowledged by the server.
    pub async fn ship(&mut self, batch: &[Prepared]) -> Result<(), EventsError> {
        match self {
            Sink::Redis(s) => s.ship(batch).await,
            Sink::Nats(s) => s.ship(batch).await,
            Sink::Rabbit(s) => s.ship(batch).await,
        }
    }

    /// Drops the connection after a failure so the next attempt reconnects.
    pub async fn reset(&mut self) {
        match self {
            Sink::Redis(s) => s.reset(),
            Sink::Nats(s) => s.reset(),
            Sink::Rabbit(s) => s.reset().await,
        }
    }
}
