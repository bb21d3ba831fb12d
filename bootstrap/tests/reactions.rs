//! Configs follow the platform through the `clients` event stream (the tailing task),
//! and the bootstrap events carry the reference's names and never a key.

mod common;

use common::{app, eventually, operations, App};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(5);

async fn config_of(app: &App, id: &str) -> (StatusCode, Value) {
    app.call_d(Method::GET, &format!("/clients/configs/{id}"), None)
        .await
}

/// Whether the config row of `id` is gone (the tailer applied the client's deletion).
/// Not the view's 404: that comes at once, from the missing client.
async fn row_gone(app: &App, id: &str) -> bool {
    app.service.store().get_any(id).await.unwrap().is_none()
}

fn channel_ids(config: &Value) -> Vec<String> {
    config["channels"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| c["id"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn removing_the_client_removes_the_config() {
    let app = app().await;
    let id = app
        .config_id(json!({"external_id": "gone", "external_key": "k-gone"}))
        .await;
    let (s, _) = app
        .call_d(Method::DELETE, &format!("/clients/{id}"), None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let removed = eventually(WAIT, || async { row_gone(&app, &id).await }).await;
    assert!(removed, "config still there after the client was deleted");
    assert_eq!(config_of(&app, &id).await.0, StatusCode::NOT_FOUND);
    let resp = app
        .device("/clients/bootstrap/gone", Some("Client k-gone"))
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN, "no config answers");
    let ev = app.bootstrap_events().await;
    let handler = ev
        .iter()
        .find(|e| e["operation"] == "config.remove_handler")
        .unwrap();
    assert_eq!(handler["config_id"], id.as_str());
}

#[tokio::test]
async fn disabling_a_client_keeps_the_config() {
    let app = app().await;
    let id = app
        .config_id(json!({"external_id": "off", "external_key": "k-off"}))
        .await;
    let (s, _) = app
        .call_d(Method::POST, &format!("/clients/{id}/disable"), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    // A later change that the tailer must apply proves it has read past the disable.
    let ch = app.channel("marker").await;
    let mid = app
        .config_id(json!({"external_id": "m", "external_key": "k-m", "channels": [ch]}))
        .await;
    app.call_d(Method::DELETE, &format!("/clients/{mid}"), None)
        .await;
    assert!(eventually(WAIT, || async { row_gone(&app, &mid).await }).await);
    assert_eq!(config_of(&app, &id).await.0, StatusCode::OK);
}

#[tokio::test]
async fn channels_removed_or_updated_follow_in_configs() {
    let app = app().await;
    let keep = app.channel("keep").await;
    let drop = app.channel("drop").await;
    let off = app.channel("off").await;
    let v = app
        .config(json!({"external_id": "c1", "external_key": "k-c1", "channels": [keep, drop, off]}))
        .await;
    let id = v["client_id"].as_str().unwrap().to_string();
    let (s, _) = app
        .call_d(Method::POST, &format!("/channels/{off}/disable"), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = app
        .call_d(Method::DELETE, &format!("/channels/{drop}"), None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let want = vec![keep.clone(), off.clone()];
    let dropped = eventually(WAIT, || async {
        channel_ids(&config_of(&app, &id).await.1) == want
    })
    .await;
    assert!(
        dropped,
        "removed channel still in the config: {}",
        config_of(&app, &id).await.1
    );

    let body = json!({"name": "kept-renamed", "metadata": {"unit": "C"}});
    let (s, v) = app
        .call_d(Method::PUT, &format!("/channels/{keep}"), Some(body))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let renamed = eventually(WAIT, || async {
        config_of(&app, &id).await.1["channels"][0]["name"] == "kept-renamed"
    })
    .await;
    assert!(renamed);
    let b: Value = app
        .device("/clients/bootstrap/c1", Some("Client k-c1"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(b["channels"][0]["metadata"], json!({"unit": "C"}));
    assert_eq!(
        b["channels"].as_array().unwrap().len(),
        2,
        "disabled channel kept"
    );

    let ev = app.bootstrap_events().await;
    let rm = ev
        .iter()
        .find(|e| e["operation"] == "channel.remove_handler")
        .unwrap();
    assert_eq!(rm["channel_id"], drop.as_str());
    let up = ev
        .iter()
        .find(|e| e["operation"] == "channel.update_handler")
        .unwrap();
    assert_eq!(
        (up["channel_id"].as_str(), up["name"].as_str()),
        (Some(keep.as_str()), Some("kept-renamed"))
    );
    assert_eq!(up["metadata"], json!({"unit": "C"}));
}

#[tokio::test]
async fn events_have_reference_names_and_no_keys() {
    let app = app().await;
    let ch = app.channel("ev").await;
    let ext_key = "ev-external-key-55";
    let v = app
        .config(
            json!({"external_id": "ev-1", "external_key": ext_key, "name": "ev",
                       "content": "c", "channels": [ch], "client_key": "PRIV-55"}),
        )
        .await;
    let id = v["client_id"].as_str().unwrap().to_string();
    let cfg = app.d(&format!("/clients/configs/{id}"));
    app.call(Method::GET, &cfg, None).await;
    app.call_d(Method::GET, "/clients/configs", None).await;
    app.call(Method::PUT, &cfg, Some(json!({"name": "ev2"})))
        .await;
    let certs = json!({"client_cert": "C", "client_key": "PRIV-56", "ca_cert": "CA"});
    app.call_d(
        Method::PATCH,
        &format!("/clients/configs/certs/{id}"),
        Some(certs),
    )
    .await;
    app.call(
        Method::PUT,
        &app.d(&format!("/clients/state/{id}")),
        Some(json!({"state": 1})),
    )
    .await;
    app.call(
        Method::PUT,
        &app.d(&format!("/clients/configs/connections/{id}")),
        Some(json!({"channels": []})),
    )
    .await;
    let ok: Value = app
        .device(
            "/clients/bootstrap/ev-1",
            Some(&format!("Client {ext_key}")),
        )
        .await
        .json()
        .await
        .unwrap();
    let secret = ok["client_secret"].as_str().unwrap().to_string();
    app.device("/clients/bootstrap/ev-1", Some("Client nope"))
        .await;
    let (s, _) = app.call(Method::DELETE, &cfg, None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);

    let events = app.bootstrap_events().await;
    let ops = operations(&events);
    let want = [
        "config.create",
        "config.view",
        "config.list",
        "config.update",
        "cert.update",
        "client.change_state",
        "client.update_connections",
        "client.bootstrap",
        "client.bootstrap",
        "config.remove",
    ];
    assert_eq!(ops, want);
    let create = &events[0];
    for field in [
        "client_id",
        "owner",
        "name",
        "external_id",
        "channels",
        "content",
        "state",
        "client_key_sha256",
    ] {
        assert!(
            create.get(field).is_some(),
            "config.create lacks {field}: {create}"
        );
    }
    assert_eq!(create["owner"], app.domain.as_str());
    assert_eq!(create["state"], "0");
    assert_eq!(events[5]["state"], "1");
    assert_eq!(
        (
            events[7]["success"].as_bool(),
            events[8]["success"].as_bool()
        ),
        (Some(true), Some(false))
    );
    assert!(
        events[7].get("client_key").is_none(),
        "bootstrap event shows no key"
    );
    assert!(create.get("client_key").is_none(), "no key in {create}");
    let all = app.outbox_text().await;
    assert!(!all.contains("PRIV-55"), "a private key is in the outbox");
    assert!(!all.contains("PRIV-56"), "a private key is in the outbox");
    assert!(!all.contains(ext_key), "the external key is in the outbox");
    assert!(!all.contains(&secret), "the client secret is in the outbox");
    let views = serde_json::to_string(&events[1]).unwrap();
    assert!(
        !views.contains("PRIV-55"),
        "config.view shows the private key"
    );
}

#[tokio::test]
async fn the_tailer_stops_and_resumes_from_its_cursor() {
    let app = app().await;
    let id = app
        .config_id(json!({"external_id": "r1", "external_key": "k-r1"}))
        .await;
    tokio::time::timeout(Duration::from_secs(3), app.service.shutdown())
        .await
        .expect("the tailer stops");
    let (s, _) = app
        .call_d(Method::DELETE, &format!("/clients/{id}"), None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    tokio::time::sleep(Duration::from_millis(600)).await;
    // The row, not the view: the view of a deleted client's config is a 404 at once.
    assert!(!row_gone(&app, &id).await, "stopped means stopped");
    let again = magnetite_bootstrap::BootstrapService::start(
        app.db.clone(),
        app.platform.clone(),
        None,
        None,
        magnetite_bootstrap::StorageKey::from_bytes([9; 32]),
    )
    .await
    .unwrap();
    let resumed = eventually(WAIT, || async {
        again.store().get_any(&id).await.unwrap().is_none()
    })
    .await;
    assert!(resumed, "a restart handles what happened while stopped");
    again.shutdown().await;
}
