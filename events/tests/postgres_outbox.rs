//! The outbox on a real PostgreSQL: writers append in their own transactions, the
//! shipper (here to Redis) keeps id order even when transactions commit out of order.

mod common;

use common::*;
use magnetite_db::Db;
use magnetite_events::OutboxDb;
use magnetite_events::{append_postgres, mqtt_event, Events, EventsConfig, MqttEventType};
use std::time::Duration;

/// A Redis sink and a PostgreSQL outbox, started in `dir`: (redis, postgres, its URL).
fn redis_and_postgres(dir: &std::path::Path) -> (Server, Server, String) {
    let pg = postgres(dir);
    let url = postgres_url(&pg);
    (redis(dir), pg, url)
}

/// A transaction on `pool` that has appended one MQTT connect event of `client_id`
/// (taking the next outbox id) and is still open.
async fn begin_with_connect<'a>(
    pool: &'a sqlx::PgPool,
    client_id: &str,
    instance: &str,
) -> sqlx::Transaction<'a, sqlx::Postgres> {
    let mut tx = pool.begin().await.unwrap();
    let event = mqtt_event(client_id, MqttEventType::Connect, instance);
    append_postgres(&mut tx, &event).await.unwrap();
    tx
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outbox_ships_in_id_order_across_late_commits() {
    let dir = tempfile::tempdir().unwrap();
    let (redis, _pg, url) = redis_and_postgres(dir.path());
    let cfg = EventsConfig {
        instance_id: "node-a".into(),
        ..redis_config(redis.port)
    };
    let events = Events::start(url.as_str(), cfg).await.unwrap();
    let Db::Postgres(pool) = events.db().clone() else {
        panic!("expected a PostgreSQL pool");
    };

    // Transaction A takes id 1 and stays open; B takes id 2 and commits first.
    let a = begin_with_connect(&pool, "first", "node-a").await;
    let b = begin_with_connect(&pool, "second", "node-a").await;
    b.commit().await.unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        redis_mqtt_ids(redis.port).await.is_empty(),
        "id 2 waits for the hole at id 1"
    );
    a.commit().await.unwrap();

    for i in 0..200 {
        let tx = begin_with_connect(&pool, &format!("dev-{i}"), "node-a").await;
        tx.commit().await.unwrap();
    }
    let got = wait_redis_mqtt_ids(redis.port, 202).await;
    let mut want = vec!["first".to_string(), "second".to_string()];
    want.extend(expected_ids(0, 200));
    assert_eq!(got, want);
    events.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolled_back_ids_do_not_wedge_the_shipper() {
    let dir = tempfile::tempdir().unwrap();
    let (redis, _pg, url) = redis_and_postgres(dir.path());
    let cfg = redis_config(redis.port);
    let events = Events::start(url.as_str(), cfg).await.unwrap();
    let Db::Postgres(pool) = events.db().clone() else {
        panic!("expected a PostgreSQL pool");
    };
    let rolled = begin_with_connect(&pool, "never", "").await;
    rolled.rollback().await.unwrap();
    events
        .db()
        .append(&mqtt_event("after", MqttEventType::Connect, ""))
        .await
        .unwrap();
    let got = wait_redis_mqtt_ids(redis.port, 1).await;
    assert_eq!(got, vec!["after".to_string()]);
    events.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_postgres_ship_once() {
    let dir = tempfile::tempdir().unwrap();
    let (redis, _pg, url) = redis_and_postgres(dir.path());
    let cfg = redis_config(redis.port);
    let a = Events::start(url.as_str(), cfg.clone()).await.unwrap();
    let b = Events::start(url.as_str(), cfg).await.unwrap();
    let batch = |from: usize| -> Vec<_> {
        (from..from + 300)
            .map(|i| mqtt_event(&format!("dev-{i}"), MqttEventType::Connect, ""))
            .collect()
    };
    a.db().append_batch(&batch(0)).await.unwrap();
    let got = wait_redis_mqtt_ids(redis.port, 300).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        redis_mqtt_ids(redis.port).await.len(),
        300,
        "shipped by one instance only"
    );
    assert_eq!(got, expected_ids(0, 300));

    // The active one stops; the standby takes over from the shared cursor.
    a.shutdown().await;
    b.db().append_batch(&batch(300)).await.unwrap();
    let got = wait_redis_mqtt_ids(redis.port, 600).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(redis_mqtt_ids(redis.port).await.len(), 600);
    assert_eq!(got, expected_ids(0, 600));
    b.shutdown().await;
}
