//! Config management over HTTP: create (with and without a client), conflicts, bad
//! bodies, view / list / update / certs / delete, and what the responses never show.

mod common;

use common::{app, app_with};
use magnetite_bootstrap::{CertIssuer, IssueFuture, IssuedCert};
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::sync::Arc;

const KEY: &str = "ext-key-0001-very-secret";

#[tokio::test]
async fn create_without_client_provisions_one() {
    let app = app().await;
    let ch = app.channel("telemetry").await;
    let body = json!({
        "external_id": "AA:BB:CC:01", "external_key": KEY, "name": "gateway-1",
        "content": "{\"interval\": 5}", "channels": [ch],
        "client_cert": "CERT-PEM", "client_key": "PRIVATE-KEY-PEM", "ca_cert": "CA-PEM",
    });
    let resp = app
        .http
        .post(format!("{}{}", app.base, app.d("/clients/configs")))
        .bearer_auth(&app.token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    let text = resp.text().await.unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let client_id = v["client_id"].as_str().unwrap().to_string();
    assert_eq!(location, format!("/clients/configs/{client_id}"));
    assert_eq!(v["external_id"], "AA:BB:CC:01");
    assert_eq!(v["state"], 0);
    assert_eq!(v["channels"][0]["id"], ch.as_str());
    assert_eq!(v["channels"][0]["name"], "telemetry");
    for hidden in [
        KEY,
        "PRIVATE-KEY-PEM",
        "external_key",
        "client_secret",
        "client_key",
    ] {
        assert!(
            !text.contains(hidden),
            "create response shows {hidden}: {text}"
        );
    }
    // The platform client exists, named like the config, in the domain.
    let (s, c) = app
        .call_d(Method::GET, &format!("/clients/{client_id}"), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{c}");
    assert_eq!(c["name"], "gateway-1");
    // Its secret, as bootstrap hands it out, is the one auth accepts.
    let resp = app
        .device(
            "/clients/bootstrap/AA:BB:CC:01",
            Some(&format!("Client {KEY}")),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let b: serde_json::Value = resp.json().await.unwrap();
    let secret = b["client_secret"].as_str().unwrap();
    let access = app
        .platform
        .store
        .client_access(&client_id)
        .await
        .unwrap()
        .unwrap();
    assert!(app
        .platform
        .keys
        .verify_secret_mac(secret.as_bytes(), &access.secret));
}

#[tokio::test]
async fn create_with_existing_client_needs_its_secret() {
    let app = app().await;
    let client = app.client("sensor", "sensor-secret-1").await;
    let base = json!({"external_id": "ext-2", "external_key": KEY, "client_id": client});
    let (s, v) = app
        .call_d(Method::POST, "/clients/configs", Some(base.clone()))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "no secret: {v}");
    let mut wrong = base.clone();
    wrong["client_secret"] = json!("not-the-secret");
    let (s, v) = app
        .call_d(Method::POST, "/clients/configs", Some(wrong))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "wrong secret: {v}");
    assert!(!v.to_string().contains("not-the-secret"));
    let mut good = base.clone();
    good["client_secret"] = json!("sensor-secret-1");
    let v = app.config(good.clone()).await;
    assert_eq!(v["client_id"], client.as_str());
    assert_eq!(v["name"], "sensor", "defaults to the client's name");
    let resp = app
        .device("/clients/bootstrap/ext-2", Some(&format!("Client {KEY}")))
        .await;
    let b: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(b["client_secret"], "sensor-secret-1");
    // One config per client.
    good["external_id"] = json!("ext-2b");
    let (s, _) = app
        .call_d(Method::POST, "/clients/configs", Some(good))
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
}

async fn client_total(app: &common::App) -> u64 {
    let (s, v) = app.call_d(Method::GET, "/clients", None).await;
    assert_eq!(s, StatusCode::OK);
    v["total"].as_u64().unwrap()
}

#[tokio::test]
async fn duplicate_external_id_and_bad_bodies_change_nothing() {
    let app = app().await;
    app.config(json!({"external_id": "dup", "external_key": KEY}))
        .await;
    let clients = client_total(&app).await;
    let configs_events = app.bootstrap_events().await.len();
    let (s, v) = app
        .call(
            Method::POST,
            &app.d("/clients/configs"),
            Some(json!({"external_id": "dup", "external_key": "other"})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert!(v["message"].is_string());
    let bad = [
        json!({"external_key": KEY}),
        json!({"external_id": "x1"}),
        json!({"external_id": "x2", "external_key": KEY, "content": {"not": "a string"}}),
        json!({"external_id": "x3", "external_key": KEY, "channels": "not-a-list"}),
        json!({"external_id": "x4", "external_key": KEY, "name": "   "}),
    ];
    for b in bad {
        let (s, v) = app
            .call_d(Method::POST, "/clients/configs", Some(b.clone()))
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{b} -> {v}");
        assert!(v["message"].is_string(), "{v}");
    }
    let resp = app
        .http
        .post(format!("{}{}", app.base, app.d("/clients/configs")))
        .bearer_auth(&app.token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let (s, _) = app
        .call(
            Method::POST,
            &app.d("/clients/configs"),
            Some(
                json!({"external_id": "x5", "external_key": KEY, "channels": ["no-such-channel"]}),
            ),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(client_total(&app).await, clients, "no client left behind");
    assert_eq!(app.bootstrap_events().await.len(), configs_events);
    let anon = app
        .http
        .get(format!("{}{}", app.base, app.d("/clients/configs")))
        .send()
        .await
        .unwrap();
    assert_eq!(anon.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn view_list_update_certs_delete() {
    let app = app().await;
    let mut ids = Vec::new();
    for (i, name) in ["alpha-1", "alpha-2", "beta"].iter().enumerate() {
        let v = app
            .config(
                json!({"external_id": format!("e{i}"), "external_key": format!("{KEY}{i}"),
                           "name": name, "client_key": "PRIVATE-KEY-PEM"}),
            )
            .await;
        ids.push(v["client_id"].as_str().unwrap().to_string());
    }
    let (s, page) = app
        .call_d(Method::GET, "/clients/configs?name=ALPHA&limit=1", None)
        .await;
    assert_eq!(s, StatusCode::OK, "{page}");
    assert_eq!(
        (page["total"].as_u64(), page["limit"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(page["configs"].as_array().unwrap().len(), 1);
    let (_, all) = app.call_d(Method::GET, "/clients/configs", None).await;
    assert_eq!(all["total"], 3);
    let text = all.to_string();
    for hidden in [KEY, "PRIVATE-KEY-PEM", "client_secret", "external_key"] {
        assert!(!text.contains(hidden), "list shows {hidden}");
    }
    let (s, _) = app
        .call_d(Method::GET, "/clients/configs?limit=101", None)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (_, none) = app
        .call_d(Method::GET, "/clients/configs?state=1", None)
        .await;
    assert_eq!(none["total"], 0);

    let path = app.d(&format!("/clients/configs/{}", ids[2]));
    let (s, v) = app
        .call(
            Method::PUT,
            &path,
            Some(json!({"name": "gamma", "content": "new"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (_, v) = app.call(Method::GET, &path, None).await;
    assert_eq!(
        (v["name"].as_str(), v["content"].as_str()),
        (Some("gamma"), Some("new"))
    );

    let certs = app.d(&format!("/clients/configs/certs/{}", ids[2]));
    let body = json!({"client_cert": "C2", "client_key": "K2", "ca_cert": "CA2"});
    let (s, v) = app.call(Method::PATCH, &certs, Some(body)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["client_cert"], "C2");
    assert!(v.get("client_key").is_none());
    let resp = app
        .device("/clients/bootstrap/e2", Some(&format!("Client {KEY}2")))
        .await;
    let b: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(
        (b["client_key"].as_str(), b["ca_cert"].as_str()),
        (Some("K2"), Some("CA2"))
    );

    let (s, _) = app.call(Method::DELETE, &path, None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = app.call(Method::GET, &path, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = app.call(Method::DELETE, &path, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = app
        .call(Method::GET, &app.d(&format!("/clients/{}", ids[2])), None)
        .await;
    assert_eq!(s, StatusCode::OK, "the client stays");
}

struct FakeIssuer;

impl CertIssuer for FakeIssuer {
    fn issue<'a>(&'a self, _domain_id: &'a str, client_id: &'a str) -> IssueFuture<'a> {
        Box::pin(async move {
            Ok(IssuedCert {
                certificate: format!("CERT for {client_id}"),
                key: "ISSUED-KEY".into(),
                ca: "ISSUING-CA".into(),
            })
        })
    }
}

#[tokio::test]
async fn issue_cert_uses_the_issuer() {
    let app = app_with(Some(Arc::new(FakeIssuer))).await;
    let v = app
        .config(
            json!({"external_id": "iss", "external_key": KEY, "issue_cert": true,
                       "client_cert": "ignored"}),
        )
        .await;
    let id = v["client_id"].as_str().unwrap();
    assert_eq!(v["client_cert"], format!("CERT for {id}"));
    let resp = app
        .device("/clients/bootstrap/iss", Some(&format!("Client {KEY}")))
        .await;
    let b: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(
        (b["client_key"].as_str(), b["ca_cert"].as_str()),
        (Some("ISSUED-KEY"), Some("ISSUING-CA"))
    );
}
