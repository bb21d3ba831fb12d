//! The operator CLI through the binary: `magnetite certs issue` writes files a device
//! logs in with over TLS; `magnetite certs revoke` makes a (re)started broker refuse them.

mod common;
mod platform;

use common::{run, Server};
use platform::tls::{cert_args, tls_pub, tls_server, wait_port, TlsServer};
use platform::{fleet, Api};

#[test]
fn operator_cli_issues_and_revokes_certificates() {
    let out_dir = tempfile::tempdir().unwrap();
    let s = tls_server(&["--tls-self-signed"]);
    let api = Api::admin(&s.server);
    let f = fleet(&api, "cli");
    let topic = format!("m/{}/c/{}", f.domain, f.ch);
    let data = s.server.data_dir.to_string_lossy().to_string();
    let bin = env!("CARGO_BIN_EXE_magnetite");
    let out_s = out_dir.path().to_string_lossy().to_string();
    let issued = run(
        bin,
        &[
            "certs",
            "issue",
            "--client",
            &f.device.id,
            "--ttl",
            "1h",
            "--out",
            &out_s,
            "--data-dir",
            &data,
        ],
    );
    assert!(
        issued.status.success(),
        "{}",
        String::from_utf8_lossy(&issued.stderr)
    );
    let crt = out_dir
        .path()
        .join(format!("{}.crt", f.device.id))
        .to_string_lossy()
        .to_string();
    let key = out_dir
        .path()
        .join(format!("{}.key", f.device.id))
        .to_string_lossy()
        .to_string();
    let ca = out_dir.path().join("ca.crt");
    assert!(
        tls_pub(&s, &ca, &cert_args(&crt, &key), &topic)
            .status
            .success(),
        "the CLI's certificate logs in"
    );
    let revoked = run(
        bin,
        &[
            "certs",
            "revoke",
            "--client",
            &f.device.id,
            "--data-dir",
            &data,
        ],
    );
    assert!(
        String::from_utf8_lossy(&revoked.stdout).contains("revoked 1"),
        "{}",
        String::from_utf8_lossy(&revoked.stdout)
    );
    // A broker (re)started after the revocation refuses the certificate at once.
    let TlsServer { server, mqtts } = s;
    let data_dir = server.kill9();
    let m = mqtts.to_string();
    let restarted = Server::start(bin, data_dir, &["--tls-self-signed", "--mqtts-addr", &m]);
    wait_port(mqtts);
    let s = TlsServer {
        server: restarted,
        mqtts,
    };
    assert!(
        !tls_pub(&s, &ca, &cert_args(&crt, &key), &topic)
            .status
            .success(),
        "revoked by the CLI"
    );
    assert!(tls_pub(&s, &ca, &f.device.mosquitto_args(&[]), &topic)
        .status
        .success());
}

/// `magnetite certs` opens auth with the same key as `serve`: with `MAGNETITE_AUTH_KEY`
/// set it never writes a key file of its own into the data dir (one that a later
/// `serve` without the variable would pick up, hashing secrets under another key).
#[test]
fn certs_command_uses_the_auth_key_from_the_environment() {
    for (auth_key, key_file_expected) in [
        (Some("an operator's shared master key"), false),
        (None, true),
    ] {
        let data = tempfile::tempdir().unwrap();
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_magnetite"));
        command
            .args([
                "certs",
                "revoke",
                "--client",
                "no-such-client",
                "--data-dir",
            ])
            .arg(data.path())
            .env("MAGNETITE_CA_KEY_PASSPHRASE", "a passphrase for this test")
            .env_remove("MAGNETITE_AUTH_KEY");
        if let Some(key) = auth_key {
            command.env("MAGNETITE_AUTH_KEY", key);
        }
        let out = command.output().expect("run magnetite certs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("revoked 0"));
        assert_eq!(
            data.path().join("auth.key").exists(),
            key_file_expected,
            "MAGNETITE_AUTH_KEY set: {}",
            auth_key.is_some()
        );
    }
}
