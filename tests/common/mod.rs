//! Runs the real `magnetite` binary (see `magnetite_testkit::magnetite`) and the
//! external command-line clients the tests drive it with.

#![allow(dead_code, unused_imports)]

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub use magnetite_testkit::magnetite::{
    temp_data_dir, Magnetite as Server, ADMIN_EMAIL, ADMIN_PASSWORD,
};
pub use magnetite_testkit::servers::free_port;

const BIN: &str = env!("CARGO_BIN_EXE_magnetite");

/// `magnetite serve --auth none` plus `extra` flags.
pub fn start(extra: &[&str]) -> Server {
    start_in(temp_data_dir(), extra)
}

/// `--auth none` on fresh ports with an existing (or new) data dir.
pub fn start_in(data_dir: PathBuf, extra: &[&str]) -> Server {
    let mut args = vec!["--auth", "none"];
    args.extend_from_slice(extra);
    Server::start(BIN, data_dir, &args)
}

/// `magnetite serve` with the platform (the default auth) plus `extra` flags.
pub fn start_platform(extra: &[&str]) -> Server {
    start_in_platform(temp_data_dir(), extra)
}

/// The platform on fresh ports with an existing (or new) data dir.
pub fn start_in_platform(data_dir: PathBuf, extra: &[&str]) -> Server {
    Server::start(BIN, data_dir, extra)
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

/// Runs a mosquitto command-line client (`mosquitto_pub`, `mosquitto_sub`) against
/// `127.0.0.1:port`; `args` follow `-h 127.0.0.1 -p <port>`.
pub fn mosquitto(program: &str, port: &str, args: &[&str]) -> Output {
    run(program, &local_args(port, args))
}

/// [`mosquitto`], left running with its output piped.
pub fn spawn_mosquitto(program: &str, port: &str, args: &[&str]) -> Child {
    spawn(program, &local_args(port, args))
}

fn local_args<'a>(port: &'a str, args: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec!["-h", "127.0.0.1", "-p", port];
    all.extend_from_slice(args);
    all
}

/// Asserts that a finished command exited 0; its stderr is the failure message.
pub fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `bash script` set up as a README reader's shell would be against `server`: `H` the
/// API base URL, `P` the MQTT port, the admin's email and password in the environment.
pub fn shell_journey(server: &Server, script: &std::path::Path) -> Command {
    let mut cmd = Command::new("bash");
    cmd.arg(script)
        .env("H", format!("http://{}", server.http))
        .env("P", server.port())
        .env("MAGNETITE_ADMIN_EMAIL", ADMIN_EMAIL)
        .env("MAGNETITE_ADMIN_PASSWORD", ADMIN_PASSWORD);
    cmd
}

/// Drives the event loop until `done` says so or the time runs out.
pub async fn drive(
    eventloop: &mut rumqttc::EventLoop,
    limit: Duration,
    mut done: impl FnMut(&rumqttc::Event) -> bool,
) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, eventloop.poll()).await {
            Ok(Ok(event)) => {
                if done(&event) {
                    return true;
                }
            }
            Ok(Err(_)) | Err(_) => return false,
        }
    }
}
