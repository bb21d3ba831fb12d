//! Messages over HTTP and at rest, Magistrala-compatible:
//!
//! - the HTTP messaging adapter ([`http`]): a device publishes with its client
//!   credentials; authorized by the MQTT gate, published into the broker;
//! - the message store ([`store`]) and its writer ([`writer`]): channel messages seen
//!   through the broker's tap, batched into SQLite (own file) or PostgreSQL, SenML
//!   parsed into records ([`senml`]), per `--messages-store` ([`policy`]) and
//!   `--messages-retention`;
//! - the readers: `GET /{domain}/channels/{channel}/messages` ([`query`]).
//!
//! Requests go route ([`http`]) -> service ([`service`]) -> store.

pub mod error;
pub mod http;
pub mod policy;
pub mod query;
pub mod senml;
pub mod service;
pub mod store;
pub mod writer;

pub use error::MessagesError;
pub use policy::{StoreMode, StorePolicy};
pub use service::{MessagesService, PublishLimits};
pub use store::MessageStore;
pub use writer::{MessageWriter, QueueBounds, WriterCollector};
