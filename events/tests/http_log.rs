//! The embedded log `GET /events` served from the outbox (no sink needed).

mod common;

use common::*;
use magnetite_events::OutboxDb;
use magnetite_events::{Events, EventsConfig};
use serde_json::Value;

/// An unauthenticated GET; returns (status, JSON body).
async fn get(port: u16, path: &str) -> (u16, Value) {
    http_get(port, path, None).await
}

fn ids(v: &Value) -> Vec<i64> {
    v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn log_pages_through_the_outbox() {
    let dir = tempfile::tempdir().unwrap();
    let (db, evs) = outbox_with_every_operation(dir.path()).await;
    let events = Events::start(db, EventsConfig::default()).await.unwrap();
    let port = serve_log(&events, magnetite_events::http::open_access()).await;

    let (st, page1) = get(port, "/events?stream=users&limit=5").await;
    assert_eq!(st, 200);
    assert_eq!(ids(&page1), vec![1, 2, 3, 4, 5]);
    let first = &page1["events"][0];
    assert_eq!(first["stream"], "magistrala.users");
    assert_eq!(first["event"]["operation"], "user.create");
    assert_eq!(
        first["event"]["metadata"],
        "eyJVcGRhdGUiOiJyb3VnaC1sZWFmIn0="
    );
    assert!(first["event"]["occurred_at"].is_i64());
    assert_eq!(page1["next"], 5);

    let (_, page2) = get(port, "/events?stream=magistrala.users&after=5&limit=1000").await;
    let users = of_service(&evs, "users").len();
    assert_eq!(ids(&page2).len(), users - 5);
    assert!(ids(&page2).windows(2).all(|w| w[0] < w[1]));

    let (_, mqtt) = get(port, "/events?stream=mqtt").await;
    let m = &mqtt["events"][0]["event"];
    assert_eq!(
        (m["event_type"].as_str(), m["instance"].as_str()),
        (Some("connect"), Some("node-a"))
    );

    let (_, all) = get(port, "/events?limit=1000").await;
    assert_eq!(ids(&all).len(), evs.len());
    let last = *ids(&all).last().unwrap();
    let (_, empty) = get(port, &format!("/events?after={last}")).await;
    assert_eq!(ids(&empty).len(), 0);
    assert_eq!(empty["next"], last, "next stays put when nothing is new");

    assert_eq!(get(port, "/events?limit=0").await.0, 400);
    assert_eq!(get(port, "/events?limit=5000").await.0, 400);
    assert_eq!(get(port, "/events?stream=nope").await.0, 400);
    events.shutdown().await;
}

#[tokio::test]
async fn log_uses_supermq_names_under_its_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = outbox_with_every_operation(dir.path()).await;
    let cfg = EventsConfig {
        prefix: "supermq".into(),
        ..Default::default()
    };
    let events = Events::start(db, cfg).await.unwrap();
    let port = serve_log(&events, magnetite_events::http::open_access()).await;
    let (st, things) = get(port, "/events?stream=things&limit=1").await;
    assert_eq!(st, 200);
    assert_eq!(things["events"][0]["stream"], "supermq.things");
    assert_eq!(things["events"][0]["event"]["operation"], "thing.create");
    events.shutdown().await;
}

#[tokio::test]
async fn mqtt_writer_batches_into_the_outbox() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = sqlite_db(dir.path()).await;
    let cfg = EventsConfig {
        instance_id: "node-z".into(),
        ..Default::default()
    };
    let events = Events::start(db.clone(), cfg).await.unwrap();
    let w = events.mqtt_writer();
    for i in 0..500 {
        w.record(
            &format!("dev-{i}"),
            Some("domain-1"),
            magnetite_events::MqttEventType::Connect,
        );
    }
    let rows = eventually(std::time::Duration::from_secs(10), || async {
        let r = db.fetch_after(0, Some("mqtt"), 1000).await.unwrap();
        (r.len() == 500).then_some(r)
    })
    .await
    .expect("500 rows written");
    for (i, r) in rows.iter().enumerate() {
        let v: Value = serde_json::from_str(&r.payload).unwrap();
        assert_eq!(v["client_id"], format!("dev-{i}"));
        assert_eq!(v["instance"], "node-z");
    }
    events.shutdown().await;
}
