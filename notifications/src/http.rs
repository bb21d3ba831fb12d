//! `GET /notifications` and `POST /notifications/acknowledge`, for the bearer of a
//! user's access token (auth's [`Caller`], checked exactly as on every platform route).
//! A caller only ever reaches their own rows: both queries are keyed by the caller's
//! id, so another user's notification id behaves exactly like an unknown one.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use magnetite_auth::access::Caller;
use magnetite_auth::http::PlatformState;
use magnetite_auth::store::list::MAX_OFFSET;
use magnetite_httpkit::routes::{get, post, Routes};
use magnetite_httpkit::{Accepted, Body, CheckedQuery};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

use crate::error::{NotificationsError, Result};
use crate::NotificationService;

type AppState = Arc<NotificationService>;

/// Default and largest page (the platform's list bounds).
const DEFAULT_LIMIT: u64 = 10;
const MAX_LIMIT: u64 = 100;
/// Most ids one acknowledge names.
pub const MAX_ACK_IDS: usize = 100;
/// Longest id looked up (ours are 36-character UUIDs); longer ones cannot match.
const MAX_ID_LEN: usize = 64;

/// Both routes, ready to merge into the root router.
pub fn router(service: Arc<NotificationService>) -> Routes {
    Routes::new()
        .route("/notifications", get(list))
        .route("/notifications/acknowledge", post(acknowledge))
        .with_state(service)
}

/// Handlers take auth's [`Caller`] straight from this crate's state.
impl PlatformState for NotificationService {
    fn platform_of_state(&self) -> &magnetite_auth::Platform {
        self.platform()
    }
}

#[derive(Debug, Deserialize)]
struct Page {
    offset: Option<u64>,
    limit: Option<u64>,
}

impl Accepted for Page {
    const KEYS: &'static [&'static str] = &["offset", "limit"];
}

impl Page {
    /// `(offset, limit)` within the bounds, or a 400.
    fn bounded(&self) -> Result<(u64, u64)> {
        let offset = self.offset.unwrap_or(0);
        if offset > MAX_OFFSET {
            return Err(NotificationsError::bad_request(format!(
                "offset must be at most {MAX_OFFSET}"
            )));
        }
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if limit == 0 || limit > MAX_LIMIT {
            return Err(NotificationsError::bad_request(format!(
                "limit must be between 1 and {MAX_LIMIT}"
            )));
        }
        Ok((offset, limit))
    }
}

async fn list(
    State(svc): State<AppState>,
    caller: Caller,
    CheckedQuery(page): CheckedQuery<Page>,
) -> Result<Json<Value>> {
    let (offset, limit) = page.bounded()?;
    let (total, notifications) = svc.list(caller.id(), offset, limit).await?;
    Ok(Json(json!({
        "notifications": notifications,
        "total": total,
        "offset": offset,
        "limit": limit,
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Acknowledge {
    ids: Vec<String>,
}

/// 204 whatever the ids were: the answer says nothing about ids that are not the
/// caller's.
async fn acknowledge(
    State(svc): State<AppState>,
    caller: Caller,
    Body(body): Body<Acknowledge>,
) -> Result<StatusCode> {
    let ids = checked_ids(body.ids)?;
    svc.acknowledge(caller.id(), &ids).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// At least one and at most [`MAX_ACK_IDS`] ids; ids too long to be ours are dropped.
fn checked_ids(ids: Vec<String>) -> Result<Vec<String>> {
    if ids.is_empty() || ids.len() > MAX_ACK_IDS {
        return Err(NotificationsError::bad_request(format!(
            "ids must name 1 to {MAX_ACK_IDS} notifications"
        )));
    }
    Ok(ids
        .into_iter()
        .filter(|id| id.len() <= MAX_ID_LEN)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_bounded() {
        let page = |offset, limit| Page { offset, limit }.bounded().ok();
        assert_eq!(page(None, None), Some((0, DEFAULT_LIMIT)));
        assert_eq!(page(Some(5), Some(MAX_LIMIT)), Some((5, MAX_LIMIT)));
        assert_eq!(page(None, Some(0)), None);
        assert_eq!(page(None, Some(MAX_LIMIT + 1)), None);
        assert_eq!(page(Some(MAX_OFFSET + 1), None), None);
    }

    #[test]
    fn ack_ids_are_bounded() {
        assert!(checked_ids(Vec::new()).is_err());
        assert!(checked_ids(vec!["x".into(); MAX_ACK_IDS + 1]).is_err());
        let kept = checked_ids(vec!["a".into(), "b".repeat(MAX_ID_LEN + 1)]).ok();
        assert_eq!(kept, Some(vec!["a".to_string()]));
    }
}
