//! Magnetite personal notifications, in the style of Aruna's: messages addressed to one
//! user, kept until that user acknowledges them.
//!
//! Made from two sources, never on a request's path:
//! - the event outbox, by one more outbox reader (module `reader`, cursor
//!   `#notifications`): `domain.assign` / `domain.update_relation` / `domain.unassign`
//!   tell the user whose access changed (`permission_granted` / `permission_updated`
//!   / `permission_revoked`); a `client.remove` with status `disabled` tells the
//!   admins of the client's domain (`client_disabled`); an `invitation.send` tells the
//!   invitee (`invitation_received`);
//! - a periodic sweep over the issued certificates (module `sweep`): a certificate
//!   expiring within the notice window tells its domain's admins once
//!   (`certificate_expiring`).
//!
//! The API (module `http`): `GET /notifications` (the caller's own, newest first) and
//! `POST /notifications/acknowledge {ids}` (only the caller's own ids are acknowledged;
//! any other id is passed over without a word). Each user keeps at most
//! [`NotificationSettings::max_per_user`]; more drop that user's oldest, counted on
//! `/metrics` as `magnetite_notifications_dropped_total`.

pub mod derive;
pub mod error;
mod http;
pub mod metrics;
pub mod model;
mod reader;
mod resolve;
pub mod store;
pub mod sweep;

pub use error::NotificationsError;
pub use http::router;
pub use metrics::NotificationsCollector;
pub use model::{Draft, Notification, Ref, Variant};

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use magnetite_auth::Platform;
use magnetite_db::Db;
use magnetite_events::OutboxDb;
use tokio::sync::{watch, Mutex};
use tokio::task::JoinHandle;

use error::Result;

/// How the notifications behave.
#[derive(Debug, Clone)]
pub struct NotificationSettings {
    /// Unacknowledged notifications kept per user; more drop the oldest.
    pub max_per_user: u32,
    /// How long before its expiry a certificate is noticed.
    pub cert_expiry_notice: Duration,
    /// How often certificates are swept; `None` when the certs service is off.
    pub cert_sweep_every: Option<Duration>,
}

/// What the notifications did since the start, for `/metrics`.
#[derive(Debug, Default)]
pub struct Counters {
    created: AtomicU64,
    dropped: AtomicU64,
    sweeps: AtomicU64,
    lag: AtomicI64,
}

impl Counters {
    fn add(&self, stored: store::Stored) {
        self.created.fetch_add(stored.created, Ordering::Relaxed);
        self.dropped.fetch_add(stored.dropped, Ordering::Relaxed);
    }

    fn swept(&self) {
        self.sweeps.fetch_add(1, Ordering::Relaxed);
    }

    fn set_lag(&self, rows: i64) {
        self.lag.store(rows, Ordering::Relaxed);
    }
}

/// The notifications: their store, the platform they resolve users on, and the tasks
/// that make them.
pub struct NotificationService {
    db: Db,
    platform: Arc<Platform>,
    settings: NotificationSettings,
    counters: Arc<Counters>,
    stop: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for NotificationService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotificationService")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl NotificationService {
    /// Creates the tables, fixes the reader's first position (the end of the outbox,
    /// before any request can write a later event), and spawns the reader and, when
    /// `cert_sweep_every` is set, the sweep. `db` is the platform's database, whose
    /// outbox (`magnetite_events::Events` started first) and, for the sweep, certs
    /// table (`magnetite_certs::CertsService` opened first) must exist.
    pub async fn start(
        db: Db,
        platform: Arc<Platform>,
        settings: NotificationSettings,
    ) -> Result<Arc<NotificationService>> {
        store::migrate(&db).await?;
        if db.saved_cursor(reader::CURSOR).await?.is_none() {
            db.save_cursor(reader::CURSOR, db.max_id().await?).await?;
        }
        let (stop, stop_rx) = watch::channel(false);
        let counters = Arc::new(Counters::default());
        let max_per_user = settings.max_per_user;
        let mut tasks = vec![tokio::spawn(
            reader::NoticeReader {
                db: db.clone(),
                platform: Arc::clone(&platform),
                counters: Arc::clone(&counters),
                max_per_user,
                stop: stop_rx.clone(),
            }
            .run(),
        )];
        if let Some(every) = settings.cert_sweep_every {
            let sweep = sweep::CertSweep {
                db: db.clone(),
                platform: Arc::clone(&platform),
                counters: Arc::clone(&counters),
                max_per_user,
                notice: settings.cert_expiry_notice,
                every,
                stop: stop_rx,
            };
            tasks.push(tokio::spawn(sweep.run()));
        }
        Ok(Arc::new(NotificationService {
            db,
            platform,
            settings,
            counters,
            stop,
            tasks: Mutex::new(tasks),
        }))
    }

    /// Stops the reader and the sweep (the reader's cursor is saved after every
    /// window, so the next start resumes where it stopped). Requests keep working.
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        for task in self.tasks.lock().await.drain(..) {
            let _ = task.await;
        }
    }

    /// The platform callers are authenticated on.
    pub fn platform(&self) -> &Arc<Platform> {
        &self.platform
    }

    /// The caller's notifications, newest first, and their total.
    pub async fn list(
        &self,
        user_id: &str,
        offset: u64,
        limit: u64,
    ) -> Result<(u64, Vec<Notification>)> {
        store::list(&self.db, user_id, offset, limit).await
    }

    /// Acknowledges (deletes) those of `ids` that are `user_id`'s; returns how many.
    pub async fn acknowledge(&self, user_id: &str, ids: &[String]) -> Result<u64> {
        store::acknowledge(&self.db, user_id, ids).await
    }

    /// Its `/metrics` families, read at each scrape.
    pub fn collector(self: &Arc<Self>) -> NotificationsCollector {
        NotificationsCollector(Arc::clone(&self.counters))
    }
}
