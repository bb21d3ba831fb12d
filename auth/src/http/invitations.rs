//! Invitation routes (SuperMQ's `domains` API, as the official SDK calls them): thin
//! handlers over `crate::service::Invitations`.
//!
//! ```text
//! POST   /domains/{id}/invitations  {invitee_user_id, role_id, resend}   -> 201 invitation
//! GET    /domains/{id}/invitations?offset&limit&invitee_user_id&invited_by&role_id&state
//! DELETE /domains/{id}/invitations  {user_id}                            -> 204
//! GET    /domains/{id}/invitations/{userID}                              -> invitation
//! GET    /invitations?offset&limit&domain_id&invited_by&role_id&state    (the caller's)
//! POST   /invitations/accept  {domain_id}                                -> 204
//! POST   /invitations/reject  {domain_id}                                -> 204
//! ```

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use magnetite_httpkit::routes::{get, post, Routes};
use magnetite_httpkit::{Accepted, Params, Path};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{page, AppState, Body, Caller};
use crate::access::Actor;
use crate::error::Result;
use crate::service::{InvitationPage, SendInvitationInput};
use crate::store::invitations::Invitation;

/// SuperMQ's list parameters (`decodeListInvitationsReq`; `user_id` as the OpenAPI
/// names the invitee filter).
struct InvitationList;
impl Accepted for InvitationList {
    const KEYS: &'static [&'static str] = &[
        "offset",
        "limit",
        "only_total",
        "invitee_user_id",
        "user_id",
        "invited_by",
        "role_id",
        "domain_id",
        "state",
    ];
}

pub(super) fn routes() -> Routes<AppState> {
    Routes::new()
        .route(
            "/domains/:id/invitations",
            post(send).get(list_domain).delete(delete),
        )
        .route("/domains/:id/invitations/:user", get(view))
        .route("/invitations", get(list_own))
        .route("/invitations/accept", post(accept))
        .route("/invitations/reject", post(reject))
}

#[derive(Deserialize)]
struct InviteePath {
    id: String,
    user: String,
}

/// `{domain_id}` of accept and reject.
#[derive(Deserialize)]
struct DomainBody {
    domain_id: Option<String>,
}

/// `{user_id}` of a delete (`invitee_user_id` also accepted).
#[derive(Deserialize)]
struct InviteeBody {
    user_id: Option<String>,
    invitee_user_id: Option<String>,
}

/// An invitation as SuperMQ renders it; times not yet reached are left out.
fn invitation_json(i: &Invitation) -> Value {
    let mut v = json!({
        "invited_by": i.invited_by,
        "invitee_user_id": i.invitee_user_id,
        "domain_id": i.domain_id,
        "role_id": i.role_id,
        "created_at": i.created_at,
    });
    for (key, value) in [
        ("domain_name", &i.domain_name),
        ("role_name", &i.role_name),
        ("updated_at", &i.updated_at),
        ("confirmed_at", &i.confirmed_at),
        ("rejected_at", &i.rejected_at),
    ] {
        if let Some(value) = value {
            v[key] = Value::from(value.as_str());
        }
    }
    v
}

fn page_json(p: InvitationPage) -> Json<Value> {
    let items = p.invitations.iter().map(invitation_json).collect();
    Json(page("invitations", p.total, &p.query, items))
}

async fn send(
    State(state): State<AppState>,
    caller: Caller,
    Path(domain): Path<String>,
    Body(body): Body<SendInvitationInput>,
) -> Result<(StatusCode, Json<Value>)> {
    let actor = Actor::User(&caller);
    let inv = state.invitations().send(&actor, &domain, body).await?;
    Ok((StatusCode::CREATED, Json(invitation_json(&inv))))
}

async fn list_domain(
    State(state): State<AppState>,
    caller: Caller,
    Path(domain): Path<String>,
    params: Params<InvitationList>,
) -> Result<Json<Value>> {
    let actor = Actor::User(&caller);
    let p = state
        .invitations()
        .list_domain(&actor, &domain, &params.values)
        .await?;
    Ok(page_json(p))
}

async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(domain): Path<String>,
    Body(body): Body<InviteeBody>,
) -> Result<StatusCode> {
    let actor = Actor::User(&caller);
    let user = body.user_id.or(body.invitee_user_id);
    state.invitations().delete(&actor, &domain, user).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn view(
    State(state): State<AppState>,
    caller: Caller,
    Path(p): Path<InviteePath>,
) -> Result<Json<Value>> {
    let actor = Actor::User(&caller);
    let inv = state.invitations().view(&actor, &p.id, &p.user).await?;
    Ok(Json(invitation_json(&inv)))
}

async fn list_own(
    State(state): State<AppState>,
    caller: Caller,
    params: Params<InvitationList>,
) -> Result<Json<Value>> {
    let p = state
        .invitations()
        .list_own(&caller, &params.values)
        .await?;
    Ok(page_json(p))
}

async fn accept(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<DomainBody>,
) -> Result<StatusCode> {
    state.invitations().accept(&caller, body.domain_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn reject(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<DomainBody>,
) -> Result<StatusCode> {
    state.invitations().reject(&caller, body.domain_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
