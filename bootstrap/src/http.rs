//! Magistrala's bootstrap HTTP API.
//!
//! The router's state is `Arc<BootstrapService>` and it is closed with `.with_state`,
//! so [`router`] returns stateless `Routes` (served and documented) that merge next to
//! auth's. Auth's [`Caller`] extractor is defined for state `Arc<Platform>`; the
//! [`User`] extractor here delegates to it with the service's platform, so a bearer
//! token is checked exactly as on every other platform route.

use axum::extract::State;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, LOCATION};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use magnetite_auth::access::Caller;
use magnetite_auth::http::PlatformState;
use magnetite_auth::store::list::MAX_OFFSET;
use magnetite_httpkit::routes::{get, patch, put, Routes};
use magnetite_httpkit::{Accepted, Body, Params, Path};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;

use crate::error::BootstrapError;
use crate::service::device::KeyForm;
use crate::service::manage::{CreateConfig, UpdateCerts, UpdateConfig};
use crate::store::configs::ListFilter;
use crate::{BootstrapService, Config};

type AppState = Arc<BootstrapService>;
type Result<T, E = BootstrapError> = std::result::Result<T, E>;

/// Default and largest page of `GET .../configs` (Magistrala's).
const DEFAULT_LIMIT: u64 = 10;
const MAX_LIMIT: u64 = 100;

/// Every bootstrap route, ready to merge.
pub fn router(service: Arc<BootstrapService>) -> Routes {
    Routes::new()
        .route("/:domain/clients/configs", get(list).post(create))
        .route(
            "/:domain/clients/configs/:client_id",
            get(view).put(update).delete(remove),
        )
        .route(
            "/:domain/clients/configs/certs/:client_id",
            patch(update_certs),
        )
        .route(
            "/:domain/clients/configs/connections/:client_id",
            put(update_connections),
        )
        .route("/:domain/clients/state/:client_id", put(change_state))
        .route("/clients/bootstrap/:external_id", get(bootstrap))
        .route(
            "/clients/bootstrap/secure/:external_id",
            get(bootstrap_secure),
        )
        .with_state(service)
}

/// Handlers take auth's [`Caller`] straight from this crate's state.
impl PlatformState for BootstrapService {
    fn platform_of_state(&self) -> &magnetite_auth::Platform {
        self.platform()
    }
}

async fn create(
    State(svc): State<AppState>,
    caller: Caller,
    Path(domain): Path<String>,
    Body(body): Body<CreateConfig>,
) -> Result<Response> {
    let c = svc.create(&caller, &domain, body).await?;
    let location = format!("/clients/configs/{}", c.client_id);
    Ok((
        StatusCode::CREATED,
        [(LOCATION, location)],
        Json(c.to_json()),
    )
        .into_response())
}

/// The names `GET .../configs` takes (Magistrala's); any other is a 400.
struct ConfigList;
impl Accepted for ConfigList {
    const KEYS: &'static [&'static str] = &["offset", "limit", "name", "state"];
}

/// Parses `offset`, `limit`, `name`, `state`; anything unreadable is a 400.
fn list_filter(params: &HashMap<String, String>) -> Result<ListFilter> {
    let number = |key: &str, default: u64| -> Result<u64> {
        match params.get(key) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| BootstrapError::bad_request(format!("invalid {key}"))),
        }
    };
    let limit = number("limit", DEFAULT_LIMIT)?;
    if limit > MAX_LIMIT {
        return Err(BootstrapError::bad_request(format!(
            "limit must be at most {MAX_LIMIT}"
        )));
    }
    let state = match params.get("state").map(String::as_str) {
        None => None,
        Some("0") => Some(0),
        Some("1") => Some(1),
        Some(_) => return Err(BootstrapError::bad_request("state must be 0 or 1")),
    };
    let offset = number("offset", 0)?;
    if offset > MAX_OFFSET {
        return Err(BootstrapError::bad_request(format!(
            "offset must be at most {MAX_OFFSET}"
        )));
    }
    Ok(ListFilter {
        name: params.get("name").filter(|n| !n.is_empty()).cloned(),
        state,
        offset,
        limit,
    })
}

async fn list(
    State(svc): State<AppState>,
    caller: Caller,
    Path(domain): Path<String>,
    Params { values, .. }: Params<ConfigList>,
) -> Result<Json<Value>> {
    let f = list_filter(&values)?;
    let (total, configs) = svc.list(&caller, &domain, &f).await?;
    Ok(Json(json!({
        "configs": configs.iter().map(Config::to_json).collect::<Vec<_>>(),
        "total": total,
        "offset": f.offset,
        "limit": f.limit,
    })))
}

async fn view(
    State(svc): State<AppState>,
    caller: Caller,
    Path((domain, id)): Path<(String, String)>,
) -> Result<Json<Value>> {
    Ok(Json(svc.view(&caller, &domain, &id).await?.to_json()))
}

async fn update(
    State(svc): State<AppState>,
    caller: Caller,
    Path((domain, id)): Path<(String, String)>,
    Body(body): Body<UpdateConfig>,
) -> Result<Json<Value>> {
    Ok(Json(
        svc.update(&caller, &domain, &id, body).await?.to_json(),
    ))
}

async fn remove(
    State(svc): State<AppState>,
    caller: Caller,
    Path((domain, id)): Path<(String, String)>,
) -> Result<StatusCode> {
    svc.remove(&caller, &domain, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn update_certs(
    State(svc): State<AppState>,
    caller: Caller,
    Path((domain, id)): Path<(String, String)>,
    Body(body): Body<UpdateCerts>,
) -> Result<Json<Value>> {
    Ok(Json(
        svc.update_certs(&caller, &domain, &id, body)
            .await?
            .to_json(),
    ))
}

#[derive(Deserialize)]
struct ConnectionsBody {
    channels: Option<Vec<String>>,
}

async fn update_connections(
    State(svc): State<AppState>,
    caller: Caller,
    Path((domain, id)): Path<(String, String)>,
    Body(body): Body<ConnectionsBody>,
) -> Result<Json<Value>> {
    let channels = body
        .channels
        .ok_or_else(|| BootstrapError::bad_request("missing channels"))?;
    let c = svc
        .update_connections(&caller, &domain, &id, &channels)
        .await?;
    Ok(Json(c.to_json()))
}

#[derive(Deserialize)]
struct StateBody {
    state: Option<i64>,
}

async fn change_state(
    State(svc): State<AppState>,
    caller: Caller,
    Path((domain, id)): Path<(String, String)>,
    Body(body): Body<StateBody>,
) -> Result<Json<Value>> {
    let state = body
        .state
        .ok_or_else(|| BootstrapError::bad_request("missing state"))?;
    let c = svc.change_state(&caller, &domain, &id, state).await?;
    Ok(Json(c.to_json()))
}

/// The key after `Client ` in `Authorization` (Magistrala's device credentials).
fn client_credentials(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let key = value.strip_prefix("Client ")?.trim();
    (!key.is_empty()).then_some(key)
}

async fn bootstrap(
    State(svc): State<AppState>,
    Path(external_id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>> {
    let creds = client_credentials(&headers);
    Ok(Json(
        svc.bootstrap(&external_id, creds, KeyForm::Plain).await?,
    ))
}

async fn bootstrap_secure(
    State(svc): State<AppState>,
    Path(external_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response> {
    let creds = client_credentials(&headers);
    let body = svc.bootstrap_secure(&external_id, creds).await?;
    Ok(([(CONTENT_TYPE, "application/octet-stream")], body).into_response())
}
