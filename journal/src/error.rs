//! The crate's one error type, rendered through httpkit's [`ApiError`] as
//! `{"message": ...}`. Database failures are logged with their detail and answered
//! with a generic 500.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use magnetite_auth::AuthError;
use magnetite_httpkit::ApiError;

/// Everything the journal can fail with.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The request is malformed (400).
    #[error("{0}")]
    BadRequest(String),
    /// The platform (token checks, access, lookups) failed: keeps auth's status and
    /// message (403 for a domain the caller may not read, 404 for an entity that is not
    /// in the domain, whether missing or another tenant's).
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The outbox (the reader's cursor) failed.
    #[error("event outbox error: {0}")]
    Events(#[from] magnetite_events::EventsError),
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// The crate's result.
pub type Result<T, E = JournalError> = std::result::Result<T, E>;

impl JournalError {
    /// A 400 with `msg`.
    pub fn bad_request(msg: impl Into<String>) -> Self {
        JournalError::BadRequest(msg.into())
    }
}

impl From<JournalError> for ApiError {
    fn from(error: JournalError) -> Self {
        match error {
            JournalError::BadRequest(msg) => ApiError::new(StatusCode::BAD_REQUEST, msg),
            JournalError::Auth(e) => e.into(),
            other => ApiError::internal(&other),
        }
    }
}

impl IntoResponse for JournalError {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}
