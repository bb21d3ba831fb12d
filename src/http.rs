//! The HTTP routes the binary owns itself: health, metrics and the OpenAPI document of
//! every route. Domain crates bring their own routes, merged in `main.rs`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::{Json, Router};
use magnetite_httpkit::routes::{get, Operation, Routes};
use prometheus_client::collector::Collector;
use prometheus_client::registry::Registry;
use serde_json::json;

/// The `/metrics` families of a service the binary does not know in detail (the
/// platform's throttles, bootstrap's counters), read at each scrape.
pub type MetricsSource = Box<dyn Collector>;

/// The routes and metrics of the services behind `--auth platform` (empty for `none`).
#[derive(Default)]
pub struct Api {
    pub router: Routes,
    pub metrics: Vec<MetricsSource>,
}

pub struct AppInfo {
    pub instance_id: String,
    /// Every `/metrics` family: the broker's, the event sinks', the HTTP accept loop's,
    /// the platform services' (see [`crate::metrics`]).
    pub metrics: Registry,
}

pub fn router(info: Arc<AppInfo>) -> Routes {
    Routes::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .with_state(info)
}

/// `routes` plus `GET /openapi.json`, the OpenAPI document of all of them (itself
/// included), rendered once here so a request only copies it. Served without auth.
pub fn with_openapi(routes: Routes) -> Router {
    let doc_route = Routes::<Arc<str>>::new().route("/openapi.json", get(openapi));
    let mut operations: Vec<Operation> = routes.operations().to_vec();
    operations.extend_from_slice(doc_route.operations());
    let doc =
        magnetite_httpkit::openapi::document("Magnetite", env!("CARGO_PKG_VERSION"), &operations);
    let json: Arc<str> = serde_json::to_string(&doc)
        .unwrap_or_else(|e| json!({ "message": format!("OpenAPI document: {e}") }).to_string())
        .into();
    let (router, _) = routes.merge(doc_route.with_state(json)).into_parts();
    router
}

async fn openapi(State(doc): State<Arc<str>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        doc.to_string(),
    )
}

/// SuperMQ's health shape (`apidocs/openapi/schemas/health_info.yaml`); commit and
/// build time come from `build.rs`.
async fn health(State(info): State<Arc<AppInfo>>) -> impl IntoResponse {
    Json(json!({
        "status": "pass",
        "version": env!("CARGO_PKG_VERSION"),
        "commit": env!("MAGNETITE_COMMIT"),
        "description": "magnetite service",
        "build_time": env!("MAGNETITE_BUILD_TIME"),
        "instance_id": info.instance_id,
    }))
}

async fn metrics(State(info): State<Arc<AppInfo>>) -> impl IntoResponse {
    let body = crate::metrics::render(&info.metrics);
    ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], body)
}
