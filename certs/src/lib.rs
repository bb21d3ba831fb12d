//! Magnetite's certificate service: the platform CA (its key encrypted at rest under
//! the operator's passphrase), client certificates for mutual TLS issued from it, their
//! store on the platform database, revocation that disconnects at once, the identify
//! lookup the broker runs on every mTLS CONNECT, the HTTP API and the operator CLI
//! functions.
//!
//! Wiring: [`Ca::load_or_create`] (or [`generate_self_signed`] for
//! `--tls-self-signed`), then [`CertsService::open`], then merge [`http::router`] into
//! the app and call [`CertsService::identify_der`] from the CONNECT hook.

pub mod ca;
pub mod cli;
pub mod error;
mod files;
pub mod http;
pub mod issue;
mod sealed;
pub mod selfsigned;
pub mod service;
pub mod store;

pub use ca::Ca;
pub use error::{CertsError, Result};
pub use issue::{parse_ttl, Issued};
pub use selfsigned::{generate_self_signed, SelfSigned};
pub use service::CertsService;
pub use store::CertIdentity;

/// Now as stored (`revoked_at`): RFC 3339 UTC with microseconds, like the auth store.
pub(crate) fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}
