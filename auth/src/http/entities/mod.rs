//! `/{domainID}/clients`, `/{domainID}/channels`, `/{domainID}/groups`: one generic set
//! of thin handlers (extract, call `crate::service::Entities`, render), instantiated per
//! kind (`KindOf`); parents and children in `hierarchy.rs`.

mod hierarchy;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use magnetite_httpkit::routes::{get, patch, post, Routes};
use magnetite_httpkit::{Accepted, Params, Path};
use serde::Deserialize;
use serde_json::Value;

use super::held_roles::{add_held_roles, ViewQuery};
use super::{page, queries, AppState, Body, Caller, Disable, Enable, Switch};
use crate::access::Actor;
use crate::error::Result;
use crate::model::Kind;
use crate::service::{Entities, EntityChange, Listed, NewEntityInput};

/// Selects the kind at compile time so one handler serves three route sets.
pub(crate) trait KindOf: Send + Sync + 'static {
    const KIND: Kind;
    /// The query parameters its list route accepts.
    type List: Accepted;
}
pub(crate) struct Clients;
pub(crate) struct Channels;
pub(crate) struct Groups;
impl KindOf for Clients {
    type List = queries::ClientList;
    const KIND: Kind = Kind::Client;
}
impl KindOf for Channels {
    type List = queries::ChannelList;
    const KIND: Kind = Kind::Channel;
}
impl KindOf for Groups {
    type List = queries::GroupList;
    const KIND: Kind = Kind::Group;
}

pub(super) fn routes() -> Routes<AppState> {
    Routes::new()
        .merge(kind_routes::<Clients>())
        .merge(kind_routes::<Channels>())
        .merge(kind_routes::<Groups>())
        .route("/:domain/clients/bulk", post(bulk::<Clients>))
        .route("/:domain/channels/bulk", post(bulk::<Channels>))
        .route("/:domain/clients/:id/secret", patch(update_secret))
        .route("/:domain/channels/:id/clients", get(related::<Clients>))
        .route("/:domain/clients/:id/channels", get(related::<Channels>))
        .merge(hierarchy::routes())
}

fn kind_routes<K: KindOf>() -> Routes<AppState> {
    let base = format!("/:domain/{}", K::KIND.table());
    Routes::new()
        .route(&base, post(create::<K>).get(list::<K>))
        .route(
            &format!("{base}/:id"),
            get(view::<K>)
                .patch(update::<K>)
                .put(update::<K>)
                .delete(delete::<K>),
        )
        .route(&format!("{base}/:id/tags"), patch(update_tags::<K>))
        .route(&format!("{base}/:id/metadata"), patch(patch_metadata::<K>))
        .route(&format!("{base}/:id/enable"), post(set_status::<K, Enable>))
        .route(
            &format!("{base}/:id/disable"),
            post(set_status::<K, Disable>),
        )
        .route(
            &format!("/:domain/users/:user/{}", K::KIND.table()),
            get(list_of_user::<K>),
        )
        .merge(hierarchy::parent_routes::<K>(&base))
}

fn service<K: KindOf>(state: &AppState) -> Entities<'_> {
    state.entities(K::KIND)
}

/// `{"<kind>": [...], "total", "offset", "limit"}`.
fn render_page(kind: Kind, listed: Listed) -> Json<Value> {
    let items = listed.items.iter().map(|e| e.to_json(None)).collect();
    Json(page(kind.table(), listed.total, &listed.query, items))
}

async fn create<K: KindOf>(
    State(state): State<AppState>,
    caller: Caller,
    Path(domain): Path<String>,
    Body(body): Body<NewEntityInput>,
) -> Result<(StatusCode, Json<Value>)> {
    let item = service::<K>(&state)
        .create(&Actor::User(&caller), &domain, body)
        .await?;
    let json = item.entity.to_json(item.secret.as_deref());
    Ok((StatusCode::CREATED, Json(json)))
}

async fn bulk<K: KindOf>(
    State(state): State<AppState>,
    caller: Caller,
    Path(domain): Path<String>,
    Body(body): Body<Vec<NewEntityInput>>,
) -> Result<(StatusCode, Json<Value>)> {
    let items = service::<K>(&state)
        .create_many(&Actor::User(&caller), &domain, body)
        .await?;
    let list: Vec<Value> = items
        .iter()
        .map(|c| c.entity.to_json(c.secret.as_deref()))
        .collect();
    let mut out = serde_json::json!({ "total": list.len() });
    out[K::KIND.table()] = Value::Array(list);
    Ok((StatusCode::CREATED, Json(out)))
}

async fn list<K: KindOf>(
    State(state): State<AppState>,
    caller: Caller,
    Path(domain): Path<String>,
    params: Params<K::List>,
) -> Result<Json<Value>> {
    let listed = service::<K>(&state)
        .list(&Actor::User(&caller), &domain, &params.values, None)
        .await?;
    Ok(render_page(K::KIND, listed))
}

/// `GET /{d}/users/{user}/<kind>` (the SDK's `ListUserClients`, ...): the list with
/// the `user` filter set from the path (entities the user created in this domain; a
/// user of another domain gets an empty page, like an unknown id).
async fn list_of_user<K: KindOf>(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, user)): Path<(String, String)>,
    params: Params<K::List>,
) -> Result<Json<Value>> {
    let mut params = params.values;
    params.insert("user".into(), user);
    let listed = service::<K>(&state)
        .list(&Actor::User(&caller), &domain, &params, None)
        .await?;
    Ok(render_page(K::KIND, listed))
}

/// `GET /{d}/channels/{id}/clients` and `GET /{d}/clients/{id}/channels`.
async fn related<K: KindOf>(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, id)): Path<(String, String)>,
    params: Params<queries::RelatedList>,
) -> Result<Json<Value>> {
    let listed = service::<K>(&state)
        .related(&Actor::User(&caller), &domain, &id, &params.values)
        .await?;
    Ok(render_page(K::KIND, listed))
}

async fn view<K: KindOf>(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, id)): Path<(String, String)>,
    params: Params<ViewQuery>,
) -> Result<Json<Value>> {
    let e = service::<K>(&state)
        .view(&Actor::User(&caller), &domain, &id)
        .await?;
    let mut out = e.to_json(None);
    let at = (K::KIND.into(), e.domain_id.as_str(), e.id.as_str());
    add_held_roles(&state, &caller, &params, at, &mut out).await?;
    Ok(Json(out))
}

async fn update<K: KindOf>(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, id)): Path<(String, String)>,
    Body(body): Body<EntityChange>,
) -> Result<Json<Value>> {
    let e = service::<K>(&state)
        .update(&Actor::User(&caller), &domain, &id, body)
        .await?;
    Ok(Json(e.to_json(None)))
}

#[derive(Deserialize)]
struct MetadataBody {
    metadata: Option<Value>,
}

/// `PATCH /{d}/<kind>/{id}/metadata {"metadata": {...}}`: sets those keys only.
async fn patch_metadata<K: KindOf>(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, id)): Path<(String, String)>,
    Body(body): Body<MetadataBody>,
) -> Result<Json<Value>> {
    let e = service::<K>(&state)
        .patch_metadata(&Actor::User(&caller), &domain, &id, body.metadata)
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
    let e = service::<K>(&state)
        .update_tags(&Actor::User(&caller), &domain, &id, body.tags)
        .await?;
    Ok(Json(e.to_json(None)))
}

/// `POST {base}/{id}/enable|disable`.
async fn set_status<K: KindOf, S: Switch>(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, id)): Path<(String, String)>,
) -> Result<Json<Value>> {
    let e = service::<K>(&state)
        .set_status(&Actor::User(&caller), &domain, &id, S::STATUS)
        .await?;
    Ok(Json(e.to_json(None)))
}

async fn delete<K: KindOf>(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, id)): Path<(String, String)>,
) -> Result<StatusCode> {
    service::<K>(&state)
        .delete(&Actor::User(&caller), &domain, &id)
        .await?;
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
    let c = state
        .clients()
        .update_secret(&Actor::User(&caller), &domain, &id, body.secret)
        .await?;
    Ok(Json(c.entity.to_json(c.secret.as_deref())))
}
