//! When the platform CA cannot be opened, `magnetite serve` starts without the certs
//! service only where nothing depends on it; otherwise it refuses to start and says why.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{finish, free_port, start_platform, temp_data_dir};

const BIN: &str = env!("CARGO_BIN_EXE_magnetite");

/// `magnetite serve` on fresh ports without `MAGNETITE_CA_KEY_PASSPHRASE`, expected to
/// exit by itself (killed after 30 s, which then fails the caller's assertions).
fn serve_without_passphrase(data_dir: &Path, extra: &[&str]) -> Output {
    let addr = || format!("127.0.0.1:{}", free_port());
    let child = Command::new(BIN)
        .arg("serve")
        .args(["--data-dir", &data_dir.to_string_lossy()])
        .args(["--mqtt-addr", &addr(), "--ws-addr", &addr()])
        .args(["--http-addr", &addr(), "--mqtts-addr", &addr()])
        .args(["--wss-addr", &addr()])
        .args(extra)
        .env_remove("MAGNETITE_CA_KEY_PASSPHRASE")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn magnetite");
    finish(child, Duration::from_secs(30))
}

fn assert_refused(out: &Output, because: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "exits with an error: {stderr}");
    assert!(stderr.contains(because), "says {because:?}: {stderr}");
}

#[test]
fn an_existing_ca_without_its_passphrase_is_refused() {
    let (mqtts, wss) = (free_port(), free_port());
    let (mqtts, wss) = (format!("127.0.0.1:{mqtts}"), format!("127.0.0.1:{wss}"));
    let server = start_platform(&[
        "--tls-self-signed",
        "--mqtts-addr",
        &mqtts,
        "--wss-addr",
        &wss,
    ]);
    let data_dir = server.kill9();
    let ca_key = data_dir.join("ca").join("ca.key.enc");
    assert!(ca_key.exists(), "the first run made an encrypted CA key");
    let passphrase = data_dir.join("ca.passphrase");
    let kept = std::fs::read(&passphrase).expect("generated passphrase");
    std::fs::remove_file(&passphrase).expect("remove passphrase");

    let out = serve_without_passphrase(&data_dir, &[]);
    assert_refused(&out, "MAGNETITE_CA_KEY_PASSPHRASE");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains(String::from_utf8_lossy(&kept).trim()),
        "never prints a passphrase"
    );
    assert!(ca_key.exists(), "the CA is kept, not replaced");

    // With the passphrase file back, a start without --tls-self-signed keeps the CA.
    std::fs::write(&passphrase, kept).expect("restore passphrase");
    let restarted = common::start_in_platform(data_dir, &[]);
    assert!(
        !restarted.log().contains("certs service off"),
        "{}",
        restarted.log()
    );
}

#[test]
fn required_client_certificates_without_a_ca_are_refused() {
    let data_dir = temp_data_dir();
    std::fs::create_dir_all(&data_dir).expect("data dir");
    let made = Command::new("openssl")
        .current_dir(&data_dir)
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:P-256", "-nodes", "-days", "1"])
        .args([
            "-subj",
            "/CN=localhost",
            "-keyout",
            "s.key",
            "-out",
            "s.crt",
        ])
        .output()
        .expect("openssl is required (scripts/test.sh installs it)");
    assert!(made.status.success(), "{made:?}");
    let cert = data_dir.join("s.crt").to_string_lossy().to_string();
    let key = data_dir.join("s.key").to_string_lossy().to_string();
    let tls = ["--tls-cert", &cert, "--tls-key", &key];
    let (mqtts, wss) = (free_port().to_string(), free_port().to_string());
    let (mqtts, wss) = (format!("127.0.0.1:{mqtts}"), format!("127.0.0.1:{wss}"));

    let mut required = tls.to_vec();
    required.extend(["--tls-client-auth", "required"]);
    let out = serve_without_passphrase(&data_dir, &required);
    assert_refused(&out, "--tls-client-auth required");

    // Server-only TLS needs no CA: it starts, with the certs service off.
    let mut server_only = tls.to_vec();
    server_only.extend(["--mqtts-addr", &mqtts, "--wss-addr", &wss]);
    let server = common::start_in_platform(data_dir, &server_only);
    assert!(
        server.log().contains("certs service off"),
        "{}",
        server.log()
    );
}
