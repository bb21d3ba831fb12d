//! The journal routes of SuperMQ's `journal.yaml`, for the bearer of a user's access
//! token (auth's [`Caller`]):
//!
//! - `GET /{domain}/journal/{client|channel|group}/{id}` and `GET /journal/user/{id}`:
//!   `{journals: [{operation, occurred_at, domain, attributes?, metadata?}], total,
//!   offset, limit}`, with `offset`, `limit` (default 10, 1..=100), `operation`,
//!   `from` / `to` (Unix seconds, inclusive), `with_attributes`, `with_metadata` and
//!   `dir` (`asc` / `desc`, default `desc`, by when the events occurred); any other
//!   parameter is a 400;
//! - `GET /{domain}/journal/client/{id}/telemetry`: the client's MQTT telemetry.
//!
//! Who may read what is the service's ([`crate::service`]).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use magnetite_auth::access::Caller;
use magnetite_auth::http::PlatformState;
use magnetite_auth::store::list::MAX_OFFSET;
use magnetite_httpkit::routes::{get, Routes};
use magnetite_httpkit::{Accepted, Params, Path};

use crate::error::{JournalError, Result};
use crate::model::{Direction, EntityType, JournalPage, JournalQuery, Telemetry};
use crate::JournalService;

type AppState = Arc<JournalService>;

const DEFAULT_LIMIT: u64 = 10;
const MAX_LIMIT: u64 = 100;
/// Longest `operation` filter (ours are under 40 characters).
const MAX_OPERATION_LEN: usize = 128;
/// Largest `from` / `to` (SuperMQ's bound: a 32-bit Unix time).
const MAX_UNIX_SECONDS: i64 = i32::MAX as i64;
const NS_PER_SECOND: i64 = 1_000_000_000;

/// The routes, ready to merge into the root router.
pub fn router(service: Arc<JournalService>) -> Routes {
    Routes::new()
        .route("/journal/user/:id", get(user_journal))
        .route("/:domain/journal/client/:id", get(client_journal))
        .route("/:domain/journal/client/:id/telemetry", get(telemetry))
        .route("/:domain/journal/:entity_type/:id", get(entity_journal))
        .with_state(service)
}

impl PlatformState for JournalService {
    fn platform_of_state(&self) -> &magnetite_auth::Platform {
        self.platform()
    }
}

/// The query parameters of the journal lists (the OpenAPI's names).
#[derive(Debug)]
struct JournalParams;
impl Accepted for JournalParams {
    const KEYS: &'static [&'static str] = &[
        "offset",
        "limit",
        "operation",
        "from",
        "to",
        "with_attributes",
        "with_metadata",
        "dir",
    ];
}

/// No query parameter at all.
#[derive(Debug)]
struct NoParams;
impl Accepted for NoParams {
    const KEYS: &'static [&'static str] = &[];
}

async fn entity_journal(
    State(svc): State<AppState>,
    caller: Caller,
    Path((domain, entity_type, id)): Path<(String, String, String)>,
    params: Params<JournalParams>,
) -> Result<Json<JournalPage>> {
    let kind = EntityType::in_domain(&entity_type).ok_or_else(|| {
        JournalError::bad_request("entity_type must be one of client, channel, group")
    })?;
    let query = parse_query(&params.values)?;
    let journal = svc.journal();
    Ok(Json(
        journal.entity(&caller, &domain, kind, &id, &query).await?,
    ))
}

/// `/{domain}/journal/client/{id}` has its own route beside `.../telemetry` (a
/// static segment beats a parameter only when the whole route matches).
async fn client_journal(
    state: State<AppState>,
    caller: Caller,
    Path((domain, id)): Path<(String, String)>,
    params: Params<JournalParams>,
) -> Result<Json<JournalPage>> {
    let path = Path((domain, EntityType::Client.as_str().to_string(), id));
    entity_journal(state, caller, path, params).await
}

async fn user_journal(
    State(svc): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    params: Params<JournalParams>,
) -> Result<Json<JournalPage>> {
    let query = parse_query(&params.values)?;
    Ok(Json(svc.journal().user(&caller, &id, &query).await?))
}

async fn telemetry(
    State(svc): State<AppState>,
    caller: Caller,
    Path((domain, id)): Path<(String, String)>,
    _: Params<NoParams>,
) -> Result<Json<Telemetry>> {
    Ok(Json(svc.journal().telemetry(&caller, &domain, &id).await?))
}

/// The checked page request of `values` (every name already one of [`JournalParams`]).
fn parse_query(values: &HashMap<String, String>) -> Result<JournalQuery> {
    let get = |k: &str| values.get(k).map(String::as_str);
    let offset = number(get("offset"), "offset", 0, MAX_OFFSET)?.unwrap_or(0);
    let limit = number(get("limit"), "limit", 1, MAX_LIMIT)?.unwrap_or(DEFAULT_LIMIT);
    let max_seconds = MAX_UNIX_SECONDS as u64;
    let from = number(get("from"), "from", 0, max_seconds)?;
    let to = number(get("to"), "to", 0, max_seconds)?;
    let operation = match get("operation") {
        Some(op) if op.len() > MAX_OPERATION_LEN => {
            return Err(JournalError::bad_request(format!(
                "operation must be at most {MAX_OPERATION_LEN} bytes"
            )))
        }
        Some("") | None => None,
        Some(op) => Some(op.to_string()),
    };
    let dir = match get("dir") {
        None | Some("desc") => Direction::Desc,
        Some("asc") => Direction::Asc,
        Some(_) => return Err(JournalError::bad_request("dir must be asc or desc")),
    };
    // Seconds within the 32-bit bound: the products below cannot overflow.
    let seconds = |s: u64| s as i64 * NS_PER_SECOND;
    Ok(JournalQuery {
        offset,
        limit,
        operation,
        from_ns: from.map_or(0, seconds),
        to_ns: to.map_or(i64::MAX, |s| seconds(s) + NS_PER_SECOND - 1),
        with_attributes: flag(get("with_attributes"), "with_attributes")?,
        with_metadata: flag(get("with_metadata"), "with_metadata")?,
        dir,
    })
}

/// An optional integer parameter within `min..=max`.
fn number(value: Option<&str>, name: &str, min: u64, max: u64) -> Result<Option<u64>> {
    let Some(text) = value else {
        return Ok(None);
    };
    match text.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
        _ => Err(JournalError::bad_request(format!(
            "{name} must be an integer between {min} and {max}"
        ))),
    }
}

/// An optional boolean parameter (`true` / `false`).
fn flag(value: Option<&str>, name: &str) -> Result<bool> {
    match value {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(_) => Err(JournalError::bad_request(format!(
            "{name} must be true or false"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> Result<JournalQuery> {
        let values = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        parse_query(&values)
    }

    #[test]
    fn defaults_follow_the_openapi() {
        let q = query(&[]).unwrap();
        assert_eq!(
            (q.offset, q.limit, q.dir),
            (0, DEFAULT_LIMIT, Direction::Desc)
        );
        assert_eq!((q.from_ns, q.to_ns), (0, i64::MAX));
        assert!(!q.with_attributes && !q.with_metadata && q.operation.is_none());
    }

    #[test]
    fn every_parameter_is_read() {
        let q = query(&[
            ("offset", "2"),
            ("limit", "100"),
            ("operation", "client.update"),
            ("from", "10"),
            ("to", "20"),
            ("with_attributes", "true"),
            ("with_metadata", "true"),
            ("dir", "asc"),
        ])
        .unwrap();
        assert_eq!((q.offset, q.limit, q.dir), (2, 100, Direction::Asc));
        assert_eq!(q.operation.as_deref(), Some("client.update"));
        assert_eq!(q.from_ns, 10 * NS_PER_SECOND);
        assert_eq!(
            q.to_ns,
            21 * NS_PER_SECOND - 1,
            "to includes its whole second"
        );
        assert!(q.with_attributes && q.with_metadata);
    }

    #[test]
    fn bad_values_are_400s() {
        for bad in [
            ("limit", "0"),
            ("limit", "101"),
            ("offset", "-1"),
            ("offset", "9223372036854775808"),
            ("from", "-5"),
            ("to", "4294967296"),
            ("dir", "up"),
            ("with_attributes", "yes"),
            ("operation", &"x".repeat(MAX_OPERATION_LEN + 1)),
        ] {
            let error = query(&[bad]).unwrap_err();
            assert!(matches!(error, JournalError::BadRequest(_)), "{bad:?}");
        }
    }
}
