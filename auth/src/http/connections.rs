//! `/{domainID}/channels/connect|disconnect` and `/{domainID}/channels/{id}/connect|disconnect`:
//! thin handlers over `crate::service::Connections`.

use axum::extract::State;
use axum::http::StatusCode;
use magnetite_httpkit::routes::{post, Routes};
use magnetite_httpkit::Path;

use super::{AppState, Attach, Body, Caller, Detach, Way};
use crate::access::Actor;
use crate::error::Result;
use crate::service::ConnectRequest;

pub(super) fn routes() -> Routes<AppState> {
    Routes::new()
        .route("/:domain/channels/connect", post(link::<Attach>))
        .route("/:domain/channels/disconnect", post(link::<Detach>))
        .route("/:domain/channels/:id/connect", post(link_one::<Attach>))
        .route("/:domain/channels/:id/disconnect", post(link_one::<Detach>))
}

/// `POST /{d}/channels/connect|disconnect`.
async fn link<W: Way>(
    State(state): State<AppState>,
    caller: Caller,
    Path(domain): Path<String>,
    Body(body): Body<ConnectRequest>,
) -> Result<StatusCode> {
    let actor = Actor::User(&caller);
    state
        .connections()
        .link(W::LINK, &actor, &domain, body)
        .await?;
    Ok(W::STATUS)
}

/// `POST /{d}/channels/{id}/connect|disconnect`: the path names the one channel.
async fn link_one<W: Way>(
    state: State<AppState>,
    caller: Caller,
    Path((domain, id)): Path<(String, String)>,
    Body(mut body): Body<ConnectRequest>,
) -> Result<StatusCode> {
    body.channel_ids = Some(vec![id]);
    link::<W>(state, caller, Path(domain), Body(body)).await
}
