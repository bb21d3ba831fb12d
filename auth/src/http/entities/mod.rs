//! `/{domainID}/clients`, `/{domainID}/channels`, `/{domainID}/groups`: one generic set
//! of handlers, instantiated per kind (`KindOf`); parents and children in `hierarchy.rs`.

mod hierarchy;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use magnetite_events::model::{clients as cev, users as uev};
use magnetite_events::{Event, Page};
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;

use super::access::Need;
use super::{metadata_of, name_of, page, tags_of, AppState, Body, Caller};
use crate::crypto::generate_secret;
use crate::error::{AuthError, Result};
use crate::model::{Audit, Domain, Entity, Kind, Status};
use crate::store::entities::{NewEntity, Scope};
use crate::store::list::ListQuery;
use crate::store::{new_id, now_rfc3339};

/// Selects the kind at compile time so one handler serves three route sets.
pub(crate) trait KindOf: Send + Sync + 'static {
    const KIND: Kind;
}
pub(crate) struct Clients;
pub(crate) struct Channels;
pub(crate) struct Groups;
impl KindOf for Clients {
    const KIND: Kind = Kind::Client;
}
impl KindOf for Channels {
    const KIND: Kind = Kind::Channel;
}
impl KindOf for Groups {
    const KIND: Kind = Kind::Group;
}

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .merge(kind_routes::<Clients>())
        .merge(kind_routes::<Channels>())
        .merge(kind_routes::<Groups>())
        .route("/:domain/clients/bulk", post(bulk::<Clients>))
        .route("/:domain/channels/bulk", post(bulk::<Channels>))
        .route(
            "/:domain/clients/:id/secret",
            axum::routing::patch(update_secret),
        )
        .route("/:domain/channels/:id/clients", get(related::<Clients>))
        .route("/:domain/clients/:id/channels", get(related::<Channels>))
        .merge(hierarchy::routes())
}

fn kind_routes<K: KindOf>() -> Router<AppState> {
    let base = format!("/:domain/{}", K::KIND.table());
    Router::new()
        .route(&base, post(create::<K>).get(list::<K>))
        .route(
            &format!("{base}/:id"),
            get(view::<K>)
                .patch(update::<K>)
                .put(update::<K>)
                .delete(delete::<K>),
        )
        .route(
            &format!("{base}/:id/tags"),
            axum::routing::patch(update_tags::<K>),
        )
        .route(&format!("{base}/:id/enable"), post(enable::<K>))
        .route(&format!("{base}/:id/disable"), post(disable::<K>))
        .merge(hierarchy::parent_routes::<K>(&base))
}

fn ev_create(e: &Entity) -> Event {
    match e.kind {
        Kind::Client => cev::client_create(&e.record()),
        Kind::Channel => cev::channel_create(&e.record()),
        Kind::Group => uev::group_create(&e.record()),
    }
}
fn ev_update(e: &Entity) -> Event {
    match e.kind {
        Kind::Client => cev::client_update(&e.record()),
        Kind::Channel => cev::channel_update(&e.record()),
        Kind::Group => uev::group_update(&e.record()),
    }
}
fn ev_remove(e: &Entity) -> Event {
    match e.kind {
        Kind::Client => cev::client_remove(&e.record()),
        Kind::Channel => cev::channel_remove(&e.record()),
        Kind::Group => uev::group_remove(&e.record()),
    }
}
fn ev_view(e: &Entity) -> Event {
    match e.kind {
        Kind::Client => cev::client_view(&e.record()),
        Kind::Channel => cev::channel_view(&e.record()),
        Kind::Group => uev::group_view(&e.record()),
    }
}
fn ev_list(kind: Kind, p: &Page) -> Event {
    match kind {
        Kind::Client => cev::client_list(p),
        Kind::Channel => cev::channel_list(p),
        Kind::Group => uev::group_list(p),
    }
}

#[derive(Deserialize, Default)]
struct ClientCredentials {
    secret: Option<String>,
}

#[derive(Deserialize)]
struct CreateBody {
    name: Option<String>,
    route: Option<String>,
    description: Option<String>,
    tags: Option<Vec<String>>,
    metadata: Option<Value>,
    status: Option<String>,
    parent_id: Option<String>,
    parent_group_id: Option<String>,
    credentials: Option<ClientCredentials>,
}

/// A client secret from a request: generated when empty, otherwise 8..=1024 characters.
fn secret_of(given: Option<String>) -> Result<String> {
    match given.filter(|s| !s.is_empty()) {
        None => Ok(generate_secret()),
        Some(s) if (8..=1024).contains(&s.len()) => Ok(s),
        Some(_) => Err(AuthError::bad_request(
            "secret must be 8 to 1024 characters",
        )),
    }
}

/// Validates a create body into an entity (and, for clients, its plain secret).
async fn build<K: KindOf>(
    state: &AppState,
    caller: &Caller,
    domain: &Domain,
    body: CreateBody,
) -> Result<(Entity, Option<String>)> {
    let kind = K::KIND;
    if let Some(route) = &body.route {
        super::domains::check_route(route)?;
    }
    let parent_id = body
        .parent_id
        .or(body.parent_group_id)
        .filter(|p| !p.is_empty());
    if let Some(parent) = &parent_id {
        state.store.entity(Kind::Group, &domain.id, parent).await?;
    }
    let status = match body.status.as_deref() {
        None => Status::Enabled,
        Some(s) => Status::parse(s).ok_or_else(|| AuthError::bad_request("invalid status"))?,
    };
    let secret = match kind {
        Kind::Client => Some(secret_of(body.credentials.unwrap_or_default().secret)?),
        _ => None,
    };
    let entity = Entity {
        kind,
        id: new_id(),
        domain_id: domain.id.clone(),
        name: name_of(body.name, "name")?,
        route: body.route.filter(|_| kind == Kind::Channel),
        description: body.description.filter(|_| kind == Kind::Group),
        tags: tags_of(body.tags)?,
        metadata: metadata_of(body.metadata)?,
        status,
        parent_id,
        created_by: caller.id().to_string(),
        audit: Audit {
            created_at: now_rfc3339(),
            updated_at: None,
            updated_by: None,
        },
    };
    Ok((entity, secret))
}

fn conflict(kind: Kind) -> impl Fn(AuthError) -> AuthError {
    move |e| match e {
        AuthError::Database(ref db) if crate::error::is_unique_violation(db) => {
            AuthError::Conflict(match kind {
                Kind::Client => "a client with this secret already exists in the domain".into(),
                _ => format!(
                    "a {} with this route already exists in the domain",
                    kind.name()
                ),
            })
        }
        other => other,
    }
}

async fn insert(state: &AppState, items: &[(Entity, Option<String>)]) -> Result<()> {
    let hashes: Vec<Option<String>> = items
        .iter()
        .map(|(_, s)| s.as_deref().map(|s| state.keys.hash_secret(s)))
        .collect();
    let events: Vec<Event> = items.iter().map(|(e, _)| ev_create(e)).collect();
    let rows: Vec<NewEntity<'_>> = items
        .iter()
        .zip(&hashes)
        .zip(&events)
        .map(|(((entity, _), hash), event)| NewEntity {
            entity,
            secret_hash: hash.as_deref(),
            event,
        })
        .collect();
    let kind = items.first().map(|(e, _)| e.kind).unwrap_or(Kind::Client);
    state
        .store
        .insert_entities(&rows)
        .await
        .map_err(conflict(kind))
}

async fn create<K: KindOf>(
    State(state): State<AppState>,
    caller: Caller,
    Path(domain): Path<String>,
    Body(body): Body<CreateBody>,
) -> Result<(StatusCode, Json<Value>)> {
    let domain = caller.domain(&state, &domain, Need::Write).await?;
    let item = build::<K>(&state, &caller, &domain, body).await?;
    insert(&state, std::slice::from_ref(&item)).await?;
    Ok((StatusCode::CREATED, Json(item.0.to_json(item.1.as_deref()))))
}

async fn bulk<K: KindOf>(
    State(state): State<AppState>,
    caller: Caller,
    Path(domain): Path<String>,
    Body(body): Body<Vec<CreateBody>>,
) -> Result<(StatusCode, Json<Value>)> {
    let domain = caller.domain(&state, &domain, Need::Write).await?;
    if body.is_empty() || body.len() > 1000 {
        return Err(AuthError::bad_request("bulk takes 1 to 1000 entities"));
    }
    let mut items = Vec::with_capacity(body.len());
    for b in body {
        items.push(build::<K>(&state, &caller, &domain, b).await?);
    }
    insert(&state, &items).await?;
    let list: Vec<Value> = items.iter().map(|(e, s)| e.to_json(s.as_deref())).collect();
    let mut out = serde_json::json!({ "total": list.len() });
    out[K::KIND.table()] = Value::Array(list);
    Ok((StatusCode::CREATED, Json(out)))
}

async fn list<K: KindOf>(
    State(state): State<AppState>,
    caller: Caller,
    Path(domain): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>> {
    list_scoped(&state, &caller, K::KIND, &domain, &params, None).await
}

async fn list_scoped(
    state: &AppState,
    caller: &Caller,
    kind: Kind,
    domain: &str,
    params: &HashMap<String, String>,
    scope: Option<(Kind, &str)>,
) -> Result<Json<Value>> {
    let domain = caller.domain(state, domain, Need::Read).await?;
    let q = ListQuery::parse(params)?;
    let scope = match scope {
        None => Scope::All,
        Some((Kind::Group, id)) => Scope::Parent(id),
        Some((Kind::Channel, id)) => Scope::ConnectedTo(id),
        Some((Kind::Client, id)) => Scope::ConnectedFrom(id),
    };
    let (total, items) = state
        .store
        .list_entities(kind, &domain.id, &q, scope)
        .await?;
    let p = Page {
        total,
        offset: q.offset,
        limit: q.limit,
        status: q.status.clone(),
    };
    let event = match scope {
        Scope::ConnectedTo(ch) => cev::client_list_by_channel(&p, ch),
        Scope::ConnectedFrom(cl) => cev::channel_list_by_client(&p, cl),
        _ => ev_list(kind, &p),
    };
    state
        .store
        .record_event(&event.in_domain(&domain.id))
        .await?;
    Ok(Json(page(
        kind.table(),
        total,
        &q,
        items.iter().map(|e| e.to_json(None)).collect(),
    )))
}

/// `GET /{d}/channels/{id}/clients` and `GET /{d}/clients/{id}/channels`.
async fn related<K: KindOf>(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, id)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>> {
    let via = match K::KIND {
        Kind::Client => Kind::Channel,
        _ => Kind::Client,
    };
    let d = caller.domain(&state, &domain, Need::Read).await?;
    let anchor = state.store.entity(via, &d.id, &id).await?;
    list_scoped(
        &state,
        &caller,
        K::KIND,
        &domain,
        &params,
        Some((via, &anchor.id)),
    )
    .await
}

async fn view<K: KindOf>(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, id)): Path<(String, String)>,
) -> Result<Json<Value>> {
    let d = caller.domain(&state, &domain, Need::Read).await?;
    let e = state.store.entity(K::KIND, &d.id, &id).await?;
    state
        .store
        .record_event(&ev_view(&e).in_domain(&e.domain_id))
        .await?;
    Ok(Json(e.to_json(None)))
}

/// Loads, changes, stamps and stores an entity with `event`; then tells the cache.
async fn modify(
    state: &AppState,
    caller: &Caller,
    (kind, domain, id): (Kind, &str, &str),
    change: impl FnOnce(&mut Entity) -> Result<()>,
    event: fn(&Entity) -> Event,
) -> Result<Entity> {
    let d = caller.domain(state, domain, Need::Write).await?;
    let mut e = state.store.entity(kind, &d.id, id).await?;
    let before = e.clone();
    change(&mut e)?;
    e.audit.updated_at = Some(now_rfc3339());
    e.audit.updated_by = Some(caller.id().to_string());
    state
        .store
        .update_entity(&e, None, &event(&e))
        .await
        .map_err(conflict(kind))?;
    after_change(state, &before, Some(&e)).await?;
    Ok(e)
}

/// Revokes or refreshes MQTT access that the change affects.
async fn after_change(state: &AppState, before: &Entity, after: Option<&Entity>) -> Result<()> {
    let lost =
        after.is_none_or(|a| a.status == Status::Disabled && before.status == Status::Enabled);
    let clients = match before.kind {
        Kind::Client => vec![before.id.clone()],
        Kind::Channel => state.store.channel_client_ids(&before.id).await?,
        Kind::Group => return Ok(()),
    };
    if lost || after.is_some_and(|a| a.route != before.route) {
        state.revoke(&clients);
    } else {
        state.refresh(&clients);
    }
    Ok(())
}

#[derive(Deserialize)]
struct UpdateBody {
    name: Option<String>,
    route: Option<String>,
    description: Option<String>,
    metadata: Option<Value>,
}

async fn update<K: KindOf>(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, id)): Path<(String, String)>,
    Body(body): Body<UpdateBody>,
) -> Result<Json<Value>> {
    if let Some(route) = &body.route {
        super::domains::check_route(route)?;
    }
    let name = body.name.map(|n| name_of(Some(n), "name")).transpose()?;
    let metadata = body.metadata.map(|m| metadata_of(Some(m))).transpose()?;
    let e = modify(
        &state,
        &caller,
        (K::KIND, &domain, &id),
        |e| {
            if let Some(n) = name {
                e.name = n;
            }
            if let Some(m) = metadata {
                e.metadata = m;
            }
            if e.kind == Kind::Channel && body.route.is_some() {
                e.route = body.route;
            }
            if e.kind == Kind::Group && body.description.is_some() {
                e.description = body.description;
            }
            Ok(())
        },
        ev_update,
    )
    .await?;
    Ok(Json(e.to_json(None)))
}

#[derive(Deserialize)]
struct TagsBody {
    tags: Option<Vec<String>>,
}

async fn update_tags<K: KindOf>(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, id)): Path<(String, String)>,
    Body(body): Body<TagsBody>,
) -> Result<Json<Value>> {
    let tags = tags_of(body.tags)?;
    let event: fn(&Entity) -> Event = match K::KIND {
        Kind::Client => |e| cev::client_update_tags(&e.record()),
        _ => ev_update,
    };
    let e = modify(
        &state,
        &caller,
        (K::KIND, &domain, &id),
        |e| {
            e.tags = tags;
            Ok(())
        },
        event,
    )
    .await?;
    Ok(Json(e.to_json(None)))
}

async fn set_status<K: KindOf>(
    state: AppState,
    caller: Caller,
    domain: String,
    id: String,
    status: Status,
) -> Result<Json<Value>> {
    let e = modify(
        &state,
        &caller,
        (K::KIND, &domain, &id),
        |e| {
            e.status = status;
            Ok(())
        },
        ev_remove,
    )
    .await?;
    Ok(Json(e.to_json(None)))
}

async fn enable<K: KindOf>(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, id)): Path<(String, String)>,
) -> Result<Json<Value>> {
    set_status::<K>(state, caller, domain, id, Status::Enabled).await
}

async fn disable<K: KindOf>(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, id)): Path<(String, String)>,
) -> Result<Json<Value>> {
    set_status::<K>(state, caller, domain, id, Status::Disabled).await
}

async fn delete<K: KindOf>(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, id)): Path<(String, String)>,
) -> Result<StatusCode> {
    let d = caller.domain(&state, &domain, Need::Write).await?;
    let e = state.store.entity(K::KIND, &d.id, &id).await?;
    // Who was connected must be read before the connections go with the entity.
    let affected = match e.kind {
        Kind::Channel => state.store.channel_client_ids(&e.id).await?,
        Kind::Client => vec![e.id.clone()],
        Kind::Group => Vec::new(),
    };
    let mut gone = e.clone();
    gone.audit.updated_at = Some(now_rfc3339());
    gone.audit.updated_by = Some(caller.id().to_string());
    let mut event = ev_remove(&gone);
    event = event.with("status", "deleted");
    state
        .store
        .delete_entity(e.kind, &d.id, &e.id, &event)
        .await?;
    state.revoke(&affected);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct SecretBody {
    secret: Option<String>,
}

async fn update_secret(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, id)): Path<(String, String)>,
    Body(body): Body<SecretBody>,
) -> Result<Json<Value>> {
    let secret = secret_of(body.secret)?;
    let d = caller.domain(&state, &domain, Need::Write).await?;
    let mut e = state.store.entity(Kind::Client, &d.id, &id).await?;
    e.audit.updated_at = Some(now_rfc3339());
    e.audit.updated_by = Some(caller.id().to_string());
    let hash = state.keys.hash_secret(&secret);
    let event = cev::client_update_secret(&e.record());
    state
        .store
        .update_entity(&e, Some(&hash), &event)
        .await
        .map_err(conflict(Kind::Client))?;
    state.revoke(std::slice::from_ref(&e.id));
    Ok(Json(e.to_json(Some(&secret))))
}
