//! The platform's HTTP API (Magistrala / SuperMQ paths): users and tokens, domains,
//! clients, channels, groups, connections. Requests go route -> service -> store: a
//! handler extracts (bearer token -> [`Caller`], path, body), calls `crate::service`
//! (access, validation, event, write + outbox row in one transaction, cache), and
//! renders; no handler touches the store, the keys or the event model.

mod connections;
mod credentials;
mod domains;
mod entities;
mod held_roles;
mod invitations;
mod pats;
mod queries;
mod roles;
mod users;

use axum::async_trait;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use magnetite_httpkit::routes::Routes;
use serde_json::{json, Value};
use std::sync::Arc;

use crate::crypto::TokenKind;
use crate::error::AuthError;
use crate::model::{Status, User};
use crate::platform::Platform;
use crate::service::Link;
use axum::http::StatusCode;

pub use crate::access::{Actor, Caller, Need};
/// The shared JSON body extractor, at the path this crate's handlers use.
pub(crate) use magnetite_httpkit::Body;
pub(crate) use users::create_user as create_admin;

pub type AppState = Arc<Platform>;

/// Every route of the platform API.
pub fn router(platform: Arc<Platform>) -> Routes {
    Routes::new()
        .merge(users::routes())
        .merge(credentials::routes())
        .merge(domains::routes())
        .merge(entities::routes())
        .merge(connections::routes())
        .merge(roles::routes())
        .merge(invitations::routes())
        .merge(pats::routes())
        .with_state(platform)
}

/// A router state that reaches the platform, so the handlers of any crate (auth's on
/// `Arc<Platform>`, bootstrap's and notifications' on their services) take a [`Caller`]
/// without a wrapper extractor of their own.
pub trait PlatformState: Send + Sync {
    fn platform_of_state(&self) -> &Platform;
}

impl PlatformState for Platform {
    fn platform_of_state(&self) -> &Platform {
        self
    }
}

impl<T: PlatformState> PlatformState for Arc<T> {
    fn platform_of_state(&self) -> &Platform {
        T::platform_of_state(self)
    }
}

/// The authenticated user behind `Authorization: Bearer <access token>`.
#[async_trait]
impl<S: PlatformState> FromRequestParts<S> for Caller {
    type Rejection = AuthError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AuthError> {
        let platform = state.platform_of_state();
        if let Some(token) = bearer_token(&parts.headers).filter(|t| pats::is_pat(t)) {
            return pats::caller_of_pat(platform, token, parts).await;
        }
        let user = bearer_user(&parts.headers, platform, TokenKind::Access).await?;
        Ok(Caller::new(user))
    }
}

/// Documented as needing `Authorization: Bearer <access token>` (`/openapi.json`).
impl magnetite_httpkit::routes::DocArg for Caller {
    fn bearer() -> bool {
        true
    }
}

impl Caller {
    /// The user behind `Authorization: Bearer <access token>` in `headers`, for
    /// routes other crates serve (the event log) that cannot use the extractor. No
    /// route row names them, so a personal access token is refused here.
    pub async fn from_headers(
        platform: &Platform,
        headers: &axum::http::HeaderMap,
    ) -> Result<Caller, AuthError> {
        if let Some(token) = bearer_token(headers).filter(|t| pats::is_pat(t)) {
            platform.pats().authenticate(token).await?;
            return Err(pats::not_on_this_route());
        }
        let user = bearer_user(headers, platform, TokenKind::Access).await?;
        Ok(Caller::new(user))
    }
}

/// Resolves a bearer token of `kind` to an enabled user.
pub(crate) async fn bearer_user(
    headers: &axum::http::HeaderMap,
    state: &Platform,
    kind: TokenKind,
) -> Result<User, AuthError> {
    let token = bearer_token(headers)
        .ok_or_else(|| AuthError::Unauthorized("missing bearer token".into()))?;
    state.credentials().user_of_token(token, kind).await
}

/// The token of `Authorization: Bearer <token>`, if the header is there.
pub(crate) fn bearer_token(headers: &axum::http::HeaderMap) -> Option<&str> {
    let header = headers.get(axum::http::header::AUTHORIZATION)?;
    let token = header.to_str().ok()?.strip_prefix("Bearer ")?;
    Some(token.trim())
}

/// Selects enable or disable at compile time, so one `set_status` handler serves both
/// routes of users, domains and each entity kind (`post(set_status::<Enable>)`), and
/// a domain's freeze.
pub(crate) trait Switch: Send + Sync + 'static {
    const STATUS: Status;
}
pub(crate) struct Enable;
pub(crate) struct Disable;
impl Switch for Enable {
    const STATUS: Status = Status::Enabled;
}
impl Switch for Disable {
    const STATUS: Status = Status::Disabled;
}
/// Domains only (`POST /domains/{id}/freeze`, platform admins).
pub(crate) struct Freeze;
impl Switch for Freeze {
    const STATUS: Status = Status::Freezed;
}

/// Selects attach or detach at compile time, so one handler serves connect and
/// disconnect, add and remove children: same extraction, the service's `Link`, and the
/// status the API has always answered (201 attach, 204 detach).
pub(crate) trait Way: Send + Sync + 'static {
    const LINK: Link;
    const STATUS: StatusCode;
}
pub(crate) struct Attach;
pub(crate) struct Detach;
impl Way for Attach {
    const LINK: Link = Link::Attach;
    const STATUS: StatusCode = StatusCode::CREATED;
}
impl Way for Detach {
    const LINK: Link = Link::Detach;
    const STATUS: StatusCode = StatusCode::NO_CONTENT;
}

/// `{"<key>": [...], "total", "offset", "limit"}`.
pub(crate) fn page(
    key: &str,
    total: u64,
    q: &crate::store::list::ListQuery,
    items: Vec<Value>,
) -> Value {
    let mut v = json!({ "total": total, "offset": q.offset, "limit": q.limit });
    v[key] = Value::Array(items);
    v
}
