//! Magnetite identity and access: users, domains, clients, channels, groups and
//! connections; the service layer every change goes through (`service`, acting for an
//! `access::Actor`); the store (SQLite or PostgreSQL) with every change's event written
//! in the same transaction; the HTTP API over the service; and the broker `Hooks` that
//! enforce it all on every MQTT CONNECT, PUBLISH and SUBSCRIBE.

pub mod access;
pub mod bootstrap_admin;
pub mod crypto;
pub mod error;
pub mod http;
pub mod kaa;
pub mod login_throttle;
pub mod mail;
pub mod model;
pub mod mqtt;
pub mod passwords;
pub mod pats;
pub mod platform;
pub mod reset_throttle;
pub mod roles;
pub mod service;
pub mod store;

pub use error::{AuthError, Result};
pub use mqtt::{MqttGate, MqttIdentity};
pub use platform::{Platform, PlatformConfig};
pub use store::Store;

/// The door for other crates' event writers (bootstrap): fills `Event::ancestors` (the
/// groups above the entities an event names) on the writing transaction's connection,
/// so group consumers with subresources see the event. Auth's SQL, the caller's
/// transaction.
pub use store::ancestry::EventAncestry;
