//! `/users`, `/users/tokens/*`, `/password/*`.

use axum::extract::{Path, Query, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::routing::{get, patch, post, put};
use axum::{Json, Router};
use magnetite_events::model::users as ev;
use magnetite_events::Page;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;

use super::{bearer_user, metadata_of, name_of, page, tags_of, AppState, Body, Caller};
use crate::crypto::{hash_password, verify_password, Claims, TokenKind};
use crate::error::{AuthError, Result};
use crate::model::{Audit, Role, Status, User};
use crate::store::list::ListQuery;
use crate::store::{new_id, now_rfc3339};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/users", post(create).get(list))
        .route("/users/profile", get(profile))
        .route("/users/secret", patch(update_secret))
        .route("/users/tokens/issue", post(issue_token))
        .route("/users/tokens/refresh", post(refresh_token))
        .route("/users/:id", get(view).patch(update).delete(delete))
        .route("/users/:id/email", patch(update_email))
        .route("/users/:id/username", patch(update_username))
        .route("/users/:id/tags", patch(update_tags))
        .route("/users/:id/role", patch(update_role))
        .route("/users/:id/enable", post(enable))
        .route("/users/:id/disable", post(disable))
        .route("/password/reset-request", post(reset_request))
        .route("/password/reset", put(reset))
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
    Ok(())
}

fn check_username(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 254 || name.contains(char::is_whitespace) {
        return Err(AuthError::bad_request(
            "username must be 1 to 254 characters without spaces",
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
    };
    let hash = hash_password(password)?;
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

#[derive(Deserialize)]
struct SecretBody {
    old_secret: Option<String>,
    new_secret: Option<String>,
}

async fn update_secret(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<SecretBody>,
) -> Result<Json<Value>> {
    let (Some(old), Some(new)) = (body.old_secret, body.new_secret) else {
        return Err(AuthError::bad_request(
            "old_secret and new_secret are required",
        ));
    };
    check_password(&new)?;
    let (_, hash) = state
        .store
        .user_by_login(&caller.user.email)
        .await?
        .ok_or(AuthError::NotFound("user"))?;
    if !verify_password(&old, &hash) {
        return Err(AuthError::Unauthorized("wrong secret".into()));
    }
    let mut user = caller.user.clone();
    user.audit.updated_at = Some(now_rfc3339());
    user.audit.updated_by = Some(user.id.clone());
    let new_hash = hash_password(&new)?;
    state
        .store
        .update_user(
            &user,
            Some(&new_hash),
            &ev::user_update_secret(&user.record()),
        )
        .await?;
    Ok(Json(user.to_json()))
}

#[derive(Deserialize)]
struct Login {
    username: Option<String>,
    email: Option<String>,
    identity: Option<String>,
    password: Option<String>,
    secret: Option<String>,
}

fn tokens(state: &AppState, user_id: &str) -> Result<Value> {
    let c = &state.config;
    let access =
        state
            .keys
            .sign_token(&Claims::new(user_id, TokenKind::Access, c.access_ttl_secs))?;
    let refresh = state.keys.sign_token(&Claims::new(
        user_id,
        TokenKind::Refresh,
        c.refresh_ttl_secs,
    ))?;
    Ok(json!({ "access_token": access, "refresh_token": refresh, "access_type": "Bearer" }))
}

async fn issue_token(
    State(state): State<AppState>,
    Body(body): Body<Login>,
) -> Result<(StatusCode, Json<Value>)> {
    let login = body
        .username
        .or(body.email)
        .or(body.identity)
        .ok_or_else(|| AuthError::bad_request("missing username"))?;
    let password = body
        .password
        .or(body.secret)
        .ok_or_else(|| AuthError::bad_request("missing password"))?;
    let denied = || AuthError::Unauthorized("wrong username or password".into());
    let (user, hash) = state
        .store
        .user_by_login(&login)
        .await?
        .ok_or_else(denied)?;
    if !verify_password(&password, &hash) {
        return Err(denied());
    }
    if user.status != Status::Enabled {
        return Err(AuthError::Unauthorized("user is disabled".into()));
    }
    state
        .store
        .record_event(&ev::user_issue_token(&user.email))
        .await?;
    Ok((StatusCode::CREATED, Json(tokens(&state, &user.id)?)))
}

/// Extracts the user of a refresh token.
struct RefreshCaller(User);

#[axum::async_trait]
impl axum::extract::FromRequestParts<AppState> for RefreshCaller {
    type Rejection = AuthError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        Ok(RefreshCaller(
            bearer_user(parts, state, TokenKind::Refresh).await?,
        ))
    }
}

async fn refresh_token(
    State(state): State<AppState>,
    RefreshCaller(user): RefreshCaller,
) -> Result<(StatusCode, Json<Value>)> {
    state.store.record_event(&ev::user_refresh_token()).await?;
    Ok((StatusCode::CREATED, Json(tokens(&state, &user.id)?)))
}

#[derive(Deserialize)]
struct ResetRequest {
    email: Option<String>,
    host: Option<String>,
}

/// Writes the reset link as a mail file in the mail dir; answers the same whether or
/// not the e-mail is known, so the endpoint does not reveal who has an account.
async fn reset_request(
    State(state): State<AppState>,
    Body(body): Body<ResetRequest>,
) -> Result<(StatusCode, Json<Value>)> {
    let email = body
        .email
        .ok_or_else(|| AuthError::bad_request("missing email"))?;
    check_email(&email)?;
    let host = body.host.unwrap_or_else(|| "http://localhost:9000".into());
    if let Some((user, _)) = state.store.user_by_login(&email).await? {
        let token = state.keys.sign_token(&Claims::new(
            &user.id,
            TokenKind::Reset,
            state.config.reset_ttl_secs,
        ))?;
        let path = crate::mail::write_reset_mail(&state.config.mail_dir, &user, &host, &token)?;
        tracing::info!(user_id = %user.id, path = %path.display(), "password reset mail written");
        state
            .store
            .record_event(&ev::user_generate_reset_token(&email, &host))
            .await?;
        state
            .store
            .record_event(&ev::user_send_password_reset(&host, &email, &user.username))
            .await?;
    }
    Ok((
        StatusCode::CREATED,
        Json(json!({ "msg": "Email with reset link is sent" })),
    ))
}

#[derive(Deserialize)]
struct Reset {
    token: Option<String>,
    password: Option<String>,
    confirm_password: Option<String>,
}

async fn reset(
    State(state): State<AppState>,
    Body(body): Body<Reset>,
) -> Result<(StatusCode, Json<Value>)> {
    let (Some(token), Some(password)) = (body.token, body.password) else {
        return Err(AuthError::bad_request("token and password are required"));
    };
    if body
        .confirm_password
        .as_deref()
        .is_some_and(|c| c != password)
    {
        return Err(AuthError::bad_request(
            "password and confirm_password differ",
        ));
    }
    check_password(&password)?;
    let claims = state.keys.verify_token(&token)?;
    if claims.typ != TokenKind::Reset {
        return Err(AuthError::Unauthorized("invalid or expired token".into()));
    }
    let mut user = state.store.user(&claims.sub).await?;
    user.audit.updated_at = Some(now_rfc3339());
    user.audit.updated_by = Some(user.id.clone());
    let hash = hash_password(&password)?;
    state
        .store
        .update_user(&user, Some(&hash), &ev::user_reset_secret())
        .await?;
    Ok((StatusCode::CREATED, Json(json!({}))))
}
