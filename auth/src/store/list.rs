//! Paging and filters shared by every list endpoint (DESIGN §2): `offset`, `limit`
//! (default 10, max 100), `name`, `metadata`, `status`, `tags`, `order`, `dir`.
//!
//! The filters become a WHERE clause with `$n` text parameters; numbers and the order
//! column come from a closed set and are written into the SQL directly.

use std::collections::HashMap;

use crate::error::{AuthError, Result};

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
        Ok(q)
    }
}

/// A WHERE clause under construction: conditions and their text parameters.
#[derive(Debug, Default)]
pub struct Filter {
    conds: Vec<String>,
    /// The column `order=name` sorts by (`username` for users).
    name_col: String,
    pub binds: Vec<String>,
}

impl Filter {
    /// Adds `sql` where `?` stands for the next parameter.
    pub fn add(&mut self, sql: &str, value: impl Into<String>) {
        self.binds.push(value.into());
        self.conds
            .push(sql.replace('?', &format!("${}", self.binds.len())));
    }

    /// Adds a condition without a parameter.
    pub fn add_raw(&mut self, sql: &str) {
        self.conds.push(sql.to_string());
    }

    /// The list filters of `q` (name, status, tags, metadata).
    pub fn with_query(mut self, q: &ListQuery, name_col: &str) -> Self {
        self.name_col = name_col.to_string();
        if let Some(name) = &q.name {
            self.add(
                &format!("LOWER({name_col}) LIKE ?"),
                format!("%{}%", like_escape(&name.to_lowercase())),
            );
        }
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
        self
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
            q.limit,
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

/// Runs the count and the page query of `filter` on `table`, mapping rows with `map`.
macro_rules! fetch_page {
    ($store:expr, $filter:expr, $table:expr, $q:expr, $map:expr) => {{
        let filter = $filter;
        magnetite_db::db_read!($store.db(), pool => {
            let count_sql = filter.count_sql($table);
            let mut count = sqlx::query(&count_sql);
            for b in &filter.binds {
                count = count.bind(b);
            }
            let total: i64 = sqlx::Row::try_get(&count.fetch_one(pool).await?, "n")?;
            let sql = filter.page_sql($table, $q);
            let mut page = sqlx::query(&sql);
            for b in &filter.binds {
                page = page.bind(b);
            }
            let rows = page.fetch_all(pool).await?;
            let items = rows.iter().map($map).collect::<$crate::error::Result<Vec<_>>>()?;
            (total.max(0) as u64, items)
        })
    }};
}
pub(crate) use fetch_page;
