//! axum's path and query extractors with [`ApiError`] as their rejection, derived
//! (`#[derive(FromRequestParts)]`): a bad path or query parameter is answered by the
//! handler's crate in the `{"message"}` form, with axum's status and text, instead of
//! relying on the binary's response layer to rewrite axum's plain-text rejection.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::FromRequestParts;

use crate::ApiError;

/// Path parameters (`axum::extract::Path`), rejected as an [`ApiError`].
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

/// Query parameters (`axum::extract::Query`), rejected as an [`ApiError`].
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::new(rejection.status(), rejection.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::new(rejection.status(), rejection.body_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{Request, StatusCode};

    #[derive(Debug, serde::Deserialize)]
    struct Page {
        #[allow(dead_code)]
        limit: u32,
    }

    async fn query(uri: &str) -> Result<Query<Page>, ApiError> {
        let (mut parts, ()) = Request::builder().uri(uri).body(()).unwrap().into_parts();
        Query::<Page>::from_request_parts(&mut parts, &()).await
    }

    #[tokio::test]
    async fn a_mistyped_query_is_a_400_api_error() {
        assert!(query("/x?limit=5").await.is_ok());
        let error = query("/x?limit=five").await.unwrap_err();
        assert_eq!(error.status(), StatusCode::BAD_REQUEST);
        let message = error.message();
        assert!(
            message.starts_with("Failed to deserialize query string"),
            "{message}"
        );
    }
}
