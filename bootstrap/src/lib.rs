//! Magnetite bootstrap: Magistrala-compatible device bootstrap.
//!
//! An operator registers a *config* for a device (external id + external key, the
//! platform client it becomes, its channels, opaque content, certificates); the device,
//! knowing only its external id and key, fetches everything it needs to connect
//! (`GET /clients/bootstrap/{external_id}`, or the AES-encrypted variant — see
//! [`crypto`] for the exact scheme). The config's whitelist state drives the client's
//! connections: `1` connects it to each channel for publish and subscribe, `0`
//! disconnects it and ends its live MQTT sessions at once.
//!
//! Every change writes its `bootstrap` event to the outbox in the same transaction. A
//! background task (module `tailer`) follows the `clients` event stream so that deleting a
//! client or a channel through the platform API updates the configs, as Magistrala's
//! bootstrap does by consuming the clients events.
//!
//! Wiring: [`BootstrapService::start`] then [`router`], merged into the root router.

pub mod crypto;
pub mod error;
mod http;
pub mod issuer;
pub mod metrics;
pub mod model;
mod service;
pub mod store;
mod tailer;

pub use crypto::{parse_encrypt_key, StorageKey};
pub use error::BootstrapError;
pub use http::router;
pub use issuer::{CertIssuer, IssueFuture, IssuedCert};
pub use metrics::BootstrapCollector;
pub use model::{Channel, Config, State};
pub use service::device::KeyForm;
pub use service::manage::{CreateConfig, UpdateCerts, UpdateConfig};

use magnetite_auth::login_throttle::LoginThrottle;
use magnetite_auth::Platform;
use magnetite_db::Db;
use magnetite_events::reader::ReaderTask;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use store::ConfigStore;

/// The bootstrap service: its store, the platform it provisions clients on, its keys,
/// and the tailing task.
pub struct BootstrapService {
    store: ConfigStore,
    platform: Arc<Platform>,
    encrypt_key: Option<[u8; 32]>,
    storage: StorageKey,
    issuer: Option<Arc<dyn CertIssuer>>,
    /// Failed device attempts per external id: slows guessing of external keys, which
    /// operators often derive from serial numbers or MAC addresses.
    attempts: LoginThrottle,
    /// Failed bootstraps for external ids no config has: counted, not recorded as events
    /// (see [`service::device`]).
    unknown_attempts: AtomicU64,
    tailer: ReaderTask,
}

impl std::fmt::Debug for BootstrapService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BootstrapService")
            .field("secure_bootstrap", &self.encrypt_key.is_some())
            .field("issuer", &self.issuer.is_some())
            .finish_non_exhaustive()
    }
}

impl BootstrapService {
    /// Creates the tables and spawns the task that tails the `clients` stream.
    ///
    /// - `db`: the platform's database (`platform.store.db()`: the tailer reads auth's
    ///   events from its outbox; start `magnetite_events::Events` first so it exists);
    /// - `encrypt_key`: the secure-bootstrap key ([`parse_encrypt_key`]); without it the
    ///   secure endpoint answers 501;
    /// - `issuer`: issues certificates for `"issue_cert": true` configs;
    /// - `storage`: seals client secrets and private keys at rest
    ///   ([`StorageKey::load_or_create`] on `<data dir>/bootstrap.key`).
    pub async fn start(
        db: Db,
        platform: Arc<Platform>,
        encrypt_key: Option<[u8; 32]>,
        issuer: Option<Arc<dyn CertIssuer>>,
        storage: StorageKey,
    ) -> Result<Arc<BootstrapService>, BootstrapError> {
        let store = ConfigStore::open(db.clone()).await?;
        let tailer = tailer::Tailer {
            db,
            store: store.clone(),
        };
        let tailer = ReaderTask::spawn(|stop| tailer.run(stop));
        Ok(Arc::new(BootstrapService {
            store,
            platform,
            encrypt_key,
            storage,
            issuer,
            attempts: LoginThrottle::default(),
            unknown_attempts: AtomicU64::new(0),
            tailer,
        }))
    }

    /// Stops the tailing task (its cursor is saved after every window, so the next
    /// start resumes where it stopped). Requests keep working.
    pub async fn shutdown(&self) {
        self.tailer.shutdown().await
    }

    /// The platform the configs' clients live on.
    pub fn platform(&self) -> &Arc<Platform> {
        &self.platform
    }

    /// Its `/metrics` families (see [`metrics`]), read at each scrape.
    pub fn collector(self: &Arc<Self>) -> BootstrapCollector {
        BootstrapCollector(Arc::clone(self))
    }

    /// The same families as Prometheus text (for tests and tools).
    pub fn metrics_text(self: &Arc<Self>) -> String {
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register_collector(Box::new(self.collector()));
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, &registry);
        text
    }

    /// The config store (reads for tests and tools).
    pub fn store(&self) -> &ConfigStore {
        &self.store
    }
}
