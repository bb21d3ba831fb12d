//! The outbox and cursor tables on SQLite or PostgreSQL (sqlx, no query macros; rows
//! mapped with `sqlx::FromRow`), as operations on the shared [`Db`] ([`OutboxDb`]).
//!
//! Writers (auth, bootstrap, the MQTT batching writer) insert into `events_outbox` inside
//! their own transaction with [`append_sqlite`] / [`append_postgres`] (whose commit is
//! signalled on `magnetite_db::commits`: the consumers' horizon wakes on it); the
//! shippers read it in id order after their cursor and the HTTP log serves it. The pool, transactions
//! and the SQLite write lock are the database kit's (`magnetite-db`); the outbox SQL is
//! here.

use crate::error::EventsError;
use crate::model::Event;
use crate::outbox_rows::NewRow;
use magnetite_db::{db_read, db_tx, Db};
use sqlx::postgres::{PgConnection, PgPool};
use sqlx::sqlite::{SqliteConnection, SqlitePool};
use sqlx::Row;
use std::future::Future;
use std::sync::OnceLock;

// The (stream, id) index serves readers of one stream (the bootstrap tailer, `GET
// /events?stream=`): without it each of their polls scans every row after their cursor,
// which MQTT connect/disconnect events make grow without bound.
const SQLITE_SCHEMA: [&str; 3] = [
    "CREATE TABLE IF NOT EXISTS events_outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, \
     stream TEXT NOT NULL, payload TEXT NOT NULL, created_at BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS events_cursors (sink TEXT PRIMARY KEY, last_id BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS events_outbox_stream_id ON events_outbox (stream, id)",
];
/// The `domain` column (who may read a row from `GET /events`, see [`Event::domain`])
/// and its index, added after the tables above; SQLite has no `ADD COLUMN IF NOT
/// EXISTS`, so [`Db::ensure_schema`] checks `pragma_table_info` first.
const SQLITE_ADD_DOMAIN: &str = "ALTER TABLE events_outbox ADD COLUMN domain TEXT";
const PG_ADD_DOMAIN: &str = "ALTER TABLE events_outbox ADD COLUMN IF NOT EXISTS domain TEXT";
/// The `instance` column: which broker instance wrote the row, so a reader on a shared
/// PostgreSQL can tell its own rows from the others' (cluster revocation applies only
/// the others'). Added like `domain`; NULL on rows written before it existed.
const SQLITE_ADD_INSTANCE: &str = "ALTER TABLE events_outbox ADD COLUMN instance TEXT";
const PG_ADD_INSTANCE: &str = "ALTER TABLE events_outbox ADD COLUMN IF NOT EXISTS instance TEXT";
const DOMAIN_INDEX: &str =
    "CREATE INDEX IF NOT EXISTS events_outbox_domain_id ON events_outbox (domain, id)";
const PG_SCHEMA: [&str; 3] = [
    "CREATE TABLE IF NOT EXISTS events_outbox (id BIGSERIAL PRIMARY KEY, \
     stream TEXT NOT NULL, payload TEXT NOT NULL, created_at BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS events_cursors (sink TEXT PRIMARY KEY, last_id BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS events_outbox_stream_id ON events_outbox (stream, id)",
];

/// One stream's rows after a cursor. `INDEXED BY`: without statistics SQLite may pick
/// the rowid range instead, a scan of every later row of every stream.
pub const SQLITE_READ_STREAM: &str = "SELECT id, stream, payload, created_at FROM events_outbox \
     INDEXED BY events_outbox_stream_id WHERE id > ? AND stream = ? ORDER BY id LIMIT ?";

/// Every stream's rows after a cursor, with the writing instance.
const READ_ALL: &str = "SELECT id, stream, payload, created_at, instance FROM events_outbox \
     WHERE id > $1 ORDER BY id LIMIT $2";
/// One stream's rows after a cursor (PostgreSQL picks the (stream, id) index itself).
const READ_STREAM: &str = "SELECT id, stream, payload, created_at FROM events_outbox \
     WHERE id > $1 AND stream = $2 ORDER BY id LIMIT $3";

/// The cursor row that is not a reader's position.
pub const EPOCH_CURSOR: &str = "#epoch";

/// Which rows a reader of the log may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadScope {
    /// Every row (platform admins).
    All,
    /// Only rows of these domains (a domain's admins and members); never a row without
    /// a domain. At most [`MAX_SCOPE_DOMAINS`] are used, the first ones given.
    Domains(Vec<String>),
}

/// Most domains one scoped read filters on (one bound parameter each).
pub const MAX_SCOPE_DOMAINS: usize = 1000;

/// One outbox row.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct OutboxRow {
    /// Monotonic id: the shipping order.
    pub id: i64,
    /// Canonical service name (`users`, `clients`, `bootstrap`, `mqtt`).
    pub stream: String,
    /// Canonical JSON payload.
    pub payload: String,
    /// Insert time (Unix ns).
    pub created_at: i64,
    /// The instance that wrote the row ([`set_writer_instance`]); only the every-stream
    /// read and a reader's window ([`crate::window`]) select it (`None` elsewhere, and on
    /// rows older than the column).
    #[sqlx(default)]
    pub instance: Option<String>,
    /// Its tenant ([`Event::domain`]); only a reader's window selects it
    /// ([`crate::window`]; `None` elsewhere).
    #[sqlx(default)]
    pub domain: Option<String>,
}

/// This process's instance id, stamped on every outbox row it writes.
static WRITER_INSTANCE: OnceLock<String> = OnceLock::new();

/// Sets the instance id stamped on every outbox row this process writes (once, at
/// start, before anything writes). A process-wide value rather than a parameter: every
/// store of every crate appends through [`Outbox`], and the writer is the process, not
/// the call site. Later calls are ignored.
pub fn set_writer_instance(instance: &str) {
    let _ = WRITER_INSTANCE.set(instance.to_string());
}

pub(crate) fn writer_instance() -> Option<&'static str> {
    WRITER_INSTANCE.get().map(String::as_str)
}

/// What [`crate::Events::start`] accepts: a URL to open, or a pool the caller owns.
#[derive(Debug, Clone)]
pub enum DbSource {
    /// `sqlite://...` or `postgres://...`.
    Url(String),
    /// An already-open pool (shared with auth).
    Db(Db),
}

impl From<&str> for DbSource {
    fn from(s: &str) -> Self {
        DbSource::Url(s.to_string())
    }
}
impl From<String> for DbSource {
    fn from(s: String) -> Self {
        DbSource::Url(s)
    }
}
impl From<SqlitePool> for DbSource {
    fn from(p: SqlitePool) -> Self {
        DbSource::Db(Db::Sqlite(p))
    }
}
impl From<PgPool> for DbSource {
    fn from(p: PgPool) -> Self {
        DbSource::Db(Db::Postgres(p))
    }
}
impl From<Db> for DbSource {
    fn from(d: Db) -> Self {
        DbSource::Db(d)
    }
}

/// The insert of one event, for both engines (`$n` parameters are valid on SQLite too).
const APPEND: &str = "INSERT INTO events_outbox (stream, payload, created_at, domain, instance) \
     VALUES ($1, $2, $3, $4, $5) RETURNING id";

/// Runs [`APPEND`] for `$ev` on `$conn`, either engine's connection (the sqlx types
/// differ, the statement and its binding do not); evaluates to the new row's id.
macro_rules! insert_row {
    ($conn:expr, $ev:expr) => {{
        let row = sqlx::query(APPEND)
            .bind($ev.service.as_str())
            .bind($ev.payload())
            .bind(crate::model::now_ns())
            .bind($ev.domain.as_deref())
            .bind(writer_instance())
            .fetch_one($conn)
            .await?;
        row.try_get::<i64, _>(0)?
    }};
}

/// Inserts one event into the SQLite outbox on `conn` (use the caller's transaction),
/// with its scope rows ([`crate::scopes`]).
pub async fn append_sqlite(conn: &mut SqliteConnection, ev: &Event) -> Result<i64, EventsError> {
    let id = insert_row!(&mut *conn, ev);
    crate::scopes::write_sqlite(conn, id, ev).await?;
    Ok(id)
}

/// Inserts one event into the PostgreSQL outbox on `conn` (use the caller's transaction),
/// with its scope rows ([`crate::scopes`]).
pub async fn append_postgres(conn: &mut PgConnection, ev: &Event) -> Result<i64, EventsError> {
    let id = insert_row!(&mut *conn, ev);
    crate::scopes::write_postgres(conn, id, ev).await?;
    Ok(id)
}

/// Appends an event on a transaction's connection, either engine: how auth, bootstrap
/// and certs write a change and its event in one transaction (`tx.append(&ev)` inside
/// `magnetite_db::db_tx!`). Each crate's error converts from [`EventsError`].
///
/// `async fn` in a public trait: callers only use the two concrete connection types, so
/// the futures' `Send` is known at every call site and no bound is needed here.
#[allow(async_fn_in_trait)]
pub trait Outbox {
    /// Appends `ev` as it is (its domain, if any, decides who reads it).
    async fn append(&mut self, ev: &Event) -> Result<(), EventsError>;

    /// Appends an event about something in `domain_id`: only that domain's members
    /// (and platform admins) read it from `GET /events`. Every store write inside a
    /// domain goes through here, so no handler can forget the scope.
    async fn append_in(&mut self, ev: &Event, domain_id: &str) -> Result<(), EventsError> {
        self.append(&ev.clone().in_domain(domain_id)).await
    }
}

impl Outbox for SqliteConnection {
    async fn append(&mut self, ev: &Event) -> Result<(), EventsError> {
        append_sqlite(self, ev).await.map(drop)
    }
}

impl Outbox for PgConnection {
    async fn append(&mut self, ev: &Event) -> Result<(), EventsError> {
        append_postgres(self, ev).await.map(drop)
    }
}

/// The outbox operations on the shared database: a trait because [`Db`] is the
/// database kit's type; `use magnetite_events::OutboxDb` to call them.
pub trait OutboxDb {
    /// Creates the outbox and cursor tables if they do not exist (either side may run first).
    fn ensure_schema(&self) -> impl Future<Output = Result<(), EventsError>> + Send;
    /// Appends one event in its own transaction (for writers without a transaction).
    fn append(&self, ev: &Event) -> impl Future<Output = Result<i64, EventsError>> + Send;
    /// Appends many events in one transaction, in order (the MQTT batching writer).
    fn append_batch(&self, evs: &[Event]) -> impl Future<Output = Result<(), EventsError>> + Send;
    /// Up to `limit` rows with id > `after`, optionally of one stream, in id order.
    fn fetch_after(
        &self,
        after: i64,
        stream: Option<&str>,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<OutboxRow>, EventsError>> + Send;
    /// Up to `limit` rows with id > `after` that `scope` may read, optionally of one
    /// stream, in id order: the page `GET /events` serves. The filter is in the query,
    /// so a page is bounded by `limit` whatever the other tenants wrote.
    fn fetch_scoped(
        &self,
        after: i64,
        stream: Option<&str>,
        limit: i64,
        scope: &ReadScope,
    ) -> impl Future<Output = Result<Vec<OutboxRow>, EventsError>> + Send;
    /// Highest outbox id (0 when empty): the lag reference.
    fn max_id(&self) -> impl Future<Output = Result<i64, EventsError>> + Send;
    /// The saved cursor of `sink` (0 when it never shipped).
    fn cursor(&self, sink: &str) -> impl Future<Output = Result<i64, EventsError>> + Send;
    /// The saved cursor of `reader`, `None` before it saved one. Every saved cursor
    /// holds back retention (see [`crate::retention`]): a reader of the outbox (a sink,
    /// the bootstrap tailer) keeps its position here so nothing it has not read is pruned.
    fn saved_cursor(
        &self,
        reader: &str,
    ) -> impl Future<Output = Result<Option<i64>, EventsError>> + Send;
    /// Saves the cursor of `sink` (upsert).
    fn save_cursor(
        &self,
        sink: &str,
        last_id: i64,
    ) -> impl Future<Output = Result<(), EventsError>> + Send;
    /// A random number fixed for the life of this outbox (stored as the cursor of the
    /// pseudo-sink `#epoch`): prefixes the dedup ids given to NATS and RabbitMQ so a
    /// fresh database that restarts ids at 1 is never mistaken for a duplicate.
    fn epoch(&self) -> impl Future<Output = Result<i64, EventsError>> + Send;
    /// The lowest saved position of any reader (`None` when no reader saved one).
    fn lowest_cursor(&self) -> impl Future<Output = Result<Option<i64>, EventsError>> + Send;
    /// Deletes up to `limit` of the oldest rows with id <= `up_to` written before
    /// `before_ns`; returns how many went.
    fn delete_old(
        &self,
        up_to: i64,
        before_ns: i64,
        limit: i64,
    ) -> impl Future<Output = Result<u64, EventsError>> + Send;
    /// Tries to become the one reader of `name` ([`crate::reader`]); `None` when
    /// another instance is.
    fn try_lease(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<Lease>, EventsError>> + Send;
}

impl OutboxDb for Db {
    async fn ensure_schema(&self) -> Result<(), EventsError> {
        match self {
            Db::Sqlite(p) => ensure_sqlite_schema(p).await,
            Db::Postgres(p) => ensure_pg_schema(p).await,
        }
    }

    async fn append(&self, ev: &Event) -> Result<i64, EventsError> {
        let id = match self {
            Db::Sqlite(p) => append_sqlite(&mut *p.acquire().await?, ev).await?,
            Db::Postgres(p) => append_postgres(&mut *p.acquire().await?, ev).await?,
        };
        magnetite_db::note_commit();
        Ok(id)
    }

    async fn append_batch(&self, evs: &[Event]) -> Result<(), EventsError> {
        let rows: Vec<NewRow<'_>> = evs.iter().map(NewRow::of_event).collect();
        crate::outbox_rows::append_rows(self, &rows).await
    }

    async fn fetch_after(
        &self,
        after: i64,
        stream: Option<&str>,
        limit: i64,
    ) -> Result<Vec<OutboxRow>, EventsError> {
        let rows = match (self, stream) {
            (Db::Sqlite(p), Some(s)) => {
                sqlx::query_as(SQLITE_READ_STREAM)
                    .bind(after)
                    .bind(s)
                    .bind(limit)
                    .fetch_all(p)
                    .await?
            }
            (Db::Postgres(p), Some(s)) => {
                sqlx::query_as(READ_STREAM)
                    .bind(after)
                    .bind(s)
                    .bind(limit)
                    .fetch_all(p)
                    .await?
            }
            (db, None) => db_read!(db, pool => {
                sqlx::query_as(READ_ALL).bind(after).bind(limit).fetch_all(pool).await?
            }),
        };
        Ok(rows)
    }

    async fn fetch_scoped(
        &self,
        after: i64,
        stream: Option<&str>,
        limit: i64,
        scope: &ReadScope,
    ) -> Result<Vec<OutboxRow>, EventsError> {
        let domains = match scope {
            ReadScope::All => return self.fetch_after(after, stream, limit).await,
            ReadScope::Domains(d) if d.is_empty() => return Ok(Vec::new()),
            ReadScope::Domains(d) => &d[..d.len().min(MAX_SCOPE_DOMAINS)],
        };
        let sql = scoped_sql(stream.is_some(), domains.len());
        let rows = db_read!(self, pool => {
            let mut q = sqlx::query_as(&sql).bind(after).bind(limit);
            if let Some(s) = stream {
                q = q.bind(s);
            }
            for d in domains {
                q = q.bind(d.as_str());
            }
            q.fetch_all(pool).await?
        });
        Ok(rows)
    }

    async fn max_id(&self) -> Result<i64, EventsError> {
        let q = "SELECT COALESCE(MAX(id), 0) FROM events_outbox";
        let v: i64 = db_read!(self, pool => { sqlx::query_scalar(q).fetch_one(pool).await? });
        Ok(v)
    }

    async fn cursor(&self, sink: &str) -> Result<i64, EventsError> {
        Ok(self.saved_cursor(sink).await?.unwrap_or(0))
    }

    async fn saved_cursor(&self, reader: &str) -> Result<Option<i64>, EventsError> {
        let q = "SELECT last_id FROM events_cursors WHERE sink = $1";
        let v: Option<i64> = db_read!(self, pool => {
            sqlx::query_scalar(q).bind(reader).fetch_optional(pool).await?
        });
        Ok(v)
    }

    async fn save_cursor(&self, sink: &str, last_id: i64) -> Result<(), EventsError> {
        let q = "INSERT INTO events_cursors (sink, last_id) VALUES ($1, $2) \
                 ON CONFLICT(sink) DO UPDATE SET last_id = excluded.last_id";
        db_read!(self, pool => { sqlx::query(q).bind(sink).bind(last_id).execute(pool).await?; });
        Ok(())
    }

    async fn epoch(&self) -> Result<i64, EventsError> {
        let existing = self.cursor(EPOCH_CURSOR).await?;
        if existing != 0 {
            return Ok(existing);
        }
        let fresh = (crate::model::now_ns() & 0x7fff_ffff_ffff) | 1;
        let q = "INSERT INTO events_cursors (sink, last_id) VALUES ('#epoch', $1) \
                 ON CONFLICT(sink) DO NOTHING";
        db_read!(self, pool => { sqlx::query(q).bind(fresh).execute(pool).await?; });
        self.cursor(EPOCH_CURSOR).await
    }

    async fn lowest_cursor(&self) -> Result<Option<i64>, EventsError> {
        let q = "SELECT MIN(last_id) FROM events_cursors WHERE sink <> $1";
        let lowest: Option<i64> = db_read!(self, pool => {
            sqlx::query(q).bind(EPOCH_CURSOR).fetch_one(pool).await?.try_get(0)?
        });
        Ok(lowest)
    }

    async fn delete_old(&self, up_to: i64, before_ns: i64, limit: i64) -> Result<u64, EventsError> {
        let q = "DELETE FROM events_outbox WHERE id IN (SELECT id FROM events_outbox \
                 WHERE id <= $1 AND created_at < $2 ORDER BY id LIMIT $3)";
        let done = db_tx!(self, tx => {
            let done = sqlx::query(q).bind(up_to).bind(before_ns).bind(limit).execute(&mut *tx).await?.rows_affected();
            sqlx::query(crate::scopes::PRUNE).bind(up_to).execute(&mut *tx).await?;
            done
        });
        Ok(done)
    }

    async fn try_lease(&self, name: &str) -> Result<Option<Lease>, EventsError> {
        let Db::Postgres(p) = self else {
            return Ok(Some(Lease(None)));
        };
        let mut conn = p.acquire().await?.detach();
        let got: bool = sqlx::query("SELECT pg_try_advisory_lock($1)")
            .bind(lock_key(name))
            .fetch_one(&mut conn)
            .await?
            .try_get(0)?;
        Ok(got.then_some(Lease(Some(conn))))
    }
}

async fn ensure_sqlite_schema(p: &SqlitePool) -> Result<(), EventsError> {
    for s in SQLITE_SCHEMA {
        sqlx::query(s).execute(p).await?;
    }
    for (column, add) in [
        ("domain", SQLITE_ADD_DOMAIN),
        ("instance", SQLITE_ADD_INSTANCE),
    ] {
        let has: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pragma_table_info('events_outbox') WHERE name = $1",
        )
        .bind(column)
        .fetch_one(p)
        .await?;
        if has == 0 {
            sqlx::query(add).execute(p).await?;
        }
    }
    sqlx::query(DOMAIN_INDEX).execute(p).await?;
    for s in crate::scopes::SCHEMA {
        sqlx::query(s).execute(p).await?;
    }
    Ok(())
}

async fn ensure_pg_schema(p: &PgPool) -> Result<(), EventsError> {
    let scopes = crate::scopes::SCHEMA.iter();
    for s in PG_SCHEMA
        .iter()
        .chain(&[PG_ADD_DOMAIN, PG_ADD_INSTANCE, DOMAIN_INDEX])
        .chain(scopes)
    {
        sqlx::query(s).execute(p).await?;
    }
    Ok(())
}

/// Exclusive right to read as one reader name (a sink, the bootstrap tailer) across instances sharing a PostgreSQL:
/// a session-level advisory lock on a connection taken out of the pool. Dropping the
/// lease closes that connection, which releases the lock. SQLite is single-host, so
/// its lease is empty.
pub struct Lease(Option<PgConnection>);

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Lease").field(&self.0.is_some()).finish()
    }
}

/// Stable 64-bit key of a sink name (FNV-1a) for `pg_try_advisory_lock`.
fn lock_key(name: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h as i64
}

/// `$1` after, `$2` limit, then the stream when filtered, then one parameter per
/// domain (numbered placeholders, which both engines accept).
fn scoped_sql(by_stream: bool, domains: usize) -> String {
    let first = if by_stream { 4 } else { 3 };
    let list: Vec<String> = (first..first + domains).map(|n| format!("${n}")).collect();
    let stream = if by_stream { " AND stream = $3" } else { "" };
    format!(
        "SELECT id, stream, payload, created_at FROM events_outbox \
         WHERE id > $1{stream} AND domain IN ({}) ORDER BY id LIMIT $2",
        list.join(", ")
    )
}
