//! The real `magnetite` binary on free loopback ports with a temporary data dir; killed
//! (and its data dir removed) when the test is done.

use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::servers::free_port;

/// Admin credentials a platform-mode test server starts with.
pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "admin-password-1";

pub struct Magnetite {
    child: Child,
    pub mqtt: SocketAddr,
    pub ws: SocketAddr,
    pub http: SocketAddr,
    pub data_dir: PathBuf,
    keep_data: bool,
}

/// Waits until the server listens on `addr`; fails with the server's log when it exits
/// or takes more than 30 s.
fn wait_for(child: &mut Child, addr: SocketAddr, log: &std::path::Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let log_text = || std::fs::read_to_string(log).unwrap_or_default();
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "magnetite exited ({status}) before listening on {addr}:\n{}",
                log_text()
            );
        }
        if TcpStream::connect(addr).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    panic!(
        "magnetite did not listen on {addr} within 30 s:\n{}",
        log_text()
    );
}

/// Free loopback ports for the TLS listeners unless `args` names them: a test that
/// turns TLS on (`--tls-self-signed`) must never bind the defaults (8883, 8084), which
/// two tests running at once would fight over. Unused when TLS stays off.
fn tls_ports(args: &[&str]) -> Vec<String> {
    let mut extra = Vec::new();
    for flag in ["--mqtts-addr", "--wss-addr"] {
        if !args.contains(&flag) {
            extra.push(flag.to_string());
            extra.push(format!("127.0.0.1:{}", free_port()));
        }
    }
    extra
}

/// A data dir under the temp dir, unique to this process and call.
pub fn temp_data_dir() -> PathBuf {
    std::env::temp_dir().join(format!(
        "magnetite-test-{}-{}",
        std::process::id(),
        free_port()
    ))
}

impl Magnetite {
    /// `magnetite serve` from `bin` (pass `env!("CARGO_BIN_EXE_magnetite")`) with
    /// `args` (e.g. `--auth none`), on fresh ports, in `data_dir`. The platform admin is
    /// [`ADMIN_EMAIL`] / [`ADMIN_PASSWORD`].
    pub fn start(bin: &str, data_dir: PathBuf, args: &[&str]) -> Magnetite {
        Magnetite::start_on(bin, data_dir, free_port(), args)
    }

    /// [`Magnetite::start`] with its MQTT listener on `mqtt_port` (chosen beforehand,
    /// e.g. for two instances that must know each other's address).
    pub fn start_on(bin: &str, data_dir: PathBuf, mqtt_port: u16, args: &[&str]) -> Magnetite {
        let addr = |p: u16| SocketAddr::from(([127, 0, 0, 1], p));
        let (mqtt, ws, http) = (addr(mqtt_port), addr(free_port()), addr(free_port()));
        let log = std::fs::create_dir_all(&data_dir)
            .ok()
            .and_then(|_| std::fs::File::create(data_dir.join("test.log")).ok());
        let stdout = log
            .as_ref()
            .and_then(|f| f.try_clone().ok())
            .map(Stdio::from)
            .unwrap_or_else(Stdio::null);
        let stderr = log.map(Stdio::from).unwrap_or_else(Stdio::null);
        let mut child = Command::new(bin)
            .arg("serve")
            .args(["--mqtt-addr", &mqtt.to_string()])
            .args(["--ws-addr", &ws.to_string()])
            .args(["--http-addr", &http.to_string()])
            .args(["--data-dir", &data_dir.to_string_lossy()])
            .args(tls_ports(args))
            .args(args)
            .env("MAGNETITE_ADMIN_EMAIL", ADMIN_EMAIL)
            .env("MAGNETITE_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("spawn magnetite");
        let log_path = data_dir.join("test.log");
        for addr in [mqtt, ws, http] {
            wait_for(&mut child, addr, &log_path);
        }
        Magnetite {
            child,
            mqtt,
            ws,
            http,
            data_dir,
            keep_data: false,
        }
    }

    /// SIGKILL, keeping the data dir for a restart.
    pub fn kill9(mut self) -> PathBuf {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.keep_data = true;
        self.data_dir.clone()
    }

    /// SIGTERM (a clean shutdown), keeping the data dir for a restart.
    pub fn stop(mut self) -> PathBuf {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let _ = self.child.wait();
        self.keep_data = true;
        self.data_dir.clone()
    }

    /// The server's process id (to read its `/proc/<pid>/status`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn port(&self) -> String {
        self.mqtt.port().to_string()
    }

    /// What the server wrote so far (log lines and stderr).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data_dir.join("test.log")).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "magnetite did not exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Magnetite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !self.keep_data {
            let _ = std::fs::remove_dir_all(&self.data_dir);
        }
    }
}
