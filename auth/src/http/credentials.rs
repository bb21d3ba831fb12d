//! Credentials: a user's own secret, access and refresh tokens, password reset.

use axum::extract::{ConnectInfo, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::routing::{patch, post, put};
use axum::{Json, Router};
use magnetite_events::model::users as ev;
use serde::Deserialize;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::Instant;

use super::users::{check_email, check_password};
use super::{bearer_user, AppState, Body, Caller};
use crate::crypto::{Claims, TokenKind};
use crate::error::{AuthError, Result};
use crate::model::{Status, User};
use crate::passwords;
use crate::store::now_rfc3339;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/users/secret", patch(update_secret))
        .route("/users/tokens/issue", post(issue_token))
        .route("/users/tokens/refresh", post(refresh_token))
        .route("/password/reset-request", post(reset_request))
        .route("/password/reset", put(reset))
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
    if !passwords::verify(&old, Some(&hash)).await? {
        return Err(AuthError::Unauthorized("wrong secret".into()));
    }
    let mut user = caller.user.clone();
    user.audit.updated_at = Some(now_rfc3339());
    user.audit.updated_by = Some(user.id.clone());
    let new_hash = passwords::hash(&new).await?;
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

/// An access and a refresh token for `user`, bound to its current token epoch.
fn tokens(state: &AppState, user: &User) -> Result<Value> {
    let c = &state.config;
    let claims = |kind, ttl| Claims::new(&user.id, user.token_epoch, kind, ttl);
    let access = state
        .keys
        .sign_token(&claims(TokenKind::Access, c.access_ttl_secs))?;
    let refresh = state
        .keys
        .sign_token(&claims(TokenKind::Refresh, c.refresh_ttl_secs))?;
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
    check_login_size(&login, &password)?;
    // Counted before the hashing slot is awaited: concurrent guesses see each other.
    let attempt = state.login_throttle.begin(&login, Instant::now())?;
    let account = state.store.user_by_login(&login).await?;
    let hash = account.as_ref().map(|(_, hash)| hash.as_str());
    let verified = passwords::verify(&password, hash).await?;
    let Some((user, _)) = account.filter(|_| verified) else {
        drop(attempt);
        return Err(AuthError::Unauthorized("wrong username or password".into()));
    };
    attempt.succeeded();
    if user.status != Status::Enabled {
        return Err(AuthError::Unauthorized("user is disabled".into()));
    }
    state
        .store
        .record_event(&ev::user_issue_token(&user.email))
        .await?;
    Ok((StatusCode::CREATED, Json(tokens(&state, &user)?)))
}

/// The longest login (username or e-mail) and password a login may carry: no account
/// can have longer ones (usernames and e-mails are at most 254 bytes), so longer ones are
/// refused before any lookup, hashing or throttle bookkeeping.
pub const MAX_LOGIN_LEN: usize = 254;
pub use crate::passwords::MAX_PASSWORD_LEN;

fn check_login_size(login: &str, password: &str) -> Result<()> {
    if login.len() > MAX_LOGIN_LEN {
        return Err(AuthError::bad_request(format!(
            "username is longer than {MAX_LOGIN_LEN} bytes"
        )));
    }
    if password.len() > MAX_PASSWORD_LEN {
        return Err(AuthError::bad_request(format!(
            "password is longer than {MAX_PASSWORD_LEN} bytes"
        )));
    }
    Ok(())
}

/// Extracts the user of a refresh token.
struct RefreshCaller(User);

#[axum::async_trait]
impl axum::extract::FromRequestParts<AppState> for RefreshCaller {
    type Rejection = AuthError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        Ok(RefreshCaller(
            bearer_user(&parts.headers, state, TokenKind::Refresh).await?,
        ))
    }
}

async fn refresh_token(
    State(state): State<AppState>,
    RefreshCaller(user): RefreshCaller,
) -> Result<(StatusCode, Json<Value>)> {
    state.store.record_event(&ev::user_refresh_token()).await?;
    Ok((StatusCode::CREATED, Json(tokens(&state, &user)?)))
}

/// SuperMQ's UI also sends a `host`: like any unknown field it is accepted and ignored,
/// links use [`crate::platform::PlatformConfig::public_url`].
#[derive(Deserialize)]
struct ResetRequest {
    email: Option<String>,
}

/// Mails the reset link (SMTP or the mail dir, see [`crate::mail`]) under the
/// configured public URL. Answers the same whether or not the e-mail is known, so the
/// endpoint does not reveal who has an account; throttled per e-mail and per source
/// address ([`crate::reset_throttle`]) alike for known and unknown e-mails.
async fn reset_request(
    State(state): State<AppState>,
    peer: Option<ConnectInfo<SocketAddr>>,
    Body(body): Body<ResetRequest>,
) -> Result<(StatusCode, Json<Value>)> {
    let email = body
        .email
        .ok_or_else(|| AuthError::bad_request("missing email"))?;
    check_email(&email)?;
    let peer = peer.map(|ConnectInfo(addr)| addr.ip());
    state.reset_throttle.hit(&email, peer, Instant::now())?;
    if let Some((user, _)) = state.store.user_by_login(&email).await? {
        send_reset_mail(&state, &user).await?;
    }
    Ok((
        StatusCode::CREATED,
        Json(json!({ "msg": "Email with reset link is sent" })),
    ))
}

/// A reset token bound to the user's token epoch (so it dies with the first reset),
/// mailed under the public URL; the events name that URL as the host.
async fn send_reset_mail(state: &AppState, user: &User) -> Result<()> {
    let token = state.keys.sign_token(&Claims::new(
        &user.id,
        user.token_epoch,
        TokenKind::Reset,
        state.config.reset_ttl_secs,
    ))?;
    let host = &state.config.public_url;
    state.config.mailer.send_reset(user, host, &token)?;
    state
        .store
        .record_event(&ev::user_generate_reset_token(&user.email, host))
        .await?;
    state
        .store
        .record_event(&ev::user_send_password_reset(
            host,
            &user.email,
            &user.username,
        ))
        .await
}

#[derive(Deserialize)]
struct Reset {
    token: Option<String>,
    password: Option<String>,
    confirm_password: Option<String>,
}

/// Sets the new password and bumps the user's token epoch in one conditional update:
/// the reset token works once, and every access and refresh token issued before the
/// reset stops working.
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
    let invalid = || AuthError::Unauthorized("invalid or expired token".into());
    let claims = state.keys.verify_token(&token)?;
    if claims.typ != TokenKind::Reset {
        return Err(invalid());
    }
    let mut user = state.store.user(&claims.sub).await.map_err(|e| match e {
        AuthError::NotFound(_) => invalid(),
        other => other,
    })?;
    if user.token_epoch != claims.ep {
        return Err(invalid());
    }
    user.audit.updated_at = Some(now_rfc3339());
    user.audit.updated_by = Some(user.id.clone());
    let hash = passwords::hash(&password).await?;
    state
        .store
        .reset_password(&user, claims.ep, &hash, &ev::user_reset_secret())
        .await?;
    tracing::info!(user_id = %user.id, "password reset: earlier tokens of the user revoked");
    Ok((StatusCode::CREATED, Json(json!({}))))
}
