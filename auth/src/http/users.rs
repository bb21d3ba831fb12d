//! `/users`: accounts, their profile, roles and status (credentials: `credentials.rs`);
//! thin handlers over `crate::service::Users`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use magnetite_httpkit::{Path, Query};
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;

use super::{page, AppState, Body, Caller};
use crate::access::Actor;
use crate::error::Result;
use crate::model::{Status, User};
use crate::service::{NewUserInput, UserChange};

pub(crate) use crate::service::users::create_user;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/users", post(create).get(list))
        .route("/users/profile", get(profile))
        .route("/users/:id", get(view).patch(update).delete(delete))
        .route("/users/:id/email", patch(update_email))
        .route("/users/:id/username", patch(update_username))
        .route("/users/:id/tags", patch(update_tags))
        .route("/users/:id/role", patch(update_role))
        .route("/users/:id/enable", post(enable))
        .route("/users/:id/disable", post(disable))
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<NewUserInput>,
) -> Result<(StatusCode, Json<Value>)> {
    let user = state.users().create(&Actor::User(&caller), body).await?;
    Ok((StatusCode::CREATED, Json(user.to_json())))
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>> {
    let (total, q, users) = state.users().list(&Actor::User(&caller), &params).await?;
    let items = users.iter().map(User::to_json).collect();
    Ok(Json(page("users", total, &q, items)))
}

async fn profile(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>> {
    Ok(Json(state.users().profile(&caller).await?.to_json()))
}

async fn view(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let user = state.users().view(&Actor::User(&caller), &id).await?;
    Ok(Json(user.to_json()))
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body<UserChange>,
) -> Result<Json<Value>> {
    let user = state
        .users()
        .update(&Actor::User(&caller), &id, body)
        .await?;
    Ok(Json(user.to_json()))
}

#[derive(Deserialize)]
struct EmailBody {
    email: Option<String>,
}

async fn update_email(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body<EmailBody>,
) -> Result<Json<Value>> {
    let user = state
        .users()
        .update_email(&Actor::User(&caller), &id, body.email)
        .await?;
    Ok(Json(user.to_json()))
}

#[derive(Deserialize)]
struct UsernameBody {
    username: Option<String>,
}

async fn update_username(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body<UsernameBody>,
) -> Result<Json<Value>> {
    let user = state
        .users()
        .update_username(&Actor::User(&caller), &id, body.username)
        .await?;
    Ok(Json(user.to_json()))
}

#[derive(Deserialize)]
struct TagsBody {
    tags: Option<Vec<String>>,
}

async fn update_tags(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body<TagsBody>,
) -> Result<Json<Value>> {
    let user = state
        .users()
        .update_tags(&Actor::User(&caller), &id, body.tags)
        .await?;
    Ok(Json(user.to_json()))
}

#[derive(Deserialize)]
struct RoleBody {
    role: Option<String>,
}

async fn update_role(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body<RoleBody>,
) -> Result<Json<Value>> {
    let user = state
        .users()
        .update_role(&Actor::User(&caller), &id, body.role.as_deref())
        .await?;
    Ok(Json(user.to_json()))
}

async fn enable(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let user = state
        .users()
        .set_status(&Actor::User(&caller), &id, Status::Enabled)
        .await?;
    Ok(Json(user.to_json()))
}

async fn disable(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let user = state
        .users()
        .set_status(&Actor::User(&caller), &id, Status::Disabled)
        .await?;
    Ok(Json(user.to_json()))
}

async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    state.users().delete(&Actor::User(&caller), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
