//! The identity store on SQLite (embedded default) or PostgreSQL, through one set of SQL.
//!
//! Both engines accept `$1`-style parameters and the column types used here (TEXT,
//! BIGINT), so every statement is written once; [`tx!`] and [`read!`] expand the same
//! body for each pool type. Each mutation appends its event to the outbox in the same
//! transaction (`Outbox`), which is what makes "nothing lost" hold across a crash.
//!
//! Transactions go through `magnetite_db::db_tx!` (SQLite: one writer per process,
//! `BEGIN IMMEDIATE`), reads through `db_read!`.

pub mod ancestry;
pub mod connections;
pub mod domains;
pub mod entities;
pub mod list;
pub mod migrations;
pub mod users;

use magnetite_db::Db;
use magnetite_events::Event;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{PgConnection, Row, SqliteConnection};

use crate::error::Result;

/// The store: the shared database pool (the events outbox lives in the same database).
#[derive(Debug, Clone)]
pub struct Store {
    db: Db,
}

impl Store {
    /// Wraps the pool and applies the migrations.
    pub async fn open(db: Db) -> Result<Store> {
        let store = Store { db };
        migrations::apply(&store).await?;
        Ok(store)
    }

    pub fn db(&self) -> &Db {
        &self.db
    }
}

/// Typed column access that both row types share.
pub(crate) trait Cols {
    fn text(&self, col: &str) -> Result<String>;
    fn opt_text(&self, col: &str) -> Result<Option<String>>;
    fn int(&self, col: &str) -> Result<i64>;
}

macro_rules! impl_cols {
    ($row:ty) => {
        impl Cols for $row {
            fn text(&self, col: &str) -> Result<String> {
                Ok(self.try_get::<String, _>(col)?)
            }
            fn opt_text(&self, col: &str) -> Result<Option<String>> {
                Ok(self.try_get::<Option<String>, _>(col)?)
            }
            fn int(&self, col: &str) -> Result<i64> {
                Ok(self.try_get::<i64, _>(col)?)
            }
        }
    };
}
impl_cols!(SqliteRow);
impl_cols!(PgRow);

/// Appends an event on the transaction's connection.
pub(crate) trait Outbox {
    async fn append(&mut self, ev: &Event) -> Result<()>;

    /// Appends an event about something in `domain_id`: only that domain's members
    /// (and platform admins) read it from `GET /events`. Every store write inside a
    /// domain goes through here, so no handler can forget the scope.
    async fn append_in(&mut self, ev: &Event, domain_id: &str) -> Result<()> {
        self.append(&ev.clone().in_domain(domain_id)).await
    }
}

impl Outbox for SqliteConnection {
    async fn append(&mut self, ev: &Event) -> Result<()> {
        magnetite_events::append_sqlite(self, ev).await?;
        Ok(())
    }
}

impl Outbox for PgConnection {
    async fn append(&mut self, ev: &Event) -> Result<()> {
        magnetite_events::append_postgres(self, ev).await?;
        Ok(())
    }
}

/// Now, as the services render it (`2023-08-29T11:06:11.914074Z`).
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// JSON text of a tag list / metadata object, as stored.
pub(crate) fn json_text(v: &impl serde::Serialize) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

pub(crate) fn parse_tags(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

pub(crate) fn parse_metadata(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|_| serde_json::json!({}))
}
