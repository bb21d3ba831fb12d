//! One door for the shape of HTTP errors: every 4xx/5xx the API answers is
//! `{"message": ...}` (DESIGN §2), whoever produced it. The handlers already answer
//! that way; what is left is what axum answers on its own: 404 for an unknown route,
//! 405 for a known route with another method, and its extractors' rejections (a bad
//! path or query parameter, a body over the limit), which come as plain text or
//! empty. This layer rewrites those into the JSON form, keeping status and headers
//! (`Allow`, `Retry-After`) and using the plain text, if any, as the message.

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::json;

/// Plain-text error bodies longer than this are cut (they come from axum, not users).
const MAX_MESSAGE_BYTES: usize = 4096;

/// `router` with a JSON 404 for unknown routes and every error body in JSON form.
pub fn json_errors(router: Router) -> Router {
    router
        .fallback(not_found)
        .layer(axum::middleware::map_response(to_json_error))
}

async fn not_found() -> Response {
    let body = json!({ "message": "no such route" });
    (StatusCode::NOT_FOUND, axum::Json(body)).into_response()
}

async fn to_json_error(response: Response) -> Response {
    let status = response.status();
    let is_error = status.is_client_error() || status.is_server_error();
    if !is_error || is_json(response.headers()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = match axum::body::to_bytes(body, MAX_MESSAGE_BYTES).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).trim().to_string(),
        Err(_) => String::new(),
    };
    let message = if text.is_empty() {
        default_message(status)
    } else {
        text
    };
    let body = json!({ "message": message }).to_string();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(body))
}

/// `method not allowed`, `not found`, ... from the status line.
fn default_message(status: StatusCode) -> String {
    status
        .canonical_reason()
        .map_or_else(|| format!("HTTP {}", status.as_u16()), str::to_lowercase)
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;
    use axum::routing::get;
    use tower::ServiceExt;

    async fn call(router: &Router, method: &str, uri: &str) -> (StatusCode, HeaderMap, String) {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::empty())
            .unwrap();
        let response = router.clone().oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
        (
            parts.status,
            parts.headers,
            String::from_utf8(bytes.to_vec()).unwrap(),
        )
    }

    fn message(body: &str) -> String {
        let v: serde_json::Value = serde_json::from_str(body).expect(body);
        v["message"].as_str().expect(body).to_string()
    }

    #[tokio::test]
    async fn axum_errors_become_json_messages() {
        let router =
            json_errors(
                Router::new()
                    .route(
                        "/items/:n",
                        get(
                            |axum::extract::Path(n): axum::extract::Path<u8>| async move {
                                n.to_string()
                            },
                        ),
                    )
                    .route("/fine", get(|| async { "ok" })),
            );
        let (status, _, body) = call(&router, "GET", "/nowhere").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(message(&body), "no such route");
        let (status, headers, body) = call(&router, "DELETE", "/fine").await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(message(&body), "method not allowed");
        assert!(headers.contains_key(header::ALLOW));
        let (status, _, body) = call(&router, "GET", "/items/300").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(message(&body).contains("Invalid URL"), "{body}");
        let (status, _, body) = call(&router, "GET", "/fine").await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "ok"));
    }
}
