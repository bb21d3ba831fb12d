//! The one error type of the crate, rendered as Magistrala's `{"message": ...}`.
//!
//! Messages never carry an external key, a client secret or a private key: callers
//! build them from ids and fixed text only. Database and crypto failures are logged
//! with their detail and answered with a generic 500, as auth does.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use magnetite_auth::AuthError;
use magnetite_events::EventsError;
use magnetite_httpkit::ApiError;

/// Everything bootstrap can fail with.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    /// The request is malformed (400).
    #[error("{0}")]
    BadRequest(String),
    /// Credentials are missing (401).
    #[error("{0}")]
    Unauthorized(String),
    /// Credentials are wrong (403): a wrong external key.
    #[error("{0}")]
    Forbidden(String),
    /// The named thing does not exist (404).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A unique value is taken (409).
    #[error("{0}")]
    Conflict(String),
    /// A feature needs configuration that is absent (501).
    #[error("{0}")]
    NotConfigured(&'static str),
    /// An error of the platform (auth) services: keeps its own status and message.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The outbox failed.
    #[error("event outbox error: {0}")]
    Events(#[from] EventsError),
    /// Anything else that is our fault (a key file, a stored ciphertext, the issuer).
    #[error("{0}")]
    Internal(String),
}

impl BootstrapError {
    /// A 400 with `msg`.
    pub fn bad_request(msg: impl Into<String>) -> Self {
        BootstrapError::BadRequest(msg.into())
    }

    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            BootstrapError::BadRequest(_) => StatusCode::BAD_REQUEST,
            BootstrapError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            BootstrapError::Forbidden(_) => StatusCode::FORBIDDEN,
            BootstrapError::NotFound(_) => StatusCode::NOT_FOUND,
            BootstrapError::Conflict(_) => StatusCode::CONFLICT,
            BootstrapError::NotConfigured(_) => StatusCode::NOT_IMPLEMENTED,
            BootstrapError::Auth(e) => e.status(),
            BootstrapError::Database(e) if is_unique_violation(e) => StatusCode::CONFLICT,
            BootstrapError::Database(_)
            | BootstrapError::Events(_)
            | BootstrapError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn public_message(&self) -> String {
        match self {
            BootstrapError::Database(e) if is_unique_violation(e) => "config already exists".into(),
            BootstrapError::Database(_)
            | BootstrapError::Events(_)
            | BootstrapError::Internal(_) => "internal server error".into(),
            other => other.to_string(),
        }
    }
}

/// The database kit's test, at the path this crate's handlers use.
pub(crate) use magnetite_db::is_unique_violation;

/// Rendered through the shared [`ApiError`]; auth's errors keep auth's answer.
impl From<BootstrapError> for ApiError {
    fn from(error: BootstrapError) -> Self {
        if let BootstrapError::Auth(e) = error {
            return e.into();
        }
        let status = error.status();
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            return ApiError::internal(&error);
        }
        ApiError::new(status, error.public_message())
    }
}

impl IntoResponse for BootstrapError {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}
