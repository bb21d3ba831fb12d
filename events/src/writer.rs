//! The batching writer for MQTT connect/disconnect events: the connection task only
//! pushes onto a channel (never waits on the database); a background task writes what
//! accumulated in one transaction, retrying while the database is busy.

use crate::model::mqtt::{mqtt_event, MqttEventType};
use crate::model::Event;
use crate::outbox::OutboxDb;
use backon::Retryable;
use magnetite_db::Db;
use tokio::sync::mpsc;

/// Most events written per transaction.
const MAX_BATCH: usize = 1000;

/// Handle to the writer (cheap to clone). Dropping every handle flushes and stops it.
#[derive(Clone, Debug)]
pub struct MqttWriter {
    tx: mpsc::UnboundedSender<Event>,
    instance: String,
}

impl MqttWriter {
    /// Spawns the background task on the current tokio runtime.
    pub fn spawn(db: Db, instance: String) -> MqttWriter {
        Self::spawn_joinable(db, instance).0
    }

    /// Like [`MqttWriter::spawn`], also returning the task: once every handle is
    /// dropped, awaiting it waits until what was recorded is written (clean shutdown).
    pub fn spawn_joinable(db: Db, instance: String) -> (MqttWriter, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(db, rx));
        (MqttWriter { tx, instance }, task)
    }

    /// Records an event for `client_id` (the platform client id, or the MQTT client id
    /// without platform auth: see [`mqtt_event`]) now; never blocks.
    /// `domain` is the client's domain (`None` without platform auth): the event
    /// belongs to that tenant's log.
    pub fn record(&self, client_id: &str, domain: Option<&str>, kind: MqttEventType) {
        let mut ev = mqtt_event(client_id, kind, &self.instance);
        ev.domain = domain.map(str::to_string);
        let _ = self.tx.send(ev);
    }

    /// Records any other event raised by a connection (Kaa connectivity events) in the
    /// same ordered batches; never blocks.
    pub fn record_event(&self, ev: Event) {
        let _ = self.tx.send(ev);
    }
}

async fn run(db: Db, mut rx: mpsc::UnboundedReceiver<Event>) {
    let mut buf = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut buf, MAX_BATCH).await > 0 {
        let write = || db.append_batch(&buf);
        let written = write
            .retry(crate::retry::policy())
            .notify(|e, delay| {
                tracing::warn!(error = %e, events = buf.len(), retry_in_ms = delay.as_millis() as u64,
                    "events: MQTT event write failed; retrying");
            })
            .await;
        // The policy never gives up, so this is only reached if that ever changes.
        if let Err(e) = written {
            tracing::error!(error = %e, events = buf.len(), "events: MQTT events dropped");
        }
        buf.clear();
    }
}
