//! Credentials: a user's own secret, access and refresh tokens, password reset, e-mail
//! verification; thin handlers over `crate::service::{Credentials, Verification}`.

use axum::extract::{ConnectInfo, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use magnetite_httpkit::routes::{get, patch, post, put, Routes};
use magnetite_httpkit::{Accepted, Params};
use serde::Deserialize;
use serde_json::{json, Value};
use std::net::SocketAddr;

use super::{bearer_token, bearer_user, AppState, Body, Caller};
use crate::crypto::TokenKind;
use crate::error::{AuthError, Result};
use crate::model::User;
use crate::service::credentials::TokenPair;

pub(super) fn routes() -> Routes<AppState> {
    Routes::new()
        .route("/users/secret", patch(update_secret))
        .route("/users/tokens/issue", post(issue_token))
        .route("/users/tokens/refresh", post(refresh_token))
        .route("/password/reset-request", post(reset_request))
        .route("/password/reset", put(reset))
        .route("/users/send-verification", post(send_verification))
        .route("/verify-email", get(verify_email))
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
    let user = state
        .credentials()
        .update_secret(&caller, body.old_secret, body.new_secret)
        .await?;
    Ok(Json(user.to_json()))
}

fn created_tokens(pair: TokenPair) -> (StatusCode, Json<Value>) {
    let body = json!({
        "access_token": pair.access,
        "refresh_token": pair.refresh,
        "access_type": "Bearer",
    });
    (StatusCode::CREATED, Json(body))
}

/// Magistrala and SuperMQ clients name the two fields differently; any spelling is
/// accepted. No `Debug`: it holds a password.
#[derive(Deserialize)]
struct Login {
    username: Option<String>,
    email: Option<String>,
    identity: Option<String>,
    password: Option<String>,
    secret: Option<String>,
}

async fn issue_token(
    State(state): State<AppState>,
    Body(body): Body<Login>,
) -> Result<(StatusCode, Json<Value>)> {
    let login = body.username.or(body.email).or(body.identity);
    let password = body.password.or(body.secret);
    let pair = state.credentials().issue_token(login, password).await?;
    Ok(created_tokens(pair))
}

/// Extracts the user of a refresh token.
struct RefreshCaller(User);

/// Documented as a bearer route: the refresh token is the bearer.
impl magnetite_httpkit::routes::DocArg for RefreshCaller {
    fn bearer() -> bool {
        true
    }
}

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
    let pair = state.credentials().refresh_token(&user).await?;
    Ok(created_tokens(pair))
}

/// SuperMQ's UI also sends a `host`: like any unknown field it is accepted and ignored;
/// the link base comes from the configuration, chosen by `Referer`.
#[derive(Deserialize)]
struct ResetRequest {
    email: Option<String>,
}

/// `Referer` (SuperMQ's UI) chooses among the configured link bases.
async fn reset_request(
    State(state): State<AppState>,
    peer: Option<ConnectInfo<SocketAddr>>,
    headers: HeaderMap,
    Body(body): Body<ResetRequest>,
) -> Result<(StatusCode, Json<Value>)> {
    let peer = peer.map(|ConnectInfo(addr)| addr.ip());
    let referer = headers.get(header::REFERER).map(|v| {
        v.to_str()
            .map_err(|_| AuthError::bad_request("Referer is not text"))
    });
    let referer = referer.transpose()?;
    let credentials = state.credentials();
    credentials.request_reset(body.email, peer, referer).await?;
    let body = json!({ "msg": "Email with reset link is sent" });
    Ok((StatusCode::CREATED, Json(body)))
}

/// SuperMQ sends the token as `Authorization: Bearer`, the earlier generation in the
/// body; both are accepted, the header first. No `Debug`: it holds a token and a
/// password.
#[derive(Deserialize)]
struct Reset {
    token: Option<String>,
    password: Option<String>,
    confirm_password: Option<String>,
}

async fn reset(
    State(state): State<AppState>,
    headers: HeaderMap,
    Body(body): Body<Reset>,
) -> Result<(StatusCode, Json<Value>)> {
    let Reset {
        token,
        password,
        confirm_password,
    } = body;
    let token = bearer_token(&headers).map(str::to_string).or(token);
    state
        .credentials()
        .reset(token, password, confirm_password)
        .await?;
    Ok((StatusCode::CREATED, Json(json!({}))))
}

/// `POST /users/send-verification`: 200 `{}` once the link is on its way.
async fn send_verification(
    State(state): State<AppState>,
    caller: Caller,
    peer: Option<ConnectInfo<SocketAddr>>,
) -> Result<Json<Value>> {
    let peer = peer.map(|ConnectInfo(addr)| addr.ip());
    state.verification().send(&caller, peer).await?;
    Ok(Json(json!({})))
}

/// `GET /verify-email` takes the link's `token` and nothing else.
struct VerifyQuery;
impl Accepted for VerifyQuery {
    const KEYS: &'static [&'static str] = &["token"];
}

/// `GET /verify-email?token=`: no bearer, the token is the credential; 200 `{}`.
async fn verify_email(
    State(state): State<AppState>,
    params: Params<VerifyQuery>,
) -> Result<Json<Value>> {
    let token = params.values.get("token").map(String::as_str);
    state.verification().verify(token).await?;
    Ok(Json(json!({})))
}
