//! The HTTP routes the binary owns itself: health and metrics. Domain crates bring
//! their own routers, merged in `main.rs`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use prometheus_client::collector::Collector;
use prometheus_client::registry::Registry;
use serde_json::json;

/// The `/metrics` families of a service the binary does not know in detail (the
/// platform's throttles, bootstrap's counters), read at each scrape.
pub type MetricsSource = Box<dyn Collector>;

/// The routes and metrics of the services behind `--auth platform` (empty for `none`).
#[derive(Default)]
pub struct Api {
    pub router: Router,
    pub metrics: Vec<MetricsSource>,
}

pub struct AppInfo {
    pub instance_id: String,
    /// Every `/metrics` family: the broker's, the event sinks', the HTTP accept loop's,
    /// the platform services' (see [`crate::metrics`]).
    pub metrics: Registry,
}

pub fn router(info: Arc<AppInfo>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .with_state(info)
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
