//! The crate's one error type, rendered through httpkit's [`ApiError`] as
//! `{"message": ...}`. Database failures are logged with their detail and answered
//! with a generic 500.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use magnetite_auth::AuthError;
use magnetite_httpkit::ApiError;

/// Everything the notifications can fail with.
#[derive(Debug, thiserror::Error)]
pub enum NotificationsError {
    /// The request is malformed (400).
    #[error("{0}")]
    BadRequest(String),
    /// The platform (token checks, lookups) failed: keeps auth's status and message.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The certificates store failed.
    #[error("certificates: {0}")]
    Certs(#[from] magnetite_certs::CertsError),
    /// The outbox (the reader's cursor) failed.
    #[error("event outbox error: {0}")]
    Events(#[from] magnetite_events::EventsError),
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A stored value could not be (de)serialised.
    #[error("encoding error: {0}")]
    Encoding(#[from] serde_json::Error),
}

/// The crate's result.
pub type Result<T, E = NotificationsError> = std::result::Result<T, E>;

impl NotificationsError {
    /// A 400 with `msg`.
    pub fn bad_request(msg: impl Into<String>) -> Self {
        NotificationsError::BadRequest(msg.into())
    }
}

impl From<NotificationsError> for ApiError {
    fn from(error: NotificationsError) -> Self {
        match error {
            NotificationsError::BadRequest(msg) => ApiError::new(StatusCode::BAD_REQUEST, msg),
            NotificationsError::Auth(e) => e.into(),
            other => ApiError::internal(&other),
        }
    }
}

impl IntoResponse for NotificationsError {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}
