//! What can go wrong in the adapter and the readers, and the status each answers with.

use axum::http::StatusCode;
use magnetite_auth::AuthError;
use magnetite_httpkit::ApiError;

#[derive(Debug, thiserror::Error)]
pub enum MessagesError {
    /// No usable `Authorization`, an unknown client or a wrong secret (MQTT: bad
    /// username or password).
    #[error("missing or invalid client credentials")]
    BadCredentials,
    /// The client is disabled (MQTT: not authorized).
    #[error("client is disabled")]
    Disabled,
    /// Too many failed logins from this address (MQTT: connection rate exceeded).
    #[error("too many failed attempts: try again later")]
    Throttled,
    /// The topic names no channel this client may publish to: not connected, another
    /// domain's, or missing (one answer, so a refusal says nothing of what exists).
    #[error("not allowed to publish to this channel")]
    Refused,
    #[error("payload larger than the maximum packet size ({0} bytes)")]
    TooLarge(usize),
    #[error("{0}")]
    Invalid(String),
    /// Reading messages needs the message store (`--messages-store off`).
    #[error("message storage is off on this server")]
    StoreOff,
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("message store: {0}")]
    Db(#[from] sqlx::Error),
}

/// Seconds a throttled publisher is told to wait.
const RETRY_AFTER_SECS: u64 = 1;

impl From<MessagesError> for ApiError {
    fn from(e: MessagesError) -> ApiError {
        let message = e.to_string();
        let status = match e {
            MessagesError::Auth(auth) => return ApiError::from(auth),
            MessagesError::Db(err) => return ApiError::internal(&err),
            MessagesError::Throttled => {
                return ApiError::new(StatusCode::TOO_MANY_REQUESTS, message)
                    .with_retry_after(RETRY_AFTER_SECS)
            }
            MessagesError::BadCredentials => StatusCode::UNAUTHORIZED,
            MessagesError::Disabled | MessagesError::Refused => StatusCode::FORBIDDEN,
            MessagesError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            MessagesError::Invalid(_) => StatusCode::BAD_REQUEST,
            MessagesError::StoreOff => StatusCode::NOT_FOUND,
        };
        ApiError::new(status, message)
    }
}

impl axum::response::IntoResponse for MessagesError {
    fn into_response(self) -> axum::response::Response {
        ApiError::from(self).into_response()
    }
}
