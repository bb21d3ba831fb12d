//! One owner per session cluster-wide: the engine's `SessionDirectory` door over a
//! PostgreSQL table ([`owners`]) and NATS request/reply ([`transfer`]).
//!
//! Why a PostgreSQL row rather than a JetStream KV revision: whether an owner is alive
//! is already decided in PostgreSQL (the `instances` heartbeat of
//! `magnetite_events::liveness`, with `--instance-timeout`), so the claim reads the
//! owner and its liveness in one query and takes the row with one compare-and-swap on
//! its epoch, in the database every clustered instance must share anyway. A KV
//! revision would give the same CAS but a second notion of "alive" to keep in step.
//!
//! On CONNECT of a session owned by a live instance A, instance B claims the row
//! (`epoch + 1`), then asks A to hand over: A closes its connection with "session taken
//! over" (v5 0x8E; 3.1.1: closed) and replies with the whole session (subscriptions,
//! queued and in-flight QoS 1/2 messages with their packet ids, incoming QoS 2 ids), or
//! discards it for a clean start. B resumes it with session present. A claim that
//! finds the row's epoch changed reads again (another instance won the race).
//!
//! An owner that died (no heartbeat for `--instance-timeout`, or not answering): B
//! claims without a handover and resumes the subscriptions the owner kept in the row
//! (written whenever a persistent session's subscriptions change: rare, cheap). What
//! was queued only in the dead instance's memory or local journal is lost across
//! instances: a device resuming elsewhere gets its subscriptions back, not the
//! messages that waited for it there (they come back only if that instance restarts
//! with its data dir, and then only to a device that reconnects there).
//!
//! A stale owner never overwrites: its subscription writes and its release are
//! conditioned on the epoch it claimed with; a write that matches nothing means the
//! lease was lost, and the local copy is dropped ([`BrokerHandle::drop_lost_session`]).
//! PostgreSQL unreachable: the claim gives up and the session is local-only (local
//! traffic never stops); NATS unreachable: the owner is treated as dead.
//!
//! Limits: a message published on the old owner's instance while a session moves (a
//! few milliseconds) may find the session on neither instance; the NATS bus is trusted
//! (any client of it could ask for a takeover), as for messages.

mod owners;
mod transfer;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use magnetite_broker::persist::WaitFuture;
use magnetite_broker::{BrokerHandle, Claim, SessionDirectory};
use sqlx::postgres::PgPool;
use tokio::sync::mpsc;

use owners::Previous;
use transfer::TakeoverRequest;

/// How long a CONNECT waits for the owners table (a database that does not answer
/// would otherwise hold it for the pool's acquire timeout).
const CLAIM_TIMEOUT: Duration = Duration::from_secs(3);

/// Ownership writes (subscriptions, releases) waiting for PostgreSQL; past this many
/// they are dropped and counted (only a crash of this instance would miss them).
const WRITE_QUEUE: usize = 4096;

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct SessionStats {
    /// Sessions this instance took from a live instance by handover.
    pub taken_over: AtomicU64,
    /// Takeover requests this instance answered (its session went elsewhere).
    pub handed_over: AtomicU64,
    /// Sessions resumed from the subscriptions kept in their row (subscriptions only):
    /// the owner was dead, did not answer, or no longer held the session.
    pub resumed_from_dead: AtomicU64,
    /// Local copies dropped because another instance owns the session now.
    pub leases_lost: AtomicU64,
    /// Directory operations that failed (database or NATS unreachable, bad data).
    pub errors: AtomicU64,
}

impl SessionStats {
    fn count_error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }
    fn count_handover(&self) {
        self.handed_over.fetch_add(1, Ordering::Relaxed);
    }
}

pub struct SessionOwnersConfig {
    /// `nats://host:port` (may carry credentials: used only to connect, never logged).
    pub nats_url: String,
    pub instance_id: String,
    /// `--instance-timeout`: silence after which an owner is dead.
    pub instance_timeout: std::time::Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum SessionOwnersError {
    #[error("session owners table: {0}")]
    Database(#[from] sqlx::Error),
    #[error("session owners NATS settings refused: {0}")]
    Connect(#[from] async_nats::ConnectError),
}

/// A queued ownership write.
enum Write {
    Subscriptions {
        key: (String, String, u64),
        expiry: u32,
        subscriptions: Bytes,
    },
    Released((String, String, u64)),
}

/// The directory: give [`SessionOwners::directory`] to the broker, then
/// [`SessionOwners::start`] with its handle.
pub struct SessionOwners {
    inner: Arc<Inner>,
    writes: mpsc::Receiver<Write>,
}

struct Inner {
    pool: PgPool,
    client: async_nats::Client,
    me: String,
    timeout_ms: i64,
    writes: mpsc::Sender<Write>,
    stats: Arc<SessionStats>,
}

impl SessionOwners {
    pub async fn open(
        pool: PgPool,
        config: SessionOwnersConfig,
    ) -> Result<SessionOwners, SessionOwnersError> {
        owners::create_table(&pool).await?;
        let client = async_nats::ConnectOptions::new()
            .retry_on_initial_connect()
            .name(format!("magnetite-sessions-{}", config.instance_id))
            .connect(config.nats_url.as_str())
            .await?;
        let (writes_tx, writes) = mpsc::channel(WRITE_QUEUE);
        let inner = Inner {
            pool,
            client,
            me: config.instance_id,
            timeout_ms: config.instance_timeout.as_millis() as i64,
            writes: writes_tx,
            stats: Arc::default(),
        };
        Ok(SessionOwners {
            inner: Arc::new(inner),
            writes,
        })
    }

    pub fn directory(&self) -> Arc<dyn SessionDirectory> {
        Arc::clone(&self.inner) as Arc<dyn SessionDirectory>
    }

    pub fn stats(&self) -> Arc<SessionStats> {
        Arc::clone(&self.inner.stats)
    }

    /// Answers other instances' takeover requests and writes ownership changes.
    pub fn start(self, broker: BrokerHandle) {
        let inner = &self.inner;
        tokio::spawn(transfer::serve(
            inner.client.clone(),
            inner.me.clone(),
            broker.clone(),
            Arc::clone(&inner.stats),
        ));
        tokio::spawn(write_ownership(Arc::clone(inner), self.writes, broker));
    }
}

impl Inner {
    async fn claim_owned(&self, namespace: &str, client_id: &str, clean_start: bool) -> Claim {
        let claiming = owners::claim(&self.pool, &self.me, namespace, client_id, clean_start);
        let claimed = tokio::time::timeout(CLAIM_TIMEOUT, claiming).await;
        let (epoch, previous) = match claimed {
            Ok(Ok(Some(won))) => won,
            Ok(Ok(None)) => {
                tracing::warn!(
                    client_id,
                    "session ownership: claim kept losing the race; local-only"
                );
                return Claim::unowned();
            }
            Ok(Err(err)) => {
                self.stats.count_error();
                tracing::warn!(error = %err, "session ownership: database unreachable; local-only");
                return Claim::unowned();
            }
            Err(_) => {
                self.stats.count_error();
                tracing::warn!("session ownership: database did not answer in time; local-only");
                return Claim::unowned();
            }
        };
        let epoch = epoch as u64;
        let Some(row) = previous else {
            return Claim { epoch, moved: None };
        };
        let now = owners::now_ms();
        let moved = match row.judge(&self.me, now, self.timeout_ms) {
            Previous::Here => None,
            Previous::Live(owner) => {
                let ask = TakeoverRequest {
                    namespace: namespace.to_string(),
                    client_id: client_id.to_string(),
                    keep: !clean_start,
                };
                match transfer::request(&self.client, &owner, &ask).await {
                    Ok(Some(session)) => {
                        self.stats.taken_over.fetch_add(1, Ordering::Relaxed);
                        Some(session)
                    }
                    // The owner holds nothing (it restarted without its state, or the
                    // session was clean): what the row kept is all there is.
                    Ok(None) => self.resume_from_row(&row, now, clean_start),
                    Err(err) => {
                        tracing::info!(client_id, %owner, error = %err, "owner did not hand the session over; resuming its subscriptions");
                        self.resume_from_row(&row, now, clean_start)
                    }
                }
            }
            Previous::Dead => self.resume_from_row(&row, now, clean_start),
        };
        Claim { epoch, moved }
    }

    fn resume_from_row(
        &self,
        row: &owners::OwnerRow,
        now: i64,
        clean_start: bool,
    ) -> Option<Bytes> {
        let subscriptions = row.resumable(now).filter(|_| !clean_start)?;
        self.stats.resumed_from_dead.fetch_add(1, Ordering::Relaxed);
        Some(subscriptions)
    }

    fn queue(&self, write: Write) {
        if self.writes.try_send(write).is_err() {
            self.stats.count_error();
        }
    }
}

impl SessionDirectory for Inner {
    fn claim<'a>(
        &'a self,
        namespace: &'a str,
        client_id: &'a str,
        clean_start: bool,
    ) -> WaitFuture<'a, Claim> {
        Box::pin(self.claim_owned(namespace, client_id, clean_start))
    }

    fn subscriptions_changed(
        &self,
        namespace: &str,
        client_id: &str,
        epoch: u64,
        expiry: u32,
        subscriptions: Bytes,
    ) {
        self.queue(Write::Subscriptions {
            key: (namespace.to_string(), client_id.to_string(), epoch),
            expiry,
            subscriptions,
        });
    }

    fn released(&self, namespace: &str, client_id: &str, epoch: u64) {
        self.queue(Write::Released((
            namespace.to_string(),
            client_id.to_string(),
            epoch,
        )));
    }
}

/// Applies queued ownership writes in order; a subscription write that finds the lease
/// lost drops the local copy.
async fn write_ownership(
    inner: Arc<Inner>,
    mut writes: mpsc::Receiver<Write>,
    broker: BrokerHandle,
) {
    while let Some(write) = writes.recv().await {
        let done = match &write {
            Write::Subscriptions {
                key,
                expiry,
                subscriptions,
            } => {
                let at = (key.0.as_str(), key.1.as_str(), key.2 as i64);
                owners::keep_subscriptions(&inner.pool, &inner.me, at, *expiry, subscriptions).await
            }
            Write::Released(key) => {
                let at = (key.0.as_str(), key.1.as_str(), key.2 as i64);
                owners::release(&inner.pool, &inner.me, at)
                    .await
                    .map(|()| true)
            }
        };
        match (done, write) {
            (Ok(true), _) | (Ok(false), Write::Released(_)) => {}
            (Ok(false), Write::Subscriptions { key, .. }) => {
                inner.stats.leases_lost.fetch_add(1, Ordering::Relaxed);
                // Off this task: dropping waits for the local connection to let go.
                let broker = broker.clone();
                tokio::spawn(async move {
                    broker.drop_lost_session(&key.0, &key.1, key.2).await;
                });
            }
            (Err(err), _) => {
                inner.stats.count_error();
                tracing::warn!(error = %err, "session ownership write failed (database unreachable)");
            }
        }
    }
}
