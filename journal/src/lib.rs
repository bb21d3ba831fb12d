//! Magnetite's journal, SuperMQ's journal service in one crate: every event of the
//! outbox kept per entity, queryable by the entity's readers, and per-client MQTT
//! telemetry.
//!
//! - Copying: module `reader` follows the outbox (one more outbox reader, cursor
//!   `#journal`) and stores each event once (`store`), indexed by the clients,
//!   channels, groups and users it names (`derive`). The outbox is pruned by its own
//!   retention; the journal keeps entries for `--journal-retention`.
//! - Telemetry: derived from the MQTT adapter's events as they are copied:
//!   connect / disconnect (first and last seen), `mqtt.client_subscribe` /
//!   `mqtt.client_unsubscribe` (the filters a session holds) and `mqtt.client_traffic`
//!   (a session's PUBLISH counts, written once when it ends; the engine counts per
//!   connection and never writes an event per message). `inbound_messages` are the
//!   PUBLISHes the client sent, `outbound_messages` those delivered to it, as SuperMQ
//!   counts them; both grow when a session ends, so a live session's messages show
//!   once it disconnects.
//! - The API (module `http`, access in `service`): SuperMQ's `journal.yaml`.

pub mod derive;
pub mod error;
mod http;
pub mod model;
mod reader;
pub mod service;
pub mod store;
mod window;

pub use error::JournalError;
pub use http::router;

use std::sync::Arc;
use std::time::Duration;

use magnetite_auth::Platform;
use magnetite_db::Db;
use magnetite_events::reader::ReaderTask;

use error::Result;

/// Default `--journal-retention`.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(30 * 86_400);

/// How the journal behaves.
#[derive(Debug, Clone)]
pub struct JournalSettings {
    /// Entries older than this are deleted; zero keeps everything.
    pub retention: Duration,
}

/// The journal: its store, the platform callers are checked on, and its tasks.
pub struct JournalService {
    db: Db,
    platform: Arc<Platform>,
    tasks: Vec<ReaderTask>,
}

impl std::fmt::Debug for JournalService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JournalService").finish_non_exhaustive()
    }
}

impl JournalService {
    /// Creates the tables and spawns the copier and, unless the retention is zero, the
    /// pruner. `db` is the platform's database, whose outbox
    /// (`magnetite_events::Events` started first) it reads.
    pub async fn start(
        db: Db,
        platform: Arc<Platform>,
        settings: JournalSettings,
    ) -> Result<Arc<JournalService>> {
        store::migrate(&db).await?;
        let copier_db = db.clone();
        let mut tasks = vec![ReaderTask::spawn(|stop| reader::copy(copier_db, stop))];
        if !settings.retention.is_zero() {
            let pruner_db = db.clone();
            let retention = settings.retention;
            tasks.push(ReaderTask::spawn(move |stop| {
                reader::prune(pruner_db, retention, stop)
            }));
        }
        Ok(Arc::new(JournalService {
            db,
            platform,
            tasks,
        }))
    }

    /// Stops the copier and the pruner (the copier's cursor is saved after every
    /// window, so the next start resumes there). Requests keep working.
    pub async fn shutdown(&self) {
        for task in &self.tasks {
            task.shutdown().await;
        }
    }

    /// The platform callers are authenticated on.
    pub fn platform(&self) -> &Arc<Platform> {
        &self.platform
    }

    /// The read side ([`service::Journal`]).
    pub fn journal(&self) -> service::Journal<'_> {
        service::Journal {
            db: &self.db,
            platform: &self.platform,
        }
    }
}
