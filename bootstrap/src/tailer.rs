//! The background task that keeps configs in step with the platform: it tails the
//! `clients` stream of the outbox (Magistrala's bootstrap consumes the same stream)
//! and reacts to `client.remove` (deleted), `channel.remove` (deleted) and
//! `channel.update`.
//!
//! Position: the `#bootstrap:clients` row of `events_cursors`, beside the shippers'
//! cursors, so outbox retention never prunes what the tailer has not read. The first
//! start begins at the end of the outbox: no config can predate the bootstrap tables,
//! so nothing earlier concerns us.
//!
//! PostgreSQL sequences can commit out of order, so a row may become visible after a
//! higher id was already read. The tailer therefore keeps its saved cursor behind any
//! row younger than [`GAP_GRACE`] and re-reads that window each poll, skipping the ids
//! it already handled (reactions are idempotent anyway). SQLite has one writer and no
//! such holes, so there the cursor follows the last row at once.
//!
//! On a shared PostgreSQL only one instance tails (an advisory lease, like the event
//! shippers); the others stand by and take over when it goes away.

use magnetite_db::Db;
use magnetite_events::OutboxDb;
use magnetite_events::OutboxRow;
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;
use tokio::sync::watch;

use crate::error::BootstrapError;
use crate::store::ConfigStore;

/// Rows per read.
const BATCH: i64 = 500;
/// Pause when the stream is drained.
const POLL: Duration = Duration::from_millis(200);
/// Pause after an error.
const RETRY: Duration = Duration::from_secs(1);
/// How long a PostgreSQL insert may stay uncommitted before its id hole is ignored.
const GAP_GRACE: Duration = Duration::from_secs(3);
/// Lease name among instances sharing a PostgreSQL.
const LEASE: &str = "#bootstrap-clients-tailer";

/// Tails the outbox until `stop` turns true.
pub(crate) struct Tailer {
    pub(crate) db: Db,
    pub(crate) store: ConfigStore,
    pub(crate) stop: watch::Receiver<bool>,
}

impl Tailer {
    /// Sleeps `d` unless shutdown comes first; `true` on shutdown.
    async fn pause(&mut self, d: Duration) -> bool {
        if *self.stop.borrow() {
            return true;
        }
        tokio::select! {
            _ = tokio::time::sleep(d) => *self.stop.borrow(),
            _ = self.stop.changed() => true,
        }
    }

    /// Waits for the lease (at once on SQLite); `None` on shutdown.
    async fn lease(&mut self) -> Option<magnetite_events::outbox::Lease> {
        loop {
            match self.db.try_lease(LEASE).await {
                Ok(Some(lease)) => return Some(lease),
                Ok(None) => tracing::debug!("bootstrap: another instance tails the clients stream"),
                Err(e) => tracing::warn!(error = %e, "bootstrap: cannot take the tailer lease"),
            }
            if self.pause(RETRY).await {
                return None;
            }
        }
    }

    /// The saved cursor, set to the end of the outbox on the first start.
    async fn initial_cursor(&self) -> Result<i64, BootstrapError> {
        if let Some(c) = self.store.cursor().await? {
            return Ok(c);
        }
        let end = self.db.max_id().await?;
        self.store.save_cursor(end).await?;
        Ok(end)
    }

    /// Runs until shutdown.
    pub(crate) async fn run(mut self) {
        let Some(_lease) = self.lease().await else {
            return;
        };
        let mut cursor = loop {
            match self.initial_cursor().await {
                Ok(c) => break c,
                Err(e) => tracing::warn!(error = %e, "bootstrap: cannot read the tailer cursor"),
            }
            if self.pause(RETRY).await {
                return;
            }
        };
        tracing::info!(cursor, "bootstrap: tailing the clients stream");
        let grace = match self.db {
            Db::Sqlite(_) => Duration::ZERO,
            Db::Postgres(_) => GAP_GRACE,
        };
        let mut seen = BTreeSet::new();
        loop {
            let pause = match self.step(&mut cursor, &mut seen, grace).await {
                Ok(true) => Duration::ZERO,
                Ok(false) => POLL,
                Err(e) => {
                    tracing::warn!(error = %e, "bootstrap: clients stream reaction failed; retrying");
                    RETRY
                }
            };
            if self.pause(pause).await {
                return;
            }
        }
    }

    /// Reads and handles one window after `cursor`; `Ok(true)` when more is waiting.
    async fn step(
        &self,
        cursor: &mut i64,
        seen: &mut BTreeSet<i64>,
        grace: Duration,
    ) -> Result<bool, BootstrapError> {
        let rows = self.db.fetch_after(*cursor, Some("clients"), BATCH).await?;
        for row in &rows {
            if seen.contains(&row.id) {
                continue;
            }
            self.react(row).await?;
            seen.insert(row.id);
        }
        let settled = settled_prefix(&rows, grace);
        if let Some(last) = settled {
            self.store.save_cursor(last).await?;
            *cursor = last;
            seen.retain(|id| *id > last);
        }
        Ok(rows.len() as i64 == BATCH && settled.is_some())
    }

    /// Applies one `clients` event to the configs.
    async fn react(&self, row: &OutboxRow) -> Result<(), BootstrapError> {
        let Ok(ev) = serde_json::from_str::<Value>(&row.payload) else {
            tracing::warn!(id = row.id, "bootstrap: unreadable clients event skipped");
            return Ok(());
        };
        let field = |k: &str| ev.get(k).and_then(Value::as_str);
        let (Some(op), Some(id)) = (field("operation"), field("id")) else {
            return Ok(());
        };
        let deleted = field("status") == Some("deleted");
        let changed = match op {
            "client.remove" if deleted => self.store.remove_for_client(id).await?,
            "channel.remove" if deleted => self.store.remove_channel(id).await?,
            "channel.update" => {
                let metadata = ev.get("metadata").map(metadata_object);
                self.store
                    .update_channel(id, field("name"), metadata.as_ref())
                    .await?
            }
            _ => false,
        };
        if changed {
            tracing::info!(
                operation = op,
                id,
                "bootstrap: configs follow a clients event"
            );
        }
        Ok(())
    }
}

/// Canonical metadata is an object or the JSON text of one.
fn metadata_object(v: &Value) -> Value {
    match v {
        Value::String(s) => serde_json::from_str(s).unwrap_or_else(|_| v.clone()),
        other => other.clone(),
    }
}

/// The id up to which the cursor may move: the last row of the leading run of rows
/// older than `grace` (all of them when `grace` is zero).
fn settled_prefix(rows: &[OutboxRow], grace: Duration) -> Option<i64> {
    let grace_ns = i64::try_from(grace.as_nanos()).unwrap_or(i64::MAX);
    let horizon = magnetite_events::model::now_ns().saturating_sub(grace_ns);
    rows.iter()
        .take_while(|r| grace.is_zero() || r.created_at <= horizon)
        .last()
        .map(|r| r.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, created_at: i64) -> OutboxRow {
        OutboxRow {
            id,
            stream: "clients".into(),
            payload: "{}".into(),
            created_at,
        }
    }

    #[test]
    fn settled_prefix_holds_back_young_rows() {
        let now = magnetite_events::model::now_ns();
        let old = now - 10_000_000_000;
        let rows = vec![row(3, old), row(7, old), row(9, now), row(10, old)];
        assert_eq!(settled_prefix(&rows, GAP_GRACE), Some(7));
        assert_eq!(settled_prefix(&rows, Duration::ZERO), Some(10));
        assert_eq!(settled_prefix(&rows[2..3], GAP_GRACE), None);
        assert_eq!(settled_prefix(&[], Duration::ZERO), None);
    }

    #[test]
    fn metadata_text_or_object() {
        let obj = serde_json::json!({"a": 1});
        assert_eq!(metadata_object(&Value::String(obj.to_string())), obj);
        assert_eq!(metadata_object(&obj), obj);
    }
}
