//! The consumer routes. Every route needs `Authorization: Bearer <access token>`
//! (auth's check, 401 without); a consumer is visible to its owner only (404 for
//! everyone else, as for a missing one).
//!
//! - `POST /consumers {target, id, include_subresources, start}` -> 201 `{id}`
//! - `GET /consumers/{id}/batch?size=N` -> `{"events": [...]}` (N in 1..=1000, default 100)
//! - `GET /consumers/{id}/stream` -> Server-Sent Events, or a WebSocket when the request
//!   asks for an upgrade (also `GET /consumers/{id}/ws`); 429 past the open-stream bounds
//! - `POST /consumers/acknowledge {replies}` -> `{accepted, refused}`
//! - `DELETE /consumers/{id}` -> 204

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use magnetite_auth::access::Caller;
use magnetite_auth::http::PlatformState;
use magnetite_httpkit::routes::{delete, get, post, Routes};
use magnetite_httpkit::{Accepted, ApiError, Body, CheckedQuery, Path};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

use crate::service::NewConsumer;
use crate::slots::SlotRefusal;
use crate::stream;
use crate::{ConsumerError, ConsumerService};

type AppState = Arc<ConsumerService>;

/// Every consumer route, ready to merge into the root router.
pub fn router(service: Arc<ConsumerService>) -> Routes {
    Routes::new()
        .route("/consumers", post(create))
        .route("/consumers/acknowledge", post(acknowledge))
        .route("/consumers/:id", delete(remove))
        .route("/consumers/:id/batch", get(batch))
        .route("/consumers/:id/stream", get(live))
        .route("/consumers/:id/ws", get(live))
        .with_state(service)
}

/// Handlers take auth's [`Caller`] straight from this crate's state; it is their first
/// extractor, so a missing or invalid token is a 401 before any 400 about the input (and
/// each route is documented as a bearer route in `/openapi.json`).
impl PlatformState for ConsumerService {
    fn platform_of_state(&self) -> &magnetite_auth::Platform {
        &self.platform
    }
}

async fn create(
    State(svc): State<AppState>,
    caller: Caller,
    Body(req): Body<NewConsumer>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let id = svc.create(&caller, req).await?;
    Ok((StatusCode::CREATED, Json(json!({ "id": id }))))
}

#[derive(Debug, Deserialize)]
struct BatchQuery {
    size: Option<i64>,
}

impl Accepted for BatchQuery {
    const KEYS: &'static [&'static str] = &["size"];
}

#[derive(Debug, Deserialize)]
struct ConsumerPath {
    id: String,
}

async fn batch(
    State(svc): State<AppState>,
    caller: Caller,
    Path(p): Path<ConsumerPath>,
    CheckedQuery(q): CheckedQuery<BatchQuery>,
) -> Result<Json<Value>, ApiError> {
    let events = svc.fetch(&caller, &p.id, q.size.unwrap_or(100)).await?;
    Ok(Json(json!({ "events": events })))
}

#[derive(Debug, Deserialize)]
struct AckRequest {
    replies: Vec<String>,
}

async fn acknowledge(
    State(svc): State<AppState>,
    caller: Caller,
    Body(req): Body<AckRequest>,
) -> Result<Json<Value>, ApiError> {
    let outcome = svc.acknowledge(&caller, req.replies).await?;
    Ok(Json(
        json!({ "accepted": outcome.accepted, "refused": outcome.refused }),
    ))
}

async fn remove(
    State(svc): State<AppState>,
    caller: Caller,
    Path(p): Path<ConsumerPath>,
) -> Result<StatusCode, ApiError> {
    svc.delete(&caller, &p.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A WebSocket upgrade when the request asks for one, `None` otherwise (SSE).
struct MaybeUpgrade(Option<WebSocketUpgrade>);

impl magnetite_httpkit::routes::DocArg for MaybeUpgrade {}

#[axum::async_trait]
impl FromRequestParts<AppState> for MaybeUpgrade {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let asks = parts
            .headers
            .get(axum::http::header::UPGRADE)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
        if !asks {
            return Ok(MaybeUpgrade(None));
        }
        WebSocketUpgrade::from_request_parts(parts, state)
            .await
            .map(|u| MaybeUpgrade(Some(u)))
            .map_err(|r| ApiError::new(r.status(), r.body_text()))
    }
}

/// `GET /consumers/{id}/stream` (and `/ws`): the consumer's owner and access are checked
/// before the stream opens, then on every fetch of the stream. A stream takes one of
/// the caller's stream slots first ([`crate::slots`]): 429 when none is free.
async fn live(
    State(svc): State<AppState>,
    caller: Caller,
    Path(p): Path<ConsumerPath>,
    MaybeUpgrade(upgrade): MaybeUpgrade,
) -> Result<Response, ApiError> {
    let consumer = svc.owned(&caller, &p.id).await?;
    svc.authorize(&caller, &consumer).await?;
    let slot = svc.slots.take(&caller.user.id).map_err(|why| {
        let limit = match why {
            SlotRefusal::PerUser => "open streams per user",
            SlotRefusal::Total => "open streams",
        };
        ConsumerError::TooManyStreams(format!("too many {limit}; close one first"))
    })?;
    let keepalive = svc.config.keepalive;
    let rx = stream::spawn(Arc::clone(&svc), caller, consumer.id, slot);
    Ok(match upgrade {
        Some(ws) => ws
            .on_upgrade(move |socket| stream::websocket(socket, rx, keepalive))
            .into_response(),
        None => stream::sse(rx, keepalive),
    })
}
