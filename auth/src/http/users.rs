//! `/users`: accounts, their profile, roles and status (credentials: `credentials.rs`).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use magnetite_events::model::users as ev;
use magnetite_events::Page;
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;

use super::{metadata_of, name_of, page, tags_of, AppState, Body, Caller};
use crate::error::{AuthError, Result};
use crate::model::{Audit, Role, Status, User};
use crate::store::list::ListQuery;
use crate::store::{new_id, now_rfc3339};

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

#[derive(Deserialize, Default)]
struct Credentials {
    username: Option<String>,
    identity: Option<String>,
    secret: Option<String>,
}

#[derive(Deserialize)]
struct CreateUser {
    first_name: Option<String>,
    last_name: Option<String>,
    email: Option<String>,
    name: Option<String>,
    credentials: Option<Credentials>,
    tags: Option<Vec<String>>,
    metadata: Option<Value>,
    status: Option<String>,
    role: Option<String>,
}

pub(crate) fn check_email(email: &str) -> Result<()> {
    let ok = email.len() <= 254
        && !email.contains(char::is_whitespace)
        && email
            .split_once('@')
            .is_some_and(|(a, b)| !a.is_empty() && b.contains('.'));
    if ok {
        Ok(())
    } else {
        Err(AuthError::bad_request("invalid email"))
    }
}

pub(crate) fn check_password(pw: &str) -> Result<()> {
    if pw.chars().count() < 8 {
        return Err(AuthError::bad_request(
            "password must be at least 8 characters",
        ));
    }
    if pw.len() > super::credentials::MAX_PASSWORD_LEN {
        return Err(AuthError::bad_request(format!(
            "password must be at most {} bytes",
            super::credentials::MAX_PASSWORD_LEN
        )));
    }
    Ok(())
}

/// Logins accept an e-mail or a username, so the two must never be confusable: a
/// username has no `@` (every e-mail has one), hence no username can equal or shadow
/// anyone's e-mail, and usernames are unique among themselves (database constraint).
fn check_username(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 254 || name.contains(char::is_whitespace) {
        return Err(AuthError::bad_request(
            "username must be 1 to 254 characters without spaces",
        ));
    }
    if name.contains('@') {
        return Err(AuthError::bad_request(
            "username must not contain '@': logins accept an e-mail or a username, so a username may not look like an e-mail",
        ));
    }
    Ok(())
}

/// Creates a user (used by the API and by the first-start admin bootstrap).
pub(crate) async fn create_user(
    state: &crate::platform::Platform,
    email: String,
    username: String,
    password: &str,
    role: Role,
    extra: (String, String, Vec<String>, Value, Status),
) -> Result<User> {
    check_email(&email)?;
    check_username(&username)?;
    check_password(password)?;
    let (first_name, last_name, tags, metadata, status) = extra;
    let user = User {
        id: new_id(),
        first_name,
        last_name,
        email,
        username,
        role,
        tags,
        metadata,
        status,
        audit: Audit {
            created_at: now_rfc3339(),
            updated_at: None,
            updated_by: None,
        },
        token_epoch: 0,
    };
    let hash = crate::passwords::hash(password).await?;
    let event = ev::user_create(&user.record());
    state
        .store
        .insert_user(&user, &hash, &event)
        .await
        .map_err(|e| match e {
            AuthError::Database(ref db) if crate::error::is_unique_violation(db) => {
                AuthError::Conflict("a user with this email or username already exists".into())
            }
            other => other,
        })?;
    Ok(user)
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<CreateUser>,
) -> Result<(StatusCode, Json<Value>)> {
    caller.require_admin()?;
    let creds = body.credentials.unwrap_or_default();
    let email = body
        .email
        .or(creds.identity)
        .ok_or_else(|| AuthError::bad_request("missing email"))?;
    let username = creds
        .username
        .or(body.name)
        .unwrap_or_else(|| email.clone());
    let password = creds
        .secret
        .ok_or_else(|| AuthError::bad_request("missing credentials.secret"))?;
    let role = match body.role.as_deref() {
        None => Role::User,
        Some(r) => {
            Role::parse(r).ok_or_else(|| AuthError::bad_request("role must be admin or user"))?
        }
    };
    let status = match body.status.as_deref() {
        None => Status::Enabled,
        Some(s) => Status::parse(s).ok_or_else(|| AuthError::bad_request("invalid status"))?,
    };
    let extra = (
        body.first_name.unwrap_or_default(),
        body.last_name.unwrap_or_default(),
        tags_of(body.tags)?,
        metadata_of(body.metadata)?,
        status,
    );
    let user = create_user(&state, email, username, &password, role, extra).await?;
    Ok((StatusCode::CREATED, Json(user.to_json())))
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>> {
    caller.require_admin()?;
    let q = ListQuery::parse(&params)?;
    let (total, users) = state.store.list_users(&q).await?;
    let p = Page {
        total,
        offset: q.offset,
        limit: q.limit,
        status: q.status.clone(),
    };
    state.store.record_event(&ev::user_list(&p)).await?;
    Ok(Json(page(
        "users",
        total,
        &q,
        users.iter().map(User::to_json).collect(),
    )))
}

async fn profile(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>> {
    state
        .store
        .record_event(&ev::user_view_profile(&caller.user.record()))
        .await?;
    Ok(Json(caller.user.to_json()))
}

async fn view(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    caller.require_self_or_admin(&id)?;
    let user = state.store.user(&id).await?;
    state
        .store
        .record_event(&ev::user_view(&user.record()))
        .await?;
    Ok(Json(user.to_json()))
}

/// Loads `id`, applies `change`, stamps the update, stores it with the event `make_event`.
async fn modify(
    state: &AppState,
    caller: &Caller,
    id: &str,
    change: impl FnOnce(&mut User) -> Result<()>,
    make_event: impl FnOnce(&User) -> magnetite_events::Event,
) -> Result<Json<Value>> {
    let mut user = state.store.user(id).await?;
    change(&mut user)?;
    user.audit.updated_at = Some(now_rfc3339());
    user.audit.updated_by = Some(caller.id().to_string());
    let event = make_event(&user);
    state
        .store
        .update_user(&user, None, &event)
        .await
        .map_err(|e| match e {
            AuthError::Database(ref db) if crate::error::is_unique_violation(db) => {
                AuthError::Conflict("a user with this email or username already exists".into())
            }
            other => other,
        })?;
    Ok(Json(user.to_json()))
}

#[derive(Deserialize)]
struct UpdateUser {
    first_name: Option<String>,
    last_name: Option<String>,
    metadata: Option<Value>,
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body<UpdateUser>,
) -> Result<Json<Value>> {
    caller.require_self_or_admin(&id)?;
    let metadata = body.metadata.map(|m| metadata_of(Some(m))).transpose()?;
    modify(
        &state,
        &caller,
        &id,
        |u| {
            if let Some(f) = body.first_name {
                u.first_name = f;
            }
            if let Some(l) = body.last_name {
                u.last_name = l;
            }
            if let Some(m) = metadata {
                u.metadata = m;
            }
            Ok(())
        },
        |u| ev::user_update(&u.record()),
    )
    .await
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
    caller.require_self_or_admin(&id)?;
    let email = body
        .email
        .ok_or_else(|| AuthError::bad_request("missing email"))?;
    check_email(&email)?;
    modify(
        &state,
        &caller,
        &id,
        |u| {
            u.email = email;
            Ok(())
        },
        |u| ev::user_update_identity(&u.record()),
    )
    .await
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
    caller.require_self_or_admin(&id)?;
    let username = name_of(body.username, "username")?;
    check_username(&username)?;
    modify(
        &state,
        &caller,
        &id,
        |u| {
            u.username = username;
            Ok(())
        },
        |u| ev::user_update(&u.record()),
    )
    .await
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
    caller.require_self_or_admin(&id)?;
    let tags = tags_of(body.tags)?;
    modify(
        &state,
        &caller,
        &id,
        |u| {
            u.tags = tags;
            Ok(())
        },
        |u| ev::user_update_tags(&u.record()),
    )
    .await
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
    caller.require_admin()?;
    let role = body
        .role
        .as_deref()
        .and_then(Role::parse)
        .ok_or_else(|| AuthError::bad_request("role must be admin or user"))?;
    modify(
        &state,
        &caller,
        &id,
        |u| {
            u.role = role;
            Ok(())
        },
        |u| ev::user_update_role(&u.record(), u.role.as_str()),
    )
    .await
}

async fn set_status(
    state: AppState,
    caller: Caller,
    id: String,
    status: Status,
) -> Result<Json<Value>> {
    caller.require_admin()?;
    if id == caller.id() {
        return Err(AuthError::bad_request("cannot change your own status"));
    }
    modify(
        &state,
        &caller,
        &id,
        |u| {
            u.status = status;
            Ok(())
        },
        |u| ev::user_remove(&u.record()),
    )
    .await
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

async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    caller.require_admin()?;
    if id == caller.id() {
        return Err(AuthError::bad_request("cannot delete yourself"));
    }
    let mut record = state.store.user(&id).await?.record();
    record.status = Some("deleted".into());
    record.updated_at = Some(now_rfc3339());
    record.updated_by = Some(caller.id().to_string());
    state
        .store
        .delete_user(&id, &ev::user_remove(&record))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
