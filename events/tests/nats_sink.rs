//! NATS JetStream sink against a real `nats-server -js` started by the test; events
//! are read back with a JetStream pull consumer.

mod common;

use common::*;
use magnetite_events::encode::{json_body, Names};
use magnetite_events::OutboxDb;
use magnetite_events::{Events, EventsConfig};
use magnetite_testkit::sinks::read_subject;
use serde_json::{Map, Value};
use std::time::Duration;

/// The bodies on `subject`, once it holds at least `n`.
async fn wait_subject(port: u16, subject: &str, n: usize) -> Vec<Map<String, Value>> {
    wait_len(subject, n, || read_subject(port, subject)).await
}

fn config(prefix: &str, port: u16) -> EventsConfig {
    sink_config(prefix, format!("nats://127.0.0.1:{port}"))
}

/// What the reference shows for every JSON body: numbers stay numbers, `metadata` is
/// base64 of JSON, lists are Go `[a,b]` strings.
fn assert_reference_shape_json(f: &Map<String, Value>) {
    if let Some(t) = f.get("occurred_at") {
        assert!(
            t.as_i64().is_some_and(|t| t > 1_600_000_000_000_000_000),
            "{t}"
        );
    }
    if let Some(m) = f.get("metadata") {
        use base64::Engine;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(m.as_str().expect("metadata string"))
            .expect("metadata base64");
        assert!(serde_json::from_slice::<Value>(&raw).unwrap().is_object());
    }
    for k in ["limit", "offset", "total"] {
        if let Some(v) = f.get(k) {
            assert!(v.is_u64(), "{k} is a number");
        }
    }
    for k in ["tags", "channels", "actions"] {
        if let Some(v) = f.get(k) {
            assert!(v.as_str().is_some_and(|s| s.starts_with('[')), "{k}: {v}");
        }
    }
}

async fn every_operation_arrives(prefix: &str) {
    let dir = tempfile::tempdir().unwrap();
    let nats = nats(&dir.path().join("js"));
    let (db, evs) = outbox_with_every_operation(dir.path()).await;
    let events = Events::start(db, config(prefix, nats.port)).await.unwrap();
    let names = Names::new(prefix);
    for service in SERVICES {
        let want = of_service(&evs, service);
        let subject = names.subject(service);
        let got = wait_subject(nats.port, &subject, want.len()).await;
        assert_eq!(got.len(), want.len(), "{subject}: exactly once");
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g, &json_body(&names.renamed(&w.fields)), "{subject}");
            assert_reference_shape_json(g);
        }
    }
    events.shutdown().await;
}

#[tokio::test]
async fn every_operation_reaches_jetstream_magistrala() {
    every_operation_arrives("magistrala").await;
}

#[tokio::test]
async fn every_operation_reaches_jetstream_supermq() {
    every_operation_arrives("supermq").await;
}

#[tokio::test]
async fn outage_loses_nothing_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut nats = nats(&dir.path().join("js"));
    let (db, _) = sqlite_db(dir.path()).await;
    let events = Events::start(db.clone(), config("magistrala", nats.port))
        .await
        .unwrap();
    write_all(&db, &numbered(10, 0)).await;
    wait_subject(nats.port, "events.magistrala.mqtt", 10).await;

    nats.stop();
    write_all(&db, &numbered(1000, 10)).await;
    let lag = format!(
        "magnetite_events_pending{{sink=\"nats://127.0.0.1:{}\"}} 1000",
        nats.port
    );
    let seen = eventually(Duration::from_secs(15), || async {
        events.metrics_text().contains(&lag).then_some(())
    })
    .await;
    assert!(
        seen.is_some(),
        "lag visible while down: {}",
        events.metrics_text()
    );

    nats.start();
    let got = wait_subject(nats.port, "events.magistrala.mqtt", 1010).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        read_subject(nats.port, "events.magistrala.mqtt")
            .await
            .len(),
        1010,
        "no duplicates"
    );
    assert_eq!(
        json_client_ids(&got),
        expected_ids(0, 1010),
        "in order, once"
    );
    events.shutdown().await;
}

#[tokio::test]
async fn restart_resumes_from_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let nats = nats(&dir.path().join("js"));
    let (db, url) = sqlite_db(dir.path()).await;
    let first = Events::start(url.as_str(), config("magistrala", nats.port))
        .await
        .unwrap();
    db.append_batch(&numbered(200, 0)).await.unwrap();
    wait_subject(nats.port, "events.magistrala.mqtt", 200).await;
    first.db().append_batch(&numbered(800, 200)).await.unwrap();
    first.shutdown().await;

    let second = Events::start(url.as_str(), config("magistrala", nats.port))
        .await
        .unwrap();
    let got = wait_subject(nats.port, "events.magistrala.mqtt", 1000).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        read_subject(nats.port, "events.magistrala.mqtt")
            .await
            .len(),
        1000
    );
    assert_eq!(json_client_ids(&got), expected_ids(0, 1000));
    second.shutdown().await;
}
