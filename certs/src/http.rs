//! The certificates HTTP API (Magistrala-style paths), merged into the platform app.
//!
//! The routes authenticate with `magnetite_auth::access::Caller`, whose extractor is
//! implemented for the state `Arc<Platform>` only; so the routes are built on that
//! state, the service travels in an `Extension`, and [`router`] finishes with
//! `.with_state(platform)`: it returns stateless `Routes` (served and documented) that merge with
//! `magnetite_auth::http::router(..)` like any other.
//!
//! Who may: a certificate is its client's, so each route needs an action on the client
//! (held directly, through a group above it or through the domain, as SuperMQ's client
//! actions): issuing and revoking `update`, viewing a certificate and the client's
//! serials `read`; `GET /{domain}/certs` lists the certificates of the clients the
//! caller may read, its total counting only those.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::{Extension, Json};
use magnetite_auth::access::{Actor, Caller, Need, ReadableClients};
use magnetite_auth::model::Domain;
use magnetite_auth::roles::EntityType;
use magnetite_auth::store::list::MAX_OFFSET;
use magnetite_auth::Platform;
use magnetite_httpkit::routes::{get, Routes};
use magnetite_httpkit::Body;
use magnetite_httpkit::{Accepted, Params, Path};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{CertsError, Result};
use crate::issue::{parse_ttl, DEFAULT_TTL};
use crate::service::CertsService;
use crate::store::{CertRow, Page, MAX_LIMIT};

type Svc = Extension<Arc<CertsService>>;
type Plat = State<Arc<Platform>>;

/// Every certificates route, ready to merge (state already applied).
pub fn router(service: Arc<CertsService>) -> Routes {
    let platform = service.platform().clone();
    Routes::<Arc<Platform>>::new()
        .route("/certs/ca", get(ca))
        .route(
            "/:domain/certs",
            get(list).post(issue).delete(revoke_client),
        )
        .route("/:domain/certs/:serial", get(view).delete(revoke_one))
        .route("/:domain/serials/:client", get(serials))
        .layer(Extension(service))
        .with_state(platform)
}

/// The domain if the caller may do `action` on `client_id`, a client of it or one it
/// issued certificates to: a deleted client's certificates stay readable and
/// revocable, then by the domain's roles alone (`client_<action>`). Any other id is a
/// 404 before any decision, so it tells nothing.
async fn authorize_holder(
    caller: &Caller,
    svc: &CertsService,
    domain: &str,
    client_id: &str,
    action: &str,
) -> Result<Domain> {
    let actor = Actor::User(caller);
    let platform = svc.platform();
    let d = actor.domain(platform, domain, Need::Read).await?;
    if !svc.belongs(&d.id, client_id).await? {
        return Err(CertsError::NotFound("client"));
    }
    actor
        .require(platform, &d.id, EntityType::Client, client_id, action)
        .await?;
    Ok(d)
}

/// The certificate `serial` of the domain if the caller may do `action` on its client.
async fn authorize_cert(
    caller: &Caller,
    svc: &CertsService,
    domain: &str,
    serial: &str,
    action: &str,
) -> Result<(Domain, CertRow)> {
    let actor = Actor::User(caller);
    let platform = svc.platform();
    let d = actor.domain(platform, domain, Need::Read).await?;
    let cert = svc.get(&d.id, serial).await?;
    actor
        .require(platform, &d.id, EntityType::Client, &cert.client_id, action)
        .await?;
    Ok((d, cert))
}

#[derive(Debug, Deserialize)]
struct IssueBody {
    client_id: Option<String>,
    /// `"24h"`, `"30d"`, `"3600s"` or a number of seconds.
    ttl: Option<Value>,
}

/// `POST /{domain}/certs`: 201 with the certificate, its key (the only time it is
/// shown) and the CA certificate.
async fn issue(
    caller: Caller,
    State(platform): Plat,
    Extension(svc): Svc,
    Path(domain): Path<String>,
    Body(body): Body<IssueBody>,
) -> Result<impl IntoResponse> {
    let client_id = body
        .client_id
        .filter(|c| !c.trim().is_empty())
        .ok_or_else(|| CertsError::bad_request("missing client_id"))?;
    let ttl = ttl_of(body.ttl.as_ref())?;
    let (domain, client) = caller
        .authorize_client(&platform, &domain, &client_id, "update")
        .await?;
    let issued = svc.issue(&domain.id, &client.id, ttl).await?;
    let body = json!({
        "serial_number": issued.serial_number,
        "client_id": issued.client_id,
        "certificate": issued.certificate_pem,
        "key": issued.key_pem,
        "ca": svc.ca().certificate_pem(),
        "expiry_time": issued.expires_at,
        "expires_at": issued.expires_at,
    });
    Ok((StatusCode::CREATED, Json(body)))
}

/// The requested lifetime: absent -> [`DEFAULT_TTL`]; a string -> [`parse_ttl`]; a
/// whole number -> seconds. Bounds are checked when issuing.
fn ttl_of(v: Option<&Value>) -> Result<Duration> {
    match v {
        None | Some(Value::Null) => Ok(DEFAULT_TTL),
        Some(Value::String(s)) => parse_ttl(s),
        Some(Value::Number(n)) => n
            .as_u64()
            .map(Duration::from_secs)
            .ok_or_else(|| CertsError::bad_request("ttl must be a whole number of seconds")),
        Some(_) => Err(CertsError::bad_request(
            "ttl must be a duration string (e.g. \"30d\") or seconds",
        )),
    }
}

/// The query of `GET /{domain}/certs` and `DELETE /{domain}/certs`.
struct CertsQuery;
impl Accepted for CertsQuery {
    const KEYS: &'static [&'static str] = &["client_id", "offset", "limit"];
}

/// The query of `GET /{domain}/serials/{client}`.
struct PageQuery;
impl Accepted for PageQuery {
    const KEYS: &'static [&'static str] = &["offset", "limit"];
}

/// `GET /{domain}/certs?client_id=&offset=&limit=`: `{"certs", "total", "offset", "limit"}`.
async fn list(
    caller: Caller,
    State(platform): Plat,
    Extension(svc): Svc,
    Path(domain): Path<String>,
    Params { values: params, .. }: Params<CertsQuery>,
) -> Result<Json<Value>> {
    let actor = Actor::User(&caller);
    let domain = actor.domain(&platform, &domain, Need::Read).await?;
    let readable = actor.readable_clients(&platform, &domain.id).await?;
    let client_id = params.get("client_id").filter(|c| !c.is_empty());
    let client_id = client_id.map(String::as_str);
    certs_page(&svc, &domain.id, client_id, &readable, &params).await
}

/// `GET /{domain}/serials/{client}` (Magistrala SDK `ViewCertByClient`): the client's
/// certificates, the same page as `GET /{domain}/certs?client_id=`, except that the
/// client must exist in the domain: a foreign or missing client is a 404, alike.
async fn serials(
    caller: Caller,
    State(platform): Plat,
    Extension(svc): Svc,
    Path((domain, client)): Path<(String, String)>,
    Params { values: params, .. }: Params<PageQuery>,
) -> Result<Json<Value>> {
    let (domain, client) = caller
        .authorize_client(&platform, &domain, &client, "read")
        .await?;
    let all = ReadableClients::All;
    certs_page(&svc, &domain.id, Some(&client.id), &all, &params).await
}

/// `{"certs", "total", "offset", "limit"}` of the domain's certificates (of one client)
/// whose client `readable` lets the caller see.
async fn certs_page(
    svc: &CertsService,
    domain_id: &str,
    client_id: Option<&str>,
    readable: &ReadableClients,
    params: &HashMap<String, String>,
) -> Result<Json<Value>> {
    let page = page_of(params)?;
    let (total, rows) = svc
        .list_readable(domain_id, client_id, readable, page)
        .await?;
    let certs: Vec<Value> = rows.iter().map(|r| r.to_json()).collect();
    Ok(Json(json!({
        "certs": certs,
        "total": total,
        "offset": page.offset,
        "limit": page.limit,
    })))
}

/// `offset` / `limit` query parameters; malformed or out of range is a 400.
fn page_of(params: &HashMap<String, String>) -> Result<Page> {
    let number = |key: &str, default: u64| -> Result<u64> {
        match params.get(key).filter(|v| !v.is_empty()) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| CertsError::bad_request(format!("invalid {key}: {v:?}"))),
        }
    };
    let page = Page {
        offset: number("offset", 0)?,
        limit: number("limit", Page::default().limit)?,
    };
    if page.offset > MAX_OFFSET {
        return Err(CertsError::bad_request(format!(
            "offset must be at most {MAX_OFFSET}"
        )));
    }
    if page.limit == 0 || page.limit > MAX_LIMIT {
        return Err(CertsError::bad_request(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        )));
    }
    Ok(page)
}

/// `GET /{domain}/certs/{serial}`: the certificate (never a key).
async fn view(
    caller: Caller,
    Extension(svc): Svc,
    Path((domain, serial)): Path<(String, String)>,
) -> Result<Json<Value>> {
    let (_, cert) = authorize_cert(&caller, &svc, &domain, &serial, "read").await?;
    Ok(Json(cert.to_json()))
}

/// `DELETE /{domain}/certs/{serial}`: 204; the client's live sessions end.
async fn revoke_one(
    caller: Caller,
    Extension(svc): Svc,
    Path((domain, serial)): Path<(String, String)>,
) -> Result<StatusCode> {
    let (domain, _) = authorize_cert(&caller, &svc, &domain, &serial, "update").await?;
    svc.revoke(&domain.id, &serial).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /{domain}/certs?client_id=`: revokes all of a client's certificates, 204.
/// The client need not exist any more (certificates of a deleted client can still be
/// revoked); the parameter is required, so there is no revoke-everything by accident.
async fn revoke_client(
    caller: Caller,
    Extension(svc): Svc,
    Path(domain): Path<String>,
    Params { values: params, .. }: Params<CertsQuery>,
) -> Result<StatusCode> {
    let client_id = params
        .get("client_id")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| CertsError::bad_request("missing client_id"))?;
    let domain = authorize_holder(&caller, &svc, &domain, client_id, "update").await?;
    svc.revoke_client(&domain.id, client_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /certs/ca`: the CA certificate devices must trust. Public: it is no secret
/// and a device fetches it before it has any credential.
async fn ca(Extension(svc): Svc) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/x-pem-file")],
        svc.ca().certificate_pem().to_string(),
    )
}
