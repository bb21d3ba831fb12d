//! MQTT 5 features checked by an independent client: Eclipse paho-mqtt for Python.
//! Each test runs one scenario of `tests/python/v5_client.py` against a fresh broker.

mod common;

use common::run;

fn scenario(name: &str) {
    let acl = std::env::temp_dir().join(format!("magnetite-acl-{}-{name}", std::process::id()));
    std::fs::write(&acl, "topic readwrite #\ntopic deny test/nosubscribe\n").expect("acl file");
    let server = common::start(&[
        "--max-keepalive",
        "60",
        "--acl-file",
        &acl.to_string_lossy(),
    ]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/v5_client.py");
    let ws = server.ws.port().to_string();
    let out = run("python3", &[script, name, &server.port(), &ws]);
    let _ = std::fs::remove_file(&acl);
    assert!(
        out.status.success(),
        "scenario {name} failed (is paho-mqtt installed? scripts/test.sh installs it)\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn topic_alias() {
    scenario("topic_alias");
}

#[test]
fn request_response() {
    scenario("request_response");
}

#[test]
fn subscription_identifier() {
    scenario("subscription_identifier");
}

#[test]
fn message_expiry() {
    scenario("message_expiry");
}

#[test]
fn session_expiry() {
    scenario("session_expiry");
}

#[test]
fn will_delay() {
    scenario("will_delay");
}

#[test]
fn assigned_client_id_and_keepalive() {
    scenario("assigned_client_id_and_keepalive");
}

#[test]
fn refused_filters() {
    scenario("refused_filters");
}

#[test]
fn websocket() {
    scenario("websocket");
}
