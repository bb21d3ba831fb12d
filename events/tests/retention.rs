//! Outbox retention on SQLite and a real PostgreSQL: only rows older than the retention
//! that every reader (each configured sink, every other saved cursor) has passed go.

mod common;

use common::*;
use magnetite_db::Db;
use magnetite_events::retention::sweep;
use magnetite_events::OutboxDb;
use magnetite_events::{mqtt_event, MqttEventType};
use sqlx::Row;
use std::time::Duration;

const OLD_ENOUGH: Duration = Duration::from_nanos(1);

async fn ids(db: &Db) -> Vec<i64> {
    db.fetch_after(0, None, 1_000)
        .await
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect()
}

async fn append(db: &Db, n: usize) {
    for i in 0..n {
        let ev = mqtt_event(&format!("dev-{i}"), MqttEventType::Connect, "node-a");
        db.append(&ev).await.unwrap();
    }
}

async fn retention_keeps_what_a_reader_still_needs(db: Db) {
    db.ensure_schema().await.unwrap();
    db.epoch().await.unwrap();
    append(&db, 10).await;
    let all = ids(&db).await;
    assert_eq!(all.len(), 10);
    let sinks = vec!["redis://127.0.0.1:1|magistrala".to_string()];

    // A configured sink that never shipped holds everything.
    assert_eq!(sweep(&db, &sinks, OLD_ENOUGH).await.unwrap(), 0);

    db.save_cursor(&sinks[0], all[5]).await.unwrap();
    // Young rows stay whatever the cursors say.
    assert_eq!(
        sweep(&db, &sinks, Duration::from_secs(3600)).await.unwrap(),
        0
    );
    // Another reader (the bootstrap tailer) behind the sink holds the rest.
    db.save_cursor("#bootstrap:clients", all[2]).await.unwrap();
    assert_eq!(sweep(&db, &sinks, OLD_ENOUGH).await.unwrap(), 3);
    assert_eq!(ids(&db).await, all[3..].to_vec());

    db.save_cursor("#bootstrap:clients", all[9]).await.unwrap();
    assert_eq!(sweep(&db, &sinks, OLD_ENOUGH).await.unwrap(), 3);
    assert_eq!(
        ids(&db).await,
        all[6..].to_vec(),
        "the sink's unshipped rows stay"
    );

    db.save_cursor(&sinks[0], all[9]).await.unwrap();
    assert_eq!(sweep(&db, &sinks, OLD_ENOUGH).await.unwrap(), 4);
    assert!(ids(&db).await.is_empty());

    // Ids are never reused after a prune: readers' cursors stay meaningful.
    append(&db, 1).await;
    assert!(ids(&db).await[0] > all[9]);
}

#[tokio::test]
async fn sqlite_retention() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/outbox.db", dir.path().display());
    retention_keeps_what_a_reader_still_needs(Db::open(&url).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_retention() {
    let dir = tempfile::tempdir().unwrap();
    let pg = postgres(dir.path());
    let url = postgres_url(&pg);
    retention_keeps_what_a_reader_still_needs(Db::open(&url).await.unwrap()).await;
}

/// Readers of one stream (the bootstrap tailer polls five times a second) must not scan
/// every MQTT event after their cursor.
#[tokio::test]
async fn reads_of_one_stream_use_the_stream_index() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/outbox.db", dir.path().display());
    let db = Db::open(&url).await.unwrap();
    db.ensure_schema().await.unwrap();
    let Db::Sqlite(pool) = &db else {
        unreachable!("a sqlite URL opens SQLite")
    };
    let explain = format!(
        "EXPLAIN QUERY PLAN {}",
        magnetite_events::outbox::SQLITE_READ_STREAM
    );
    let plan: Vec<String> = sqlx::query(&explain)
        .bind(5_i64)
        .bind("clients")
        .bind(500_i64)
        .fetch_all(pool)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<String, _>("detail"))
        .collect();
    assert!(
        plan.iter()
            .any(|d| d.contains("USING INDEX events_outbox_stream_id")),
        "{plan:?}"
    );
}
