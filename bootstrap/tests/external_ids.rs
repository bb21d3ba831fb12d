//! External ids are unique per domain: another domain's external id is free to use
//! (no 409 that would reveal it exists), the device's key picks its config, an unknown
//! id and a wrong key are the same 403, and creating configs is counted as guessing
//! keys in the per-external-id throttle.

mod common;

use common::{app, App};
use magnetite_db::Db;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// A second domain of the app's admin; returns its id.
async fn second_domain(app: &App) -> String {
    let (s, d) = app
        .call(
            Method::POST,
            "/domains",
            Some(json!({"name": "Other", "route": "other"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{d}");
    d["id"].as_str().unwrap().to_string()
}

/// A config body with just an external id and key.
fn ext(external_id: &str, external_key: &str) -> Value {
    json!({"external_id": external_id, "external_key": external_key})
}

/// The number of clients in `domain`, as its listing reports it.
async fn client_total(app: &App, domain: &str) -> Value {
    let listing = app
        .call(Method::GET, &format!("/{domain}/clients"), None)
        .await;
    listing.1["total"].clone()
}

async fn create_in(app: &App, domain: &str, body: Value) -> (StatusCode, Value) {
    app.call(
        Method::POST,
        &format!("/{domain}/clients/configs"),
        Some(body),
    )
    .await
}

async fn bootstrap(app: &App, external_id: &str, key: &str) -> (StatusCode, Value) {
    let auth = format!("Client {key}");
    let resp = app
        .device(&format!("/clients/bootstrap/{external_id}"), Some(&auth))
        .await;
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// `(domain, payload)` of every failed `client.bootstrap` event in the outbox.
async fn failed_attempts(db: &Db) -> Vec<(Option<String>, Value)> {
    let Db::Sqlite(pool) = db else {
        panic!("these tests run on SQLite")
    };
    let rows: Vec<(Option<String>, String)> = sqlx::query_as(
        "SELECT domain, payload FROM events_outbox WHERE stream = 'bootstrap' ORDER BY id",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    rows.into_iter()
        .map(|(d, p)| (d, serde_json::from_str::<Value>(&p).unwrap()))
        .filter(|(_, v)| v["operation"] == "client.bootstrap" && v["success"] == false)
        .collect()
}

async fn config_total(app: &App, domain: &str) -> u64 {
    let (_, page) = app
        .call(Method::GET, &format!("/{domain}/clients/configs"), None)
        .await;
    page["total"].as_u64().unwrap()
}

#[tokio::test]
async fn the_same_external_id_in_two_domains_is_told_apart_by_the_key() {
    let app = app().await;
    let (d1, d2) = (app.domain.clone(), second_domain(&app).await);
    let (s, one) = create_in(
        &app,
        &d1,
        json!({"external_id": "X", "external_key": "k-one", "content": "one"}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{one}");
    let (s, two) = create_in(
        &app,
        &d2,
        json!({"external_id": "X", "external_key": "k-two", "content": "two"}),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::CREATED,
        "another domain's external id is free: {two}"
    );

    let (s, v) = bootstrap(&app, "X", "k-one").await;
    assert_eq!(
        (s, &v["client_id"], &v["content"]),
        (StatusCode::OK, &one["client_id"], &json!("one"))
    );
    let (s, v) = bootstrap(&app, "X", "k-two").await;
    assert_eq!(
        (s, &v["client_id"], &v["content"]),
        (StatusCode::OK, &two["client_id"], &json!("two"))
    );

    // A wrong key and an unknown id are one answer: nothing says whether X exists.
    let (wrong, wrong_body) = bootstrap(&app, "X", "k-three").await;
    let (unknown, unknown_body) = bootstrap(&app, "nobody", "k-one").await;
    assert_eq!(
        (wrong, unknown),
        (StatusCode::FORBIDDEN, StatusCode::FORBIDDEN)
    );
    assert_eq!(wrong_body, unknown_body);

    // The failure is reported once to each domain with an X, each with its own client.
    let failed = failed_attempts(&app.db).await;
    let on_x: Vec<_> = failed
        .iter()
        .filter(|(_, v)| v["external_id"] == "X")
        .collect();
    assert_eq!(on_x.len(), 2, "{failed:?}");
    for (domain, config) in [(&d1, &one), (&d2, &two)] {
        let mine: Vec<_> = on_x
            .iter()
            .filter(|(d, _)| d.as_deref() == Some(domain.as_str()))
            .collect();
        assert_eq!(mine.len(), 1, "{failed:?}");
        assert_eq!(mine[0].1["client_id"], config["client_id"]);
    }
    let nobody: Vec<_> = failed
        .iter()
        .filter(|(_, v)| v["external_id"] == "nobody")
        .collect();
    assert!(
        nobody.is_empty(),
        "an unknown id concerns no device and records nothing: {nobody:?}"
    );
    assert!(app
        .service
        .metrics_text()
        .contains("magnetite_bootstrap_unknown_id_total 1"));
}

#[tokio::test]
async fn duplicates_are_refused_in_the_domain_and_for_the_same_key() {
    let app = app().await;
    let (d1, d2) = (app.domain.clone(), second_domain(&app).await);
    let (s, one) = create_in(&app, &d1, ext("X", "k-one")).await;
    assert_eq!(s, StatusCode::CREATED, "{one}");
    let clients_before = client_total(&app, &d2).await;

    // The same external id twice in one domain.
    let (s, v) = create_in(&app, &d1, ext("X", "k-other")).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    // The same id and key in another domain: the device could not be told apart. Only
    // a caller who already holds the key gets here, and nothing is left behind.
    let (s, v) = create_in(&app, &d2, ext("X", "k-one")).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert!(!v.to_string().contains(&d1), "{v}");
    assert!(
        !v.to_string().contains(one["client_id"].as_str().unwrap()),
        "{v}"
    );
    assert_eq!(config_total(&app, &d2).await, 0);
    let clients_after = client_total(&app, &d2).await;
    assert_eq!(
        clients_after, clients_before,
        "the provisioned client was removed again"
    );

    // D1's device is untouched.
    let (s, v) = bootstrap(&app, "X", "k-one").await;
    assert_eq!((s, &v["client_id"]), (StatusCode::OK, &one["client_id"]));
}

#[tokio::test]
async fn creating_configs_is_throttled_like_guessing_keys() {
    let app = app().await;
    let (d1, d2) = (app.domain.clone(), second_domain(&app).await);
    let (s, _) = create_in(&app, &d1, ext("X", "secret-one")).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(
        bootstrap(&app, "X", "secret-one").await.0,
        StatusCode::OK,
        "clears the count"
    );

    // D2 probes D1's key by creating (and removing) configs named X with guesses.
    for i in 0..5 {
        let (s, v) = create_in(&app, &d2, ext("X", &format!("guess-{i}"))).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        let id = v["client_id"].as_str().unwrap();
        let (s, _) = app
            .call(Method::DELETE, &format!("/{d2}/clients/configs/{id}"), None)
            .await;
        assert_eq!(s, StatusCode::NO_CONTENT);
    }
    let (s, v) = create_in(&app, &d2, ext("X", "secret-one")).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{v}");
    assert_eq!(config_total(&app, &d2).await, 0);
    // Other external ids are not affected.
    let (s, _) = create_in(&app, &d2, ext("Y", "k")).await;
    assert_eq!(s, StatusCode::CREATED);
}
