//! The HTTP routes the binary owns itself: health and metrics. Domain crates bring
//! their own routers, merged in `main.rs`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use magnetite_broker::BrokerHandle;
use serde_json::json;

use crate::http_server::HttpStats;

/// Prometheus text from a service the binary does not know in detail (the platform's
/// throttles, bootstrap's counters), appended to `/metrics`.
pub type MetricsSource = Arc<dyn Fn() -> String + Send + Sync>;

/// The routes and metrics of the services behind `--auth platform` (empty for `none`).
#[derive(Default)]
pub struct Api {
    pub router: Router,
    pub metrics: Vec<MetricsSource>,
}

pub struct AppInfo {
    pub instance_id: String,
    pub broker: BrokerHandle,
    /// For the per-sink shipped / pending / failure lines.
    pub events: Arc<magnetite_events::Events>,
    /// Open and refused HTTP connections.
    pub http: Arc<HttpStats>,
    pub metrics: Vec<MetricsSource>,
}

pub fn router(info: Arc<AppInfo>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .with_state(info)
}

async fn health(State(info): State<Arc<AppInfo>>) -> impl IntoResponse {
    Json(json!({
        "status": "pass",
        "version": env!("CARGO_PKG_VERSION"),
        "instance_id": info.instance_id,
    }))
}

async fn metrics(State(info): State<Arc<AppInfo>>) -> impl IntoResponse {
    let control = info.broker.control();
    let gauges = [
        (
            "magnetite_mqtt_connections",
            "gauge",
            "Open MQTT connections",
            control.connection_count() as u64,
        ),
        (
            "magnetite_mqtt_sessions",
            "gauge",
            "Sessions, online and offline",
            control.session_count() as u64,
        ),
        (
            "magnetite_mqtt_retained_messages",
            "gauge",
            "Retained messages",
            control.retained_count() as u64,
        ),
        (
            "magnetite_mqtt_messages_received_total",
            "counter",
            "PUBLISH packets routed",
            control.messages_received(),
        ),
        (
            "magnetite_mqtt_messages_sent_total",
            "counter",
            "Messages written to subscribers",
            control.messages_sent(),
        ),
        (
            "magnetite_mqtt_messages_dropped_total",
            "counter",
            "Messages dropped (limits)",
            control.messages_dropped(),
        ),
    ];
    let mut body = String::new();
    for (name, kind, help, value) in gauges {
        body.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
        ));
    }
    body.push_str(&info.events.metrics_text());
    body.push_str(&info.http.metrics_text());
    for source in &info.metrics {
        body.push_str(&source());
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}
