//! `store::store_window` on SQLite: a window stores each entry once (a window re-read
//! after a crash stores nothing twice), indexes it under its entities, and sums the
//! telemetry of several changes of one client in one window as one change at a time did.

use magnetite_db::Db;
use magnetite_journal::derive::{Change, Derived, TelemetryChange};
use magnetite_journal::model::{EntityType, Entry};
use magnetite_journal::store;
use serde_json::Map;

async fn journal_db(dir: &tempfile::TempDir) -> Db {
    let url = format!("sqlite://{}", dir.path().join("j.db").display());
    let db = Db::open(&url).await.expect("open sqlite");
    store::migrate(&db).await.expect("journal tables");
    db
}

fn mqtt_entry(id: i64, client: &str, at: i64, kind: Change) -> Derived {
    Derived {
        entry: Entry {
            id,
            operation: "mqtt.client_connect".to_string(),
            occurred_at: at,
            domain: Some("d1".to_string()),
            attributes: Map::new(),
            metadata: Map::new(),
        },
        entities: vec![(EntityType::Client, client.to_string())],
        telemetry: Some(TelemetryChange {
            client_id: client.to_string(),
            domain_id: "d1".to_string(),
            at,
            kind,
        }),
    }
}

fn subscribed(topic: &str) -> Change {
    Change::Subscribed {
        subscriber: "s1".to_string(),
        topic: topic.to_string(),
    }
}

async fn index_rows(db: &Db) -> i64 {
    let Db::Sqlite(pool) = db else {
        panic!("a SQLite test database")
    };
    sqlx::query_scalar("SELECT COUNT(*) FROM journal_entities")
        .fetch_one(pool)
        .await
        .expect("count index rows")
}

#[tokio::test]
async fn a_window_stores_each_entry_once_and_sums_telemetry_per_client() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = journal_db(&dir).await;
    let ended = |inbound, outbound| Change::SessionEnded {
        subscriber: "s1".to_string(),
        inbound,
        outbound,
    };
    // 70 entries: more than one multi-row chunk (64).
    let mut window: Vec<Derived> = (1..=66)
        .map(|i| mqtt_entry(i, &format!("other-{i}"), 1_000 + i, Change::Seen))
        .collect();
    window.push(mqtt_entry(67, "c1", 500, subscribed("a")));
    window.push(mqtt_entry(68, "c1", 900, subscribed("b")));
    window.push(mqtt_entry(69, "c1", 300, ended(2, 3)));
    window.push(mqtt_entry(70, "c1", 700, ended(4, 5)));

    assert_eq!(store::store_window(&db, &window).await.expect("store"), 70);
    assert_eq!(index_rows(&db).await, 70);
    let t = store::telemetry(&db, "c1", "d1").await.expect("telemetry");
    assert_eq!((t.inbound, t.outbound), (6, 8), "counts add up");
    assert_eq!((t.first_seen, t.last_seen), (Some(300), Some(900)));
    assert_eq!(t.subscriptions, 0, "the session's end dropped what it held");

    // The same window again (a crash before the cursor was saved): nothing new.
    assert_eq!(store::store_window(&db, &window).await.expect("again"), 0);
    assert_eq!(index_rows(&db).await, 70);
    let again = store::telemetry(&db, "c1", "d1").await.expect("telemetry");
    assert_eq!((again.inbound, again.outbound), (6, 8), "not counted twice");

    // A later window: counts keep adding, the times only widen, a live subscription shows.
    let later = [
        mqtt_entry(71, "c1", 100, ended(1, 1)),
        mqtt_entry(72, "c1", 2_000, subscribed("c")),
    ];
    assert_eq!(store::store_window(&db, &later).await.expect("later"), 2);
    let t = store::telemetry(&db, "c1", "d1").await.expect("telemetry");
    assert_eq!((t.inbound, t.outbound), (7, 9));
    assert_eq!((t.first_seen, t.last_seen), (Some(100), Some(2_000)));
    assert_eq!(t.subscriptions, 1);
}
