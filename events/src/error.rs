//! The one error type of the crate (library: `thiserror`, no `anyhow`).

/// Everything that can go wrong in the event pipeline.
#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    /// The outbox database could not be opened, read or written.
    #[error("outbox database: {0}")]
    Db(#[from] sqlx::Error),
    /// The database could not be opened (bad URL, unreachable).
    #[error(transparent)]
    Open(#[from] magnetite_db::DbError),
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
