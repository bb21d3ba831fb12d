//! Runs the real `magnetite` binary on free loopback ports with a temporary data dir,
//! and kills it when the test is done.

#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub struct Server {
    child: Child,
    pub mqtt: SocketAddr,
    pub ws: SocketAddr,
    pub http: SocketAddr,
    pub data_dir: PathBuf,
    keep_data: bool,
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn wait_for(addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if TcpStream::connect(addr).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("magnetite did not listen on {addr}");
}

impl Server {
    /// `magnetite serve --auth none` plus `extra` flags.
    pub fn start(extra: &[&str]) -> Server {
        let data_dir = std::env::temp_dir().join(format!(
            "magnetite-test-{}-{}",
            std::process::id(),
            free_port()
        ));
        Server::start_in(data_dir, extra)
    }

    /// Starts on fresh ports with an existing (or new) data dir.
    pub fn start_in(data_dir: PathBuf, extra: &[&str]) -> Server {
        let addr = |p: u16| SocketAddr::from(([127, 0, 0, 1], p));
        let (mqtt, ws, http) = (addr(free_port()), addr(free_port()), addr(free_port()));
        let child = Command::new(env!("CARGO_BIN_EXE_magnetite"))
            .args(["serve", "--auth", "none"])
            .args([
                "--mqtt-addr",
                &mqtt.to_string(),
                "--ws-addr",
                &ws.to_string(),
            ])
            .args([
                "--http-addr",
                &http.to_string(),
                "--data-dir",
                &data_dir.to_string_lossy(),
            ])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn magnetite");
        wait_for(mqtt);
        wait_for(ws);
        Server {
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

    pub fn port(&self) -> String {
        self.mqtt.port().to_string()
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

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !self.keep_data {
            let _ = std::fs::remove_dir_all(&self.data_dir);
        }
    }
}

/// Runs a required external tool; a missing tool fails the test with a clear message.
pub fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("{program} is required for this test (scripts/test.sh installs it): {e}")
        })
}

pub fn spawn(program: &str, args: &[&str]) -> Child {
    Command::new(program)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("{program} is required for this test (scripts/test.sh installs it): {e}")
        })
}

/// Waits for a child that is expected to exit by itself, killing it after `limit`.
pub fn finish(mut child: Child, limit: Duration) -> Output {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    child.wait_with_output().expect("child output")
}
