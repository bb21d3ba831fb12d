//! The notifications tables on the platform's database (SQLite or PostgreSQL, one set
//! of SQL through `magnetite-db`'s macros).
//!
//! - `notifications`: one row per notification, `seq` gives the order; `UNIQUE
//!   (user_id, source)` makes storing idempotent (see [`Draft::source`]).
//! - `notification_progress`: the last outbox row whose notifications are stored,
//!   saved in the same transaction as they are. The reader passes over rows up to it,
//!   so a window read again (a crash before the reader's cursor was saved) makes
//!   nothing twice, not even notifications acknowledged or dropped in between, which
//!   the unique source alone could not tell.
//! - `notification_cert_notices`: the certificates already noticed, so the expiry
//!   sweep notices each certificate once however often it runs (and on a shared
//!   PostgreSQL, whichever instance sweeps first).
//!
//! Each user keeps at most `max_per_user` unacknowledged notifications: storing more
//! drops that user's oldest in the same transaction, and the count of dropped ones is
//! returned for `/metrics`.

use magnetite_db::Db;
use sqlx::Row;

use crate::error::Result;
use crate::model::{Draft, Notification, Ref};

const SQLITE_TABLE: &str = "CREATE TABLE IF NOT EXISTS notifications (\
     seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, user_id TEXT NOT NULL, \
     source TEXT NOT NULL, variant TEXT NOT NULL, message TEXT NOT NULL, refs TEXT NOT NULL, \
     created_at TEXT NOT NULL, UNIQUE (user_id, source))";
const PG_TABLE: &str = "CREATE TABLE IF NOT EXISTS notifications (\
     seq BIGSERIAL PRIMARY KEY, id TEXT NOT NULL UNIQUE, user_id TEXT NOT NULL, \
     source TEXT NOT NULL, variant TEXT NOT NULL, message TEXT NOT NULL, refs TEXT NOT NULL, \
     created_at TEXT NOT NULL, UNIQUE (user_id, source))";
const COMMON_SCHEMA: [&str; 3] = [
    "CREATE INDEX IF NOT EXISTS notifications_by_user ON notifications (user_id, seq)",
    "CREATE TABLE IF NOT EXISTS notification_cert_notices (serial TEXT PRIMARY KEY, \
     noticed_at TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS notification_progress (name TEXT PRIMARY KEY, \
     last_id BIGINT NOT NULL)",
];

const INSERT: &str = "INSERT INTO notifications \
     (id, user_id, source, variant, message, refs, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (user_id, source) DO NOTHING";
/// Keeps the user's newest `$2`.
const TRIM: &str = "DELETE FROM notifications WHERE user_id = $1 AND seq NOT IN \
     (SELECT seq FROM notifications WHERE user_id = $1 ORDER BY seq DESC LIMIT $2)";
/// Raises the outbox position whose notifications are stored.
const SAVE_PROGRESS: &str =
    "INSERT INTO notification_progress (name, last_id) VALUES ('outbox', $1) \
     ON CONFLICT (name) DO UPDATE SET last_id = excluded.last_id \
     WHERE notification_progress.last_id < excluded.last_id";
const MARK_CERT: &str = "INSERT INTO notification_cert_notices (serial, noticed_at) \
     VALUES ($1, $2) ON CONFLICT (serial) DO NOTHING";

/// What one store call did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    /// New notifications.
    pub created: u64,
    /// Older ones dropped to keep users within the bound.
    pub dropped: u64,
}

/// Creates the tables if missing (idempotent; run at every start).
pub async fn migrate(db: &Db) -> Result<()> {
    let table = match db {
        Db::Sqlite(_) => SQLITE_TABLE,
        Db::Postgres(_) => PG_TABLE,
    };
    for sql in std::iter::once(table).chain(COMMON_SCHEMA) {
        magnetite_db::db_read!(db, pool => { sqlx::query(sql).execute(pool).await?; });
    }
    Ok(())
}

/// Stores `drafts` (one transaction), keeping each user within `max_per_user`.
pub async fn store(db: &Db, drafts: &[Draft], max_per_user: u32) -> Result<Stored> {
    let stored = store_marked(db, Mark::None, drafts, max_per_user).await?;
    Ok(stored.unwrap_or_default())
}

/// Stores the notifications of the outbox rows up to `through` and records that
/// position with them (see `notification_progress` in the module comment).
pub async fn store_outbox(
    db: &Db,
    through: i64,
    drafts: &[Draft],
    max_per_user: u32,
) -> Result<Stored> {
    let stored = store_marked(db, Mark::Outbox(through), drafts, max_per_user).await?;
    Ok(stored.unwrap_or_default())
}

/// The last outbox row whose notifications are stored (0 before any).
pub async fn outbox_progress(db: &Db) -> Result<i64> {
    let sql = "SELECT last_id FROM notification_progress WHERE name = 'outbox'";
    magnetite_db::db_read!(db, pool => {
        let row = sqlx::query(sql).fetch_optional(pool).await?;
        Ok(match row {
            Some(r) => r.try_get(0)?,
            None => 0,
        })
    })
}

/// Whether the expiry of `serial` was noticed already.
pub async fn cert_noticed(db: &Db, serial: &str) -> Result<bool> {
    let sql = "SELECT serial FROM notification_cert_notices WHERE serial = $1";
    magnetite_db::db_read!(db, pool => {
        Ok(sqlx::query(sql).bind(serial).fetch_optional(pool).await?.is_some())
    })
}

/// Stores the expiry notices of certificate `serial` unless it was noticed already
/// (the mark and the notices commit together); `None` when it was.
pub async fn store_cert_notice(
    db: &Db,
    serial: &str,
    drafts: &[Draft],
    max_per_user: u32,
) -> Result<Option<Stored>> {
    store_marked(db, Mark::Cert(serial), drafts, max_per_user).await
}

/// What a store records besides the notifications.
#[derive(Debug, Clone, Copy)]
enum Mark<'a> {
    None,
    /// The outbox position handled.
    Outbox(i64),
    /// The certificate noticed; the store is skipped when it was already.
    Cert(&'a str),
}

async fn store_marked(
    db: &Db,
    mark: Mark<'_>,
    drafts: &[Draft],
    max_per_user: u32,
) -> Result<Option<Stored>> {
    let now = now_rfc3339();
    let keep = i64::from(max_per_user.max(1));
    let mut users: Vec<&str> = drafts.iter().map(|d| d.user_id.as_str()).collect();
    users.sort_unstable();
    users.dedup();
    let stored = magnetite_db::db_tx!(db, tx => {
        match mark {
            Mark::None => {}
            Mark::Outbox(through) => {
                sqlx::query(SAVE_PROGRESS).bind(through).execute(&mut *tx).await?;
            }
            Mark::Cert(serial) => {
                let marked = sqlx::query(MARK_CERT).bind(serial).bind(&now).execute(&mut *tx).await?;
                if marked.rows_affected() == 0 {
                    return Ok(None);
                }
            }
        }
        let mut stored = Stored::default();
        for d in drafts {
            let refs = serde_json::to_string(&d.refs)?;
            let done = sqlx::query(INSERT)
                .bind(uuid::Uuid::new_v4().to_string())
                .bind(&d.user_id)
                .bind(&d.source)
                .bind(d.variant.as_str())
                .bind(&d.message)
                .bind(refs)
                .bind(&now)
                .execute(&mut *tx)
                .await?;
            stored.created += done.rows_affected();
        }
        for user in &users {
            let done = sqlx::query(TRIM).bind(*user).bind(keep).execute(&mut *tx).await?;
            stored.dropped += done.rows_affected();
        }
        stored
    });
    Ok(Some(stored))
}

/// A page of `user_id`'s notifications, newest first, and their total.
pub async fn list(
    db: &Db,
    user_id: &str,
    offset: u64,
    limit: u64,
) -> Result<(u64, Vec<Notification>)> {
    let count = "SELECT COUNT(*) FROM notifications WHERE user_id = $1";
    let select = "SELECT id, variant, message, refs, created_at FROM notifications \
                  WHERE user_id = $1 ORDER BY seq DESC LIMIT $2 OFFSET $3";
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let offset = i64::try_from(offset).unwrap_or(i64::MAX);
    magnetite_db::db_read!(db, pool => {
        let total: i64 = sqlx::query(count).bind(user_id).fetch_one(pool).await?.try_get(0)?;
        let rows = sqlx::query(select)
            .bind(user_id)
            .bind(limit)
            .bind(offset)
            .fetch_all(pool)
            .await?;
        let mut page = Vec::with_capacity(rows.len());
        for r in &rows {
            let refs: String = r.try_get("refs")?;
            page.push(Notification {
                id: r.try_get("id")?,
                variant: r.try_get("variant")?,
                message: r.try_get("message")?,
                // A row this crate wrote; an unreadable one shows no refs rather than
                // hiding the notification.
                refs: serde_json::from_str::<Vec<Ref>>(&refs).unwrap_or_default(),
                created_at: r.try_get("created_at")?,
            });
        }
        Ok((u64::try_from(total).unwrap_or(0), page))
    })
}

/// Deletes those of `ids` that belong to `user_id`; another user's id and an unknown
/// id are passed over alike. Returns how many went.
pub async fn acknowledge(db: &Db, user_id: &str, ids: &[String]) -> Result<u64> {
    let sql = "DELETE FROM notifications WHERE user_id = $1 AND id = $2";
    let gone = magnetite_db::db_tx!(db, tx => {
        let mut gone = 0;
        for id in ids {
            gone += sqlx::query(sql).bind(user_id).bind(id).execute(&mut *tx).await?.rows_affected();
        }
        gone
    });
    Ok(gone)
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}
