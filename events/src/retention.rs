//! Keeps the outbox from growing without bound.
//!
//! Every MQTT connect and disconnect adds a row, so without pruning the database of a
//! busy fleet grows forever. A row is deleted once it is older than the retention
//! (`--event-retention`, default 7 days) **and** every reader has moved past it: each
//! configured sink's cursor, and every other saved cursor (the bootstrap tailer's, a
//! sink configured earlier). A sink that is down therefore delays pruning as it delays
//! its events; nothing unshipped is ever deleted. The embedded log (`GET /events`)
//! serves what is kept.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::error::EventsError;
use crate::model::now_ns;
use crate::outbox::OutboxDb;
use magnetite_db::Db;

/// How often the outbox is swept.
const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// Rows per delete: short transactions, so writers never wait long for SQLite's lock.
const CHUNK: i64 = 5_000;

/// The pruning task of one [`crate::Events`].
pub(crate) struct Pruner {
    pub(crate) db: Db,
    /// Cursor names of the configured sinks (one that never shipped holds everything).
    pub(crate) sinks: Vec<String>,
    pub(crate) retention: Duration,
    pub(crate) stop: watch::Receiver<bool>,
    /// Rows deleted so far (`magnetite_events_pruned_total`).
    pub(crate) pruned: Arc<AtomicU64>,
}

impl Pruner {
    /// Sweeps at start and then every minute until shutdown.
    pub(crate) async fn run(mut self) {
        loop {
            match sweep(&self.db, &self.sinks, self.retention).await {
                Ok(0) => {}
                Ok(n) => {
                    self.pruned.fetch_add(n, Ordering::Relaxed);
                    tracing::info!(deleted = n, "outbox: pruned rows past retention");
                }
                Err(e) => tracing::warn!(error = %e, "outbox: pruning failed; retrying later"),
            }
            tokio::select! {
                _ = tokio::time::sleep(SWEEP_EVERY) => {}
                _ = self.stop.changed() => return,
            }
        }
    }
}

/// Deletes every row older than `retention` that all readers have passed; returns how
/// many went.
pub async fn sweep(db: &Db, sinks: &[String], retention: Duration) -> Result<u64, EventsError> {
    let Some(up_to) = floor(db, sinks).await? else {
        return Ok(0);
    };
    let age = i64::try_from(retention.as_nanos()).unwrap_or(i64::MAX);
    let before = now_ns().saturating_sub(age);
    let mut total = 0;
    loop {
        let n = db.delete_old(up_to, before, CHUNK).await?;
        total += n;
        if n < CHUNK as u64 {
            return Ok(total);
        }
        tokio::task::yield_now().await;
    }
}

/// The highest id every reader has passed: the lowest saved cursor (the configured
/// sinks' are among them); `None` while a configured sink has not shipped yet.
async fn floor(db: &Db, sinks: &[String]) -> Result<Option<i64>, EventsError> {
    for sink in sinks {
        if db.saved_cursor(sink).await?.is_none() {
            return Ok(None);
        }
    }
    Ok(Some(db.lowest_cursor().await?.unwrap_or(i64::MAX)))
}
