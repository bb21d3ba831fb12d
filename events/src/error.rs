//! The one error type of the crate (library: `thiserror`, no `anyhow`).

/// Everything that can go wrong in the event pipeline.
#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    /// The outbox database could not be opened, read or written.
    #[error("outbox database: {0}")]
    Db(#[from] sqlx::Error),
    /// An `--event-store` URL or the database URL was not understood.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A sink (Redis, NATS, RabbitMQ) refused or failed a shipment.
    /// The message never contains a password: URLs are redacted first.
    #[error("sink {sink}: {message}")]
    Sink {
        /// Redacted sink URL.
        sink: String,
        /// What failed.
        message: String,
    },
    /// An outbox row held a payload that is not a JSON object.
    #[error("outbox row {id}: payload is not a JSON object: {message}")]
    Payload {
        /// Outbox row id.
        id: i64,
        /// Parser message.
        message: String,
    },
}

impl EventsError {
    /// Builds a [`EventsError::Sink`] from anything printable.
    pub(crate) fn sink(sink: &str, message: impl std::fmt::Display) -> Self {
        EventsError::Sink {
            sink: sink.to_string(),
            message: message.to_string(),
        }
    }
}
