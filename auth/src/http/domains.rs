//! `/domains`: tenants, their status and their members.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;

use super::{metadata_of, name_of, page, tags_of, AppState, Body, Caller};
use crate::access::Need;
use crate::error::{AuthError, Result};
use crate::model::{Audit, Domain, Status};
use crate::service::check_route;
use crate::store::domains::Relation;
use crate::store::list::ListQuery;
use crate::store::{new_id, now_rfc3339};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/domains", post(create).get(list))
        .route("/domains/:id", get(view).patch(update))
        .route("/domains/:id/enable", post(enable))
        .route("/domains/:id/disable", post(disable))
        .route("/domains/:id/users", get(members))
        .route("/domains/:id/users/assign", post(assign))
        .route("/domains/:id/users/unassign", post(unassign))
}

/// First path segments the API itself uses: a domain route equal to one of them would
/// be shadowed by (or shadow) those endpoints.
const RESERVED_DOMAIN_ROUTES: &[&str] = &[
    "users", "domains", "clients", "certs", "password", "events", "health", "metrics",
];

/// A domain route: a valid route that is not one of the API's own path segments.
pub(crate) fn check_domain_route(route: &str) -> Result<()> {
    check_route(route)?;
    if RESERVED_DOMAIN_ROUTES.contains(&route) {
        return Err(AuthError::bad_request(format!(
            "route {route:?} is reserved"
        )));
    }
    Ok(())
}

#[derive(Deserialize)]
struct CreateDomain {
    name: Option<String>,
    route: Option<String>,
    tags: Option<Vec<String>>,
    metadata: Option<Value>,
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<CreateDomain>,
) -> Result<(StatusCode, Json<Value>)> {
    let id = new_id();
    // Without a route the domain is named by its id alone (its route is its own id).
    let route = match body.route {
        Some(route) => {
            check_domain_route(&route)?;
            route
        }
        None => id.clone(),
    };
    let domain = Domain {
        id,
        name: name_of(body.name, "name")?,
        route,
        tags: tags_of(body.tags)?,
        metadata: metadata_of(body.metadata)?,
        status: Status::Enabled,
        created_by: caller.id().to_string(),
        audit: Audit {
            created_at: now_rfc3339(),
            updated_at: None,
            updated_by: None,
        },
    };
    state
        .store
        .insert_domain(&domain)
        .await
        .map_err(|e| match e {
            AuthError::Database(ref db) if crate::error::is_unique_violation(db) => {
                AuthError::Conflict("a domain with this route already exists".into())
            }
            other => other,
        })?;
    Ok((StatusCode::CREATED, Json(domain.to_json())))
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>> {
    let q = ListQuery::parse(&params)?;
    let member = (!caller.is_admin()).then(|| caller.id());
    let (total, domains) = state.store.list_domains(&q, member).await?;
    Ok(Json(page(
        "domains",
        total,
        &q,
        domains.iter().map(Domain::to_json).collect(),
    )))
}

async fn view(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    Ok(Json(
        caller.domain(&state, &id, Need::Read).await?.to_json(),
    ))
}

#[derive(Deserialize)]
struct UpdateDomain {
    name: Option<String>,
    tags: Option<Vec<String>>,
    metadata: Option<Value>,
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body<UpdateDomain>,
) -> Result<Json<Value>> {
    let mut domain = caller.domain(&state, &id, Need::Write).await?;
    if body.name.is_some() {
        domain.name = name_of(body.name, "name")?;
    }
    if body.tags.is_some() {
        domain.tags = tags_of(body.tags)?;
    }
    if body.metadata.is_some() {
        domain.metadata = metadata_of(body.metadata)?;
    }
    stamp_and_save(&state, &caller, &mut domain).await?;
    Ok(Json(domain.to_json()))
}

async fn stamp_and_save(state: &AppState, caller: &Caller, domain: &mut Domain) -> Result<()> {
    domain.audit.updated_at = Some(now_rfc3339());
    domain.audit.updated_by = Some(caller.id().to_string());
    state.store.update_domain(domain).await
}

/// Enabling or disabling a domain changes the access of every client in it.
async fn set_status(
    state: AppState,
    caller: Caller,
    id: String,
    status: Status,
) -> Result<Json<Value>> {
    let mut domain = caller.domain(&state, &id, Need::Write).await?;
    domain.status = status;
    stamp_and_save(&state, &caller, &mut domain).await?;
    let clients = state.store.domain_client_ids(&domain.id).await?;
    match status {
        Status::Disabled => state.revoke(&clients),
        Status::Enabled => state.refresh(&clients),
    }
    Ok(Json(domain.to_json()))
}

async fn enable(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    set_status(state, caller, id, Status::Enabled).await
}

async fn disable(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    set_status(state, caller, id, Status::Disabled).await
}

async fn members(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let domain = caller.domain(&state, &id, Need::Read).await?;
    let members = state.store.members(&domain.id).await?;
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
    let domain = caller.domain(&state, &id, Need::Write).await?;
    let users = body
        .user_ids
        .filter(|u| !u.is_empty())
        .ok_or_else(|| AuthError::bad_request("missing user_ids"))?;
    let relation = match body.relation.as_deref() {
        None => Relation::Member,
        Some(r) => Relation::parse(r)
            .ok_or_else(|| AuthError::bad_request("relation must be admin or member"))?,
    };
    state
        .store
        .set_members(&domain.id, &users, Some(relation))
        .await?;
    Ok(StatusCode::CREATED)
}

async fn unassign(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body<Assign>,
) -> Result<StatusCode> {
    let domain = caller.domain(&state, &id, Need::Write).await?;
    let users = body
        .user_ids
        .filter(|u| !u.is_empty())
        .ok_or_else(|| AuthError::bad_request("missing user_ids"))?;
    if users.contains(&domain.created_by) {
        return Err(AuthError::bad_request(
            "the domain's creator cannot be unassigned",
        ));
    }
    state.store.set_members(&domain.id, &users, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::check_route;

    #[test]
    fn routes_shaped_like_ids_are_refused() {
        assert!(check_route("telemetry").is_ok());
        assert!(check_route("plant-1_a").is_ok());
        for id_shaped in [
            "2f1c8f2e-6f8e-4b7e-9a51-0c3e8e4b1d2a",
            "2f1c8f2e6f8e4b7e9a510c3e8e4b1d2a",
            "2F1C8F2E-6F8E-4B7E-9A51-0C3E8E4B1D2A",
        ] {
            assert!(check_route(id_shaped).is_err(), "{id_shaped}");
        }
    }
}
