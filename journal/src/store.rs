//! The journal's tables on the platform database (SQLite or PostgreSQL, one set of SQL
//! through `magnetite-db`'s macros).
//!
//! - `journal`: one row per journalled outbox event, keyed by the outbox id, so storing
//!   a window twice (a crash before the reader's cursor was saved) stores nothing twice:
//!   [`store_window`] (module `window`) applies an entry's telemetry change only when
//!   its row is new, in the same transaction.
//! - `journal_entities (entity_type, entity_id, occurred_at, journal_id)`: which
//!   journals list an entry; its primary key is the index a page is read by (one entity,
//!   in time order), so a page never scans other entities' history.
//! - `journal_telemetry`: per client, message counts and first / last seen;
//!   `journal_subscriptions`: the filters each live session of a client holds.
//!
//! Entries are pruned by age ([`prune`], `--journal-retention`); telemetry is an
//! aggregate and is kept.

use magnetite_db::{db_read, db_snapshot, db_tx, Db};
use serde_json::{Map, Value};
use sqlx::Row;

use crate::error::Result;
use crate::model::{EntityType, Entry, JournalQuery, TelemetryRow};

const SCHEMA: [&str; 6] = [
    "CREATE TABLE IF NOT EXISTS journal (id BIGINT PRIMARY KEY, operation TEXT NOT NULL, \
     occurred_at BIGINT NOT NULL, domain TEXT, attributes TEXT NOT NULL, metadata TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS journal_by_time ON journal (occurred_at)",
    "CREATE TABLE IF NOT EXISTS journal_entities (entity_type TEXT NOT NULL, \
     entity_id TEXT NOT NULL, occurred_at BIGINT NOT NULL, journal_id BIGINT NOT NULL, \
     PRIMARY KEY (entity_type, entity_id, occurred_at, journal_id))",
    "CREATE INDEX IF NOT EXISTS journal_entities_by_entry ON journal_entities (journal_id)",
    "CREATE TABLE IF NOT EXISTS journal_telemetry (client_id TEXT PRIMARY KEY, \
     domain_id TEXT NOT NULL, inbound BIGINT NOT NULL, outbound BIGINT NOT NULL, \
     first_seen BIGINT NOT NULL, last_seen BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS journal_subscriptions (client_id TEXT NOT NULL, \
     subscriber_id TEXT NOT NULL, topic TEXT NOT NULL, \
     PRIMARY KEY (client_id, subscriber_id, topic))",
];

/// Creates the tables if missing (idempotent; run at every start).
pub async fn migrate(db: &Db) -> Result<()> {
    for sql in SCHEMA {
        db_read!(db, pool => { sqlx::query(sql).execute(pool).await?; });
    }
    Ok(())
}

pub use crate::window::store_window;

/// A bound value of a page query.
enum Bind {
    Text(String),
    Int(i64),
}

/// The `FROM ... WHERE ...` of one entity's page and its values, numbered `$1..`.
fn page_filter(
    kind: EntityType,
    id: &str,
    domain: Option<&str>,
    q: &JournalQuery,
) -> (String, Vec<Bind>) {
    let mut binds = vec![
        Bind::Text(kind.as_str().to_string()),
        Bind::Text(id.to_string()),
        Bind::Int(q.from_ns),
        Bind::Int(q.to_ns),
    ];
    let mut sql = String::from(
        "FROM journal_entities e JOIN journal j ON j.id = e.journal_id \
         WHERE e.entity_type = $1 AND e.entity_id = $2 \
         AND e.occurred_at >= $3 AND e.occurred_at <= $4",
    );
    if let Some(op) = &q.operation {
        binds.push(Bind::Text(op.clone()));
        sql.push_str(&format!(" AND j.operation = ${}", binds.len()));
    }
    if let Some(d) = domain {
        binds.push(Bind::Text(d.to_string()));
        sql.push_str(&format!(" AND j.domain = ${}", binds.len()));
    }
    (sql, binds)
}

/// One page of the journal of `kind` `id` (only entries of `domain` when given) and
/// the total matching.
pub async fn page(
    db: &Db,
    kind: EntityType,
    id: &str,
    domain: Option<&str>,
    q: &JournalQuery,
) -> Result<(u64, Vec<Entry>)> {
    let (filter, binds) = page_filter(kind, id, domain, q);
    let count_sql = format!("SELECT COUNT(*) {filter}");
    let dir = q.dir.sql();
    let rows_sql = format!(
        "SELECT j.id, j.operation, j.occurred_at, j.domain, j.attributes, j.metadata {filter} \
         ORDER BY e.occurred_at {dir}, e.journal_id {dir} LIMIT {} OFFSET {}",
        q.limit, q.offset
    );
    // One snapshot: an entry journalled between the two statements would otherwise make
    // the total disagree with the page.
    db_snapshot!(db, tx => {
        let mut count = sqlx::query(&count_sql);
        let mut rows = sqlx::query(&rows_sql);
        for b in &binds {
            (count, rows) = match b {
                Bind::Text(s) => (count.bind(s.as_str()), rows.bind(s.as_str())),
                Bind::Int(i) => (count.bind(*i), rows.bind(*i)),
            };
        }
        let total: i64 = count.fetch_one(&mut *tx).await?.try_get(0)?;
        let mut entries = Vec::new();
        for r in rows.fetch_all(&mut *tx).await? {
            entries.push(Entry {
                id: r.try_get("id")?,
                operation: r.try_get("operation")?,
                occurred_at: r.try_get("occurred_at")?,
                domain: r.try_get("domain")?,
                attributes: object(r.try_get("attributes")?),
                metadata: object(r.try_get("metadata")?),
            });
        }
        Ok((u64::try_from(total).unwrap_or(0), entries))
    })
}

/// A stored JSON object (empty if it is somehow not one).
fn object(text: String) -> Map<String, Value> {
    match serde_json::from_str(&text) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

/// What is known of `client_id` of `domain_id` (zeros and no times if never seen).
pub async fn telemetry(db: &Db, client_id: &str, domain_id: &str) -> Result<TelemetryRow> {
    let seen = "SELECT inbound, outbound, first_seen, last_seen FROM journal_telemetry \
                WHERE client_id = $1 AND domain_id = $2";
    let subs = "SELECT COUNT(*) FROM journal_subscriptions WHERE client_id = $1";
    db_read!(db, pool => {
        let mut t = TelemetryRow::default();
        if let Some(r) = sqlx::query(seen).bind(client_id).bind(domain_id).fetch_optional(pool).await? {
            t.inbound = r.try_get(0)?;
            t.outbound = r.try_get(1)?;
            t.first_seen = Some(r.try_get(2)?);
            t.last_seen = Some(r.try_get(3)?);
        }
        t.subscriptions = sqlx::query(subs).bind(client_id).fetch_one(pool).await?.try_get(0)?;
        Ok(t)
    })
}

/// Deletes at most `chunk` entries that occurred before `before_ns` (with their
/// index rows); returns how many went.
pub async fn prune(db: &Db, before_ns: i64, chunk: i64) -> Result<u64> {
    let oldest = "SELECT id FROM journal WHERE occurred_at < $1 ORDER BY occurred_at LIMIT $2";
    let index = format!("DELETE FROM journal_entities WHERE journal_id IN ({oldest})");
    let entries = format!("DELETE FROM journal WHERE id IN ({oldest})");
    db_tx!(db, tx => {
        sqlx::query(&index).bind(before_ns).bind(chunk).execute(&mut *tx).await?;
        let gone = sqlx::query(&entries).bind(before_ns).bind(chunk).execute(&mut *tx).await?;
        Ok(gone.rows_affected())
    })
}
