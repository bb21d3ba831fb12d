//! The platform database kit: a SQLite or PostgreSQL pool ([`Db`]), write transactions
//! ([`db_tx!`]) and reads ([`db_read!`]) written once for both engines, typed column
//! access over either row type ([`Cols`]), multi-row statements ([`multi_row`]), the
//! process-wide SQLite write lock and the unique-violation test.
//!
//! Every platform crate (auth, certs, bootstrap, events) opens nothing of its own: they
//! share one [`Db`], so a state change and its outbox row commit in one transaction.
//! This crate knows no table; each crate keeps its own SQL. It depends on no crate of
//! ours.

pub mod multi_row;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use std::str::FromStr;
use std::time::Duration;

/// What can go wrong opening the database.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The database could not be opened or reached.
    #[error("database: {0}")]
    Sqlx(#[from] sqlx::Error),
    /// The URL names no engine we speak. The URL itself is not repeated: it may carry a
    /// password.
    #[error("invalid configuration: database URL must start with sqlite: or postgres:")]
    UnknownEngine,
}

/// The platform database: a SQLite or PostgreSQL pool (cheap to clone).
#[derive(Debug, Clone)]
pub enum Db {
    /// Embedded default.
    Sqlite(SqlitePool),
    /// Scale-out.
    Postgres(PgPool),
}

impl Db {
    /// Opens a database URL. SQLite files are created if missing, in WAL mode with a
    /// busy timeout so the shippers and the writers do not fail on each other's locks.
    pub async fn open(url: &str) -> Result<Db, DbError> {
        if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_secs(10));
            let pool = SqlitePoolOptions::new()
                .max_connections(4)
                .connect_with(opts)
                .await?;
            Ok(Db::Sqlite(pool))
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            // Each outbox reader keeps one connection for its lease (events' `try_lease`).
            let pool = PgPoolOptions::new().max_connections(8).connect(url).await?;
            Ok(Db::Postgres(pool))
        } else {
            Err(DbError::UnknownEngine)
        }
    }
}

/// A UNIQUE / PRIMARY KEY constraint failed (SQLite 2067/1555, PostgreSQL 23505): the
/// row already exists, which the HTTP layers answer with 409.
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => matches!(
            db.code().as_deref(),
            Some("2067") | Some("1555") | Some("23505")
        ),
        _ => false,
    }
}

/// Typed column access that a SQLite row and a PostgreSQL row share, so a crate maps a
/// row to its type once (`fn x_from_row(r: &impl Cols)`) for both engines. The error is
/// sqlx's: each crate's error type converts it (`From<sqlx::Error>`) at the `?`.
pub trait Cols {
    /// A `TEXT NOT NULL` column.
    fn text(&self, col: &str) -> Result<String, sqlx::Error>;
    /// A nullable `TEXT` column.
    fn opt_text(&self, col: &str) -> Result<Option<String>, sqlx::Error>;
    /// A `BIGINT` column.
    fn int(&self, col: &str) -> Result<i64, sqlx::Error>;
}

/// One implementation per engine row type; the body is the same, the `Row` is not.
macro_rules! impl_cols {
    ($row:ty) => {
        impl Cols for $row {
            fn text(&self, col: &str) -> Result<String, sqlx::Error> {
                sqlx::Row::try_get(self, col)
            }
            fn opt_text(&self, col: &str) -> Result<Option<String>, sqlx::Error> {
                sqlx::Row::try_get(self, col)
            }
            fn int(&self, col: &str) -> Result<i64, sqlx::Error> {
                sqlx::Row::try_get(self, col)
            }
        }
    };
}
impl_cols!(sqlx::sqlite::SqliteRow);
impl_cols!(sqlx::postgres::PgRow);

/// One read-then-write transaction at a time on SQLite, process-wide. Every [`db_tx!`]
/// takes it (the auth, certs and bootstrap stores, the outbox retention's prune), because
/// such a transaction may read before it writes, and SQLite fails (`SQLITE_BUSY`, no
/// busy wait) a transaction that must upgrade a read lock while another writes. Writes
/// that start with their write do not take it and simply wait out SQLite's single-writer
/// lock (the busy timeout set in [`Db::open`]): the outbox's stand-alone appends
/// (`OutboxDb::append` / `append_batch`, the MQTT batching writer's batches among them)
/// and the readers' cursor saves, in `magnetite-events`. An append inside a store's
/// transaction (`Outbox::append_in`) runs under that transaction's lock.
/// PostgreSQL does not need it.
pub fn sqlite_write_lock() -> &'static tokio::sync::Mutex<()> {
    static LOCK: std::sync::OnceLock<tokio::sync::Mutex<()>> = std::sync::OnceLock::new();
    LOCK.get_or_init(|| tokio::sync::Mutex::new(()))
}

/// The count of write transactions this process committed, as a `watch` so a waiter
/// never misses one: a reader of the outbox (the event consumers' horizon) waits on it
/// instead of sleeping its whole poll, so a row is seen the moment its transaction
/// commits. Bumped by [`db_tx!`] after its commit and by writers that commit on their
/// own ([`note_commit`]: the outbox's appends in `magnetite-events`). Process-wide like
/// [`sqlite_write_lock`]; rows written by *other* processes (instances sharing a
/// PostgreSQL) do not move it, so such waiters keep polling too.
pub fn commits() -> &'static tokio::sync::watch::Sender<u64> {
    static COMMITS: std::sync::OnceLock<tokio::sync::watch::Sender<u64>> =
        std::sync::OnceLock::new();
    COMMITS.get_or_init(|| tokio::sync::watch::channel(0).0)
}

/// Records that a write transaction committed (see [`commits`]): a counter bump, no
/// allocation, no await; nobody waiting costs nothing more.
pub fn note_commit() {
    commits().send_modify(|n| *n = n.wrapping_add(1));
}

/// Runs `$body` in a write transaction bound to `$tx` (use `&mut *$tx` as the executor)
/// on either engine of a [`Db`]; commits when the body finishes, rolls back on `?`.
/// SQL is written once with `$1` parameters, which both engines accept. On SQLite the
/// transaction starts `IMMEDIATE` under [`sqlite_write_lock`], so one that reads before
/// it writes never fails upgrading its lock. Each commit is signalled on [`commits`].
#[macro_export]
macro_rules! db_tx {
    ($db:expr, $tx:ident => $body:block) => {{
        match $db {
            $crate::Db::Sqlite(pool) => {
                let _writer = $crate::sqlite_write_lock().lock().await;
                #[allow(unused_mut)]
                let mut $tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                let out = $body;
                $tx.commit().await?;
                $crate::note_commit();
                out
            }
            $crate::Db::Postgres(pool) => {
                #[allow(unused_mut)]
                let mut $tx = pool.begin().await?;
                let out = $body;
                $tx.commit().await?;
                $crate::note_commit();
                out
            }
        }
    }};
}

/// Runs `$body` with `$pool` bound to the pool of either engine of a [`Db`] (reads).
#[macro_export]
macro_rules! db_read {
    ($db:expr, $pool:ident => $body:block) => {{
        match $db {
            $crate::Db::Sqlite($pool) => $body,
            $crate::Db::Postgres($pool) => $body,
        }
    }};
}

/// Runs `$body` in a read-only transaction bound to `$tx` (use `&mut *$tx` as the
/// executor) whose statements all see one snapshot of the database. Use it where two
/// statements must agree, e.g. a page and its total: without it a row committed between
/// the `COUNT(*)` and the page makes the total smaller than the page (seen in CI on the
/// journal). SQLite in WAL mode keeps a deferred transaction's snapshot from its first
/// read; PostgreSQL needs `REPEATABLE READ` for that (its default takes one per statement).
/// The transaction is rolled back at the end: it wrote nothing.
#[macro_export]
macro_rules! db_snapshot {
    ($db:expr, $tx:ident => $body:block) => {{
        match $db {
            $crate::Db::Sqlite(pool) => {
                #[allow(unused_mut)]
                let mut $tx = pool.begin().await?;
                let out = $body;
                $tx.rollback().await?;
                out
            }
            $crate::Db::Postgres(pool) => {
                #[allow(unused_mut)]
                let mut $tx = pool
                    .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .await?;
                let out = $body;
                $tx.rollback().await?;
                out
            }
        }
    }};
}
