//! Magnetite event consumers in the style of Aruna's event notification service, over
//! the outbox (SQLite or PostgreSQL, no broker needed).
//!
//! A user creates a consumer on a target they may read (a domain, a group, a channel,
//! a client, or themself), optionally with its subresources, from a start (all, new, a
//! time, a sequence); then fetches batches (`GET /consumers/{id}/batch?size=N`) or holds
//! a stream (Server-Sent Events or WebSocket), and acknowledges each delivery with the
//! signed reply that came with it. Unacknowledged deliveries come again after the
//! ack-wait with a fresh reply; abandoned consumers expire.
//!
//! # Where the pieces are
//! - scope: which rows a target sees is `magnetite_events::scopes` (rows written with
//!   the event, so a group subtree is the one at the time of the event);
//! - [`horizon`]: the highest outbox id a consumer may pass (the one outbox reader's
//!   gap rule, so an id committed late on PostgreSQL is never skipped) and the wake-up
//!   of open streams;
//! - [`store`]: consumers and pending deliveries; [`service`]: the operations, each
//!   re-checking the owner's access; [`http`] and [`stream`]: the routes.
//!
//! # Known flaws of Aruna this does not copy
//! The batch query carries the scope and the size (`LIMIT`), nothing is fetched and
//! dropped; the reply's HMAC is checked with `verify_slice` (constant time) and binds the
//! consumer, the position, a per-delivery salt and the caller; events come from the
//! transactional outbox; consumers expire; every scope matches its subtree whatever its
//! depth.

pub mod error;
pub mod horizon;
pub mod http;
pub mod model;
pub mod service;
pub mod slots;
pub mod store;
pub mod stream;

pub use error::ConsumerError;

use magnetite_auth::Platform;
use magnetite_db::Db;
use magnetite_events::Names;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Mutex};
use tokio::task::JoinHandle;

use store::ConsumerStore;

/// The settings (`--consumer-*`).
#[derive(Debug, Clone)]
pub struct ConsumersConfig {
    /// Unacknowledged deliveries come again after this.
    pub ack_wait: Duration,
    /// A consumer not fetched for this long is deleted.
    pub expiry: Duration,
    /// Keep-alive of streams (SSE comment, WebSocket ping).
    pub keepalive: Duration,
    /// Most consumers one user may hold.
    pub max_per_user: u64,
    /// Most unacknowledged deliveries per consumer; a full consumer gets only
    /// redeliveries until it acknowledges.
    pub max_pending: u64,
    /// Most streams (SSE and WebSocket) one user may hold open.
    pub max_streams_per_user: u64,
    /// Most streams open on this instance in all.
    pub max_streams: u64,
    /// Names this instance's horizon reader (`events_cursors`).
    pub instance_id: String,
}

impl Default for ConsumersConfig {
    fn default() -> Self {
        ConsumersConfig {
            ack_wait: Duration::from_secs(30),
            expiry: Duration::from_secs(7 * 86_400),
            keepalive: Duration::from_secs(30),
            max_per_user: 100,
            max_pending: 10_000,
            max_streams_per_user: 10,
            max_streams: 1000,
            instance_id: String::new(),
        }
    }
}

/// The running consumer service.
pub struct ConsumerService {
    store: ConsumerStore,
    platform: Arc<Platform>,
    names: Names,
    config: ConsumersConfig,
    horizon: watch::Receiver<i64>,
    slots: Arc<slots::StreamSlots>,
    stop: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for ConsumerService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsumerService")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl ConsumerService {
    /// Creates the tables and spawns the horizon reader and the expiry sweep.
    pub async fn start(
        db: Db,
        platform: Arc<Platform>,
        names: Names,
        config: ConsumersConfig,
    ) -> Result<Arc<ConsumerService>, ConsumerError> {
        let store = ConsumerStore::open(db.clone()).await?;
        let (stop, stop_rx) = watch::channel(false);
        let (horizon_tx, horizon) = watch::channel(0);
        let reader = horizon::spawn(db, &config.instance_id, horizon_tx, stop_rx.clone());
        let sweeper = tokio::spawn(sweep(store.clone(), config.expiry, stop_rx));
        let slots = slots::StreamSlots::new(config.max_streams_per_user, config.max_streams);
        Ok(Arc::new(ConsumerService {
            store,
            platform,
            names,
            config,
            horizon,
            slots,
            stop,
            tasks: Mutex::new(vec![reader, sweeper]),
        }))
    }

    /// The settings it runs with.
    pub fn config(&self) -> &ConsumersConfig {
        &self.config
    }

    /// Streams open now.
    pub fn open_streams(&self) -> u64 {
        self.slots.open()
    }

    /// Stops the background tasks (open streams end with their connections).
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        for t in std::mem::take(&mut *self.tasks.lock().await) {
            let _ = t.await;
        }
    }
}

/// How often the sweep looks for expired consumers: a quarter of the expiry, between
/// 100 ms and a minute.
pub fn sweep_interval(expiry: Duration) -> Duration {
    (expiry / 4).clamp(Duration::from_millis(100), Duration::from_secs(60))
}

async fn sweep(store: ConsumerStore, expiry: Duration, mut stop: watch::Receiver<bool>) {
    let every = sweep_interval(expiry);
    let expiry_ns = i64::try_from(expiry.as_nanos()).unwrap_or(i64::MAX);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
        let before = magnetite_events::model::now_ns().saturating_sub(expiry_ns);
        match store.expire(before, 1000).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(expired = n, "consumers: expired abandoned consumers"),
            Err(e) => tracing::warn!(error = %e, "consumers: expiry sweep failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sweep_interval_follows_the_expiry_within_bounds() {
        assert_eq!(
            sweep_interval(Duration::from_secs(2)),
            Duration::from_millis(500)
        );
        assert_eq!(
            sweep_interval(Duration::from_millis(10)),
            Duration::from_millis(100)
        );
        assert_eq!(
            sweep_interval(Duration::from_secs(7 * 86_400)),
            Duration::from_secs(60)
        );
    }
}
