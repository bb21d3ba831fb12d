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
//! It reads through [`OutboxReader`], like the event shippers: ids committed out of
//! order are waited for (the gap rule, `magnetite_events::reader`), the cursor is saved
//! after each handled window (a crash re-handles it; reactions are idempotent), and on
//! a shared PostgreSQL only one instance tails while the others stand by.

use magnetite_db::Db;
use magnetite_events::reader::{Batch, OutboxReader, ReaderConfig, Rows, Start, WindowHandler};
use magnetite_events::OutboxRow;
use serde_json::Value;
use std::time::Duration;
use tokio::sync::watch;

use crate::error::BootstrapError;
use crate::store::{ConfigStore, TAILER_CURSOR};

/// Rows per read.
const BATCH: i64 = 500;
/// Pause when the stream is drained.
const POLL: Duration = Duration::from_millis(200);
/// Lease name among instances sharing a PostgreSQL.
const LEASE: &str = "#bootstrap-clients-tailer";

/// Tails the outbox until the stop signal given to [`Tailer::run`] turns true.
pub(crate) struct Tailer {
    pub(crate) db: Db,
    pub(crate) store: ConfigStore,
}

/// The tailer's reaction to a window of the `clients` stream.
impl WindowHandler for &Tailer {
    type Error = BootstrapError;
    async fn handle(&mut self, batch: &Batch, _pending: i64) -> Result<(), BootstrapError> {
        self.react_all(batch).await
    }
}

impl Tailer {
    /// The `clients` stream, from the end of the outbox on the first start.
    fn reader_config() -> ReaderConfig {
        ReaderConfig {
            cursor_key: TAILER_CURSOR.to_string(),
            lease_key: LEASE.to_string(),
            rows: Rows::stream("clients"),
            batch: BATCH,
            poll: POLL,
            start: Start::End,
        }
    }

    /// Runs until `stop` turns true.
    pub(crate) async fn run(self, stop: watch::Receiver<bool>) {
        let config = Self::reader_config();
        let Some(mut reader) = OutboxReader::open(self.db.clone(), config, stop).await else {
            return;
        };
        tracing::info!(
            cursor = reader.cursor(),
            "bootstrap: tailing the clients stream"
        );
        reader.follow("bootstrap tailer", &mut &self).await;
    }

    /// Handles a window in id order; stops at the first failure (the window is read
    /// again from the unchanged cursor).
    async fn react_all(&self, batch: &Batch) -> Result<(), BootstrapError> {
        for row in &batch.rows {
            self.react(row).await?;
        }
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_text_or_object() {
        let obj = serde_json::json!({"a": 1});
        assert_eq!(metadata_object(&Value::String(obj.to_string())), obj);
        assert_eq!(metadata_object(&obj), obj);
    }
}
