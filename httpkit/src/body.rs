//! The one JSON body extractor of the platform API (auth, bootstrap and certs use it).
//!
//! Hand-written rather than `#[derive(FromRequest)] via(Json)`: the derive would take
//! axum's `Json`, which answers a mistyped body with 422 and has no one-value rule.
//!
//! axum's `Json` stops after the first JSON value, so `{"name":"x"} xyz` would be
//! accepted; a body is taken only when it is exactly one JSON value (whitespace
//! around it allowed). Every rejection is a `{"message"}` error: 400 for a malformed
//! or mistyped body, 415 without a JSON content type, 413 past the body limit.

use axum::async_trait;
use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap, StatusCode};
use serde::de::{DeserializeOwned, IgnoredAny};

use crate::ApiError;

/// A JSON body whose rejection is a `{"message"}` error.
pub struct Body<T>(pub T);

#[async_trait]
impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Expected request with `Content-Type: application/json`",
            ));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|rejection| ApiError::new(rejection.status(), rejection.body_text()))?;
        parse(&bytes).map(Body)
    }
}

/// One JSON value and nothing after it, then the typed decoding (axum's messages).
fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if let Err(e) = serde_json::from_slice::<IgnoredAny>(bytes) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("Failed to parse the request body as JSON: {e}"),
        ));
    }
    match axum::Json::<T>::from_bytes(bytes) {
        Ok(axum::Json(value)) => Ok(value),
        Err(rejection) => Err(json_rejection(rejection)),
    }
}

/// `application/json` or any `application/*+json`, parameters ignored.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim();
    let essence = essence.to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// A malformed or mistyped body is a 400 (axum says 422 for the latter).
fn json_rejection(rejection: JsonRejection) -> ApiError {
    let status = match rejection {
        JsonRejection::JsonDataError(_) | JsonRejection::JsonSyntaxError(_) => {
            StatusCode::BAD_REQUEST
        }
        ref other => other.status(),
    };
    ApiError::new(status, rejection.body_text())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    struct Named {
        #[allow(dead_code)]
        name: String,
    }

    #[test]
    fn one_value_only() {
        assert!(parse::<Named>(br#"{"name":"x"}"#).is_ok());
        assert!(parse::<Named>(b" {\"name\":\"x\"}\r\n ").is_ok());
        for bad in [
            &br#"{"name":"x"} xyz"#[..],
            br#"{"name":"x"}{"name":"y"}"#,
            br#"{"name":"x"} 1"#,
            br#"{"name":1}"#,
            b"",
        ] {
            let err = parse::<Named>(bad).unwrap_err();
            assert_eq!(err.status(), StatusCode::BAD_REQUEST, "{bad:?}");
        }
    }

    #[test]
    fn json_content_types() {
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, v.parse().unwrap());
            is_json(&h)
        };
        assert!(with("application/json"));
        assert!(with("Application/JSON; charset=utf-8"));
        assert!(with("application/senml+json"));
        assert!(!with("text/plain"));
        assert!(!is_json(&HeaderMap::new()));
    }
}
