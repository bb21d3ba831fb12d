//! `/{domainID}/channels/connect|disconnect` and `/{domainID}/channels/{id}/connect|disconnect`:
//! thin handlers over `crate::service::Connections`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use magnetite_httpkit::Path;

use super::{AppState, Body, Caller};
use crate::access::Actor;
use crate::error::Result;
use crate::service::ConnectRequest;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/:domain/channels/connect", post(connect))
        .route("/:domain/channels/disconnect", post(disconnect))
        .route("/:domain/channels/:id/connect", post(connect_one))
        .route("/:domain/channels/:id/disconnect", post(disconnect_one))
}

async fn connect(
    State(state): State<AppState>,
    caller: Caller,
    Path(domain): Path<String>,
    Body(body): Body<ConnectRequest>,
) -> Result<StatusCode> {
    let actor = Actor::User(&caller);
    state.connections().connect(&actor, &domain, body).await?;
    Ok(StatusCode::CREATED)
}

async fn disconnect(
    State(state): State<AppState>,
    caller: Caller,
    Path(domain): Path<String>,
    Body(body): Body<ConnectRequest>,
) -> Result<StatusCode> {
    let actor = Actor::User(&caller);
    state
        .connections()
        .disconnect(&actor, &domain, body)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn connect_one(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, id)): Path<(String, String)>,
    Body(mut body): Body<ConnectRequest>,
) -> Result<StatusCode> {
    body.channel_ids = Some(vec![id]);
    let actor = Actor::User(&caller);
    state.connections().connect(&actor, &domain, body).await?;
    Ok(StatusCode::CREATED)
}

async fn disconnect_one(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, id)): Path<(String, String)>,
    Body(mut body): Body<ConnectRequest>,
) -> Result<StatusCode> {
    body.channel_ids = Some(vec![id]);
    let actor = Actor::User(&caller);
    state
        .connections()
        .disconnect(&actor, &domain, body)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
