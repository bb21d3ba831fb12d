//! RabbitMQ Streams sink against a real `rabbitmq-server` (stream plugin) started by the
//! test; read back with a RabbitMQ stream consumer. One server for the whole file (it
//! takes seconds to boot), so the scenarios run in sequence inside one test.

mod common;

use common::*;
use futures_util::StreamExt;
use magnetite_events::encode::{json_body, Names};
use magnetite_events::{Event, Events, EventsConfig};
use rabbitmq_stream_client::types::OffsetSpecification;
use rabbitmq_stream_client::Environment;
use serde_json::{Map, Value};
use std::time::Duration;

/// Connects, retrying while the node finishes booting (the port opens before it
/// accepts stream connections).
async fn env(port: u16) -> Environment {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        match Environment::builder()
            .host("127.0.0.1")
            .port(port)
            .build()
            .await
        {
            Ok(env) => return env,
            Err(e) if tokio::time::Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => panic!("rabbitmq env: {e}"),
        }
    }
}

/// Reads `stream` from the first offset until `n` messages or 20 s pass; then waits a
/// little more to catch duplicates.
async fn read_stream(port: u16, stream: &str, n: usize) -> Vec<Map<String, Value>> {
    let env = env(port).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut consumer = loop {
        match env
            .consumer()
            .offset(OffsetSpecification::First)
            .build(stream)
            .await
        {
            Ok(c) => break c,
            Err(e) if tokio::time::Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("consumer on {stream}: {e}"),
        }
    };
    let mut out = Vec::new();
    loop {
        let wait = if out.len() >= n {
            Duration::from_millis(500)
        } else {
            deadline.saturating_duration_since(tokio::time::Instant::now())
        };
        match tokio::time::timeout(wait, consumer.next()).await {
            Ok(Some(Ok(d))) => {
                let body = d.message().data().expect("body");
                let v: Value = serde_json::from_slice(body).expect("JSON body");
                out.push(v.as_object().cloned().expect("object"));
            }
            Ok(Some(Err(e))) => panic!("delivery: {e:?}"),
            Ok(None) | Err(_) => break,
        }
    }
    let _ = consumer.handle().close().await;
    out
}

fn config(prefix: &str, port: u16) -> EventsConfig {
    EventsConfig {
        prefix: prefix.into(),
        stores: vec![format!("rabbitmq-stream://guest:guest@127.0.0.1:{port}")],
        maxlen: 1_000_000,
        instance_id: "node-a".into(),
    }
}

async fn every_operation_arrives(port: u16, prefix: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = sqlite_db(dir.path()).await;
    let evs = every_operation();
    write_all(&db, &evs).await;
    let events = Events::start(db, config(prefix, port)).await.unwrap();
    let names = Names::new(prefix);
    for service in ["users", "clients", "bootstrap", "mqtt"] {
        let want: Vec<&Event> = evs
            .iter()
            .filter(|e| e.service.as_str() == service)
            .collect();
        let stream = names.stream(service);
        let got = read_stream(port, &stream, want.len()).await;
        assert_eq!(got.len(), want.len(), "{stream}: exactly once");
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g, &json_body(&names.renamed(&w.fields)), "{stream}");
        }
    }
    let m = events.metrics_text();
    assert!(
        m.contains("rabbitmq-stream://guest:***@"),
        "password redacted: {m}"
    );
    assert!(!m.contains("guest:guest"), "{m}");
    events.shutdown().await;
}

fn client_ids(v: &[Map<String, Value>]) -> Vec<String> {
    v.iter()
        .map(|m| m["client_id"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn expected_ids(from: usize, n: usize) -> Vec<String> {
    (from..from + n).map(|i| format!("dev-{i}")).collect()
}

/// Outage (server killed, 1,000 events written, server back) then restart of the
/// shipper: everything arrives in order, once. Uses prefix `outage` for its own streams.
async fn outage_and_restart(server: &mut Server) {
    let port = server.port;
    let dir = tempfile::tempdir().unwrap();
    let (db, url) = sqlite_db(dir.path()).await;
    let first = Events::start(url.as_str(), config("outage", port))
        .await
        .unwrap();
    write_all(&db, &numbered(10, 0)).await;
    assert_eq!(read_stream(port, "outage.mqtt", 10).await.len(), 10);

    server.stop();
    write_all(&db, &numbered(1000, 10)).await;
    let lag = "} 1000";
    let seen = eventually(Duration::from_secs(20), || async {
        first.metrics_text().contains(lag).then_some(())
    })
    .await;
    assert!(
        seen.is_some(),
        "lag visible while down: {}",
        first.metrics_text()
    );
    server.start();
    let got = read_stream(port, "outage.mqtt", 1010).await;
    assert_eq!(
        client_ids(&got),
        expected_ids(0, 1010),
        "outage: in order, once"
    );

    // Restart: stop the shipper with rows pending, start a new one on the same outbox.
    first.db().append_batch(&numbered(990, 1010)).await.unwrap();
    first.shutdown().await;
    let second = Events::start(url.as_str(), config("outage", port))
        .await
        .unwrap();
    let got = read_stream(port, "outage.mqtt", 2000).await;
    assert_eq!(
        client_ids(&got),
        expected_ids(0, 2000),
        "restart: in order, once"
    );
    second.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_streams_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = rabbitmq(dir.path());
    every_operation_arrives(server.port, "magistrala").await;
    every_operation_arrives(server.port, "supermq").await;
    outage_and_restart(&mut server).await;
    server.stop();
}
