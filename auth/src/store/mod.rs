//! The identity store on SQLite (embedded default) or PostgreSQL, through one set of SQL.
//!
//! Both engines accept `$1`-style parameters and the column types used here (TEXT,
//! BIGINT), so every statement is written once; `magnetite_db::db_tx!` and `db_read!`
//! expand the same body for each pool type and rows are read through
//! `magnetite_db::Cols`. Each mutation appends its event to the outbox in the same
//! transaction (`magnetite_events::Outbox`), which is what makes "nothing lost" hold
//! across a crash.
//!
//! Transactions go through `magnetite_db::db_tx!` (SQLite: one writer per process,
//! `BEGIN IMMEDIATE`), reads through `db_read!`.

pub mod ancestry;
pub mod channel_names;
pub mod connections;
pub mod domains;
pub mod entities;
pub mod entity_members;
mod entity_role_migration;
pub mod hierarchy;
pub mod invitations;
pub mod list;
pub mod migrations;
pub mod pat_scopes;
pub mod pats;
mod role_rows;
pub mod roles;
pub mod users;
pub mod verifications;
pub(crate) mod visible;

pub(crate) use magnetite_db::Cols;
use magnetite_db::Db;
pub(crate) use magnetite_events::Outbox;

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
        store.migrate_domain_roles().await?;
        store.migrate_entity_roles().await?;
        Ok(store)
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The `col` of every row `sql` (one `$1` parameter, `key`) selects: the id lists
    /// the access cache and the membership checks need.
    pub(crate) async fn texts(&self, sql: &str, key: &str, col: &str) -> Result<Vec<String>> {
        magnetite_db::db_read!(self.db(), pool => {
            let rows = sqlx::query(sql).bind(key).fetch_all(pool).await?;
            Ok(rows.iter().map(|r| r.text(col)).collect::<Result<_, _>>()?)
        })
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
