//! Magnetite's MQTT engine.
//!
//! Shape (see DESIGN.md §1 "Engine shape"):
//! - [`listener`] accepts TCP, WebSocket, TLS and secure WebSocket sockets (TLS setup
//!   and certificate hot reload in [`tls`]), bounds them with a semaphore and
//!   spawns one task per connection ([`connection`]).
//! - A connection task owns its socket and, while connected, its session's state
//!   ([`session::SessionState`]): in-flight messages, packet ids, subscriptions.
//! - Publishing goes through the [`router::Router`]: a sharded hash map for exact filters
//!   and a trie for wildcard filters, read-locked only, so a PUBLISH never takes a global
//!   exclusive lock. Deliveries land in each target session's queue
//!   ([`session::Session`]), which wakes the owning connection task; that task encodes
//!   and writes everything queued with one write per wake-up.
//! - Everything that decides who may do what is behind [`hooks::Hooks`].

pub mod acl;
pub mod admission;
pub mod bridge;
pub mod broker;
pub mod cluster;
pub mod config;
mod connection;
pub mod directory;
mod handle;
mod handover;
mod held;
pub mod hooks;
pub mod limits;
pub mod listener;
pub mod memory;
mod message;
pub mod persist;
mod retained;
mod router;
mod session;
mod sessions;
pub mod stats;
pub mod sys;
pub mod tap;
pub mod tls;
mod will;
mod ws;

/// The wire format lives in its own crate so the load tester can share it; this is the
/// one boundary through which the engine touches bytes.
pub use magnetite_protocol as protocol;

pub use admission::{OverloadConfig, RefusalReason};
pub use bridge::BridgeLink;
pub use broker::{Broker, BrokerHandle, PersistenceCounts};
pub use cluster::ClusterLink;
pub use config::BrokerConfig;
pub use directory::{Claim, SessionDirectory};
pub use hooks::{
    AllowAll, AuthDecision, ByteString, ConnectInfo, ConnectRefusal, DisconnectReason,
    FilterVerdict, Hooks, Presentation, TopicVerdict, Traffic, Transport, V3PublishRefusal,
};
pub use message::Message;
pub use stats::DropReason;
pub use tap::MessageTap;
pub use tls::{ClientAuth, TlsAcceptorSource, TlsError, TlsSettings};
