//! The device side: plain and secure bootstrap, every refusal, and that a refusal
//! changes nothing but its own `client.bootstrap` (success false) event.

mod common;

use common::{app, firmware_decrypt, firmware_encrypt, firmware_encrypt_with, App};
use magnetite_events::OutboxDb;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const KEY: &str = "factory-key-7f3a";

async fn setup(app: &App) -> (String, Vec<String>) {
    let ch1 = app.channel("up").await;
    let ch2 = app.channel("down").await;
    let v = app
        .config(
            json!({"external_id": "dev-1", "external_key": KEY, "name": "dev",
                       "content": "cfg-v1", "channels": [ch1, ch2], "ca_cert": "CA"}),
        )
        .await;
    (v["client_id"].as_str().unwrap().to_string(), vec![ch1, ch2])
}

/// Everything a refusal must leave unchanged: the config as viewed and the outbox
/// apart from bootstrap attempts.
async fn snapshot(app: &App, client_id: &str) -> (Value, usize) {
    let (_, v) = app
        .call_d(Method::GET, &format!("/clients/configs/{client_id}"), None)
        .await;
    let rows = app.db.fetch_after(0, None, 100_000).await.unwrap();
    let others = rows
        .iter()
        .filter(|r| {
            !r.payload.contains("\"client.bootstrap\"") && !r.payload.contains("\"config.view\"")
        })
        .count();
    (v, others)
}

#[tokio::test]
async fn plain_bootstrap_returns_what_the_device_needs() {
    let app = app().await;
    let (client_id, chans) = setup(&app).await;
    let resp = app
        .device("/clients/bootstrap/dev-1", Some(&format!("Client {KEY}")))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let b: Value = resp.json().await.unwrap();
    assert_eq!(b["client_id"], client_id.as_str());
    assert_eq!(b["client_secret"].as_str().map(str::len), Some(48));
    assert_eq!(b["content"], "cfg-v1");
    assert_eq!(b["ca_cert"], "CA");
    let ids: Vec<&str> = b["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [chans[0].as_str(), chans[1].as_str()]);
    assert_eq!(b["channels"][0]["name"], "up");
    assert_eq!(b["channels"][0]["metadata"], json!({"kind": "up"}));
    let ev = app.bootstrap_events().await;
    let last = ev.last().unwrap();
    assert_eq!(last["operation"], "client.bootstrap");
    assert_eq!(last["success"], true);
    assert_eq!(last["external_id"], "dev-1");
    assert_eq!(last["client_id"], client_id.as_str());
}

#[tokio::test]
async fn refusals_have_their_status_and_change_nothing() {
    let app = app().await;
    let (client_id, _) = setup(&app).await;
    let before = snapshot(&app, &client_id).await;
    let cases: [(&str, Option<String>, StatusCode); 8] = [
        (
            "/clients/bootstrap/dev-1",
            Some("Client wrong-key".into()),
            StatusCode::FORBIDDEN,
        ),
        ("/clients/bootstrap/dev-1", None, StatusCode::UNAUTHORIZED),
        (
            "/clients/bootstrap/dev-1",
            Some(format!("Bearer {KEY}")),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "/clients/bootstrap/nobody",
            Some(format!("Client {KEY}")),
            StatusCode::FORBIDDEN,
        ),
        (
            "/clients/bootstrap/secure/dev-1",
            Some("Client not-hex!".into()),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/clients/bootstrap/secure/dev-1",
            Some(format!("Client {}", "ab".repeat(16))),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/clients/bootstrap/secure/dev-1",
            Some(format!(
                "Client {}",
                hex::encode(firmware_encrypt(b"wrong-key"))
            )),
            StatusCode::FORBIDDEN,
        ),
        (
            "/clients/bootstrap/secure/dev-1",
            Some(format!(
                "Client {}",
                hex::encode(firmware_encrypt_with(&[3; 32], KEY.as_bytes()))
            )),
            StatusCode::FORBIDDEN,
        ),
    ];
    for (path, auth, want) in &cases {
        let resp = app.device(path, auth.as_deref()).await;
        assert_eq!(resp.status(), *want, "{path} {auth:?}");
        let v: Value = resp.json().await.unwrap();
        assert!(v["message"].is_string(), "{v}");
        assert!(!v.to_string().contains(KEY));
    }
    assert_eq!(snapshot(&app, &client_id).await, before);
    let ev = app.bootstrap_events().await;
    let failed: Vec<&Value> = ev
        .iter()
        .filter(|e| e["operation"] == "client.bootstrap")
        .collect();
    assert_eq!(
        failed.len(),
        cases.len() - 1,
        "one event per attempt on an existing config"
    );
    assert!(failed.iter().all(|e| e["success"] == false));
    assert!(
        failed.iter().all(|e| e["external_id"] != "nobody"),
        "an unknown external id concerns no device and records nothing"
    );
    assert!(failed.iter().all(|e| e["client_id"] == client_id.as_str()));
    assert!(
        failed.iter().all(|e| e.get("content").is_none()),
        "refusals show no config"
    );
}

#[tokio::test]
async fn secure_bootstrap_round_trip() {
    let app = app().await;
    let (client_id, _) = setup(&app).await;
    let plain: Value = app
        .device("/clients/bootstrap/dev-1", Some(&format!("Client {KEY}")))
        .await
        .json()
        .await
        .unwrap();
    let header = format!("Client {}", hex::encode(firmware_encrypt(KEY.as_bytes())));
    let resp = app
        .device("/clients/bootstrap/secure/dev-1", Some(&header))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/octet-stream");
    let body = resp.bytes().await.unwrap();
    assert!(
        serde_json::from_slice::<Value>(&body).is_err(),
        "the body is not clear JSON"
    );
    let decrypted: Value = serde_json::from_slice(&firmware_decrypt(&body)).unwrap();
    assert_eq!(decrypted, plain);
    assert_eq!(decrypted["client_id"], client_id.as_str());
    // Upper-case hex is hex too.
    let upper = format!(
        "Client {}",
        hex::encode_upper(firmware_encrypt(KEY.as_bytes()))
    );
    let resp = app
        .device("/clients/bootstrap/secure/dev-1", Some(&upper))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn guessing_an_external_key_is_throttled_per_external_id() {
    let app = app().await;
    setup(&app).await;
    // Creating the config counted as one guess; the device's first success clears it.
    let right = format!("Client {KEY}");
    let resp = app.device("/clients/bootstrap/dev-1", Some(&right)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    for _ in 0..5 {
        let resp = app
            .device("/clients/bootstrap/dev-1", Some("Client guess"))
            .await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    }
    // Even the right key waits now, and is told for how long.
    let resp = app.device("/clients/bootstrap/dev-1", Some(&right)).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        resp.headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    let v: Value = resp.json().await.unwrap();
    assert!(
        v["message"].as_str().unwrap_or("").contains("retry in"),
        "{v}"
    );
    // Other devices are not affected.
    let resp = app.device("/clients/bootstrap/nobody", Some(&right)).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);

    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let resp = app.device("/clients/bootstrap/dev-1", Some(&right)).await;
    assert_eq!(resp.status(), StatusCode::OK);
}
