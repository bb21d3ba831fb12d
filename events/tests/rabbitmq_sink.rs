//! RabbitMQ Streams sink against a real `rabbitmq-server` (stream plugin) started by the
//! test; read back with a RabbitMQ stream consumer. One server for the whole file (it
//! takes seconds to boot), so the scenarios run in sequence inside one test.

mod common;

use common::*;
use magnetite_events::encode::{json_body, Names};
use magnetite_events::OutboxDb;
use magnetite_events::{Events, EventsConfig};
use magnetite_testkit::sinks::read_stream;
use std::time::Duration;

fn config(prefix: &str, port: u16) -> EventsConfig {
    sink_config(
        prefix,
        format!("rabbitmq-stream://guest:guest@127.0.0.1:{port}"),
    )
}

async fn every_operation_arrives(port: u16, prefix: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (db, evs) = outbox_with_every_operation(dir.path()).await;
    let events = Events::start(db, config(prefix, port)).await.unwrap();
    let names = Names::new(prefix);
    for service in SERVICES {
        let want = of_service(&evs, service);
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
        json_client_ids(&got),
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
        json_client_ids(&got),
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
