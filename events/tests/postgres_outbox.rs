//! The outbox on a real PostgreSQL: writers append in their own transactions, the
//! shipper (here to Redis) keeps id order even when transactions commit out of order.

mod common;

use common::*;
use magnetite_db::Db;
use magnetite_events::OutboxDb;
use magnetite_events::{append_postgres, mqtt_event, Events, EventsConfig, MqttEventType};
use std::time::Duration;

async fn mqtt_ids(port: u16) -> Vec<String> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let raw: Vec<(String, Vec<String>)> = redis::cmd("XRANGE")
        .arg("magistrala.mqtt")
        .arg("-")
        .arg("+")
        .query_async(&mut con)
        .await
        .unwrap();
    raw.into_iter()
        .map(|(_, kv)| {
            let i = kv.iter().position(|k| k == "client_id").unwrap();
            kv[i + 1].clone()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outbox_ships_in_id_order_across_late_commits() {
    let dir = tempfile::tempdir().unwrap();
    let pg = postgres(dir.path());
    let redis = redis(dir.path());
    let url = format!("postgres://postgres@127.0.0.1:{}/postgres", pg.port);
    let cfg = EventsConfig {
        stores: vec![format!("redis://127.0.0.1:{}", redis.port)],
        instance_id: "node-a".into(),
        ..Default::default()
    };
    let events = Events::start(url.as_str(), cfg).await.unwrap();
    let Db::Postgres(pool) = events.db().clone() else {
        panic!("expected a PostgreSQL pool");
    };

    // Transaction A takes id 1 and stays open; B takes id 2 and commits first.
    let mut a = pool.begin().await.unwrap();
    append_postgres(
        &mut a,
        &mqtt_event("first", MqttEventType::Connect, "node-a"),
    )
    .await
    .unwrap();
    let mut b = pool.begin().await.unwrap();
    append_postgres(
        &mut b,
        &mqtt_event("second", MqttEventType::Connect, "node-a"),
    )
    .await
    .unwrap();
    b.commit().await.unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        mqtt_ids(redis.port).await.is_empty(),
        "id 2 waits for the hole at id 1"
    );
    a.commit().await.unwrap();

    for i in 0..200 {
        let mut tx = pool.begin().await.unwrap();
        append_postgres(
            &mut tx,
            &mqtt_event(&format!("dev-{i}"), MqttEventType::Connect, "node-a"),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
    let got = eventually(Duration::from_secs(20), || async {
        let v = mqtt_ids(redis.port).await;
        (v.len() >= 202).then_some(v)
    })
    .await
    .expect("202 events");
    let mut want = vec!["first".to_string(), "second".to_string()];
    want.extend((0..200).map(|i| format!("dev-{i}")));
    assert_eq!(got, want);
    events.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolled_back_ids_do_not_wedge_the_shipper() {
    let dir = tempfile::tempdir().unwrap();
    let pg = postgres(dir.path());
    let redis = redis(dir.path());
    let url = format!("postgres://postgres@127.0.0.1:{}/postgres", pg.port);
    let cfg = EventsConfig {
        stores: vec![format!("redis://127.0.0.1:{}", redis.port)],
        ..Default::default()
    };
    let events = Events::start(url.as_str(), cfg).await.unwrap();
    let Db::Postgres(pool) = events.db().clone() else {
        panic!("expected a PostgreSQL pool");
    };
    let mut rolled = pool.begin().await.unwrap();
    append_postgres(
        &mut rolled,
        &mqtt_event("never", MqttEventType::Connect, ""),
    )
    .await
    .unwrap();
    rolled.rollback().await.unwrap();
    events
        .db()
        .append(&mqtt_event("after", MqttEventType::Connect, ""))
        .await
        .unwrap();
    let got = eventually(Duration::from_secs(15), || async {
        let v = mqtt_ids(redis.port).await;
        (!v.is_empty()).then_some(v)
    })
    .await
    .expect("shipped after the grace period");
    assert_eq!(got, vec!["after".to_string()]);
    events.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_postgres_ship_once() {
    let dir = tempfile::tempdir().unwrap();
    let pg = postgres(dir.path());
    let redis = redis(dir.path());
    let url = format!("postgres://postgres@127.0.0.1:{}/postgres", pg.port);
    let cfg = EventsConfig {
        stores: vec![format!("redis://127.0.0.1:{}", redis.port)],
        ..Default::default()
    };
    let a = Events::start(url.as_str(), cfg.clone()).await.unwrap();
    let b = Events::start(url.as_str(), cfg).await.unwrap();
    let batch = |from: usize| -> Vec<_> {
        (from..from + 300)
            .map(|i| mqtt_event(&format!("dev-{i}"), MqttEventType::Connect, ""))
            .collect()
    };
    a.db().append_batch(&batch(0)).await.unwrap();
    let got = eventually(Duration::from_secs(20), || async {
        let v = mqtt_ids(redis.port).await;
        (v.len() >= 300).then_some(v)
    })
    .await
    .expect("300 events");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        mqtt_ids(redis.port).await.len(),
        300,
        "shipped by one instance only"
    );
    assert_eq!(
        got,
        (0..300).map(|i| format!("dev-{i}")).collect::<Vec<_>>()
    );

    // The active one stops; the standby takes over from the shared cursor.
    a.shutdown().await;
    b.db().append_batch(&batch(300)).await.unwrap();
    let got = eventually(Duration::from_secs(20), || async {
        let v = mqtt_ids(redis.port).await;
        (v.len() >= 600).then_some(v)
    })
    .await
    .expect("600 events");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(mqtt_ids(redis.port).await.len(), 600);
    assert_eq!(
        got,
        (0..600).map(|i| format!("dev-{i}")).collect::<Vec<_>>()
    );
    b.shutdown().await;
}
