//! The message store: one table, `channel_messages`, on SQLite (its own file in the data
//! dir, so message volume never waits on the platform's write lock) or PostgreSQL
//! (`--messages-db`). A row is a SenML record, or a payload that was not SenML (`payload`
//! set, the SenML columns empty). Only the writer writes (and the retention prune), so
//! SQLite's single writer is never contended by the platform.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use magnetite_db::Db;
use serde_json::{json, Map, Value};

use crate::query::{Aggregation, Format, ReadQuery};
use crate::senml::Record;

const SQLITE_SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS channel_messages (seq INTEGER PRIMARY KEY AUTOINCREMENT, \
     domain_id TEXT NOT NULL, channel_id TEXT NOT NULL, subtopic TEXT NOT NULL, \
     publisher TEXT NOT NULL, protocol TEXT NOT NULL, name TEXT, unit TEXT, value REAL, \
     string_value TEXT, bool_value INTEGER, data_value TEXT, sum REAL, time REAL NOT NULL, \
     update_time REAL, payload BLOB, received_at REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS channel_messages_by_time ON channel_messages (channel_id, time)",
    "CREATE INDEX IF NOT EXISTS channel_messages_by_arrival ON channel_messages (received_at)",
];

const POSTGRES_SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS channel_messages (seq BIGSERIAL PRIMARY KEY, \
     domain_id TEXT NOT NULL, channel_id TEXT NOT NULL, subtopic TEXT NOT NULL, \
     publisher TEXT NOT NULL, protocol TEXT NOT NULL, name TEXT, unit TEXT, \
     value DOUBLE PRECISION, string_value TEXT, bool_value BIGINT, data_value TEXT, \
     sum DOUBLE PRECISION, time DOUBLE PRECISION NOT NULL, update_time DOUBLE PRECISION, \
     payload BYTEA, received_at DOUBLE PRECISION NOT NULL)",
    "CREATE INDEX IF NOT EXISTS channel_messages_by_time ON channel_messages (channel_id, time)",
    "CREATE INDEX IF NOT EXISTS channel_messages_by_arrival ON channel_messages (received_at)",
];

const INSERT: &str = "INSERT INTO channel_messages (domain_id, channel_id, subtopic, publisher, \
     protocol, name, unit, value, string_value, bool_value, data_value, sum, time, update_time, \
     payload, received_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, \
     $15, $16)";

const COLUMNS: &str = "channel_id, subtopic, publisher, protocol, name, unit, value, \
     string_value, bool_value, data_value, sum, time, update_time, payload";

/// Where and from whom a message came.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    pub domain_id: String,
    pub channel_id: String,
    pub subtopic: String,
    pub publisher: String,
    pub protocol: &'static str,
    /// Unix seconds.
    pub received_at: f64,
}

/// What is stored of a message.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    Senml(Record),
    Raw(Vec<u8>),
}

/// One row to write.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRow {
    pub envelope: Envelope,
    pub content: Content,
}

/// A bound value of a built query.
#[derive(Debug, Clone)]
enum Bind {
    Text(String),
    Real(f64),
    Int(i64),
}

/// One page of a channel's messages.
#[derive(Debug)]
pub struct Page {
    pub total: u64,
    pub messages: Vec<Value>,
}

/// A stored row as the readers show it: Magistrala's SenML message keys, or for a raw
/// payload `created` and `payload` (UTF-8 text, else base64 with
/// `"payload_encoding": "base64"`). A macro because the row types of the two engines
/// differ and the body is the same.
macro_rules! message_json {
    ($row:expr) => {{
        let row = $row;
        let get_text = |col: &str| sqlx::Row::try_get::<Option<String>, _>(row, col);
        let get_real = |col: &str| sqlx::Row::try_get::<Option<f64>, _>(row, col);
        let payload: Option<Vec<u8>> = sqlx::Row::try_get(row, "payload")?;
        let bool_value: Option<i64> = sqlx::Row::try_get(row, "bool_value")?;
        let mut m = Map::new();
        m.insert("channel".into(), json!(get_text("channel_id")?));
        m.insert("subtopic".into(), json!(get_text("subtopic")?));
        m.insert("publisher".into(), json!(get_text("publisher")?));
        m.insert("protocol".into(), json!(get_text("protocol")?));
        let time = get_real("time")?;
        match payload {
            Some(bytes) => raw_fields(&mut m, time, bytes),
            None => {
                let fields = [
                    ("name", json!(get_text("name")?)),
                    ("unit", json!(get_text("unit")?)),
                    ("time", json!(time)),
                    ("update_time", json!(get_real("update_time")?)),
                    ("value", json!(get_real("value")?)),
                    ("string_value", json!(get_text("string_value")?)),
                    ("bool_value", json!(bool_value.map(|b| b != 0))),
                    ("data_value", json!(get_text("data_value")?)),
                    ("sum", json!(get_real("sum")?)),
                ];
                for (key, value) in fields.into_iter().filter(|(_, v)| !v.is_null()) {
                    m.insert(key.into(), value);
                }
            }
        }
        Value::Object(m)
    }};
}

/// An aggregated row: `{channel, name, unit, time, value}`, `time` the bucket's start.
macro_rules! aggregate_json {
    ($row:expr, $channel_id:expr) => {{
        let row = $row;
        let unit: Option<String> = sqlx::Row::try_get(row, "unit")?;
        let mut m = Map::new();
        m.insert("channel".into(), json!($channel_id));
        let name: String = sqlx::Row::try_get(row, "name")?;
        m.insert("name".into(), json!(name));
        if let Some(unit) = unit {
            m.insert("unit".into(), json!(unit));
        }
        let time: f64 = sqlx::Row::try_get(row, "time")?;
        m.insert("time".into(), json!(time));
        let value: Option<f64> = sqlx::Row::try_get(row, "value")?;
        m.insert("value".into(), json!(value));
        Value::Object(m)
    }};
}

#[derive(Debug, Clone)]
pub struct MessageStore {
    db: Db,
}

impl MessageStore {
    /// Opens `url` (`sqlite://...` or `postgres://...`) and creates the table.
    pub async fn open(url: &str) -> Result<MessageStore, magnetite_db::DbError> {
        let db = Db::open(url).await?;
        let schema = match &db {
            Db::Sqlite(_) => SQLITE_SCHEMA,
            Db::Postgres(_) => POSTGRES_SCHEMA,
        };
        for statement in schema {
            magnetite_db::db_read!(&db, pool => {
                sqlx::query(statement).execute(pool).await?;
            });
        }
        Ok(MessageStore { db })
    }

    /// Writes `rows` in one transaction (a batch of the writer).
    pub async fn insert(&self, rows: &[NewRow]) -> Result<(), sqlx::Error> {
        magnetite_db::db_read!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            for row in rows {
                let e = &row.envelope;
                let q = sqlx::query(INSERT)
                    .bind(&e.domain_id)
                    .bind(&e.channel_id)
                    .bind(&e.subtopic)
                    .bind(&e.publisher)
                    .bind(e.protocol);
                let q = match &row.content {
                    Content::Senml(r) => q
                        .bind(&r.name)
                        .bind(&r.unit)
                        .bind(r.value)
                        .bind(&r.string_value)
                        .bind(r.bool_value.map(i64::from))
                        .bind(&r.data_value)
                        .bind(r.sum)
                        .bind(r.time)
                        .bind(r.update_time)
                        .bind(None::<Vec<u8>>),
                    Content::Raw(payload) => q
                        .bind(None::<String>)
                        .bind(None::<String>)
                        .bind(None::<f64>)
                        .bind(None::<String>)
                        .bind(None::<i64>)
                        .bind(None::<String>)
                        .bind(None::<f64>)
                        .bind(e.received_at)
                        .bind(None::<f64>)
                        .bind(payload.as_slice()),
                };
                q.bind(e.received_at).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Deletes what arrived more than `retention` ago; the number deleted.
    pub async fn prune(&self, retention: Duration) -> Result<u64, sqlx::Error> {
        let before = unix_now() - retention.as_secs_f64();
        magnetite_db::db_read!(&self.db, pool => {
            let done = sqlx::query("DELETE FROM channel_messages WHERE received_at < $1")
                .bind(before)
                .execute(pool)
                .await?;
            Ok(done.rows_affected())
        })
    }

    /// The page `query` asks for of channel `channel_id` of domain `domain_id`, newest
    /// first: stored messages, or with an aggregation one value per (name, bucket).
    pub async fn page(
        &self,
        domain_id: &str,
        channel_id: &str,
        query: &ReadQuery,
    ) -> Result<Page, sqlx::Error> {
        let (filter, binds) = filter_sql(domain_id, channel_id, query);
        let (count_sql, page_sql) = match query.aggregation {
            Some(aggregation) => aggregated_sql(&self.db, &filter, aggregation, binds.len()),
            None => plain_sql(&filter, binds.len()),
        };
        let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
        let offset = i64::try_from(query.offset).unwrap_or(i64::MAX);
        magnetite_db::db_read!(&self.db, pool => {
            let mut count = sqlx::query(&count_sql);
            let mut page = sqlx::query(&page_sql);
            for bind in &binds {
                (count, page) = match bind {
                    Bind::Text(t) => (count.bind(t.clone()), page.bind(t.clone())),
                    Bind::Real(r) => (count.bind(*r), page.bind(*r)),
                    Bind::Int(i) => (count.bind(*i), page.bind(*i)),
                };
            }
            let total: i64 = sqlx::Row::try_get(&count.fetch_one(pool).await?, "n")?;
            let rows = page.bind(limit).bind(offset).fetch_all(pool).await?;
            let mut messages = Vec::with_capacity(rows.len());
            for row in &rows {
                messages.push(match query.aggregation {
                    Some(_) => aggregate_json!(row, channel_id),
                    None => message_json!(row),
                });
            }
            Ok(Page { total: u64::try_from(total).unwrap_or(0), messages })
        })
    }
}

/// The (count, page) SQL of stored messages matching `filter`.
fn plain_sql(filter: &str, binds: usize) -> (String, String) {
    let count = format!("SELECT COUNT(*) AS n FROM channel_messages WHERE {filter}");
    let page = format!(
        "SELECT {COLUMNS} FROM channel_messages WHERE {filter} \
         ORDER BY time DESC, seq DESC LIMIT ${} OFFSET ${}",
        binds + 1,
        binds + 2
    );
    (count, page)
}

/// The aggregated page's SQL: (count, page) over the records of `filter` with a value,
/// one row per (name, time bucket), newest bucket first. The interval is a number the
/// query parsed, written as a literal so the bucket expression of SELECT and GROUP BY
/// is the same text (PostgreSQL matches them by text).
fn aggregated_sql(
    db: &Db,
    filter: &str,
    aggregation: Aggregation,
    binds: usize,
) -> (String, String) {
    let i = aggregation.interval_s;
    let (bucket, real) = match db {
        Db::Sqlite(_) => (format!("CAST(time / {i:?} AS INTEGER)"), "REAL"),
        Db::Postgres(_) => (format!("FLOOR(time / {i:?})"), "DOUBLE PRECISION"),
    };
    let grouped = format!(
        "FROM channel_messages WHERE {filter} AND value IS NOT NULL GROUP BY name, {bucket}"
    );
    let count = format!("SELECT COUNT(*) AS n FROM (SELECT 1 AS one {grouped}) AS g");
    let function = aggregation.function.sql();
    let page = format!(
        "SELECT name, MIN(unit) AS unit, CAST({bucket} * {i:?} AS {real}) AS time, \
         CAST({function}(value) AS {real}) AS value {grouped} \
         ORDER BY time DESC, name LIMIT ${} OFFSET ${}",
        binds + 1,
        binds + 2
    );
    (count, page)
}

fn raw_fields(m: &mut Map<String, Value>, time: Option<f64>, bytes: Vec<u8>) {
    use base64::Engine;
    m.insert("created".into(), json!(time));
    match String::from_utf8(bytes) {
        Ok(text) => {
            m.insert("payload".into(), json!(text));
        }
        Err(not_text) => {
            let encoded = base64::engine::general_purpose::STANDARD.encode(not_text.as_bytes());
            m.insert("payload".into(), json!(encoded));
            m.insert("payload_encoding".into(), json!("base64"));
        }
    }
}

/// The WHERE clause of `query` on one channel, with its bound values (`$1`..).
fn filter_sql(domain_id: &str, channel_id: &str, query: &ReadQuery) -> (String, Vec<Bind>) {
    let mut clauses: Vec<String> = Vec::new();
    let mut binds: Vec<Bind> = Vec::new();
    let mut add = |clause: &str, bind: Bind| {
        binds.push(bind);
        clauses.push(clause.replace('?', &format!("${}", binds.len())));
    };
    add("domain_id = ?", Bind::Text(domain_id.into()));
    add("channel_id = ?", Bind::Text(channel_id.into()));
    let texts = [
        ("subtopic = ?", &query.subtopic),
        ("publisher = ?", &query.publisher),
        ("protocol = ?", &query.protocol),
        ("name = ?", &query.name),
        ("string_value = ?", &query.string_value),
        ("data_value = ?", &query.data_value),
    ];
    for (clause, value) in texts {
        if let Some(v) = value {
            add(clause, Bind::Text(v.clone()));
        }
    }
    if let Some((comparator, v)) = query.value {
        add(&format!("value {} ?", comparator.sql()), Bind::Real(v));
    }
    if let Some(b) = query.bool_value {
        add("bool_value = ?", Bind::Int(i64::from(b)));
    }
    if let Some(from) = query.from {
        add("time >= ?", Bind::Real(from));
    }
    if let Some(to) = query.to {
        add("time < ?", Bind::Real(to));
    }
    clauses.push(
        match query.format {
            Format::Senml => "payload IS NULL",
            Format::Raw => "payload IS NOT NULL",
        }
        .into(),
    );
    (clauses.join(" AND "), binds)
}

/// Now as Unix seconds.
pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn raw(received_at: f64) -> NewRow {
        NewRow {
            envelope: Envelope {
                domain_id: "d".into(),
                channel_id: "ch".into(),
                subtopic: String::new(),
                publisher: "p".into(),
                protocol: "mqtt",
                received_at,
            },
            content: Content::Raw(b"x".to_vec()),
        }
    }

    #[tokio::test]
    async fn retention_deletes_only_what_arrived_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/messages.db", dir.path().display());
        let store = MessageStore::open(&url).await.unwrap();
        let now = unix_now();
        store.insert(&[raw(now - 100.0), raw(now)]).await.unwrap();
        assert_eq!(store.prune(Duration::from_secs(10)).await.unwrap(), 1);
        let mut values = HashMap::new();
        values.insert("format".to_string(), "raw".to_string());
        let query = ReadQuery::parse(&values).unwrap();
        let page = store.page("d", "ch", &query).await.unwrap();
        assert_eq!(page.total, 1);
        assert_eq!(page.messages[0]["payload"], "x");
        let other_domain = store.page("d2", "ch", &query).await.unwrap();
        assert_eq!(other_domain.total, 0);
    }
}
