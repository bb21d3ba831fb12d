//! Many outbox rows in one transaction with few statements: the batch path
//! ([`crate::OutboxDb::append_batch`], the MQTT batching writer).
//!
//! # Why multi-row statements
//! A connect storm writes two events per connection. One `INSERT ... RETURNING id` per
//! event plus one `INSERT` per scope row made the outbox write the largest share of a
//! connect's CPU: each statement is a round trip to sqlx's SQLite worker thread, a
//! statement reset and a B-tree descent. Here a batch becomes one multi-row `INSERT`
//! per [`CHUNK`] rows of each table, so the per-statement cost is paid once per chunk.
//!
//! Statement sizes are powers of two up to [`CHUNK`] (a batch of 45 rows is 32 + 8 +
//! 4 + 1), so at most seven distinct texts per table reach the prepared-statement
//! cache instead of one per batch size.
//!
//! The ids come back with `RETURNING id`, sorted: both engines assign one statement's
//! ids in `VALUES` order, increasing (SQLite `AUTOINCREMENT` under its single writer,
//! PostgreSQL `nextval` per row), so the k-th smallest id is the k-th row's, whatever
//! order `RETURNING` lists them in.

use crate::error::EventsError;
use crate::model::Event;
use crate::scopes::scope_rows;
use magnetite_db::multi_row::{pow2_chunks, MultiRowSql};
use magnetite_db::Db;
use sqlx::Row;

/// Most rows one statement writes ([`magnetite_db::multi_row`]).
pub use magnetite_db::multi_row::CHUNK;

/// One outbox row to write: what [`crate::outbox::append_sqlite`] binds for an event,
/// computed once before the transaction (and kept across its retries).
#[derive(Debug, Clone, PartialEq)]
pub struct NewRow<'a> {
    /// The `stream` column ([`crate::model::Service::as_str`]).
    pub stream: &'static str,
    /// The canonical JSON payload.
    pub payload: String,
    /// Who may read it from `GET /events` ([`Event::domain`]).
    pub domain: Option<&'a str>,
    /// Its `events_scopes` rows: entity id, direct ([`crate::scopes`]).
    pub scopes: Vec<(String, bool)>,
}

impl<'a> NewRow<'a> {
    /// The row of `ev`, as [`crate::outbox::append_sqlite`] writes it.
    pub fn of_event(ev: &'a Event) -> NewRow<'a> {
        NewRow {
            stream: ev.service.as_str(),
            payload: ev.payload(),
            domain: ev.domain.as_deref(),
            scopes: scope_rows(ev).into_iter().collect(),
        }
    }
}

/// Inserts `$chunk`'s outbox rows with one statement; evaluates to their ids in
/// `$chunk` order. A macro because the two engines' connection types differ while the
/// statement and its binding do not.
macro_rules! insert_chunk {
    ($conn:expr, $chunk:expr, $now:expr, $instance:expr) => {{
        let mut q = sqlx::query(OUTBOX_SQL.sql($chunk.len()));
        for row in $chunk {
            q = q
                .bind(row.stream)
                .bind(row.payload.as_str())
                .bind($now)
                .bind(row.domain)
                .bind($instance);
        }
        let mut ids = Vec::with_capacity($chunk.len());
        for r in q.fetch_all($conn).await? {
            ids.push(r.try_get::<i64, _>(0)?);
        }
        ids.sort_unstable();
        ids
    }};
}

/// Inserts the scope rows of `$chunk` (whose outbox ids are `$ids`), a few statements.
macro_rules! insert_scopes {
    ($conn:expr, $chunk:expr, $ids:expr) => {{
        let scopes = scope_triples($chunk, &$ids);
        for part in pow2_chunks(&scopes) {
            let mut q = sqlx::query(SCOPES_SQL.sql(part.len()));
            for (entity, event_id, direct) in part {
                q = q.bind(*entity).bind(*event_id).bind(i64::from(*direct));
            }
            q.execute(&mut *$conn).await?;
        }
    }};
}

/// Writes `rows` in order in one transaction (either engine).
pub async fn append_rows(db: &Db, rows: &[NewRow<'_>]) -> Result<(), EventsError> {
    if rows.is_empty() {
        return Ok(());
    }
    let instance = crate::outbox::writer_instance();
    let now = crate::model::now_ns();
    // Like `db_tx!` but without the SQLite write lock: a transaction that starts with
    // its write waits out SQLite's writer lock instead (see `sqlite_write_lock`).
    macro_rules! write_in_transaction {
        ($pool:expr) => {{
            let mut tx = $pool.begin().await?;
            for chunk in pow2_chunks(rows) {
                let ids = insert_chunk!(&mut *tx, chunk, now, instance);
                insert_scopes!(&mut *tx, chunk, ids);
            }
            tx.commit().await?;
        }};
    }
    match db {
        Db::Sqlite(p) => write_in_transaction!(p),
        Db::Postgres(p) => write_in_transaction!(p),
    }
    magnetite_db::note_commit();
    Ok(())
}

/// `(entity, event id, direct)` of every scope row of `chunk`.
fn scope_triples<'r>(chunk: &'r [NewRow<'_>], ids: &[i64]) -> Vec<(&'r str, i64, bool)> {
    chunk
        .iter()
        .zip(ids)
        .flat_map(|(row, id)| row.scopes.iter().map(move |(e, d)| (e.as_str(), *id, *d)))
        .collect()
}

/// `INSERT INTO events_outbox ... VALUES (...), ... RETURNING id`.
static OUTBOX_SQL: MultiRowSql = MultiRowSql::new(5, |values| {
    format!(
        "INSERT INTO events_outbox (stream, payload, created_at, domain, instance) \
         VALUES {values} RETURNING id"
    )
});

/// `INSERT INTO events_scopes ... VALUES (...), ... ON CONFLICT DO NOTHING`.
static SCOPES_SQL: MultiRowSql = MultiRowSql::new(3, |values| {
    format!(
        "INSERT INTO events_scopes (entity_id, event_id, direct) VALUES {values} \
         ON CONFLICT DO NOTHING"
    )
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_number_every_parameter_once() {
        assert!(OUTBOX_SQL
            .sql(4)
            .contains("($16, $17, $18, $19, $20) RETURNING id"));
        assert!(SCOPES_SQL
            .sql(1)
            .ends_with("VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"));
        assert!(OUTBOX_SQL.sql(CHUNK).contains(&format!("${})", CHUNK * 5)));
    }

    #[test]
    fn scope_rows_follow_their_rows_ids() {
        let row = |scopes: &[(&str, bool)]| NewRow {
            stream: "mqtt",
            payload: String::new(),
            domain: None,
            scopes: scopes.iter().map(|(e, d)| (e.to_string(), *d)).collect(),
        };
        let chunk = [
            row(&[("g1", false), ("c1", true)]),
            row(&[]),
            row(&[("c2", true)]),
        ];
        let triples = scope_triples(&chunk, &[7, 8, 9]);
        assert_eq!(
            triples,
            vec![("g1", 7, false), ("c1", 7, true), ("c2", 9, true)]
        );
    }
}
