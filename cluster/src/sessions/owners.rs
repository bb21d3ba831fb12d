//! The table of session owners in PostgreSQL, and the pure decisions taken on its rows.
//!
//! One row per session `(namespace, client_id)`: the instance that owns it, the epoch
//! it owns it under, and (for persistent sessions) its subscriptions and expiry. Every
//! change is a compare-and-swap on the epoch: a claim moves the row to the claiming
//! instance with `epoch + 1` only if the epoch is still the one it read; an owner
//! writes its subscriptions or deletes the row only under the epoch it claimed with.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use sqlx::postgres::PgPool;
use sqlx::Row;

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS mqtt_session_owners (\
     namespace TEXT NOT NULL, client_id TEXT NOT NULL, instance TEXT NOT NULL, \
     epoch BIGINT NOT NULL, expiry BIGINT NOT NULL DEFAULT 0, subscriptions BYTEA, \
     updated_at BIGINT NOT NULL, PRIMARY KEY (namespace, client_id))";
/// The row with its owner's liveness (from `events::liveness`'s `instances` table).
const READ: &str = "SELECT o.instance, o.epoch, o.expiry, o.subscriptions, \
     i.heartbeat_at, i.reaped_by IS NOT NULL FROM mqtt_session_owners o \
     LEFT JOIN instances i ON i.id = o.instance \
     WHERE o.namespace = $1 AND o.client_id = $2";
const INSERT: &str = "INSERT INTO mqtt_session_owners \
     (namespace, client_id, instance, epoch, updated_at) VALUES ($1, $2, $3, 1, $4) \
     ON CONFLICT DO NOTHING RETURNING epoch";
/// The claim: only the instance that read `epoch` last wins. A clean start forgets the
/// subscriptions kept for a crash.
const CLAIM: &str = "UPDATE mqtt_session_owners SET instance = $3, epoch = epoch + 1, \
     updated_at = $5, subscriptions = CASE WHEN $6 THEN NULL ELSE subscriptions END \
     WHERE namespace = $1 AND client_id = $2 AND epoch = $4 RETURNING epoch";
const KEEP_SUBSCRIPTIONS: &str = "UPDATE mqtt_session_owners \
     SET subscriptions = $5, expiry = $6, updated_at = $7 \
     WHERE namespace = $1 AND client_id = $2 AND instance = $3 AND epoch = $4";
const RELEASE: &str = "DELETE FROM mqtt_session_owners \
     WHERE namespace = $1 AND client_id = $2 AND instance = $3 AND epoch = $4";

/// Claims that lose the race this many times in a row give up (the session stays
/// local-only for this connection).
const CLAIM_ATTEMPTS: usize = 5;

/// A session's row as read before a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OwnerRow {
    pub instance: String,
    pub epoch: i64,
    /// Session Expiry Interval, seconds (`u32::MAX`: never).
    pub expiry: i64,
    pub subscriptions: Option<Vec<u8>>,
    /// The owner's last heartbeat (ms); `None` if it has no `instances` row.
    pub heartbeat_at: Option<i64>,
    /// A survivor already declared the owner dead.
    pub reaped: bool,
}

/// Who held the session before this instance claimed it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Previous {
    /// Nobody (new session) or this very instance.
    Here,
    /// Another instance that is alive: it is asked to hand over.
    Live(String),
    /// Another instance that stopped beating: its subscriptions are read from the row.
    Dead,
}

impl OwnerRow {
    pub fn judge(&self, me: &str, now_ms: i64, timeout_ms: i64) -> Previous {
        if self.instance == me {
            return Previous::Here;
        }
        match self.heartbeat_at {
            Some(beat) if !self.reaped && beat >= now_ms - timeout_ms => {
                Previous::Live(self.instance.clone())
            }
            _ => Previous::Dead,
        }
    }

    /// The subscriptions a dead owner left, unless the session expired since its owner
    /// last beat (the latest moment the session can have been connected).
    pub fn resumable(&self, now_ms: i64) -> Option<Bytes> {
        let subscriptions = self.subscriptions.as_ref().filter(|s| !s.is_empty())?;
        let last_seen = self.heartbeat_at.unwrap_or(0);
        let expired = self.expiry < i64::from(u32::MAX)
            && last_seen.saturating_add(self.expiry.saturating_mul(1000)) < now_ms;
        (!expired).then(|| Bytes::copy_from_slice(subscriptions))
    }
}

pub(crate) async fn create_table(pool: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::query(SCHEMA).execute(pool).await.map(drop)
}

/// Makes `me` the owner of the session; returns the new epoch and the row as it was
/// (`None`: there was none). `Ok(None)` when other claims kept winning the race.
pub(crate) async fn claim(
    pool: &PgPool,
    me: &str,
    namespace: &str,
    client_id: &str,
    clean_start: bool,
) -> Result<Option<(i64, Option<OwnerRow>)>, sqlx::Error> {
    for _ in 0..CLAIM_ATTEMPTS {
        let Some(row) = read(pool, namespace, client_id).await? else {
            let inserted: Option<i64> = sqlx::query_scalar(INSERT)
                .bind(namespace)
                .bind(client_id)
                .bind(me)
                .bind(now_ms())
                .fetch_optional(pool)
                .await?;
            match inserted {
                Some(epoch) => return Ok(Some((epoch, None))),
                None => continue,
            }
        };
        let claimed: Option<i64> = sqlx::query_scalar(CLAIM)
            .bind(namespace)
            .bind(client_id)
            .bind(me)
            .bind(row.epoch)
            .bind(now_ms())
            .bind(clean_start)
            .fetch_optional(pool)
            .await?;
        if let Some(epoch) = claimed {
            return Ok(Some((epoch, Some(row))));
        }
    }
    Ok(None)
}

async fn read(
    pool: &PgPool,
    namespace: &str,
    client_id: &str,
) -> Result<Option<OwnerRow>, sqlx::Error> {
    let Some(row) = sqlx::query(READ)
        .bind(namespace)
        .bind(client_id)
        .fetch_optional(pool)
        .await?
    else {
        return Ok(None);
    };
    Ok(Some(OwnerRow {
        instance: row.try_get(0)?,
        epoch: row.try_get(1)?,
        expiry: row.try_get(2)?,
        subscriptions: row.try_get(3)?,
        heartbeat_at: row.try_get(4)?,
        reaped: row.try_get::<Option<bool>, _>(5)?.unwrap_or(false),
    }))
}

/// Writes the subscriptions of a session `me` owns under `epoch`; false when it does
/// not any more (the lease was lost: nothing was written).
pub(crate) async fn keep_subscriptions(
    pool: &PgPool,
    me: &str,
    key: (&str, &str, i64),
    expiry: u32,
    subscriptions: &[u8],
) -> Result<bool, sqlx::Error> {
    let (namespace, client_id, epoch) = key;
    let done = sqlx::query(KEEP_SUBSCRIPTIONS)
        .bind(namespace)
        .bind(client_id)
        .bind(me)
        .bind(epoch)
        .bind(subscriptions)
        .bind(i64::from(expiry))
        .bind(now_ms())
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Deletes the row of a session `me` owns under `epoch` (nothing if it does not).
pub(crate) async fn release(
    pool: &PgPool,
    me: &str,
    key: (&str, &str, i64),
) -> Result<(), sqlx::Error> {
    let (namespace, client_id, epoch) = key;
    sqlx::query(RELEASE)
        .bind(namespace)
        .bind(client_id)
        .bind(me)
        .bind(epoch)
        .execute(pool)
        .await
        .map(drop)
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(instance: &str, beat: Option<i64>, reaped: bool) -> OwnerRow {
        OwnerRow {
            instance: instance.into(),
            epoch: 3,
            expiry: 60,
            subscriptions: Some(vec![1, 2, 3]),
            heartbeat_at: beat,
            reaped,
        }
    }

    #[test]
    fn an_owner_is_live_only_while_it_beats_and_nobody_reaped_it() {
        let now = 100_000;
        assert_eq!(
            row("me", Some(0), true).judge("me", now, 5_000),
            Previous::Here
        );
        assert_eq!(
            row("a", Some(96_000), false).judge("me", now, 5_000),
            Previous::Live("a".into())
        );
        assert_eq!(
            row("a", Some(94_000), false).judge("me", now, 5_000),
            Previous::Dead
        );
        assert_eq!(
            row("a", Some(99_000), true).judge("me", now, 5_000),
            Previous::Dead
        );
        assert_eq!(
            row("a", None, false).judge("me", now, 5_000),
            Previous::Dead
        );
    }

    #[test]
    fn a_dead_owners_subscriptions_resume_until_the_session_would_have_expired() {
        let beat = 1_000_000;
        let r = row("a", Some(beat), false);
        assert!(r.resumable(beat + 59_000).is_some());
        assert!(r.resumable(beat + 61_000).is_none());
        let forever = OwnerRow {
            expiry: i64::from(u32::MAX),
            ..row("a", Some(0), false)
        };
        assert!(forever.resumable(i64::MAX / 2).is_some());
        let none = OwnerRow {
            subscriptions: None,
            ..row("a", Some(beat), false)
        };
        assert!(none.resumable(beat).is_none());
    }
}
