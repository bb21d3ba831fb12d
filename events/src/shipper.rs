//! One shipper task per sink: read the outbox after the sink's cursor, ship a batch,
//! then save the cursor. Retries with capped exponential backoff while the sink (or the
//! database) fails; never skips a row it could ship; resumes from the saved cursor.
//! Reading (lease, cursor, the gap rule, backoff) is [`crate::reader`]'s.

use crate::error::EventsError;
use crate::kaa;
use crate::metrics::SinkMetrics;
use crate::outbox::{OutboxDb, OutboxRow};
use crate::reader::{OutboxReader, ReaderConfig, Rows, Start, Step};
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
    /// Cursor and lease key (the redacted sink URL and the prefix).
    pub name: String,
    /// Counters.
    pub metrics: Arc<SinkMetrics>,
    /// Becomes `true` at shutdown.
    pub stop: watch::Receiver<bool>,
}

impl Shipper {
    /// How this sink reads the outbox: every stream, from the first row.
    fn reader_config(&self) -> ReaderConfig {
        ReaderConfig {
            cursor_key: self.name.clone(),
            lease_key: self.name.clone(),
            rows: Rows::All,
            batch: BATCH,
            poll: POLL,
            start: Start::Beginning,
        }
    }

    /// Runs until shutdown: the lease, the cursor, the gap rule and the retries of
    /// reads and cursor saves are the [`OutboxReader`]'s; shipping is this loop's.
    pub async fn run(mut self) {
        let (db, config) = (self.db.clone(), self.reader_config());
        let Some(mut reader) = OutboxReader::open(db, config, self.stop.clone()).await else {
            return;
        };
        tracing::info!(sink = %self.name, cursor = reader.cursor(), "events: shipper started");
        let mut last_report = Instant::now();
        loop {
            if last_report.elapsed() >= REPORT_EVERY {
                self.report();
                last_report = Instant::now();
            }
            let batch = match reader.next().await {
                Step::Stopped => return,
                Step::Waiting => {
                    self.store_pending(reader.pending());
                    continue;
                }
                Step::Batch(batch) => batch,
            };
            self.store_pending(reader.pending());
            if !self.deliver(&batch.rows, &mut reader).await || !reader.commit(batch.last).await {
                return;
            }
            let pending = self.metrics.pending.load(Ordering::Relaxed) - batch.rows.len() as i64;
            self.store_pending(pending);
            reader.backoff.reset();
        }
    }

    fn store_pending(&self, pending: i64) {
        self.metrics
            .pending
            .store(pending.max(0), Ordering::Relaxed);
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

    /// Keeps the lag gauge current while a sink is down (writers keep adding rows).
    async fn refresh_pending(&self, cursor: i64) {
        if let Ok(max) = self.db.max_id().await {
            self.store_pending(crate::reader::pending(max, cursor));
        }
    }

    /// Ships `rows` until acknowledged; `false` on shutdown.
    async fn deliver(&mut self, rows: &[OutboxRow], reader: &mut OutboxReader) -> bool {
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
                    let delay = reader.backoff.next_delay();
                    tracing::warn!(sink = %self.name, error = %e, retry_in_ms = delay.as_millis() as u64,
                        pending = self.metrics.pending.load(Ordering::Relaxed), "events: shipment failed");
                    self.sink.reset().await;
                    self.refresh_pending(reader.cursor()).await;
                    if reader.pause(delay).await {
                        return false;
                    }
                }
            }
        }
    }

    /// Parses payloads and applies the prefix's naming. A row that is not a JSON object
    /// (or a Kaa row that cannot be encoded) can never be shipped; it is logged, counted
    /// and passed over so it cannot wedge the sink. Kaa rows go to NATS only: the other
    /// sinks pass them over.
    fn prepare(&self, rows: &[OutboxRow]) -> Vec<Prepared> {
        let names = self.sink_names();
        let takes_kaa = matches!(self.sink, Sink::Nats(_));
        rows.iter()
            .filter(|r| takes_kaa || r.stream != kaa::STREAM)
            .filter_map(|r| match serde_json::from_str::<Value>(&r.payload) {
                Ok(Value::Object(fields)) if r.stream == kaa::STREAM => {
                    self.prepare_kaa(r.id, &fields)
                }
                Ok(Value::Object(fields)) => Some(Prepared {
                    id: r.id,
                    service: r.stream.clone(),
                    fields: names.renamed(&fields),
                    kaa: None,
                }),
                _ => self.malformed(r.id, "outbox payload is not a JSON object"),
            })
            .collect()
    }

    /// A Kaa row as its subject and Avro body.
    fn prepare_kaa(&self, id: i64, fields: &serde_json::Map<String, Value>) -> Option<Prepared> {
        match kaa::message(fields) {
            Ok(message) => Some(Prepared {
                id,
                service: kaa::STREAM.to_string(),
                fields: serde_json::Map::new(),
                kaa: Some(message),
            }),
            Err(e) => self.malformed(id, &e.to_string()),
        }
    }

    fn malformed(&self, id: i64, why: &str) -> Option<Prepared> {
        self.metrics.malformed.fetch_add(1, Ordering::Relaxed);
        tracing::error!(sink = %self.name, id, why, "events: outbox row cannot be shipped; skipped");
        None
    }

    fn sink_names(&self) -> &crate::encode::Names {
        match &self.sink {
            Sink::Redis(s) => s.names(),
            Sink::Nats(s) => s.names(),
            Sink::Rabbit(s) => s.names(),
        }
    }
}
