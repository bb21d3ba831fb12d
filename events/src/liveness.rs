//! Instances that die: each instance on a shared PostgreSQL keeps a heartbeat row in
//! `instances`; when one stops beating for the timeout, one survivor claims it (a
//! compare-and-swap on the row) and, in the same transaction, writes the MQTT
//! `disconnect` events the dead instance could not: one per `connect` it wrote since
//! its start without a matching `disconnect`, stamped with the dead instance's id.
//! The claim and the events commit together, so they are written once, whoever
//! survives and however many do.
//!
//! What the dead instance had not yet written (its MQTT writer batches) is unknown to
//! everyone: a device that connected in its last moments gets neither event. An
//! instance that restarts under the same id before it is claimed starts a new life;
//! the devices of the old one get no disconnect event from a survivor.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use magnetite_db::Db;
use serde_json::{Map, Value};
use sqlx::postgres::{PgConnection, PgPool};
use sqlx::Row;
use tokio::sync::watch;

use crate::error::EventsError;
use crate::model::mqtt::{mqtt_event, MqttEventType};
use crate::outbox::append_postgres;
use crate::reader::ReaderTask;

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS instances (id TEXT PRIMARY KEY, \
     started_after BIGINT NOT NULL, heartbeat_at BIGINT NOT NULL, reaped_by TEXT)";
/// A (re)start: a new life that begins after the newest outbox row.
const REGISTER: &str = "INSERT INTO instances (id, started_after, heartbeat_at, reaped_by) \
     VALUES ($1, (SELECT COALESCE(MAX(id), 0) FROM events_outbox), $2, NULL) \
     ON CONFLICT (id) DO UPDATE SET started_after = EXCLUDED.started_after, \
     heartbeat_at = EXCLUDED.heartbeat_at, reaped_by = NULL";
const BEAT: &str = "UPDATE instances SET heartbeat_at = $2 WHERE id = $1";
const SILENT: &str =
    "SELECT id FROM instances WHERE id <> $1 AND reaped_by IS NULL AND heartbeat_at < $2";
/// The claim: only one survivor's update matches.
const CLAIM: &str = "UPDATE instances SET reaped_by = $2 \
     WHERE id = $1 AND reaped_by IS NULL AND heartbeat_at < $3 RETURNING started_after";
/// The dead instance's MQTT events of its last life, a page at a time.
const MQTT_ROWS: &str = "SELECT id, payload, domain FROM events_outbox \
     WHERE stream = 'mqtt' AND instance = $1 AND id > $2 ORDER BY id LIMIT 1000";

/// The MQTT sessions still open at the end of a sequence of `(client, domain, event
/// type)` events: each `connect` not followed by a `disconnect` of the same client,
/// with the client's domain. A disconnect without a connect (one from before the
/// window) is ignored.
pub fn still_connected<'a>(
    events: impl IntoIterator<Item = (&'a str, Option<&'a str>, &'a str)>,
) -> Vec<(String, Option<String>)> {
    let mut open: BTreeMap<&str, (Option<&str>, usize)> = BTreeMap::new();
    for (client, domain, kind) in events {
        match kind {
            "connect" => open.entry(client).or_insert((domain, 0)).1 += 1,
            "disconnect" => {
                if let Some(entry) = open.get_mut(client) {
                    entry.1 = entry.1.saturating_sub(1);
                }
            }
            _ => {}
        }
    }
    open.into_iter()
        .flat_map(|(client, (domain, n))| {
            std::iter::repeat_n((client.to_string(), domain.map(str::to_string)), n)
        })
        .collect()
}

/// Starts the heartbeat and the watch over the others (on PostgreSQL; `None` on SQLite,
/// where there is one instance). `timeout`: silence after which an instance is dead;
/// beats and checks run three times per timeout.
pub async fn start(
    db: &Db,
    instance: &str,
    timeout: Duration,
) -> Result<Option<ReaderTask>, EventsError> {
    let Db::Postgres(pool) = db else {
        return Ok(None);
    };
    sqlx::query(SCHEMA).execute(pool).await?;
    sqlx::query(REGISTER)
        .bind(instance)
        .bind(now_ms())
        .execute(pool)
        .await?;
    let (pool, instance) = (pool.clone(), instance.to_string());
    Ok(Some(ReaderTask::spawn(|stop| {
        watch_over(pool, instance, timeout, stop)
    })))
}

async fn watch_over(pool: PgPool, me: String, timeout: Duration, mut stop: watch::Receiver<bool>) {
    let period = timeout / 3;
    loop {
        if let Err(err) = beat_and_reap(&pool, &me, timeout).await {
            tracing::warn!(error = %err, "instance liveness: database unreachable");
        }
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = stop.changed() => return,
        }
    }
}

async fn beat_and_reap(pool: &PgPool, me: &str, timeout: Duration) -> Result<(), EventsError> {
    let now = now_ms();
    sqlx::query(BEAT).bind(me).bind(now).execute(pool).await?;
    let cutoff = now - timeout.as_millis() as i64;
    let silent: Vec<String> = sqlx::query_scalar(SILENT)
        .bind(me)
        .bind(cutoff)
        .fetch_all(pool)
        .await?;
    for dead in silent {
        let mut tx = pool.begin().await?;
        let emitted = reap(&mut tx, me, &dead, cutoff).await?;
        tx.commit().await?;
        if let Some(n) = emitted {
            tracing::warn!(instance = %dead, disconnects = n, "instance silent past the timeout: its devices' disconnect events written");
        }
    }
    Ok(())
}

/// Claims `dead` and writes its open sessions' disconnect events; `None` when another
/// survivor claimed it first.
async fn reap(
    tx: &mut PgConnection,
    me: &str,
    dead: &str,
    cutoff: i64,
) -> Result<Option<usize>, EventsError> {
    let claimed = sqlx::query(CLAIM)
        .bind(dead)
        .bind(me)
        .bind(cutoff)
        .fetch_optional(&mut *tx)
        .await?;
    let Some(row) = claimed else {
        return Ok(None);
    };
    let mut after: i64 = row.try_get(0)?;
    let mut seen: Vec<(String, Option<String>, String)> = Vec::new();
    loop {
        let page = sqlx::query(MQTT_ROWS)
            .bind(dead)
            .bind(after)
            .fetch_all(&mut *tx)
            .await?;
        let Some(last) = page.last() else { break };
        after = last.try_get(0)?;
        for r in &page {
            let fields: Map<String, Value> =
                serde_json::from_str(r.try_get::<&str, _>(1)?).unwrap_or_default();
            let text = |k: &str| fields.get(k).and_then(Value::as_str).map(str::to_string);
            if let (Some(client), Some(kind)) = (text("client_id"), text("event_type")) {
                seen.push((client, r.try_get(2)?, kind));
            }
        }
    }
    let events = seen
        .iter()
        .map(|(c, d, k)| (c.as_str(), d.as_deref(), k.as_str()));
    let open = still_connected(events);
    for (client, domain) in &open {
        let mut ev = mqtt_event(client, MqttEventType::Disconnect, dead);
        ev.domain = domain.clone();
        append_postgres(&mut *tx, &ev).await?;
    }
    Ok(Some(open.len()))
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_connect_without_its_disconnect_is_open() {
        let events = [
            ("a", Some("d1"), "connect"),
            ("b", Some("d2"), "connect"),
            ("a", Some("d1"), "disconnect"),
            ("c", None, "connect"),
            ("c", None, "connect"),
            ("c", None, "disconnect"),
        ];
        let open = still_connected(events);
        assert_eq!(
            open,
            vec![("b".into(), Some("d2".into())), ("c".into(), None)]
        );
    }

    #[test]
    fn a_disconnect_from_before_the_window_opens_nothing() {
        let events = [("a", None, "disconnect"), ("a", None, "connect")];
        assert_eq!(still_connected(events), vec![("a".into(), None)]);
        let events = [
            ("a", None, "connect"),
            ("a", None, "disconnect"),
            ("a", None, "disconnect"),
        ];
        assert!(still_connected(events).is_empty());
    }
}
