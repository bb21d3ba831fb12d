//! Revocations made on other instances: each instance follows the shared outbox with
//! its own cursor (`invalidate|<instance id>`, its own lease: every instance reads
//! every row) and applies the access change of each row another instance wrote, through
//! the same decision ([`super::revocation::access_change`]) and the same door
//! ([`Platform::apply`]) as the writing instance did right after its transaction.
//!
//! How late: one poll ([`RemoteRevocations::start`]'s `poll`) after the row commits,
//! plus the reader's gap rule ([`magnetite_events::reader`]): behind an id another
//! transaction holds open (or rolled back), rows wait up to `GAP_GRACE`. A reader that
//! cannot read (database down) catches up from its saved cursor when it can; the cache
//! entries' age ([`super::cache::MAX_AGE`]) bounds what it could ever miss.

use std::sync::Arc;
use std::time::Duration;

use magnetite_db::Db;
use magnetite_events::reader::{OutboxReader, ReaderConfig, ReaderTask, Rows, Start, Step};
use magnetite_events::OutboxRow;
use serde_json::{Map, Value};
use tokio::sync::watch;

use crate::platform::{Origin, Platform};

/// Rows per read.
const BATCH: i64 = 500;

/// The running reader; [`RemoteRevocations::shutdown`] stops it.
#[derive(Debug)]
pub struct RemoteRevocations(ReaderTask);

impl RemoteRevocations {
    /// Starts following the outbox as `instance`, polling every `poll` when drained.
    /// A first start begins at the end of the outbox: earlier changes are already in
    /// the store every cache load reads.
    pub fn start(platform: Arc<Platform>, instance: &str, poll: Duration) -> RemoteRevocations {
        let key = format!("invalidate|{instance}");
        let config = ReaderConfig {
            cursor_key: key.clone(),
            lease_key: key,
            rows: Rows::WrittenByOthers(instance.to_string()),
            batch: BATCH,
            poll,
            start: Start::End,
        };
        let db = platform.store.db().clone();
        let instance = instance.to_string();
        let task = ReaderTask::spawn(|stop| follow(platform, db, config, instance, stop));
        RemoteRevocations(task)
    }

    /// Stops the reader (its cursor is saved after every batch).
    pub async fn shutdown(&self) {
        self.0.shutdown().await
    }
}

async fn follow(
    platform: Arc<Platform>,
    db: Db,
    config: ReaderConfig,
    instance: String,
    stop: watch::Receiver<bool>,
) {
    let Some(mut reader) = OutboxReader::open(db, config, stop).await else {
        return;
    };
    loop {
        let batch = match reader.next().await {
            Step::Batch(batch) => batch,
            Step::Waiting => continue,
            Step::Stopped => return,
        };
        for row in batch.rows.iter().filter(|r| is_foreign(r, &instance)) {
            if !apply_row(&platform, row, &mut reader).await {
                return;
            }
        }
        if !reader.commit(batch.last).await {
            return;
        }
    }
}

/// Written by another instance. A row without a writer (older than the column) counts
/// as foreign: applying a change twice only costs a reload, missing one costs access.
fn is_foreign(row: &OutboxRow, instance: &str) -> bool {
    row.instance.as_deref() != Some(instance)
}

/// Applies one row's access change, retrying the store reads it needs with backoff;
/// `false` on shutdown.
async fn apply_row(platform: &Platform, row: &OutboxRow, reader: &mut OutboxReader) -> bool {
    let fields: Map<String, Value> = match serde_json::from_str(&row.payload) {
        Ok(fields) => fields,
        Err(err) => {
            tracing::warn!(row = row.id, error = %err, "cluster revocation: unreadable outbox row skipped");
            return true;
        }
    };
    if changes_decisions(&fields) {
        platform.decisions.clear();
    }
    loop {
        match platform.apply_event(&fields, Origin::Remote).await {
            Ok(()) => {
                reader.backoff.reset();
                return true;
            }
            Err(err) => {
                tracing::warn!(row = row.id, error = %err, "cluster revocation: cannot resolve the change; retrying")
            }
        }
        let delay = reader.backoff.next_delay();
        if reader.pause(delay).await {
            return false;
        }
    }
}

/// Whether another instance's change can alter cached HTTP authorization decisions
/// (`crate::roles::cache`): a role change, a domain membership change, or an update or
/// removal of a group, channel or client (which may have moved it in the group tree;
/// the event does not say, so any update counts).
fn changes_decisions(fields: &Map<String, Value>) -> bool {
    let Some(op) = fields.get("operation").and_then(Value::as_str) else {
        return false;
    };
    magnetite_events::model::roles::changes_roles(op)
        || ["group.", "channel.", "client."].iter().any(|kind| {
            op.strip_prefix(kind)
                .is_some_and(|action| action == "update" || action == "remove")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(instance: Option<&str>) -> OutboxRow {
        OutboxRow {
            id: 1,
            stream: "clients".into(),
            payload: "{}".into(),
            created_at: 0,
            instance: instance.map(str::to_string),
            domain: None,
        }
    }

    #[test]
    fn role_and_tree_changes_clear_decisions() {
        let op = |name: &str| {
            let mut m = Map::new();
            m.insert("operation".into(), Value::from(name));
            m
        };
        assert!(changes_decisions(&op("group.role.members.remove")));
        assert!(changes_decisions(&op("group.update")));
        assert!(changes_decisions(&op("domain.unassign")));
        assert!(!changes_decisions(&op("client.view")));
        assert!(!changes_decisions(&Map::new()));
    }

    #[test]
    fn own_rows_are_not_applied_again() {
        assert!(!is_foreign(&row(Some("a")), "a"));
        assert!(is_foreign(&row(Some("b")), "a"));
        assert!(is_foreign(&row(None), "a"));
    }
}
