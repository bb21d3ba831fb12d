//! `/pats` (SuperMQ's routes, verbs and status codes; the SDK's PATs module), and the
//! door through which a `Bearer pat_...` token becomes a [`Caller`]: verified by
//! `service::Pats::authenticate`, then let through only on a route of
//! `crate::pats::routes` whose scope one of the PAT's scopes covers.

use axum::extract::{MatchedPath, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Json;
use magnetite_httpkit::routes::{get, patch, Routes};
use magnetite_httpkit::{Accepted, Params, Path};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;

use super::{page, AppState, Body, Caller};
use crate::error::{AuthError, Result};
use crate::pats::{routes, ScopeInput};
use crate::platform::Platform;
use crate::service::pats::rfc3339_of;
use crate::service::NewPatInput;
use crate::store::list::ListQuery;
use crate::store::pats::{Pat, PatQuery, PatStatus, PatText};

pub(crate) use crate::pats::token::is_pat;

pub(super) fn routes() -> Routes<AppState> {
    Routes::new()
        .route("/pats", get(list).post(create).delete(delete_all))
        .route("/pats/:id", get(view).delete(delete))
        .route("/pats/:id/name", patch(update_text::<NameField>))
        .route(
            "/pats/:id/description",
            patch(update_text::<DescriptionField>),
        )
        .route("/pats/:id/secret/reset", patch(reset_secret))
        .route("/pats/:id/secret/revoke", patch(revoke))
        .route(
            "/pats/:id/scope",
            get(list_scopes).delete(remove_all_scopes),
        )
        .route("/pats/:id/scope/add", patch(add_scopes))
        .route("/pats/:id/scope/remove", patch(remove_scopes))
}

/// The 403 of a route no row of `crate::pats::routes` names.
pub(crate) fn not_on_this_route() -> AuthError {
    AuthError::Forbidden("personal access tokens are not accepted on this route".into())
}

/// The caller behind a PAT on the route `parts` matched (see the module doc).
pub(super) async fn caller_of_pat(
    platform: &Platform,
    token: &str,
    parts: &Parts,
) -> Result<Caller> {
    let (user, auth) = platform.pats().authenticate(token).await?;
    let matched = parts
        .extensions
        .get::<MatchedPath>()
        .map(MatchedPath::as_str);
    let actual = parts.uri.path();
    let row = matched
        .and_then(|path| routes::lookup(parts.method.as_str(), path, actual))
        .ok_or_else(not_on_this_route)?;
    let domain_id = match row.domain_segment(actual) {
        // Paths may name a domain by its route; scopes name it by id.
        Some(segment) => platform.store.domain(segment).await.ok().map(|d| d.id),
        None => None,
    };
    let wanted = row.wanted(actual, domain_id.as_deref());
    if !auth.scopes.iter().any(|s| s.authorizes(&wanted)) {
        return Err(AuthError::Forbidden(format!(
            "the personal access token has no scope for {} {} on this entity",
            row.entity_type.as_str(),
            row.operation
        )));
    }
    Ok(Caller {
        user,
        pat: Some(auth),
    })
}

/// A PAT as the API shows it; `secret` only right after create and reset.
fn pat_json(p: &Pat, secret: Option<&str>) -> Value {
    let now = chrono::Utc::now().timestamp();
    let status = match (p.revoked, p.expires_at <= now) {
        (true, _) => "revoked",
        (false, true) => "expired",
        (false, false) => "active",
    };
    let mut v = json!({
        "id": p.id,
        "user_id": p.user_id,
        "name": p.name,
        "description": p.description,
        "issued_at": p.issued_at,
        "expires_at": rfc3339_of(p.expires_at),
        "revoked": p.revoked,
        "status": status,
    });
    for (key, value) in [
        ("updated_at", p.updated_at.as_deref()),
        ("revoked_at", p.revoked_at.as_deref()),
        ("secret", secret),
    ] {
        if let Some(value) = value {
            v[key] = Value::from(value);
        }
    }
    v
}

/// `GET /pats` query names (SuperMQ's `PATSPageMeta`).
struct PatList;
impl Accepted for PatList {
    const KEYS: &'static [&'static str] = &["offset", "limit", "name", "id", "status"];
}

/// `GET /pats/{id}/scope` query names (SuperMQ's `ScopesPageMeta`).
struct ScopeList;
impl Accepted for ScopeList {
    const KEYS: &'static [&'static str] = &["offset", "limit", "pat_id", "id"];
}

/// Offset and limit as every list parses them (the other names are this route's own).
fn paging(values: &HashMap<String, String>) -> Result<ListQuery> {
    let mut paging_only = HashMap::new();
    for key in ["offset", "limit"] {
        if let Some(v) = values.get(key) {
            paging_only.insert(key.to_string(), v.clone());
        }
    }
    ListQuery::parse(&paging_only)
}

fn pat_query(values: &HashMap<String, String>) -> Result<PatQuery> {
    let q = paging(values)?;
    let status = match values.get("status").map(String::as_str) {
        None | Some("") | Some("all") => PatStatus::All,
        Some("active") => PatStatus::Active,
        Some("revoked") => PatStatus::Revoked,
        Some("expired") => PatStatus::Expired,
        Some(_) => {
            return Err(AuthError::bad_request(
                "status must be active, revoked, expired or all",
            ))
        }
    };
    let text = |k: &str| values.get(k).filter(|v| !v.is_empty()).cloned();
    Ok(PatQuery {
        offset: q.offset,
        limit: q.limit,
        status,
        name: text("name"),
        id: text("id"),
        now_secs: chrono::Utc::now().timestamp(),
    })
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<NewPatInput>,
) -> Result<(StatusCode, Json<Value>)> {
    let (pat, secret) = state.pats().create(&caller, body).await?;
    Ok((StatusCode::CREATED, Json(pat_json(&pat, Some(&secret)))))
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    params: Params<PatList>,
) -> Result<Json<Value>> {
    let q = pat_query(&params.values)?;
    let (total, pats) = state.pats().list(&caller, &q).await?;
    let items = pats.iter().map(|p| pat_json(p, None)).collect();
    let shown = ListQuery {
        offset: q.offset,
        limit: q.limit,
        ..ListQuery::default()
    };
    Ok(Json(page("pats", total, &shown, items)))
}

async fn view(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let pat = state.pats().view(&caller, &id).await?;
    Ok(Json(pat_json(&pat, None)))
}

/// Selects which text field a `PATCH /pats/{id}/<field>` changes.
trait TextField: Send + Sync + 'static {
    const FIELD: PatText;
}
struct NameField;
struct DescriptionField;
impl TextField for NameField {
    const FIELD: PatText = PatText::Name;
}
impl TextField for DescriptionField {
    const FIELD: PatText = PatText::Description;
}

#[derive(Deserialize)]
struct TextBody {
    name: Option<String>,
    description: Option<String>,
}

/// `PATCH /pats/{id}/name {name}` and `/description {description}`: 202 (SuperMQ).
async fn update_text<F: TextField>(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body<TextBody>,
) -> Result<(StatusCode, Json<Value>)> {
    let value = match F::FIELD {
        PatText::Name => body.name,
        PatText::Description => body.description,
    };
    let pat = state
        .pats()
        .update_text(&caller, &id, F::FIELD, value)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(pat_json(&pat, None))))
}

#[derive(Deserialize)]
struct ResetBody {
    duration: Option<String>,
}

async fn reset_secret(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body<ResetBody>,
) -> Result<Json<Value>> {
    let (pat, secret) = state
        .pats()
        .reset_secret(&caller, &id, body.duration)
        .await?;
    Ok(Json(pat_json(&pat, Some(&secret))))
}

async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    state.pats().revoke(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    state.pats().delete(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn delete_all(State(state): State<AppState>, caller: Caller) -> Result<StatusCode> {
    state.pats().delete_all(&caller).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct AddScopes {
    scopes: Option<Vec<ScopeInput>>,
}

async fn add_scopes(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body<AddScopes>,
) -> Result<StatusCode> {
    state.pats().add_scopes(&caller, &id, body.scopes).await?;
    Ok(StatusCode::OK)
}

#[derive(Deserialize)]
struct RemoveScopes {
    scopes_id: Option<Vec<String>>,
}

async fn remove_scopes(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body<RemoveScopes>,
) -> Result<StatusCode> {
    let ids = Some(body.scopes_id.unwrap_or_default());
    state.pats().remove_scopes(&caller, &id, ids).await?;
    Ok(StatusCode::OK)
}

async fn remove_all_scopes(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    state.pats().remove_scopes(&caller, &id, None).await?;
    Ok(StatusCode::OK)
}

async fn list_scopes(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    params: Params<ScopeList>,
) -> Result<Json<Value>> {
    let q = paging(&params.values)?;
    let (total, scopes) = state
        .pats()
        .list_scopes(&caller, &id, (q.offset, q.limit))
        .await?;
    let items = scopes.iter().map(|s| s.to_json()).collect();
    Ok(Json(page("scopes", total, &q, items)))
}
