//! Paging and filters shared by every list endpoint (DESIGN §2): `offset`, `limit`
//! (default 10, max 100), `name`, `metadata`, `status`, `tags`, `order`, `dir`,
//! `only_total`, and the narrowing [`Filters`] (ids, names, creation time).
//!
//! The filters become a WHERE clause with `$n` text parameters; numbers and the order
//! column come from a closed set and are written into the SQL directly.

use std::collections::HashMap;

use crate::error::{AuthError, Result};
use crate::model::ConnType;

#[derive(Debug, Clone)]
pub struct ListQuery {
    pub offset: u64,
    pub limit: u64,
    pub name: Option<String>,
    /// Top-level key/value pairs the metadata must contain.
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    /// `None` = all statuses.
    pub status: Option<String>,
    pub tag: Option<String>,
    pub order: &'static str,
    pub descending: bool,
    /// `only_total=true`: count only, no rows.
    pub only_total: bool,
    pub filters: Filters,
}

/// The narrowing filters of SuperMQ's list routes. Each route accepts only its own
/// names (`http::queries`), so a filter present here applies to the listed kind.
/// Ids are matched inside the listed domain only: a foreign or missing id filters to
/// nothing, alike, so a filter never tells another tenant's ids from unknown ones.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    pub id: Option<String>,
    /// Users: case-insensitive substring of the column (`first_name`, ...).
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub username: Option<String>,
    pub email: Option<String>,
    /// `email` must match whole (case-insensitive), not as a substring: the user
    /// search, open to every user, must not be an oracle for guessing addresses.
    pub exact_email: bool,
    /// Clients connected to this channel (optionally with `connection_type`).
    pub channel: Option<String>,
    /// `Publish` or `Subscribe`, with `channel`.
    pub connection_type: Option<ConnType>,
    /// Channels this client is connected to.
    pub client: Option<String>,
    /// Entities whose parent is this group.
    pub group: Option<String>,
    /// Entities this user created.
    pub user: Option<String>,
    /// Groups without a parent.
    pub root_group: bool,
    /// Inclusive `created_at` bounds, normalised to the stored RFC 3339 form.
    pub created_from: Option<String>,
    pub created_to: Option<String>,
}

impl Default for ListQuery {
    fn default() -> Self {
        ListQuery {
            offset: 0,
            limit: 10,
            name: None,
            metadata: None,
            status: Some("enabled".into()),
            tag: None,
            order: "created_at",
            descending: false,
            only_total: false,
            filters: Filters::default(),
        }
    }
}

pub const MAX_LIMIT: u64 = 100;
/// The largest `offset`: SQL's OFFSET is a signed 64-bit integer on SQLite and
/// PostgreSQL, so anything larger would fail in the database (a 500) instead of here.
pub const MAX_OFFSET: u64 = i64::MAX as u64;

impl ListQuery {
    /// Parses query parameters; anything malformed is a 400 naming the parameter.
    pub fn parse(params: &HashMap<String, String>) -> Result<ListQuery> {
        let mut q = ListQuery::default();
        let number = |key: &str| -> Result<Option<u64>> {
            params
                .get(key)
                .map(|v| {
                    v.parse::<u64>()
                        .map_err(|_| AuthError::bad_request(format!("invalid {key}: {v:?}")))
                })
                .transpose()
        };
        q.offset = number("offset")?.unwrap_or(0);
        if q.offset > MAX_OFFSET {
            return Err(AuthError::bad_request(format!(
                "offset must be at most {MAX_OFFSET}"
            )));
        }
        q.limit = number("limit")?.unwrap_or(10);
        if q.limit == 0 || q.limit > MAX_LIMIT {
            return Err(AuthError::bad_request(format!(
                "limit must be between 1 and {MAX_LIMIT}"
            )));
        }
        q.name = params.get("name").filter(|s| !s.is_empty()).cloned();
        q.tag = params
            .get("tags")
            .or(params.get("tag"))
            .filter(|s| !s.is_empty())
            .cloned();
        if let Some(m) = params.get("metadata").filter(|s| !s.is_empty()) {
            match serde_json::from_str::<serde_json::Value>(m) {
                Ok(serde_json::Value::Object(map)) => q.metadata = Some(map),
                _ => return Err(AuthError::bad_request("metadata must be a JSON object")),
            }
        }
        q.status = match params.get("status").map(String::as_str) {
            None | Some("") | Some("enabled") => Some("enabled".into()),
            Some("disabled") => Some("disabled".into()),
            Some("freezed") => Some("freezed".into()),
            Some("all") => None,
            Some(other) => {
                return Err(AuthError::bad_request(format!("invalid status: {other:?}")))
            }
        };
        q.order = match params.get("order").map(String::as_str) {
            None | Some("") | Some("created_at") => "created_at",
            Some("name") => "name",
            Some("updated_at") => "updated_at",
            Some(other) => return Err(AuthError::bad_request(format!("invalid order: {other:?}"))),
        };
        q.descending = match params.get("dir").map(String::as_str) {
            None | Some("") | Some("asc") => false,
            Some("desc") => true,
            Some(other) => return Err(AuthError::bad_request(format!("invalid dir: {other:?}"))),
        };
        q.only_total = flag(params, "only_total")?;
        q.filters = Filters::parse(params)?;
        Ok(q)
    }
}

/// A non-empty text parameter.
fn text(params: &HashMap<String, String>, key: &str) -> Option<String> {
    params.get(key).filter(|s| !s.is_empty()).cloned()
}

/// A boolean parameter (`true`/`false`, absent = false).
fn flag(params: &HashMap<String, String>, key: &str) -> Result<bool> {
    match params.get(key).map(String::as_str) {
        None | Some("") | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(AuthError::bad_request(format!("invalid {key}: {other:?}"))),
    }
}

/// A date-time parameter, as the store writes `created_at` (UTC, microseconds), so the
/// bound compares as text on SQLite and PostgreSQL alike.
fn instant(params: &HashMap<String, String>, key: &str) -> Result<Option<String>> {
    let Some(value) = text(params, key) else {
        return Ok(None);
    };
    let parsed = chrono::DateTime::parse_from_rfc3339(&value)
        .map_err(|_| AuthError::bad_request(format!("invalid {key}: not an RFC 3339 time")))?;
    let utc = parsed.with_timezone(&chrono::Utc);
    Ok(Some(
        utc.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
    ))
}

/// Parameters of SuperMQ's role model (issue: roles); refused rather than ignored.
const ROLE_FILTERS: &[&str] = &["actions", "role_id", "role_name", "access_type"];

/// Group hierarchy shapes beyond one level (issue 16, later slice); refused rather
/// than ignored unless they ask for what a flat page already is.
fn refuse_hierarchy_shapes(params: &HashMap<String, String>) -> Result<()> {
    if flag(params, "tree")? {
        return Err(AuthError::bad_request("tree=true is not supported yet"));
    }
    for key in ["level", "start_level", "end_level"] {
        if let Some(v) = params.get(key).filter(|v| !v.is_empty() && *v != "1") {
            return Err(AuthError::bad_request(format!(
                "{key}={v:?} is not supported yet (only direct children, level 1)"
            )));
        }
    }
    Ok(())
}

impl Filters {
    fn parse(params: &HashMap<String, String>) -> Result<Filters> {
        if let Some(key) = ROLE_FILTERS.iter().find(|k| text(params, k).is_some()) {
            return Err(AuthError::bad_request(format!(
                "{key} needs roles, which are not supported yet"
            )));
        }
        refuse_hierarchy_shapes(params)?;
        let connection_type = match text(params, "connection_type") {
            None => None,
            Some(t) => Some(ConnType::parse(&t.to_lowercase()).ok_or_else(|| {
                AuthError::bad_request(format!(
                    "invalid connection_type: {t:?} (Publish or Subscribe)"
                ))
            })?),
        };
        let filters = Filters {
            id: text(params, "id"),
            first_name: text(params, "first_name"),
            last_name: text(params, "last_name"),
            username: text(params, "username"),
            email: text(params, "email"),
            exact_email: false,
            channel: text(params, "channel"),
            connection_type,
            client: text(params, "client"),
            group: text(params, "group"),
            user: text(params, "user"),
            root_group: flag(params, "root_group")?,
            created_from: instant(params, "created_from")?,
            created_to: instant(params, "created_to")?,
        };
        if filters.connection_type.is_some() && filters.channel.is_none() {
            return Err(AuthError::bad_request("connection_type needs channel"));
        }
        Ok(filters)
    }
}

/// A WHERE clause under construction: conditions and their text parameters.
#[derive(Debug, Default)]
pub struct Filter {
    conds: Vec<String>,
    /// The column `order=name` sorts by (`username` for users).
    name_col: String,
    pub binds: Vec<String>,
    /// Parameters already taken by the statement this filter joins (`$1..=$first`):
    /// its own are numbered after them.
    first: usize,
}

impl Filter {
    /// A filter for a statement whose parameters `$1..=$taken` are already used.
    pub fn numbered_after(taken: usize) -> Filter {
        Filter {
            first: taken,
            ..Filter::default()
        }
    }

    /// Adds `sql` where `?` stands for the next parameter.
    pub fn add(&mut self, sql: &str, value: impl Into<String>) {
        self.add_many(sql, &[&value.into()]);
    }

    /// Adds `sql` where each `?` stands for the next of `values`, in order.
    pub fn add_many(&mut self, sql: &str, values: &[&str]) {
        let mut out = String::new();
        let mut rest = values.iter();
        for part in sql.split_inclusive('?') {
            match (part.strip_suffix('?'), rest.next()) {
                (Some(head), Some(value)) => {
                    self.binds.push(value.to_string());
                    out.push_str(&format!("{head}${}", self.first + self.binds.len()));
                }
                _ => out.push_str(part),
            }
        }
        self.conds.push(out);
    }

    /// Adds a condition without a parameter.
    pub fn add_raw(&mut self, sql: &str) {
        self.conds.push(sql.to_string());
    }

    /// The list filters of `q` (name, status, tags, metadata).
    pub fn with_query(mut self, q: &ListQuery, name_col: &str) -> Self {
        self.name_col = name_col.to_string();
        self.add_contains(name_col, q.name.as_ref());
        if let Some(status) = &q.status {
            self.add("status = ?", status.clone());
        }
        if let Some(tag) = &q.tag {
            let quoted = serde_json::Value::from(tag.as_str()).to_string();
            self.add("tags LIKE ?", format!("%{}%", like_escape(&quoted)));
        }
        for (k, v) in q.metadata.iter().flatten() {
            let pair = format!("{}:{}", serde_json::Value::from(k.as_str()), v);
            self.add("metadata LIKE ?", format!("%{}%", like_escape(&pair)));
        }
        let f = &q.filters;
        if let Some(id) = &f.id {
            self.add("id = ?", id.clone());
        }
        if let Some(from) = &f.created_from {
            self.add("created_at >= ?", from.clone());
        }
        if let Some(to) = &f.created_to {
            self.add("created_at <= ?", to.clone());
        }
        self
    }

    /// `LOWER(column)` contains `value` (case-insensitive, wildcards dropped).
    pub fn add_contains(&mut self, column: &str, value: Option<&String>) {
        if let Some(v) = value {
            self.add(
                &format!("LOWER({column}) LIKE ?"),
                format!("%{}%", like_escape(&v.to_lowercase())),
            );
        }
    }

    pub fn where_sql(&self) -> String {
        if self.conds.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.conds.join(" AND "))
        }
    }

    /// `SELECT <cols> FROM <table> WHERE ... ORDER BY ... LIMIT ... OFFSET ...`.
    pub fn page_sql(&self, table: &str, q: &ListQuery) -> String {
        format!(
            "SELECT * FROM {table}{} ORDER BY {} {}, id LIMIT {} OFFSET {}",
            self.where_sql(),
            if q.order == "name" && !self.name_col.is_empty() {
                self.name_col.as_str()
            } else {
                q.order
            },
            if q.descending { "DESC" } else { "ASC" },
            if q.only_total { 0 } else { q.limit },
            q.offset
        )
    }

    pub fn count_sql(&self, table: &str) -> String {
        format!("SELECT COUNT(*) AS n FROM {table}{}", self.where_sql())
    }
}

/// LIKE has no portable ESCAPE default; drop the wildcard characters from user input.
fn like_escape(s: &str) -> String {
    s.replace(['%', '_'], "")
}

/// Runs the count and the page query of `filter` on `table` in one snapshot (so the
/// total never disagrees with the page), mapping rows with `map`.
macro_rules! fetch_page {
    ($store:expr, $filter:expr, $table:expr, $q:expr, $map:expr) => {{
        let filter = $filter;
        magnetite_db::db_snapshot!($store.db(), tx => {
            let count_sql = filter.count_sql($table);
            let mut count = sqlx::query(&count_sql);
            for b in &filter.binds {
                count = count.bind(b);
            }
            let total: i64 = sqlx::Row::try_get(&count.fetch_one(&mut *tx).await?, "n")?;
            let sql = filter.page_sql($table, $q);
            let mut page = sqlx::query(&sql);
            for b in &filter.binds {
                page = page.bind(b);
            }
            let rows = page.fetch_all(&mut *tx).await?;
            let items = rows.iter().map($map).collect::<$crate::error::Result<Vec<_>>>()?;
            (total.max(0) as u64, items)
        })
    }};
}
pub(crate) use fetch_page;
