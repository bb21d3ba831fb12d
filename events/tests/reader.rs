//! The shared outbox reader on a real SQLite outbox: one stream's rows handed out in id
//! order with the cursor moving over the other streams, nothing past a hole until it is
//! filled, at-least-once until commit, resume from the saved cursor, and stop.

mod common;

use common::sqlite_db;
use magnetite_db::Db;
use magnetite_events::reader::{Batch, OutboxReader, ReaderConfig, Rows, Start, Step};
use magnetite_events::{mqtt_event, Event, MqttEventType, OutboxDb, Service};
use std::time::Duration;
use tokio::sync::watch;

fn clients_reader(key: &str, start: Start) -> ReaderConfig {
    ReaderConfig {
        cursor_key: key.to_string(),
        lease_key: key.to_string(),
        rows: Rows::stream("clients"),
        batch: 100,
        poll: Duration::from_millis(5),
        start,
    }
}

/// A row with a chosen id, as a transaction that took it earlier commits it late.
async fn insert_with_id(db: &Db, id: i64, stream: &str) {
    let Db::Sqlite(pool) = db else {
        panic!("the test uses SQLite")
    };
    sqlx::query(
        "INSERT INTO events_outbox (id, stream, payload, created_at) VALUES (?, ?, '{}', 0)",
    )
    .bind(id)
    .bind(stream)
    .execute(pool)
    .await
    .expect("insert with id");
}

async fn expect_batch(reader: &mut OutboxReader) -> Batch {
    match reader.next().await {
        Step::Batch(b) => b,
        other => panic!("expected a batch, got {other:?}"),
    }
}

fn ids(batch: &Batch) -> Vec<i64> {
    batch.rows.iter().map(|r| r.id).collect()
}

#[tokio::test]
async fn one_stream_in_order_holes_waited_for_commit_resumes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (db, _) = sqlite_db(dir.path()).await;
    db.append(&mqtt_event("c1", MqttEventType::Connect, "n"))
        .await
        .expect("append");
    db.append(&mqtt_event("c1", MqttEventType::Disconnect, "n"))
        .await
        .expect("append");
    db.append(&Event::new(Service::Clients, "client.remove"))
        .await
        .expect("append");
    let (stop, stop_rx) = watch::channel(false);
    let config = clients_reader("#test", Start::Beginning);
    let mut reader = OutboxReader::open(db.clone(), config.clone(), stop_rx.clone())
        .await
        .expect("reader");

    // Only the clients row, but the cursor may pass the mqtt rows before it.
    let first = expect_batch(&mut reader).await;
    assert_eq!((ids(&first), first.last), (vec![3], 3));
    // Not committed: handed out again.
    let again = expect_batch(&mut reader).await;
    assert_eq!((ids(&again), again.last), (vec![3], 3));
    assert!(reader.commit(again.last).await);
    assert_eq!(db.saved_cursor("#test").await.expect("cursor"), Some(3));

    // Id 5 is visible while 4 is still being written: nothing is handed out.
    insert_with_id(&db, 5, "clients").await;
    assert!(matches!(reader.next().await, Step::Waiting));
    assert_eq!(reader.cursor(), 3);
    // 4 commits (another stream): 5 is ready, the cursor passes both.
    insert_with_id(&db, 4, "mqtt").await;
    let filled = expect_batch(&mut reader).await;
    assert_eq!((ids(&filled), filled.last), (vec![5], 5));
    assert!(reader.commit(filled.last).await);
    drop(reader);

    // A restart resumes from the saved cursor; a new reader starting at the end saves it.
    let resumed = OutboxReader::open(db.clone(), config, stop_rx.clone())
        .await
        .expect("reader");
    assert_eq!(resumed.cursor(), 5);
    let fresh = clients_reader("#fresh", Start::End);
    let mut at_end = OutboxReader::open(db.clone(), fresh, stop_rx)
        .await
        .expect("reader");
    assert_eq!(at_end.cursor(), 5);
    assert_eq!(db.saved_cursor("#fresh").await.expect("cursor"), Some(5));

    stop.send(true).expect("stop");
    assert!(matches!(at_end.next().await, Step::Stopped));
}

/// A drained reader waiting on the commit signal sees a row appended during its poll
/// at once: the poll here is an hour, longer than the test's whole patience.
#[tokio::test]
async fn a_commit_wakes_a_drained_reader_before_its_poll() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (db, _) = sqlite_db(dir.path()).await;
    let (_stop, stop_rx) = watch::channel(false);
    let mut config = clients_reader("#wake", Start::Beginning);
    config.poll = Duration::from_secs(3600);
    let mut reader = OutboxReader::open(db.clone(), config, stop_rx)
        .await
        .expect("reader");
    reader.wake_on(magnetite_db::commits().subscribe());
    let writer = db.clone();
    let append = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        writer
            .append(&Event::new(Service::Clients, "client.create"))
            .await
            .expect("append")
    });
    let patience = Duration::from_secs(30);
    let step = tokio::time::timeout(patience, async {
        loop {
            if let Step::Batch(b) = reader.next().await {
                return b;
            }
        }
    })
    .await
    .expect("woken by the commit, not by the hour-long poll");
    let id = append.await.expect("append task");
    assert_eq!(ids(&step), vec![id]);
}
