//! The platform API's HTTP kit, a leaf crate (axum, serde, utoipa's OpenAPI model;
//! nothing of ours).
//!
//! Every crate with an HTTP API (auth, certs, bootstrap, events) keeps its own error
//! enum, because the enum says what can go wrong there; how an error *looks* on the
//! wire is decided once, here: a status, `{"message": ...}` and, for throttling, a
//! `Retry-After` header. Each crate converts its enum into [`ApiError`] (`From`), so
//! the status a variant answers with is written in that crate and nowhere else. The
//! extractors ([`Body`], [`Path`], [`Query`], [`Params`], [`CheckedQuery`]) reject with an [`ApiError`] too.
//!
//! Routes are declared on [`routes::Routes`], which serves them and records them, and
//! [`openapi::document`] turns the record into the `/openapi.json` the binary serves.

mod body;
mod doc_arg;
mod error;
mod extract;
pub mod openapi;
mod params;
pub mod routes;

pub use body::Body;
pub use error::ApiError;
pub use extract::{Path, Query};
pub use params::{Accepted, CheckedQuery, Params};
