//! Settings come from flags, `MAGNETITE_*` variables and a TOML file, in that order of
//! precedence; a bad file is refused with a message naming the problem.

mod common;

use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::free_port;

fn listening(port: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn flag_beats_env_beats_file() {
    let dir = std::env::temp_dir().join(format!("magnetite-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (file_mqtt, file_http, env_http, flag_ws, file_ws) = (
        free_port(),
        free_port(),
        free_port(),
        free_port(),
        free_port(),
    );
    let config = dir.join("magnetite.toml");
    std::fs::write(
        &config,
        format!(
            "auth = \"none\"\nmqtt-addr = \"127.0.0.1:{file_mqtt}\"\nhttp-addr = \"127.0.0.1:{file_http}\"\nws-addr = \"127.0.0.1:{file_ws}\"\ndata-dir = \"{}\"\n",
            dir.join("data").display()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_magnetite"))
        .args([
            "serve",
            "--config",
            &config.to_string_lossy(),
            "--ws-addr",
            &format!("127.0.0.1:{flag_ws}"),
        ])
        .env("MAGNETITE_HTTP_ADDR", format!("127.0.0.1:{env_http}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn magnetite");
    let mqtt_from_file = listening(file_mqtt);
    let http_from_env = listening(env_http);
    let ws_from_flag = listening(flag_ws);
    let http_from_file = TcpStream::connect(("127.0.0.1", file_http)).is_ok();
    let ws_from_file = TcpStream::connect(("127.0.0.1", file_ws)).is_ok();
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        mqtt_from_file,
        "file setting used when nothing overrides it"
    );
    assert!(http_from_env && !http_from_file, "env beats file");
    assert!(ws_from_flag && !ws_from_file, "flag beats file");
}

#[test]
fn unknown_key_in_the_file_is_refused_by_name() {
    let dir = std::env::temp_dir().join(format!("magnetite-badconfig-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("bad.toml");
    std::fs::write(&config, "max-conections = 10\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_magnetite"))
        .args(["serve", "--config", &config.to_string_lossy()])
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("run magnetite");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("max-conections"), "{stderr}");
}

/// A file's values go through the flags' own parsers: durations as humantime or plain
/// seconds, switches, lists, enums.
#[test]
fn file_values_are_parsed_like_flags() {
    let dir = tempfile::tempdir().unwrap();
    let (mqtt, http, ws) = (free_port(), free_port(), free_port());
    let config = dir.path().join("magnetite.toml");
    std::fs::write(
        &config,
        format!(
            "auth = \"none\"\nmqtt-addr = \"127.0.0.1:{mqtt}\"\nhttp-addr = \"127.0.0.1:{http}\"\nws-addr = \"127.0.0.1:{ws}\"\ndata-dir = \"{}\"\nevent-retention = \"7d\"\nconnect-timeout = 1\nhttp-idle-timeout = \"1m\"\nevent-store = []\ntls-self-signed = false\nlog-format = \"json\"\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_magnetite"))
        .args(["serve", "--config", &config.to_string_lossy()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn magnetite");
    let started = listening(mqtt);
    let _ = child.kill();
    let _ = child.wait();
    assert!(started, "the file's settings are accepted");
}

fn refused(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_magnetite"))
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("run magnetite");
    assert!(!out.status.success(), "{args:?} was accepted");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn bad_file_value_is_refused_naming_file_and_setting() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad-value.toml");
    std::fs::write(&config, "connect-timeout = \"soon\"\n").unwrap();
    let stderr = refused(&["serve", "--config", &config.to_string_lossy()]);
    assert!(stderr.contains("bad-value.toml"), "{stderr}");
    assert!(stderr.contains("connect-timeout"), "{stderr}");
    assert!(stderr.contains("soon"), "{stderr}");
}

#[test]
fn zero_timeouts_and_connection_caps_are_refused_by_name() {
    for flag in [
        "--http-header-timeout",
        "--http-idle-timeout",
        "--max-http-connections",
    ] {
        let stderr = refused(&["serve", flag, "0"]);
        assert!(stderr.contains(flag), "{stderr}");
    }
}

/// `--help` shows each variable's name; the values of those that can hold a secret
/// (a password in a URL) are never shown, and env-only secrets are no flags at all.
#[test]
fn help_never_shows_secret_values() {
    let out = Command::new(env!("CARGO_BIN_EXE_magnetite"))
        .args(["serve", "--help"])
        .env(
            "MAGNETITE_SMTP_URL",
            "smtp://mailer:hunter2-smtp@mail.example",
        )
        .env(
            "MAGNETITE_EVENT_STORE",
            "rabbitmq-stream://u:hunter2-amqp@mq:5552",
        )
        .env(
            "MAGNETITE_DATABASE_URL",
            "postgres://app:hunter2-db@db/magnetite",
        )
        .env(
            "MAGNETITE_MESSAGES_DB",
            "postgres://app:hunter2-messages@db/messages",
        )
        .env("MAGNETITE_AUTH_KEY", "hunter2-auth-key")
        .env("MAGNETITE_ADMIN_PASSWORD", "hunter2-admin")
        .env("MAGNETITE_CA_KEY_PASSPHRASE", "hunter2-ca")
        .env("MAGNETITE_MAX_QUEUED", "77")
        .output()
        .expect("run magnetite");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("MAGNETITE_SMTP_URL"), "{help}");
    assert!(
        help.contains("MAGNETITE_MAX_QUEUED=77"),
        "ordinary values are shown"
    );
    assert!(!help.contains("hunter2"), "{help}");
    for env_only in ["--auth-key", "--admin-password", "--ca-key-passphrase"] {
        assert!(!help.contains(env_only), "{env_only} must not be a flag");
    }
}
