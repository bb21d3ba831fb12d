//! The crate's error type and how each answers over HTTP.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use magnetite_auth::AuthError;
use magnetite_httpkit::ApiError;

/// Everything a consumer operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ConsumerError {
    /// No such consumer or target, or not the caller's / not readable by the caller:
    /// one answer for all, so ids of other tenants cannot be probed.
    #[error("consumer or target not found")]
    NotFound,
    /// A reply whose signature does not hold for this caller.
    #[error("reply signature refused")]
    Forbidden,
    #[error("{0}")]
    BadRequest(String),
    /// A per-user bound was reached.
    #[error("{0}")]
    Conflict(String),
    /// No stream slot free (per user or in all): come back when one closed.
    #[error("{0}")]
    TooManyStreams(String),
    /// Authentication (401) or an auth store failure.
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Events(#[from] magnetite_events::EventsError),
}

impl From<ConsumerError> for ApiError {
    fn from(e: ConsumerError) -> ApiError {
        let status = match e {
            ConsumerError::Auth(a) => return ApiError::from(a),
            ConsumerError::NotFound => StatusCode::NOT_FOUND,
            ConsumerError::Forbidden => StatusCode::FORBIDDEN,
            ConsumerError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ConsumerError::Conflict(_) => StatusCode::CONFLICT,
            ConsumerError::TooManyStreams(_) => StatusCode::TOO_MANY_REQUESTS,
            ConsumerError::Db(_) | ConsumerError::Events(_) => return ApiError::internal(&e),
        };
        ApiError::new(status, e.to_string())
    }
}

impl IntoResponse for ConsumerError {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}

/// Access refused or target missing: the same 404.
pub(crate) fn hidden(e: AuthError) -> ConsumerError {
    match e.status() {
        StatusCode::NOT_FOUND | StatusCode::FORBIDDEN => ConsumerError::NotFound,
        _ => ConsumerError::Auth(e),
    }
}
