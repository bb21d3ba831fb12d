//! `/domains`: tenants, their status and their members (thin handlers over
//! `crate::service::Domains`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use magnetite_httpkit::routes::{get, post, Routes};
use magnetite_httpkit::{Params, Path};
use serde::Deserialize;
use serde_json::{json, Value};

use super::held_roles::{add_held_roles, ViewQuery};
use super::{page, AppState, Body, Caller, Disable, Enable, Freeze, Switch};
use crate::access::Actor;
use crate::error::Result;
use crate::model::Domain;
use crate::roles::EntityType;
use crate::service::{DomainChange, NewDomainInput};

pub(super) fn routes() -> Routes<AppState> {
    Routes::new()
        .route("/domains", post(create).get(list))
        .route("/domains/:id", get(view).patch(update))
        .route("/domains/:id/enable", post(set_status::<Enable>))
        .route("/domains/:id/disable", post(set_status::<Disable>))
        .route("/domains/:id/freeze", post(set_status::<Freeze>))
        .route("/domains/:id/users", get(members))
        .route("/domains/:id/users/assign", post(assign))
        .route("/domains/:id/users/unassign", post(unassign))
        .route("/users/:id/domains", get(list_of_user))
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<NewDomainInput>,
) -> Result<(StatusCode, Json<Value>)> {
    let domain = state.domains().create(&Actor::User(&caller), body).await?;
    Ok((StatusCode::CREATED, Json(domain.to_json())))
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    params: Params<super::queries::DomainList>,
) -> Result<Json<Value>> {
    let (total, q, domains) = state
        .domains()
        .list(&Actor::User(&caller), &params.values)
        .await?;
    let items = domains.iter().map(Domain::to_json).collect();
    Ok(Json(page("domains", total, &q, items)))
}

/// `GET /users/{id}/domains` (the SDK's `ListUserDomains`).
async fn list_of_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(user_id): Path<String>,
    params: Params<super::queries::DomainList>,
) -> Result<Json<Value>> {
    let (total, q, domains) = state
        .domains()
        .list_of_user(&Actor::User(&caller), &user_id, &params.values)
        .await?;
    let items = domains.iter().map(Domain::to_json).collect();
    Ok(Json(page("domains", total, &q, items)))
}

async fn view(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    params: Params<ViewQuery>,
) -> Result<Json<Value>> {
    let domain = state.domains().view(&Actor::User(&caller), &id).await?;
    let mut out = domain.to_json();
    let at = (EntityType::Domain, domain.id.as_str(), domain.id.as_str());
    add_held_roles(&state, &caller, &params, at, &mut out).await?;
    Ok(Json(out))
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body<DomainChange>,
) -> Result<Json<Value>> {
    let domain = state
        .domains()
        .update(&Actor::User(&caller), &id, body)
        .await?;
    Ok(Json(domain.to_json()))
}

/// `POST /domains/{id}/enable|disable|freeze`.
async fn set_status<S: Switch>(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let domain = state
        .domains()
        .set_status(&Actor::User(&caller), &id, S::STATUS)
        .await?;
    Ok(Json(domain.to_json()))
}

async fn members(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let members = state.domains().members(&Actor::User(&caller), &id).await?;
    let items: Vec<Value> = members
        .into_iter()
        .map(|(user_id, relation)| json!({ "user_id": user_id, "relation": relation }))
        .collect();
    Ok(Json(json!({ "total": items.len(), "users": items })))
}

#[derive(Deserialize)]
struct Assign {
    user_ids: Option<Vec<String>>,
    relation: Option<String>,
}

async fn assign(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body<Assign>,
) -> Result<StatusCode> {
    let actor = Actor::User(&caller);
    let relation = body.relation.as_deref();
    state
        .domains()
        .assign(&actor, &id, body.user_ids, relation)
        .await?;
    Ok(StatusCode::CREATED)
}

async fn unassign(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body<Assign>,
) -> Result<StatusCode> {
    state
        .domains()
        .unassign(&Actor::User(&caller), &id, body.user_ids)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
