//! The same SQL on PostgreSQL (a real server started here): create, list filters,
//! update, certs, whitelist, bootstrap plain and secure, and the tailer's reactions.

mod common;

use common::{app_on_postgres, eventually, firmware_decrypt, firmware_encrypt, operations};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

#[tokio::test]
async fn postgres_scenario() {
    let app = app_on_postgres().await;
    let ch1 = app.channel("pg-a").await;
    let ch2 = app.channel("pg-b").await;
    let v = app
        .config(
            json!({"external_id": "pg-1", "external_key": "pg-key", "name": "Pg_Dev",
                       "channels": [ch1, ch2], "client_key": "PK"}),
        )
        .await;
    let id = v["client_id"].as_str().unwrap().to_string();
    app.config(json!({"external_id": "pg-2", "external_key": "pg-key-2", "name": "other"}))
        .await;
    let (s, _) = app
        .call(
            Method::POST,
            &app.d("/clients/configs"),
            Some(json!({"external_id": "pg-1", "external_key": "x"})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);

    // `_` is a literal in the name filter, not a wildcard.
    let (_, page) = app
        .call_d(Method::GET, "/clients/configs?name=g_d", None)
        .await;
    assert_eq!(page["total"], 1, "{page}");
    let (_, page) = app
        .call_d(Method::GET, "/clients/configs?name=gXd", None)
        .await;
    assert_eq!(page["total"], 0, "{page}");
    let (_, page) = app
        .call_d(Method::GET, "/clients/configs?state=0&offset=1", None)
        .await;
    assert_eq!(
        (
            page["total"].as_u64(),
            page["configs"].as_array().map(Vec::len)
        ),
        (Some(2), Some(1))
    );

    let cfg = app.d(&format!("/clients/configs/{id}"));
    let (s, _) = app
        .call(Method::PUT, &cfg, Some(json!({"content": "pg-content"})))
        .await;
    assert_eq!(s, StatusCode::OK);
    let certs = json!({"client_cert": "C", "client_key": "PK2", "ca_cert": "CA"});
    let (s, _) = app
        .call_d(
            Method::PATCH,
            &format!("/clients/configs/certs/{id}"),
            Some(certs),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = app
        .call(
            Method::PUT,
            &app.d(&format!("/clients/state/{id}")),
            Some(json!({"state": 1})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (p, _) = app.access(&id).await;
    assert_eq!(p.len(), 2);

    let plain: Value = app
        .device("/clients/bootstrap/pg-1", Some("Client pg-key"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (plain["content"].as_str(), plain["client_key"].as_str()),
        (Some("pg-content"), Some("PK2"))
    );
    let header = format!("Client {}", hex::encode(firmware_encrypt(b"pg-key")));
    let resp = app
        .device("/clients/bootstrap/secure/pg-1", Some(&header))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body = resp.bytes().await.unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&firmware_decrypt(&body)).unwrap(),
        plain
    );
    let resp = app
        .device("/clients/bootstrap/pg-1", Some("Client wrong"))
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);

    // Another domain may use pg-1 too (with its own key); each key finds its config,
    // and pg-1 with pg-key once more is refused.
    let (_, other) = app
        .call(
            Method::POST,
            "/domains",
            Some(json!({"name": "Pg2", "route": "pg-two"})),
        )
        .await;
    let other = format!("/{}/clients/configs", other["id"].as_str().unwrap());
    let (s, twin) = app
        .call(
            Method::POST,
            &other,
            Some(json!({"external_id": "pg-1", "external_key": "pg-key-b"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{twin}");
    let (s, _) = app
        .call(
            Method::POST,
            &other,
            Some(json!({"external_id": "pg-1", "external_key": "pg-key"})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let got: Value = app
        .device("/clients/bootstrap/pg-1", Some("Client pg-key-b"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["client_id"], twin["client_id"]);
    let got: Value = app
        .device("/clients/bootstrap/pg-1", Some("Client pg-key"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["client_id"], id.as_str());

    // Reactions through the tailer.
    let wait = Duration::from_secs(10);
    let body = json!({"name": "pg-a-renamed"});
    app.call_d(Method::PUT, &format!("/channels/{ch1}"), Some(body))
        .await;
    app.call_d(Method::DELETE, &format!("/channels/{ch2}"), None)
        .await;
    let followed = eventually(wait, || async {
        let (_, c) = app.call(Method::GET, &cfg, None).await;
        c["channels"].as_array().map(Vec::len) == Some(1)
            && c["channels"][0]["name"] == "pg-a-renamed"
    })
    .await;
    assert!(followed, "{}", app.call(Method::GET, &cfg, None).await.1);
    app.call_d(Method::DELETE, &format!("/clients/{id}"), None)
        .await;
    // The view is a 404 as soon as the client is gone (it is decided on the client);
    // the config row itself goes when the tailer reads the deletion.
    let removed = eventually(wait, || async {
        app.service.store().get_any(&id).await.unwrap().is_none()
    })
    .await;
    assert!(removed);
    assert_eq!(
        app.call(Method::GET, &cfg, None).await.0,
        StatusCode::NOT_FOUND
    );

    let ops = operations(&app.bootstrap_events().await);
    for op in [
        "config.create",
        "cert.update",
        "channel.update_handler",
        "channel.remove_handler",
        "config.remove_handler",
    ] {
        assert!(ops.iter().any(|o| o == op), "{op} missing from {ops:?}");
    }
    let all = app.outbox_text().await;
    assert!(!all.contains("pg-key"), "an external key is in the outbox");
}
