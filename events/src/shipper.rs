//! One shipper task per sink: read the outbox after the sink's cursor, ship a batch,
//! then save the cursor. Retries with capped exponential backoff while the sink (or the
//! database) fails; never skips a row it could ship; resumes from the saved cursor.

use crate::error::EventsError;
use crate::metrics::SinkMetrics;
use crate::outbox::{Lease, OutboxDb, OutboxRow};
use crate::sink::{Prepared, Sink};
use magnetite_db::Db;
use serde_json::Value;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Rows per batch.
const BATCH: i64 = 500;
/// Poll interval when the outbox is drained.
const POLL: Duration = Duration::from_millis(50);
/// First retry delay; doubles up to [`BACKOFF_MAX`].
const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// Retry delay cap.
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// How long a hole in the id sequence is waited for before it is taken as a rolled-back
/// insert (PostgreSQL sequences can commit out of order; SQLite never leaves holes).
const GAP_GRACE: Duration = Duration::from_secs(3);
/// How often a standby shipper checks whether the active one went away.
const STANDBY_POLL: Duration = Duration::from_secs(1);
/// How often each shipper logs its counters at `info`.
const REPORT_EVERY: Duration = Duration::from_secs(60);
/// Longest a single shipment may take before it counts as failed.
const SHIP_TIMEOUT: Duration = Duration::from_secs(15);

/// A shipper: owns its sink, shares the database and its metrics.
pub struct Shipper {
    /// Outbox database.
    pub db: Db,
    /// The sink.
    pub sink: Sink,
    /// Cursor key (the redacted sink URL).
    pub name: String,
    /// Counters.
    pub metrics: Arc<SinkMetrics>,
    /// Becomes `true` at shutdown.
    pub stop: watch::Receiver<bool>,
}

/// Capped exponential backoff.
struct Backoff(Duration);

impl Backoff {
    fn next(&mut self) -> Duration {
        let d = self.0;
        self.0 = (self.0 * 2).min(BACKOFF_MAX);
        d
    }
    fn reset(&mut self) {
        self.0 = BACKOFF_MIN;
    }
}

impl Shipper {
    /// Sleeps `d` unless shutdown comes first; returns `true` on shutdown.
    async fn sleep_or_stop(&mut self, d: Duration) -> bool {
        if *self.stop.borrow() {
            return true;
        }
        tokio::select! {
            _ = tokio::time::sleep(d) => *self.stop.borrow(),
            _ = self.stop.changed() => true,
        }
    }

    /// Waits until this instance holds the sink's lease (always at once on SQLite; on a
    /// shared PostgreSQL only one instance ships a given sink, the others stand by).
    /// `None` on shutdown.
    async fn lease(&mut self) -> Option<Lease> {
        let mut standby_logged = false;
        loop {
            match self.db.try_lease(&self.name).await {
                Ok(Some(lease)) => return Some(lease),
                Ok(None) if !standby_logged => {
                    standby_logged = true;
                    tracing::info!(sink = %self.name, "events: another instance ships this sink; standing by");
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(sink = %self.name, error = %e, "events: cannot take the sink lease")
                }
            }
            if self.sleep_or_stop(STANDBY_POLL).await {
                return None;
            }
        }
    }

    /// Runs until shutdown.
    pub async fn run(mut self) {
        let Some(_lease) = self.lease().await else {
            return;
        };
        let mut backoff = Backoff(BACKOFF_MIN);
        let mut cursor = loop {
            match self.db.cursor(&self.name).await {
                Ok(c) => break c,
                Err(e) => {
                    tracing::warn!(sink = %self.name, error = %e, "events: cannot read cursor");
                    if self.sleep_or_stop(backoff.next()).await {
                        return;
                    }
                }
            }
        };
        tracing::info!(sink = %self.name, cursor, "events: shipper started");
        let mut gap: Option<(i64, Instant)> = None;
        let mut last_report = Instant::now();
        loop {
            if *self.stop.borrow() {
                return;
            }
            if last_report.elapsed() >= REPORT_EVERY {
                self.report();
                last_report = Instant::now();
            }
            let rows = match self.poll(cursor).await {
                Ok(rows) => rows,
                Err(e) => {
                    tracing::warn!(sink = %self.name, error = %e, "events: outbox read failed");
                    if self.sleep_or_stop(backoff.next()).await {
                        return;
                    }
                    continue;
                }
            };
            let ready = ready_prefix(cursor, &rows, &mut gap);
            if ready == 0 {
                if self.sleep_or_stop(POLL).await {
                    return;
                }
                continue;
            }
            let rows = &rows[..ready];
            let Some(last) = rows.last().map(|r| r.id) else {
                continue;
            };
            if !self.deliver(rows, &mut backoff).await || !self.commit(last, &mut backoff).await {
                return;
            }
            cursor = last;
            let pending = self.metrics.pending.load(Ordering::Relaxed) - rows.len() as i64;
            self.metrics
                .pending
                .store(pending.max(0), Ordering::Relaxed);
            backoff.reset();
        }
    }

    /// Logs the counters (the same numbers `/metrics` shows).
    fn report(&self) {
        tracing::info!(
            sink = %self.name,
            shipped = self.metrics.shipped.load(Ordering::Relaxed),
            pending = self.metrics.pending.load(Ordering::Relaxed),
            failures = self.metrics.failures.load(Ordering::Relaxed),
            "events: sink status"
        );
    }

    /// Reads the next rows and refreshes the lag gauge.
    async fn poll(&self, cursor: i64) -> Result<Vec<OutboxRow>, EventsError> {
        let max = self.db.max_id().await?;
        self.metrics
            .pending
            .store((max - cursor).max(0), Ordering::Relaxed);
        if max <= cursor {
            return Ok(Vec::new());
        }
        self.db.fetch_after(cursor, None, BATCH).await
    }

    /// Keeps the lag gauge current while a sink is down (writers keep adding rows).
    async fn refresh_pending(&self, cursor: i64) {
        if let Ok(max) = self.db.max_id().await {
            self.metrics
                .pending
                .store((max - cursor).max(0), Ordering::Relaxed);
        }
    }

    /// Ships `rows` until acknowledged; `false` on shutdown.
    async fn deliver(&mut self, rows: &[OutboxRow], backoff: &mut Backoff) -> bool {
        let batch = self.prepare(rows);
        let mut failed = 0u32;
        loop {
            let res = match tokio::time::timeout(SHIP_TIMEOUT, self.sink.ship(&batch)).await {
                Ok(r) => r,
                Err(_) => Err(EventsError::sink(&self.name, "shipment timed out")),
            };
            match res {
                Ok(()) => {
                    self.metrics
                        .shipped
                        .fetch_add(batch.len() as u64, Ordering::Relaxed);
                    if failed > 0 {
                        tracing::info!(sink = %self.name, after_failures = failed, "events: sink recovered");
                    }
                    tracing::debug!(sink = %self.name, shipped = batch.len(), "events: batch shipped");
                    return true;
                }
                Err(e) => {
                    failed += 1;
                    self.metrics.failures.fetch_add(1, Ordering::Relaxed);
                    let delay = backoff.next();
                    tracing::warn!(sink = %self.name, error = %e, retry_in_ms = delay.as_millis() as u64,
                        pending = self.metrics.pending.load(Ordering::Relaxed), "events: shipment failed");
                    self.sink.reset().await;
                    self.refresh_pending(rows[0].id - 1).await;
                    if self.sleep_or_stop(delay).await {
                        return false;
                    }
                }
            }
        }
    }

    /// Saves the cursor until it sticks; `false` on shutdown.
    async fn commit(&mut self, last: i64, backoff: &mut Backoff) -> bool {
        loop {
            match self.db.save_cursor(&self.name, last).await {
                Ok(()) => return true,
                Err(e) => {
                    tracing::warn!(sink = %self.name, error = %e, "events: cursor save failed");
                    if self.sleep_or_stop(backoff.next()).await {
                        return false;
                    }
                }
            }
        }
    }

    /// Parses payloads and applies the prefix's naming. A row that is not a JSON object
    /// can never be shipped; it is logged, counted and passed over so it cannot wedge
    /// the sink.
    fn prepare(&self, rows: &[OutboxRow]) -> Vec<Prepared> {
        let names = self.sink_names();
        rows.iter()
            .filter_map(|r| match serde_json::from_str::<Value>(&r.payload) {
                Ok(Value::Object(fields)) => Some(Prepared {
                    id: r.id,
                    service: r.stream.clone(),
                    fields: names.renamed(&fields),
                }),
                _ => {
                    self.metrics.malformed.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(sink = %self.name, id = r.id, "events: outbox payload is not a JSON object; skipped");
                    None
                }
            })
            .collect()
    }

    fn sink_names(&self) -> &crate::encode::Names {
        match &self.sink {
            Sink::Redis(s) => s.names(),
            Sink::Nats(s) => s.names(),
            Sink::Rabbit(s) => s.names(),
        }
    }
}

/// How many leading rows are safe to ship: stops before a hole in the id sequence until
/// the hole is older than [`GAP_GRACE`] (a transaction that took a lower id may still be
/// committing).
fn ready_prefix(cursor: i64, rows: &[OutboxRow], gap: &mut Option<(i64, Instant)>) -> usize {
    let mut expected = cursor + 1;
    for (i, r) in rows.iter().enumerate() {
        if r.id != expected {
            match gap {
                Some((at, since)) if *at == expected && since.elapsed() >= GAP_GRACE => {}
                Some((at, _)) if *at == expected => return i,
                _ => {
                    *gap = Some((expected, Instant::now()));
                    return i;
                }
            }
        }
        expected = r.id + 1;
    }
    rows.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(ids: &[i64]) -> Vec<OutboxRow> {
        ids.iter()
            .map(|&id| OutboxRow {
                id,
                stream: "users".into(),
                payload: "{}".into(),
                created_at: 0,
            })
            .collect()
    }

    #[test]
    fn contiguous_rows_are_all_ready() {
        let mut gap = None;
        assert_eq!(ready_prefix(0, &rows(&[1, 2, 3]), &mut gap), 3);
        assert!(gap.is_none());
    }

    #[test]
    fn a_fresh_hole_stops_the_batch_then_expires() {
        let mut gap = None;
        assert_eq!(ready_prefix(0, &rows(&[1, 2, 4, 5]), &mut gap), 2);
        assert_eq!(gap.map(|g| g.0), Some(3));
        // Still young: nothing past the hole.
        assert_eq!(ready_prefix(2, &rows(&[4, 5]), &mut gap), 0);
        // Pretend the hole is old: it is passed over.
        gap = Some((3, Instant::now() - GAP_GRACE));
        assert_eq!(ready_prefix(2, &rows(&[4, 5]), &mut gap), 2);
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let mut b = Backoff(BACKOFF_MIN);
        let seq: Vec<u128> = (0..8).map(|_| b.next().as_millis()).collect();
        assert_eq!(seq, vec![100, 200, 400, 800, 1600, 3200, 5000, 5000]);
    }
}
