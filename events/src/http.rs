//! The embedded event log: `GET /events?stream=...&after=...&limit=...`, served straight
//! from the outbox table (always on, no sink needed).
//!
//! Every request goes through a [`LogAccess`] first: this crate knows no users, so the
//! root binary plugs in who the caller is and which domains they may read ([`ReadScope`]);
//! a caller it refuses gets its 401/403 and the table is not read. The scope is applied
//! in the query ([`Db::fetch_scoped`]), so a page never holds another tenant's row.
//!
//! Response: `{"events": [{"id", "stream", "event": {...}}], "next": id}` where `event`
//! is the JSON body NATS/RabbitMQ consumers get and `next` is the `after` to pass for
//! the following page (the last id returned, or `after` itself when nothing is new).

use crate::encode::{json_body, Names};
use crate::model::Service;
use crate::outbox::{OutboxDb, OutboxRow, ReadScope};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use magnetite_db::Db;
use magnetite_httpkit::routes::{get, Routes};
use magnetite_httpkit::{Accepted, ApiError, CheckedQuery};
use serde::Deserialize;
use serde_json::{json, Value};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// Why [`LogAccess`] refused a caller: the status (401 or 403) and the `message`.
#[derive(Debug, Clone)]
pub struct Refused {
    /// HTTP status to answer.
    pub status: StatusCode,
    /// `{"message": ...}` text (never echoes a credential).
    pub message: String,
}

impl From<Refused> for ApiError {
    fn from(refused: Refused) -> Self {
        ApiError::new(refused.status, refused.message)
    }
}

/// The future a [`LogAccess`] returns.
pub type AccessFuture = Pin<Box<dyn Future<Output = Result<ReadScope, Refused>> + Send>>;

/// Decides from a request's headers what the caller may read from the log.
pub type LogAccess = Arc<dyn Fn(HeaderMap) -> AccessFuture + Send + Sync>;

/// A [`LogAccess`] that lets everyone read everything: only for `--auth none`, where
/// nobody is authenticated anywhere (a trusted network by definition).
pub fn open_access() -> LogAccess {
    Arc::new(|_| Box::pin(async { Ok(ReadScope::All) }))
}

/// Default page size.
const DEFAULT_LIMIT: i64 = 100;
/// Largest page size.
const MAX_LIMIT: i64 = 1000;

#[derive(Clone)]
struct LogState {
    db: Db,
    names: Arc<Names>,
    access: LogAccess,
}

/// Query parameters.
#[derive(Debug, Deserialize)]
pub struct LogQuery {
    /// `users`, `clients` (`things`), `bootstrap`, `mqtt`, or `<prefix>.<service>`.
    pub stream: Option<String>,
    /// Return events with id greater than this (default 0).
    pub after: Option<i64>,
    /// Page size (default 100, max 1000).
    pub limit: Option<i64>,
}

/// Any other name is a 400 (a misspelt `stream` would otherwise read every stream).
impl Accepted for LogQuery {
    const KEYS: &'static [&'static str] = &["stream", "after", "limit"];
}

/// The router with `GET /events`, readable as `access` decides.
pub fn router(db: Db, names: Names, access: LogAccess) -> Routes {
    Routes::new()
        .route("/events", get(list))
        .with_state(LogState {
            db,
            names: Arc::new(names),
            access,
        })
}

fn bad_request(msg: String) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, msg)
}

/// Resolves the `stream` parameter to a canonical service name.
fn canonical_stream(raw: &str) -> Option<&'static str> {
    let service = raw.rsplit('.').next().unwrap_or(raw);
    Service::parse(service).map(Service::as_str)
}

/// The JSON body of a row's event as `GET /events` serves it (and NATS/RabbitMQ
/// consumers get it), in `names`' naming; `null` for a payload that is not an object.
pub fn event_body(names: &Names, row: &OutboxRow) -> Value {
    match serde_json::from_str::<Value>(&row.payload) {
        Ok(Value::Object(f)) => Value::Object(json_body(&names.renamed(&f))),
        _ => Value::Null,
    }
}

async fn list(
    State(st): State<LogState>,
    headers: HeaderMap,
    query: Result<CheckedQuery<LogQuery>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    // Who is asking first: an unauthenticated caller learns nothing from a 400.
    let scope = (st.access)(headers).await?;
    let CheckedQuery(q) = query?;
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(bad_request(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        )));
    }
    let after = q.after.unwrap_or(0);
    let stream = match q.stream.as_deref() {
        None | Some("") => None,
        Some(s) => match canonical_stream(s) {
            Some(c) => Some(c),
            None => return Err(bad_request(format!("unknown stream {s}"))),
        },
    };
    let rows = match st.db.fetch_scoped(after, stream, limit, &scope).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "events: log read failed");
            let status = StatusCode::INTERNAL_SERVER_ERROR;
            return Err(ApiError::new(status, "event log unavailable"));
        }
    };
    let next = rows.last().map(|r| r.id).unwrap_or(after);
    let events: Vec<Value> = rows
        .iter()
        .map(|r| json!({ "id": r.id, "stream": st.names.stream(&r.stream), "event": event_body(&st.names, r) }))
        .collect();
    Ok(Json(json!({ "events": events, "next": next })))
}
