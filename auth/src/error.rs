//! One error type for the store, the services and the HTTP layer.
//!
//! Every variant maps to the status code DESIGN §2 promises and renders as
//! `{"message": ...}` through [`ApiError`] (the shared rendering). Messages never carry
//! a secret: store errors are logged with their detail and answered with a generic 500.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use magnetite_httpkit::ApiError;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    /// Too many attempts (failed logins or device bootstraps, password-reset
    /// requests): retry after this many seconds (`Retry-After`).
    #[error("too many attempts; retry in {0} s")]
    TooManyRequests(u64),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("event outbox error: {0}")]
    Events(#[from] magnetite_events::EventsError),
    #[error("{0}")]
    Internal(String),
}

pub type Result<T, E = AuthError> = std::result::Result<T, E>;

impl AuthError {
    pub fn bad_request(msg: impl Into<String>) -> Self {
        AuthError::BadRequest(msg.into())
    }

    pub fn forbidden() -> Self {
        AuthError::Forbidden("not allowed to perform this operation".into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            AuthError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AuthError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AuthError::Forbidden(_) => StatusCode::FORBIDDEN,
            AuthError::NotFound(_) => StatusCode::NOT_FOUND,
            AuthError::Conflict(_) => StatusCode::CONFLICT,
            AuthError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            AuthError::Database(e) if is_unique_violation(e) => StatusCode::CONFLICT,
            AuthError::Database(_) | AuthError::Events(_) | AuthError::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    /// The `message` a client is given (store details stay in the log).
    pub fn public_message(&self) -> String {
        match self {
            AuthError::Database(e) if is_unique_violation(e) => "entity already exists".into(),
            AuthError::Database(_) | AuthError::Events(_) | AuthError::Internal(_) => {
                "internal server error".into()
            }
            other => other.to_string(),
        }
    }
}

/// The database kit's test, at the path this crate's handlers use.
pub(crate) use magnetite_db::is_unique_violation;

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        let status = error.status();
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            return ApiError::internal(&error);
        }
        let api = ApiError::new(status, error.public_message());
        match error {
            AuthError::TooManyRequests(secs) => api.with_retry_after(secs),
            _ => api,
        }
    }
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}
