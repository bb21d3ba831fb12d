//! Whitelist state drives the client's connections, as the MQTT hooks see them.

mod common;

use common::app;
use reqwest::{Method, StatusCode};
use serde_json::json;

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[tokio::test]
async fn state_connects_and_disconnects() {
    let app = app().await;
    let ch1 = app.channel("a").await;
    let ch2 = app.channel("b").await;
    let other = app.channel("unrelated").await;
    let v = app
        .config(json!({"external_id": "w1", "external_key": "k-w1", "channels": [ch1, ch2]}))
        .await;
    let id = v["client_id"].as_str().unwrap().to_string();
    assert_eq!(
        app.access(&id).await,
        (vec![], vec![]),
        "inactive: no access"
    );
    let state = app.d(&format!("/clients/state/{id}"));

    let (s, v) = app
        .call(Method::PUT, &state, Some(json!({"state": 1})))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["state"], 1);
    let both = sorted(vec![ch1.clone(), ch2.clone()]);
    assert_eq!(app.access(&id).await, (both.clone(), both.clone()));
    let (_, v) = app
        .call_d(Method::GET, &format!("/clients/configs/{id}"), None)
        .await;
    assert_eq!(v["state"], 1);

    // Connections follow the list while active: ch1 out, `other` in.
    let conns = app.d(&format!("/clients/configs/connections/{id}"));
    let (s, v) = app
        .call(Method::PUT, &conns, Some(json!({"channels": [ch2, other]})))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let now = sorted(vec![ch2.clone(), other.clone()]);
    assert_eq!(app.access(&id).await, (now.clone(), now.clone()));
    assert_eq!(v["channels"].as_array().unwrap().len(), 2);

    // The MQTT hooks' cache has the grant; deactivation must drop it at once.
    let cache = &app.platform.cache;
    let cached = cache.get(&app.platform.store, &id).await.unwrap().unwrap();
    assert_eq!(cached.publish.resolve(&ch2), Some(ch2.as_str()));
    let (s, _) = app
        .call(Method::PUT, &state, Some(json!({"state": 0})))
        .await;
    assert_eq!(s, StatusCode::OK);
    let cached = cache.get(&app.platform.store, &id).await.unwrap().unwrap();
    assert!(
        cached.publish.is_empty() && cached.subscribe.is_empty(),
        "stale grant cached"
    );
    assert_eq!(
        app.access(&id).await,
        (vec![], vec![]),
        "inactive again: none"
    );

    // Inactive: a list change connects nothing.
    let (s, _) = app
        .call(Method::PUT, &conns, Some(json!({"channels": [ch1]})))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(app.access(&id).await, (vec![], vec![]));

    for bad in [json!({"state": 2}), json!({}), json!({"state": "1"})] {
        let (s, _) = app.call(Method::PUT, &state, Some(bad.clone())).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}");
    }
    let (s, _) = app
        .call(Method::PUT, &conns, Some(json!({"channels": ["missing"]})))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = app
        .call(
            Method::PUT,
            &app.d("/clients/state/no-such-config"),
            Some(json!({"state": 1})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let ops = common::operations(&app.bootstrap_events().await);
    assert_eq!(
        ops.iter().filter(|o| *o == "client.change_state").count(),
        2
    );
    assert_eq!(
        ops.iter()
            .filter(|o| *o == "client.update_connections")
            .count(),
        2
    );
}
