//! Group hierarchy routes: an entity's parent group, a group's children, the hierarchy
//! around a group (thin handlers over `crate::service::Entities`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use magnetite_httpkit::routes::{delete, get, post, Routes};
use magnetite_httpkit::{Params, Path};
use serde::Deserialize;
use serde_json::Value;

use super::{render_page, service, KindOf};
use crate::access::Actor;
use crate::error::{AuthError, Result};
use crate::http::{queries, AppState, Attach, Body, Caller, Detach, Way};
use crate::model::Kind;
use crate::service::group_hierarchy::HierarchyQuery;

pub(super) fn routes() -> Routes<AppState> {
    Routes::new()
        .route(
            "/:domain/groups/:id/children",
            get(children)
                .post(link_children::<Attach>)
                .delete(link_children::<Detach>),
        )
        .route(
            "/:domain/groups/:id/children/all",
            delete(remove_all_children),
        )
        .route("/:domain/groups/:id/hierarchy", get(hierarchy))
}

/// `{base}/:id/parent` for one kind, `base` being `/:domain/<kind>`.
pub(super) fn parent_routes<K: KindOf>(base: &str) -> Routes<AppState> {
    Routes::new().route(
        &format!("{base}/:id/parent"),
        post(set_parent::<K>).delete(remove_parent::<K>),
    )
}

async fn children(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, id)): Path<(String, String)>,
    params: Params<queries::ChildrenList>,
) -> Result<Json<Value>> {
    let listed = state
        .groups()
        .list(
            &Actor::User(&caller),
            &domain,
            &params.values,
            Some((Kind::Group, &id)),
        )
        .await?;
    Ok(render_page(Kind::Group, listed))
}

#[derive(Deserialize)]
struct ParentBody {
    parent_id: Option<String>,
    parent_group_id: Option<String>,
}

async fn set_parent<K: KindOf>(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, id)): Path<(String, String)>,
    Body(body): Body<ParentBody>,
) -> Result<Json<Value>> {
    let parent = body
        .parent_id
        .or(body.parent_group_id)
        .ok_or_else(|| AuthError::bad_request("missing parent_id"))?;
    let e = service::<K>(&state)
        .set_parent(&Actor::User(&caller), &domain, &id, parent)
        .await?;
    Ok(Json(e.to_json(None)))
}

async fn remove_parent<K: KindOf>(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, id)): Path<(String, String)>,
) -> Result<StatusCode> {
    service::<K>(&state)
        .remove_parent(&Actor::User(&caller), &domain, &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct ChildrenBody {
    children_ids: Option<Vec<String>>,
}

impl ChildrenBody {
    fn ids(self) -> Result<Vec<String>> {
        self.children_ids
            .filter(|c| !c.is_empty())
            .ok_or_else(|| AuthError::bad_request("missing children_ids"))
    }
}

/// `POST|DELETE /{d}/groups/{id}/children`.
async fn link_children<W: Way>(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, id)): Path<(String, String)>,
    Body(body): Body<ChildrenBody>,
) -> Result<StatusCode> {
    let children = body.ids()?;
    state
        .groups()
        .link_children(W::LINK, &Actor::User(&caller), &domain, &id, &children)
        .await?;
    Ok(W::STATUS)
}

/// `DELETE /{d}/groups/{id}/children/all`: 204.
async fn remove_all_children(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, id)): Path<(String, String)>,
) -> Result<StatusCode> {
    state
        .groups()
        .remove_all_children(&Actor::User(&caller), &domain, &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /{d}/groups/{id}/hierarchy?level=&direction=&tree=`.
async fn hierarchy(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, id)): Path<(String, String)>,
    params: Params<queries::Hierarchy>,
) -> Result<Json<Value>> {
    let q = HierarchyQuery::parse(&params.values)?;
    let view = state
        .groups()
        .hierarchy(&Actor::User(&caller), &domain, &id, q)
        .await?;
    Ok(Json(view))
}
