//! The upstream broker an edge bridges to in the outage tests: mosquitto or a second
//! magnetite, either of which can be stopped (the link is cut the way a real outage
//! cuts it: nobody listens any more) and started again on the same port, keeping its
//! persistent sessions and the QoS 1 messages queued for them.

use std::path::PathBuf;

use magnetite_testkit::servers;

use crate::common::{temp_data_dir, Server};

const BIN: &str = env!("CARGO_BIN_EXE_magnetite");

/// A broker that survives a stop and a start on the same MQTT port.
pub trait Upstream {
    /// Its MQTT port (the same across restarts).
    fn port(&self) -> u16;
    /// Stops it the way an operator would (SIGTERM), keeping its data.
    fn stop(&mut self);
    /// Starts it again on the same port and data.
    fn start(&mut self);
}

/// mosquitto with `persistence true` in a directory of the test's.
pub struct Mosquitto {
    server: servers::Server,
    _dir: tempfile::TempDir,
}

impl Mosquitto {
    pub fn start() -> Mosquitto {
        let dir = tempfile::tempdir().expect("temp dir");
        let server = servers::mosquitto_persistent(dir.path());
        Mosquitto { server, _dir: dir }
    }
}

impl Upstream for Mosquitto {
    fn port(&self) -> u16 {
        self.server.port
    }

    fn stop(&mut self) {
        self.server.stop_gracefully();
    }

    fn start(&mut self) {
        self.server.start();
    }
}

/// A second `magnetite serve --auth none --persistence batched` on a port and data dir
/// fixed for its whole life, so a restart finds the persistent sessions where the
/// clients (and the edge's bridge) expect them.
pub struct Magnetite {
    running: Option<Server>,
    port: u16,
    data_dir: PathBuf,
}

impl Magnetite {
    /// `--max-queued` well above what a test queues for one offline subscriber, so the
    /// default per-session bound (10,000) is not what the test measures.
    const ARGS: [&'static str; 6] = [
        "--auth",
        "none",
        "--persistence",
        "batched",
        "--max-queued",
        "100000",
    ];

    pub fn start() -> Magnetite {
        let mut upstream = Magnetite {
            running: None,
            port: servers::free_port(),
            data_dir: temp_data_dir(),
        };
        upstream.start_again();
        upstream
    }

    fn start_again(&mut self) {
        let server = Server::start_on(BIN, self.data_dir.clone(), self.port, &Self::ARGS);
        self.running = Some(server);
    }
}

impl Upstream for Magnetite {
    fn port(&self) -> u16 {
        self.port
    }

    fn stop(&mut self) {
        if let Some(server) = self.running.take() {
            server.stop();
        }
    }

    fn start(&mut self) {
        assert!(self.running.is_none(), "the upstream magnetite is running");
        self.start_again();
    }
}

impl Drop for Magnetite {
    /// A stopped instance keeps its data dir (for the restart): removed here, whatever
    /// state the test ended in.
    fn drop(&mut self) {
        drop(self.running.take());
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}
