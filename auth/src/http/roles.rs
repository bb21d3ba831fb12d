//! The role routes of domains, groups, channels and clients (SuperMQ's role manager
//! API, as the official SDK calls it): one generic set of thin handlers over
//! `crate::service::Roles`, instantiated per entity type (`RoleKind`).
//!
//! ```text
//! GET    <base>/roles/available-actions          (domains: /domains/roles/available-actions)
//! POST   <entity>/roles  {role_name, optional_actions, optional_members}   -> 201
//! GET    <entity>/roles?offset&limit              {roles, total, offset, limit}
//! GET    <entity>/roles/members                   {members: [{member_id, roles}], ...}
//!        (everyone reaching the entity: its roles, the groups' above, the domain's)
//! DELETE <entity>/roles  {member_ids}             out of every role of the entity -> 204
//! GET|PUT|DELETE <entity>/roles/{roleID}          (PUT {name})
//! POST|GET <entity>/roles/{roleID}/actions        {actions}
//! POST   <entity>/roles/{roleID}/actions/delete   {actions}                -> 204
//! POST|DELETE <entity>/roles/{roleID}/actions/delete-all                   -> 204
//! ...and the same for /members with {members}
//! ```
//! `<entity>` is `/domains/{id}` or `/{domainID}/<clients|channels|groups>/{id}`.

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
use crate::roles::{EntityType, Role};
use crate::service::{NewRoleInput, Roles};

/// Selects the entity type at compile time so one handler serves four route sets.
trait RoleKind: Send + Sync + 'static {
    const TYPE: EntityType;
}
struct DomainRoles;
struct GroupRoles;
struct ChannelRoles;
struct ClientRoles;
impl RoleKind for DomainRoles {
    const TYPE: EntityType = EntityType::Domain;
}
impl RoleKind for GroupRoles {
    const TYPE: EntityType = EntityType::Group;
}
impl RoleKind for ChannelRoles {
    const TYPE: EntityType = EntityType::Channel;
}
impl RoleKind for ClientRoles {
    const TYPE: EntityType = EntityType::Client;
}

/// Paging only.
struct RolePage;
impl Accepted for RolePage {
    const KEYS: &'static [&'static str] = &["offset", "limit"];
}

/// `GET <entity>/roles/members`: paging, SuperMQ's member filters and order.
struct EntityMembersPage;
impl Accepted for EntityMembersPage {
    const KEYS: &'static [&'static str] = &[
        "offset",
        "limit",
        "role_id",
        "role_name",
        "actions",
        "access_type",
        "access_provider_id",
        "order",
        "dir",
    ];
}

pub(super) fn routes() -> Routes<AppState> {
    Routes::new()
        .route(
            "/domains/roles/available-actions",
            get(domain_available_actions),
        )
        .merge(kind_routes::<DomainRoles>("/domains/:id"))
        .merge(kind_routes::<GroupRoles>("/:domain/groups/:id"))
        .merge(kind_routes::<ChannelRoles>("/:domain/channels/:id"))
        .merge(kind_routes::<ClientRoles>("/:domain/clients/:id"))
        .route(
            "/:domain/groups/roles/available-actions",
            get(available_actions::<GroupRoles>),
        )
        .route(
            "/:domain/channels/roles/available-actions",
            get(available_actions::<ChannelRoles>),
        )
        .route(
            "/:domain/clients/roles/available-actions",
            get(available_actions::<ClientRoles>),
        )
}

fn kind_routes<K: RoleKind>(entity: &str) -> Routes<AppState> {
    let roles = format!("{entity}/roles");
    let role = format!("{roles}/:role");
    let roles_routes = post(create::<K>)
        .get(list::<K>)
        .delete(remove_entity_members::<K>);
    Routes::new()
        .route(&roles, roles_routes)
        .route(&format!("{roles}/members"), get(entity_members::<K>))
        .route(&role, get(view::<K>).put(update::<K>).delete(delete::<K>))
        .merge(held_routes::<K, Actions>(&role))
        .merge(held_routes::<K, Members>(&role))
}

/// `<role>/actions|members`, `.../delete`, `.../delete-all`.
fn held_routes<K: RoleKind, H: HeldKind>(role: &str) -> Routes<AppState> {
    let base = format!("{role}/{}", H::HELD.field());
    Routes::new()
        .route(&base, post(add_held::<K, H>).get(list_held::<K, H>))
        .route(&format!("{base}/delete"), post(remove_held::<K, H>))
        .route(
            &format!("{base}/delete-all"),
            post(remove_all_held::<K, H>).delete(remove_all_held::<K, H>),
        )
}

/// `<entity>`: the domain segment (absent on `/domains/{id}`) and the entity id.
#[derive(Deserialize)]
struct EntityPath {
    domain: Option<String>,
    id: String,
}

impl EntityPath {
    /// The domain the path names: its own segment, or the entity for `/domains/{id}`.
    fn domain(&self) -> &str {
        self.domain.as_deref().unwrap_or(&self.id)
    }
}

/// `<entity>/roles/{roleID}`.
#[derive(Deserialize)]
struct RolePath {
    domain: Option<String>,
    id: String,
    role: String,
}

impl RolePath {
    fn domain(&self) -> &str {
        self.domain.as_deref().unwrap_or(&self.id)
    }
}

#[derive(Deserialize)]
struct DomainOnly {
    domain: String,
}

/// What a role holds a list of; one set of handlers adds, lists and removes either.
#[derive(Clone, Copy)]
enum Held {
    Actions,
    Members,
}

impl Held {
    /// The body and answer field (`{actions}`, `{members}`) and the path segment.
    fn field(self) -> &'static str {
        match self {
            Held::Actions => "actions",
            Held::Members => "members",
        }
    }
}

/// Selects [`Held`] at compile time, as [`RoleKind`] selects the entity type.
trait HeldKind: Send + Sync + 'static {
    const HELD: Held;
}
struct Actions;
struct Members;
impl HeldKind for Actions {
    const HELD: Held = Held::Actions;
}
impl HeldKind for Members {
    const HELD: Held = Held::Members;
}

/// `{actions}` or `{members}`: the one a route of that kind reads.
#[derive(Deserialize)]
struct HeldBody {
    actions: Option<Vec<String>>,
    members: Option<Vec<String>>,
}

impl HeldBody {
    fn take(self, held: Held) -> Option<Vec<String>> {
        match held {
            Held::Actions => self.actions,
            Held::Members => self.members,
        }
    }
}

/// `DELETE <entity>/roles` body.
#[derive(Deserialize)]
struct EntityMembersBody {
    member_ids: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct RenameBody {
    name: Option<String>,
}

fn roles_of<K: RoleKind>(state: &AppState) -> Roles<'_> {
    state.roles(K::TYPE)
}

fn role_json(r: &Role) -> Value {
    serde_json::to_value(r).unwrap_or_else(|_| json!({}))
}

async fn available_actions<K: RoleKind>(
    State(state): State<AppState>,
    caller: Caller,
    Path(p): Path<DomainOnly>,
) -> Result<Json<Value>> {
    let actor = Actor::User(&caller);
    let actions = roles_of::<K>(&state)
        .available_actions(&actor, Some(&p.domain))
        .await?;
    Ok(Json(json!({ "available_actions": actions })))
}

/// `GET /domains/roles/available-actions` (no domain in the path).
async fn domain_available_actions(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>> {
    let actor = Actor::User(&caller);
    let actions = state
        .roles(EntityType::Domain)
        .available_actions(&actor, None)
        .await?;
    Ok(Json(json!({ "available_actions": actions })))
}

async fn create<K: RoleKind>(
    State(state): State<AppState>,
    caller: Caller,
    Path(p): Path<EntityPath>,
    Body(body): Body<NewRoleInput>,
) -> Result<(StatusCode, Json<Value>)> {
    let actor = Actor::User(&caller);
    let created = roles_of::<K>(&state)
        .create(&actor, p.domain(), &p.id, body)
        .await?;
    let mut out = role_json(&created.role);
    out["optional_actions"] = json!(created.actions);
    out["optional_members"] = json!(created.members);
    Ok((StatusCode::CREATED, Json(out)))
}

async fn list<K: RoleKind>(
    State(state): State<AppState>,
    caller: Caller,
    Path(p): Path<EntityPath>,
    params: Params<RolePage>,
) -> Result<Json<Value>> {
    let actor = Actor::User(&caller);
    let (total, q, roles) = roles_of::<K>(&state)
        .list(&actor, p.domain(), &p.id, &params.values)
        .await?;
    Ok(Json(page(
        "roles",
        total,
        &q,
        roles.iter().map(role_json).collect(),
    )))
}

async fn entity_members<K: RoleKind>(
    State(state): State<AppState>,
    caller: Caller,
    Path(p): Path<EntityPath>,
    params: Params<EntityMembersPage>,
) -> Result<Json<Value>> {
    let actor = Actor::User(&caller);
    let (total, q, members) = roles_of::<K>(&state)
        .entity_members(&actor, p.domain(), &p.id, &params.values)
        .await?;
    let items = members
        .into_iter()
        .map(|(member, roles)| {
            let roles: Vec<Value> = roles
                .iter()
                .map(|r| {
                    json!({
                        "role_id": r.role_id,
                        "role_name": r.role_name,
                        "actions": r.actions,
                        "access_type": r.access.as_str(),
                        "access_provider_id": r.provider,
                    })
                })
                .collect();
            json!({ "member_id": member, "roles": roles })
        })
        .collect();
    Ok(Json(page("members", total, &q, items)))
}

async fn view<K: RoleKind>(
    State(state): State<AppState>,
    caller: Caller,
    Path(p): Path<RolePath>,
) -> Result<Json<Value>> {
    let actor = Actor::User(&caller);
    let role = roles_of::<K>(&state)
        .view(&actor, p.domain(), &p.id, &p.role)
        .await?;
    Ok(Json(role_json(&role)))
}

async fn update<K: RoleKind>(
    State(state): State<AppState>,
    caller: Caller,
    Path(p): Path<RolePath>,
    Body(body): Body<RenameBody>,
) -> Result<Json<Value>> {
    let actor = Actor::User(&caller);
    let role = roles_of::<K>(&state)
        .update(&actor, p.domain(), &p.id, &p.role, body.name)
        .await?;
    Ok(Json(role_json(&role)))
}

async fn delete<K: RoleKind>(
    State(state): State<AppState>,
    caller: Caller,
    Path(p): Path<RolePath>,
) -> Result<StatusCode> {
    let actor = Actor::User(&caller);
    roles_of::<K>(&state)
        .delete(&actor, p.domain(), &p.id, &p.role)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Adds `H`'s items to a role: `{actions}` -> `{actions}`, `{members}` -> `{members}`.
async fn add_held<K: RoleKind, H: HeldKind>(
    State(state): State<AppState>,
    caller: Caller,
    Path(p): Path<RolePath>,
    Body(body): Body<HeldBody>,
) -> Result<Json<Value>> {
    let (actor, roles) = (Actor::User(&caller), roles_of::<K>(&state));
    let items = body.take(H::HELD);
    let (domain, role) = (p.domain(), &p.role);
    let added = match H::HELD {
        Held::Actions => {
            roles
                .add_actions(&actor, domain, &p.id, role, items)
                .await?
        }
        Held::Members => {
            roles
                .add_members(&actor, domain, &p.id, role, items)
                .await?
        }
    };
    Ok(Json(json!({ H::HELD.field(): added })))
}

/// A role's actions (all of them), or a page of its members.
async fn list_held<K: RoleKind, H: HeldKind>(
    State(state): State<AppState>,
    caller: Caller,
    Path(p): Path<RolePath>,
    params: Params<RolePage>,
) -> Result<Json<Value>> {
    let (actor, roles) = (Actor::User(&caller), roles_of::<K>(&state));
    let (domain, role) = (p.domain(), &p.role);
    Ok(Json(match H::HELD {
        Held::Actions => {
            let actions = roles.list_actions(&actor, domain, &p.id, role).await?;
            json!({ "actions": actions })
        }
        Held::Members => {
            let (total, q, members) = roles
                .list_members(&actor, domain, &p.id, role, &params.values)
                .await?;
            page(
                "members",
                total,
                &q,
                members.into_iter().map(Value::from).collect(),
            )
        }
    }))
}

/// Removes the listed items of `H` from a role (`.../delete`).
async fn remove_held<K: RoleKind, H: HeldKind>(
    State(state): State<AppState>,
    caller: Caller,
    Path(p): Path<RolePath>,
    Body(body): Body<HeldBody>,
) -> Result<StatusCode> {
    let items = Some(body.take(H::HELD).unwrap_or_default());
    remove::<K, H>(&state, &caller, &p, items).await
}

/// Removes every item of `H` from a role (`.../delete-all`).
async fn remove_all_held<K: RoleKind, H: HeldKind>(
    State(state): State<AppState>,
    caller: Caller,
    Path(p): Path<RolePath>,
) -> Result<StatusCode> {
    remove::<K, H>(&state, &caller, &p, None).await
}

async fn remove<K: RoleKind, H: HeldKind>(
    state: &AppState,
    caller: &Caller,
    p: &RolePath,
    items: Option<Vec<String>>,
) -> Result<StatusCode> {
    let (actor, roles) = (Actor::User(caller), roles_of::<K>(state));
    let (domain, role) = (p.domain(), &p.role);
    match H::HELD {
        Held::Actions => {
            roles
                .remove_actions(&actor, domain, &p.id, role, items)
                .await?
        }
        Held::Members => {
            roles
                .remove_members(&actor, domain, &p.id, role, items)
                .await?
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE <entity>/roles {member_ids}`: the users out of every role of the entity
/// (SuperMQ's `RemoveEntityMembers`).
async fn remove_entity_members<K: RoleKind>(
    State(state): State<AppState>,
    caller: Caller,
    Path(p): Path<EntityPath>,
    Body(body): Body<EntityMembersBody>,
) -> Result<StatusCode> {
    let actor = Actor::User(&caller);
    roles_of::<K>(&state)
        .remove_entity_members(&actor, p.domain(), &p.id, body.member_ids)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
