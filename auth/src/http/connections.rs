//! `/{domainID}/channels/connect|disconnect` and `/{domainID}/channels/{id}/connect|disconnect`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use magnetite_events::model::clients as cev;
use serde::Deserialize;

use super::access::Need;
use super::{AppState, Body, Caller};
use crate::error::{AuthError, Result};
use crate::model::{ConnType, Kind};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/:domain/channels/connect", post(connect))
        .route("/:domain/channels/disconnect", post(disconnect))
        .route("/:domain/channels/:id/connect", post(connect_one))
        .route("/:domain/channels/:id/disconnect", post(disconnect_one))
}

#[derive(Deserialize)]
struct ConnectBody {
    channel_ids: Option<Vec<String>>,
    client_ids: Option<Vec<String>>,
    types: Option<Vec<String>>,
}

/// Most channel ids and most client ids one request may name: a bound on its work.
const MAX_IDS: usize = 1000;

/// The validated request: ids (resolved to channel ids) and connection types.
struct Request {
    domain_id: String,
    channels: Vec<String>,
    clients: Vec<String>,
    types: Vec<ConnType>,
}

async fn validate(
    state: &AppState,
    caller: &Caller,
    domain: &str,
    body: ConnectBody,
) -> Result<Request> {
    let d = caller.domain(state, domain, Need::Write).await?;
    let channels = body
        .channel_ids
        .filter(|c| !c.is_empty())
        .ok_or_else(|| AuthError::bad_request("missing channel_ids"))?;
    let clients = body
        .client_ids
        .filter(|c| !c.is_empty())
        .ok_or_else(|| AuthError::bad_request("missing client_ids"))?;
    let types = match body.types {
        None => vec![ConnType::Publish, ConnType::Subscribe],
        Some(t) if t.is_empty() => return Err(AuthError::bad_request("types must not be empty")),
        Some(t) => t
            .iter()
            .map(|s| {
                ConnType::parse(s).ok_or_else(|| {
                    AuthError::bad_request(format!(
                        "invalid connection type {s:?}: publish or subscribe"
                    ))
                })
            })
            .collect::<Result<Vec<_>>>()?,
    };
    if channels.len() > MAX_IDS || clients.len() > MAX_IDS {
        return Err(AuthError::bad_request(format!(
            "at most {MAX_IDS} channel_ids and {MAX_IDS} client_ids per request"
        )));
    }
    // Every id must name an entity of the path's domain, for disconnect as much as for
    // connect: a foreign id is a 404 and nothing happens (no session of another tenant
    // is ended, no event is written).
    let mut channel_ids = Vec::with_capacity(channels.len());
    for ch in &channels {
        channel_ids.push(state.store.entity(Kind::Channel, &d.id, ch).await?.id);
    }
    let mut client_ids = Vec::with_capacity(clients.len());
    for cl in &clients {
        client_ids.push(state.store.entity(Kind::Client, &d.id, cl).await?.id);
    }
    Ok(Request {
        domain_id: d.id,
        channels: channel_ids,
        clients: client_ids,
        types,
    })
}

fn type_names(types: &[ConnType]) -> Vec<String> {
    types.iter().map(|t| t.as_str().to_string()).collect()
}

async fn do_connect(
    state: AppState,
    caller: Caller,
    domain: String,
    body: ConnectBody,
) -> Result<StatusCode> {
    let r = validate(&state, &caller, &domain, body).await?;
    let event = cev::channel_connect(&r.channels, &r.clients, &type_names(&r.types));
    state
        .store
        .connect(&r.domain_id, &r.channels, &r.clients, &r.types, &event)
        .await?;
    state.refresh(&r.clients);
    Ok(StatusCode::CREATED)
}

async fn do_disconnect(
    state: AppState,
    caller: Caller,
    domain: String,
    body: ConnectBody,
) -> Result<StatusCode> {
    let r = validate(&state, &caller, &domain, body).await?;
    let event = cev::channel_disconnect(&r.channels, &r.clients, &type_names(&r.types));
    state
        .store
        .disconnect(&r.domain_id, &r.channels, &r.clients, &r.types, &event)
        .await?;
    state.revoke(&r.clients);
    Ok(StatusCode::NO_CONTENT)
}

async fn connect(
    State(state): State<AppState>,
    caller: Caller,
    Path(domain): Path<String>,
    Body(body): Body<ConnectBody>,
) -> Result<StatusCode> {
    do_connect(state, caller, domain, body).await
}

async fn disconnect(
    State(state): State<AppState>,
    caller: Caller,
    Path(domain): Path<String>,
    Body(body): Body<ConnectBody>,
) -> Result<StatusCode> {
    do_disconnect(state, caller, domain, body).await
}

async fn connect_one(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, id)): Path<(String, String)>,
    Body(mut body): Body<ConnectBody>,
) -> Result<StatusCode> {
    body.channel_ids = Some(vec![id]);
    do_connect(state, caller, domain, body).await
}

async fn disconnect_one(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, id)): Path<(String, String)>,
    Body(mut body): Body<ConnectBody>,
) -> Result<StatusCode> {
    body.channel_ids = Some(vec![id]);
    do_disconnect(state, caller, domain, body).await
}
