//! The device bootstrap journey of `bootstrap/journey.sh` (curl, openssl, mosquitto
//! clients) against the binary, plus the events it leaves and what must never leak.

mod common;

use common::{ADMIN_EMAIL, ADMIN_PASSWORD};

const KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

#[test]
fn device_bootstrap_journey() {
    // The child inherits this process's environment.
    std::env::set_var("MAGNETITE_BOOTSTRAP_ENCRYPT_KEY", KEY);
    let server = common::start_platform(&[]);
    let work = tempfile::tempdir().expect("temp dir");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/bootstrap/journey.sh");
    let out = common::shell_journey(&server, std::path::Path::new(script))
        .current_dir(work.path())
        .env("BOOTSTRAP_KEY", KEY)
        .output()
        .expect("bash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    for step in [
        "config-created",
        "bootstrap-plain",
        "bootstrap-secure",
        "refusals",
        "refused-before-whitelist",
        "whitelisted",
        "revoked",
    ] {
        assert!(
            stdout.contains(&format!("STEP {step} ok")),
            "step {step}\nstdout: {stdout}\nstderr: {stderr}"
        );
    }
    let secret = std::fs::read_to_string(work.path().join("boot.json")).expect("boot.json");
    let secret: serde_json::Value = serde_json::from_str(&secret).expect("JSON");
    let secret = secret["client_secret"]
        .as_str()
        .expect("secret")
        .to_string();
    let log = server.log();
    assert!(
        !log.contains("factory-secret-0001") && !log.contains(&secret),
        "secrets in the log"
    );
    let http = reqwest::blocking::Client::new();
    let login: serde_json::Value = http
        .post(format!("http://{}/users/tokens/issue", server.http))
        .json(&serde_json::json!({"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
        .send()
        .expect("login")
        .json()
        .expect("token JSON");
    let token = login["access_token"].as_str().expect("access_token");
    let events = http
        .get(format!(
            "http://{}/events?stream=bootstrap&limit=100",
            server.http
        ))
        .bearer_auth(token)
        .send()
        .expect("events")
        .text()
        .expect("body");
    for op in ["config.create", "client.bootstrap", "client.change_state"] {
        assert!(events.contains(op), "{op} in {events}");
    }
    assert!(
        events.contains("\"success\":true") && events.contains("\"success\":false"),
        "{events}"
    );
    assert!(
        !events.contains("factory-secret-0001"),
        "the external key never appears in events"
    );
    assert!(
        !events.contains("PRIVATE KEY"),
        "no private key PEM in the bootstrap events: {events}"
    );
}
