//! Group hierarchy: an entity's parent group, a group's children.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;

use super::{ev_update, list_scoped, modify, KindOf};
use crate::error::{AuthError, Result};
use crate::http::access::Need;
use crate::http::{AppState, Body, Caller};
use crate::model::Kind;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route(
        "/:domain/groups/:id/children",
        get(children).post(add_children).delete(remove_children),
    )
}

/// `{base}/:id/parent` for one kind, `base` being `/:domain/<kind>`.
pub(super) fn parent_routes<K: KindOf>(base: &str) -> Router<AppState> {
    Router::new().route(
        &format!("{base}/:id/parent"),
        post(set_parent::<K>).delete(remove_parent::<K>),
    )
}

async fn children(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, id)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>> {
    list_scoped(
        &state,
        &caller,
        Kind::Group,
        &domain,
        &params,
        Some((Kind::Group, &id)),
    )
    .await
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
    let d = caller.domain(&state, &domain, Need::Write).await?;
    let ancestors = state.store.group_ancestors(&d.id, &parent).await?;
    if K::KIND == Kind::Group && ancestors.contains(&id) {
        return Err(AuthError::Conflict(
            "a group cannot be its own ancestor".into(),
        ));
    }
    let e = modify(
        &state,
        &caller,
        (K::KIND, &domain, &id),
        |e| {
            e.parent_id = Some(parent);
            Ok(())
        },
        ev_update,
    )
    .await?;
    Ok(Json(e.to_json(None)))
}

async fn remove_parent<K: KindOf>(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, id)): Path<(String, String)>,
) -> Result<StatusCode> {
    modify(
        &state,
        &caller,
        (K::KIND, &domain, &id),
        |e| {
            e.parent_id = None;
            Ok(())
        },
        ev_update,
    )
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

async fn add_children(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, id)): Path<(String, String)>,
    Body(body): Body<ChildrenBody>,
) -> Result<StatusCode> {
    let children = body.ids()?;
    let d = caller.domain(&state, &domain, Need::Write).await?;
    let ancestors = state.store.group_ancestors(&d.id, &id).await?;
    // Every child must be a group of this domain before any changes: a foreign or
    // unknown id is a 404 with nothing modified.
    for child in &children {
        state.store.entity(Kind::Group, &d.id, child).await?;
    }
    for child in &children {
        if ancestors.contains(child) {
            return Err(AuthError::Conflict(
                "a group cannot be its own ancestor".into(),
            ));
        }
        let parent = id.clone();
        modify(
            &state,
            &caller,
            (Kind::Group, &domain, child),
            |e| {
                e.parent_id = Some(parent);
                Ok(())
            },
            ev_update,
        )
        .await?;
    }
    Ok(StatusCode::CREATED)
}

async fn remove_children(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, id)): Path<(String, String)>,
    Body(body): Body<ChildrenBody>,
) -> Result<StatusCode> {
    let children = body.ids()?;
    let d = caller.domain(&state, &domain, Need::Write).await?;
    for child in &children {
        state.store.entity(Kind::Group, &d.id, child).await?;
    }
    for child in &children {
        let parent = id.clone();
        modify(
            &state,
            &caller,
            (Kind::Group, &domain, child),
            |e| {
                if e.parent_id.as_deref() != Some(parent.as_str()) {
                    return Err(AuthError::bad_request("not a child of this group"));
                }
                e.parent_id = None;
                Ok(())
            },
            ev_update,
        )
        .await?;
    }
    Ok(StatusCode::NO_CONTENT)
}
