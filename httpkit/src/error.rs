//! The one rendering of an API error: status + `{"message"}` (+ `Retry-After`).

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::fmt::Display;

/// The message every 500 answers with: internals are not the caller's business.
const INTERNAL_MESSAGE: &str = "internal server error";

/// An error as the client sees it. Build it only from text that may be shown: ids,
/// fixed words, a validation reason — never a secret (DESIGN §2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    retry_after_secs: Option<u64>,
}

impl ApiError {
    /// `status` with `message` as the `{"message"}` text.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            retry_after_secs: None,
        }
    }

    /// A 500 with the generic message; `detail` goes to the log only, because store
    /// and crypto failures can say things a caller must not learn.
    pub fn internal(detail: &dyn Display) -> Self {
        tracing::error!(error = %detail, "request failed");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, INTERNAL_MESSAGE)
    }

    /// Adds `Retry-After: secs` (a throttled request says when to come back).
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after_secs = Some(secs);
        self
    }

    /// The status this error answers with.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The `message` text the client is given.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "message": self.message });
        let mut response = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, secs.into());
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_hides_its_detail() {
        let error = ApiError::internal(&"password=hunter2 rejected by the store");
        assert_eq!(error.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(error.message(), INTERNAL_MESSAGE);
    }

    #[test]
    fn retry_after_is_a_header() {
        let response = ApiError::new(StatusCode::TOO_MANY_REQUESTS, "slow down")
            .with_retry_after(7)
            .into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "7");
    }
}
