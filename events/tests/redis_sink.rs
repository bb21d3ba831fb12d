//! Redis Streams sink against a real `redis-server` started by the test.

mod common;

use common::*;
use magnetite_db::Db;
use magnetite_events::encode::{redis_fields, Names};
use magnetite_events::OutboxDb;
use magnetite_events::{Events, EventsConfig};
use std::time::Duration;

fn config(prefix: &str, port: u16) -> EventsConfig {
    sink_config(prefix, format!("redis://127.0.0.1:{port}"))
}

/// The entries of Redis stream `key`, once it holds at least `n`.
async fn wait_entries(port: u16, key: &str, n: usize) -> Vec<Entry> {
    wait_len(key, n, || xrange(port, key)).await
}

async fn every_operation_arrives(prefix: &str) {
    let dir = tempfile::tempdir().unwrap();
    let redis = redis(dir.path());
    let (db, evs) = outbox_with_every_operation(dir.path()).await;
    let events = Events::start(db.clone(), config(prefix, redis.port))
        .await
        .unwrap();
    let names = Names::new(prefix);
    for service in SERVICES {
        let want = of_service(&evs, service);
        let key = names.stream(service);
        let got = wait_entries(redis.port, &key, want.len()).await;
        assert_eq!(got.len(), want.len(), "{key}: exactly once");
        for (g, w) in got.iter().zip(&want) {
            let expect: Entry = redis_fields(&names.renamed(&w.fields))
                .into_iter()
                .collect();
            assert_eq!(g, &expect, "{key}");
            assert_reference_shape_redis(g);
        }
    }
    assert!(events.metrics_text().contains(&format!(
        "magnetite_events_shipped_total{{sink=\"redis://127.0.0.1:{}\"}} {}",
        redis.port,
        evs.len()
    )));
    events.shutdown().await;
}

#[tokio::test]
async fn every_operation_reaches_redis_magistrala() {
    every_operation_arrives("magistrala").await;
}

#[tokio::test]
async fn every_operation_reaches_redis_supermq() {
    every_operation_arrives("supermq").await;
}

#[tokio::test]
async fn supermq_names_in_redis() {
    let dir = tempfile::tempdir().unwrap();
    let redis = redis(dir.path());
    let (db, _) = outbox_with_every_operation(dir.path()).await;
    let events = Events::start(db, config("supermq", redis.port))
        .await
        .unwrap();
    let things = wait_entries(redis.port, "supermq.things", 1).await;
    assert_eq!(things[0]["operation"], "thing.create");
    let mqtt = wait_entries(redis.port, "supermq.mqtt", 2).await;
    assert_eq!(mqtt[0]["thing_id"], "c1");
    assert_eq!(mqtt[0]["event_type"], "connect");
    assert_eq!(mqtt[0]["instance"], "node-a");
    assert!(!mqtt[0].contains_key("client_id"));
    events.shutdown().await;
}

#[tokio::test]
async fn outage_loses_nothing_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut redis = redis(dir.path());
    let (db, _) = sqlite_db(dir.path()).await;
    let events = Events::start(db.clone(), config("magistrala", redis.port))
        .await
        .unwrap();
    write_all(&db, &every_operation()[..3]).await;
    wait_entries(redis.port, "magistrala.users", 3).await;

    redis.stop();
    write_all(&db, &numbered(1000, 0)).await;
    let lag = format!(
        "magnetite_events_pending{{sink=\"redis://127.0.0.1:{}\"}} 1000",
        redis.port
    );
    let seen = eventually(Duration::from_secs(10), || async {
        events.metrics_text().contains(&lag).then_some(())
    })
    .await;
    let m = events.metrics_text();
    assert!(seen.is_some(), "lag visible while down: {m}");
    assert!(
        !m.contains(&format!(
            "magnetite_events_failures_total{{sink=\"redis://127.0.0.1:{}\"}} 0",
            redis.port
        )),
        "{m}"
    );

    redis.start();
    let got = wait_entries(redis.port, "magistrala.mqtt", 1000).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got_again = xrange(redis.port, "magistrala.mqtt").await;
    assert_eq!(got_again.len(), 1000, "no duplicates");
    assert_eq!(
        entry_client_ids(&got),
        expected_ids(0, 1000),
        "in order, once"
    );
    let pending = format!(
        "magnetite_events_pending{{sink=\"redis://127.0.0.1:{}\"}} 0",
        redis.port
    );
    let ok = eventually(Duration::from_secs(5), || async {
        events.metrics_text().contains(&pending).then_some(())
    })
    .await;
    assert!(ok.is_some(), "lag back to 0: {}", events.metrics_text());
    events.shutdown().await;
}

async fn cursor_of(db: &Db, port: u16) -> i64 {
    db.cursor(&format!("redis://127.0.0.1:{port}|magistrala"))
        .await
        .unwrap()
}

#[tokio::test]
async fn restart_resumes_from_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let redis = redis(dir.path());
    let (db, url) = sqlite_db(dir.path()).await;

    let first = Events::start(url.as_str(), config("magistrala", redis.port))
        .await
        .unwrap();
    write_all(&db, &numbered(300, 0)).await;
    wait_entries(redis.port, "magistrala.mqtt", 300).await;
    // Stop mid-way: 1,700 more rows are written and the shipper is stopped while busy.
    first.db().append_batch(&numbered(1700, 300)).await.unwrap();
    first.shutdown().await;
    let cursor = cursor_of(&db, redis.port).await;
    assert!(cursor >= 300, "cursor saved: {cursor}");

    let second = Events::start(url.as_str(), config("magistrala", redis.port))
        .await
        .unwrap();
    let got = wait_entries(redis.port, "magistrala.mqtt", 2000).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        xrange(redis.port, "magistrala.mqtt").await.len(),
        2000,
        "no duplicates"
    );
    assert_eq!(entry_client_ids(&got), expected_ids(0, 2000));
    assert_eq!(cursor_of(&db, redis.port).await, 2000);
    second.shutdown().await;
}

#[tokio::test]
async fn maxlen_bounds_the_stream() {
    let dir = tempfile::tempdir().unwrap();
    let redis = redis(dir.path());
    let (db, _) = sqlite_db(dir.path()).await;
    let mut cfg = config("magistrala", redis.port);
    cfg.maxlen = 100;
    let events = Events::start(db.clone(), cfg).await.unwrap();
    db.append_batch(&numbered(2000, 0)).await.unwrap();
    let pending = format!(
        "magnetite_events_pending{{sink=\"redis://127.0.0.1:{}\"}} 0",
        redis.port
    );
    let shipped = format!(
        "magnetite_events_shipped_total{{sink=\"redis://127.0.0.1:{}\"}} 2000",
        redis.port
    );
    let done = eventually(Duration::from_secs(20), || async {
        let m = events.metrics_text();
        (m.contains(&pending) && m.contains(&shipped)).then_some(())
    })
    .await;
    assert!(done.is_some(), "{}", events.metrics_text());
    let len = xrange(redis.port, "magistrala.mqtt").await.len();
    // MAXLEN ~ trims whole macro nodes: bounded near 100, far below 2000.
    assert!((100..=300).contains(&len), "trimmed length {len}");
    events.shutdown().await;
}
