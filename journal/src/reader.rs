//! The journal's two background tasks.
//!
//! The copier: one more [`OutboxReader`] (cursor `#journal`, the same reader as the
//! event shippers, the bootstrap tailer and the notifications), so writers pay nothing
//! and the outbox's retention never prunes a row the journal has not copied (it keeps
//! every row some saved cursor has not passed). It starts at the beginning of the
//! outbox, so the history still there when the journal first runs is journalled too.
//! A window is stored in one transaction keyed by outbox id, and the cursor saved after
//! it: a crash in between re-reads the window and stores nothing twice. On a shared
//! PostgreSQL one instance copies; the others stand by.
//!
//! The pruner: deletes entries older than `--journal-retention`, in chunks, at start
//! and then every minute (more often for a retention under two minutes).

use std::time::Duration;

use magnetite_db::Db;
use magnetite_events::reader::{Batch, OutboxReader, ReaderConfig, Rows, Start, WindowHandler};
use tokio::sync::watch;

use crate::derive::{derive, Derived};
use crate::error::{JournalError, Result};
use crate::store;

/// Cursor row name (kept with the shippers' cursors).
pub(crate) const CURSOR: &str = "#journal";
/// Lease name among instances sharing a PostgreSQL.
const LEASE: &str = "#journal-reader";
/// Rows per read.
const BATCH: i64 = 500;
/// Pause when the outbox is drained (a commit of this process wakes it earlier).
const POLL: Duration = Duration::from_millis(200);
/// Entries per prune transaction: short, so writers never wait long for SQLite's lock.
const PRUNE_CHUNK: i64 = 5_000;
/// How often the pruner runs at most.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// Copies the outbox into the journal until `stop` turns true.
pub(crate) async fn copy(db: Db, stop: watch::Receiver<bool>) {
    let config = ReaderConfig {
        cursor_key: CURSOR.to_string(),
        lease_key: LEASE.to_string(),
        rows: Rows::All,
        batch: BATCH,
        poll: POLL,
        start: Start::Beginning,
    };
    let Some(mut reader) = OutboxReader::open(db.clone(), config, stop).await else {
        return;
    };
    reader.wake_on(magnetite_db::commits().subscribe());
    tracing::info!(cursor = reader.cursor(), "journal: copying the outbox");
    reader.follow("journal", &mut Copier { db }).await;
}

/// Stores each window of the outbox.
struct Copier {
    db: Db,
}

impl WindowHandler for Copier {
    type Error = JournalError;
    async fn handle(&mut self, batch: &Batch, _pending: i64) -> Result<()> {
        let window = derive_window(batch);
        store::store_window(&self.db, &window).await?;
        Ok(())
    }
}

/// The window's rows as journal entries, each with its outbox domain (read with the
/// row: [`Rows::All`]).
fn derive_window(batch: &Batch) -> Vec<Derived> {
    batch
        .rows
        .iter()
        .filter_map(|row| derive(row, row.domain.as_deref()))
        .collect()
}

/// Prunes entries older than `retention` until `stop` turns true.
pub(crate) async fn prune(db: Db, retention: Duration, mut stop: watch::Receiver<bool>) {
    let every = (retention / 2).clamp(Duration::from_secs(1), PRUNE_EVERY);
    loop {
        let age = i64::try_from(retention.as_nanos()).unwrap_or(i64::MAX);
        let before = magnetite_events::model::now_ns().saturating_sub(age);
        match prune_all(&db, before).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "journal: pruned entries past retention"),
            Err(e) => tracing::warn!(error = %e, "journal: pruning failed; retrying later"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Deletes every entry that occurred before `before_ns`, chunk by chunk.
async fn prune_all(db: &Db, before_ns: i64) -> Result<u64> {
    let mut total = 0;
    loop {
        let n = store::prune(db, before_ns, PRUNE_CHUNK).await?;
        total += n;
        if n < PRUNE_CHUNK as u64 {
            return Ok(total);
        }
        tokio::task::yield_now().await;
    }
}
