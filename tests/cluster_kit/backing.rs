//! The backing servers several platform instances share (a real PostgreSQL and a real
//! `nats-server -js`), platform instances on them, and the MQTT event log they write.

use magnetite_testkit::servers::{self, Server as External};
use serde_json::Value;

use crate::common::Server;
use crate::platform::{self, Api};

/// Instances on one database share the key that hashes client secrets and signs tokens.
pub const SHARED_AUTH_KEY: &str = "cluster-revocation-test-shared-key";

/// The servers a cluster shares. Fields drop in order: NATS, then PostgreSQL, then
/// their directory (drop the instances first).
pub struct Backing {
    pub nats: External,
    pub pg: External,
    pub db_url: String,
    pub nats_url: String,
    _dir: tempfile::TempDir,
}

/// A PostgreSQL and a `nats-server -js` on free ports.
pub fn backing() -> Backing {
    let dir = tempfile::tempdir().expect("temp dir");
    let pg = servers::postgres(dir.path());
    let nats = servers::nats(&dir.path().join("nats"));
    Backing {
        db_url: servers::postgres_url(&pg),
        nats_url: format!("nats://127.0.0.1:{}", nats.port),
        nats,
        pg,
        _dir: dir,
    }
}

/// A platform instance named `id` on the database `url`, with `extra` flags.
pub fn instance(url: &str, id: &str, extra: &[&str]) -> Server {
    std::env::set_var("MAGNETITE_AUTH_KEY", SHARED_AUTH_KEY);
    let mut args = vec!["--database-url", url, "--instance-id", id];
    args.extend_from_slice(extra);
    platform::server(&args)
}

/// The `mqtt` events of `client` with `event_type` and `instance`, as `api` reads them.
pub fn mqtt_events(api: &Api, client: &str, event_type: &str, instance: &str) -> usize {
    let wanted = |e: &&Value| {
        e["client_id"] == client && e["event_type"] == event_type && e["instance"] == instance
    };
    api.event_log("mqtt").iter().filter(wanted).count()
}
