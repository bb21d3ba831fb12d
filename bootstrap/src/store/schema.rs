//! The bootstrap tables and the one migration they have had.
//!
//! External ids are unique *per domain*, not platform-wide: a platform-wide UNIQUE
//! answered 409 to a tenant who picked an external id another tenant already used,
//! telling it that the id exists. Two indexes replace it:
//!
//! - `(domain_id, external_id)`: a domain never has two configs for one device;
//! - `(external_id, external_key_hash)`: the device, which only knows its external id
//!   and key, always names exactly one config. The hash is auth's keyed HMAC, so the
//!   lookup compares keyed hashes, never keys.
//!
//! Databases created before this change carry the old `external_id ... UNIQUE` column
//! constraint. PostgreSQL drops it by name; SQLite cannot drop a column constraint, so
//! the table is rebuilt once (copy, drop, rename) inside one `BEGIN IMMEDIATE`
//! transaction: a crash leaves the old table as it was, and the next start retries.
//! The old constraint is stricter than the new ones, so every old row fits.

use magnetite_db::Db;
use sqlx::Row;

use super::Result;

/// The configs table; `{name}` is the table name (the SQLite rebuild creates it under
/// a temporary name first).
fn configs_table(name: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {name} (client_id TEXT PRIMARY KEY, \
         domain_id TEXT NOT NULL, external_id TEXT NOT NULL, external_key_hash TEXT NOT NULL, \
         client_secret_sealed TEXT NOT NULL, name TEXT NOT NULL, content TEXT NOT NULL, \
         client_cert TEXT NOT NULL, client_key_sealed TEXT NOT NULL, ca_cert TEXT NOT NULL, \
         state BIGINT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT)"
    )
}

/// Every column of the configs table, for the SQLite rebuild's copy.
const CONFIG_COLUMNS: &str = "client_id, domain_id, external_id, external_key_hash, \
     client_secret_sealed, name, content, client_cert, client_key_sealed, ca_cert, state, \
     created_at, updated_at";

/// Indexes and the channels table: idempotent, valid on both engines, run after the
/// migration (the SQLite rebuild drops the old table's indexes).
const AFTER_MIGRATION: &[&str] = &[
    "CREATE INDEX IF NOT EXISTS bootstrap_configs_by_domain ON bootstrap_configs (domain_id)",
    "CREATE UNIQUE INDEX IF NOT EXISTS bootstrap_configs_domain_external \
     ON bootstrap_configs (domain_id, external_id)",
    "CREATE UNIQUE INDEX IF NOT EXISTS bootstrap_configs_external_key \
     ON bootstrap_configs (external_id, external_key_hash)",
    "CREATE TABLE IF NOT EXISTS bootstrap_channels (client_id TEXT NOT NULL, \
     channel_id TEXT NOT NULL, position BIGINT NOT NULL, name TEXT NOT NULL, \
     metadata TEXT NOT NULL, PRIMARY KEY (client_id, channel_id))",
    "CREATE INDEX IF NOT EXISTS bootstrap_channels_by_channel ON bootstrap_channels (channel_id)",
];

/// The PostgreSQL name of the old column constraint (`<table>_<column>_key`).
const PG_DROP_GLOBAL_UNIQUE: &str =
    "ALTER TABLE bootstrap_configs DROP CONSTRAINT IF EXISTS bootstrap_configs_external_id_key";

/// Counts the SQLite unique indexes on `external_id` alone (the old constraint's
/// automatic index); 0 once migrated.
const SQLITE_GLOBAL_UNIQUE: &str = "SELECT COUNT(*) AS n \
     FROM pragma_index_list('bootstrap_configs') AS il \
     JOIN pragma_index_info(il.name) AS ii \
     WHERE il.\"unique\" = 1 AND ii.name = 'external_id' \
     AND (SELECT COUNT(*) FROM pragma_index_info(il.name)) = 1";

/// Creates the tables, migrates an old database, creates the indexes.
pub(crate) async fn ensure(db: &Db) -> Result<()> {
    magnetite_db::db_tx!(db, tx => {
        sqlx::query(&configs_table("bootstrap_configs")).execute(&mut *tx).await?;
    });
    match db {
        Db::Sqlite(_) => rebuild_sqlite_if_old(db).await?,
        Db::Postgres(p) => {
            sqlx::query(PG_DROP_GLOBAL_UNIQUE).execute(p).await?;
        }
    }
    magnetite_db::db_tx!(db, tx => {
        for step in AFTER_MIGRATION {
            sqlx::query(step).execute(&mut *tx).await?;
        }
    });
    Ok(())
}

/// Rebuilds the SQLite configs table without the platform-wide UNIQUE, if it has it.
async fn rebuild_sqlite_if_old(db: &Db) -> Result<()> {
    let Db::Sqlite(_) = db else { return Ok(()) };
    magnetite_db::db_tx!(db, tx => {
        let old: i64 = sqlx::query(SQLITE_GLOBAL_UNIQUE)
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
        if old > 0 {
            let steps = [
                "DROP TABLE IF EXISTS bootstrap_configs_rebuild".to_string(),
                configs_table("bootstrap_configs_rebuild"),
                format!(
                    "INSERT INTO bootstrap_configs_rebuild ({CONFIG_COLUMNS}) \
                     SELECT {CONFIG_COLUMNS} FROM bootstrap_configs"
                ),
                "DROP TABLE bootstrap_configs".to_string(),
                "ALTER TABLE bootstrap_configs_rebuild RENAME TO bootstrap_configs".to_string(),
            ];
            for step in &steps {
                sqlx::query(step).execute(&mut *tx).await?;
            }
            tracing::info!("bootstrap: external ids are now unique per domain (table rebuilt)");
        }
    });
    Ok(())
}
