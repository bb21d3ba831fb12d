//! `GET /events` for tenants: the log is read through the access closure the binary
//! plugs in, and a domain-scoped caller gets only its domains' rows, page after page, on
//! SQLite (including an outbox created before the `domain` column existed) and on
//! PostgreSQL.

mod common;

use axum::http::{HeaderMap, StatusCode};
use common::*;
use magnetite_db::Db;
use magnetite_events::http::{LogAccess, Refused};
use magnetite_events::OutboxDb;
use magnetite_events::{mqtt_event, Event, Events, EventsConfig, MqttEventType, ReadScope};
use std::sync::Arc;

/// `Bearer admin` reads all, `Bearer d1` / `Bearer d2` one domain, `Bearer both` two,
/// anything else is refused with 401.
fn test_access() -> LogAccess {
    Arc::new(|headers: HeaderMap| {
        let token = headers
            .get("authorization")
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::to_string);
        Box::pin(async move {
            match token.as_deref() {
                Some("admin") => Ok(ReadScope::All),
                Some("d1") => Ok(ReadScope::Domains(vec!["d1".into()])),
                Some("d2") => Ok(ReadScope::Domains(vec!["d2".into()])),
                Some("both") => Ok(ReadScope::Domains(vec!["d1".into(), "d2".into()])),
                Some("none") => Ok(ReadScope::Domains(Vec::new())),
                _ => Err(Refused {
                    status: StatusCode::UNAUTHORIZED,
                    message: "missing bearer token".into(),
                }),
            }
        })
    })
}

/// 30 events alternating d1 / d2 / platform-level, client ids naming their domain.
fn tenant_events() -> Vec<Event> {
    (0..30)
        .map(|i| {
            let scope = ["d1", "d2", "platform"][i % 3];
            let ev = mqtt_event(&format!("{scope}-dev-{i}"), MqttEventType::Connect, "n");
            match scope {
                "platform" => ev,
                d => ev.in_domain(d),
            }
        })
        .collect()
}

/// Every client id `token` can read, walking the log 4 events per page.
async fn read_all(port: u16, token: &str) -> Vec<String> {
    let mut after = 0;
    let mut seen = Vec::new();
    loop {
        let (st, page) =
            http_get(port, &format!("/events?after={after}&limit=4"), Some(token)).await;
        assert_eq!(st, 200, "{page}");
        let events = page["events"].as_array().unwrap().clone();
        if events.is_empty() {
            return seen;
        }
        assert!(events.len() <= 4, "a page never exceeds its limit");
        seen.extend(
            events
                .iter()
                .map(|e| e["event"]["client_id"].as_str().unwrap().to_string()),
        );
        after = page["next"].as_i64().unwrap();
    }
}

async fn check_scopes(events: &Events) {
    let port = serve_log(events, test_access()).await;
    assert_eq!(http_get(port, "/events", None).await.0, 401);
    let (st, body) = http_get(port, "/events", Some("garbage")).await;
    assert_eq!(
        (st, body["message"].as_str()),
        (401, Some("missing bearer token"))
    );

    let admin = read_all(port, "admin").await;
    assert_eq!(admin.len(), 30);
    let d1 = read_all(port, "d1").await;
    assert_eq!(d1.len(), 10);
    assert!(d1.iter().all(|c| c.starts_with("d1-")), "{d1:?}");
    let d2 = read_all(port, "d2").await;
    assert_eq!(d2.len(), 10);
    assert!(d2.iter().all(|c| c.starts_with("d2-")), "{d2:?}");
    let both = read_all(port, "both").await;
    assert_eq!(both.len(), 20);
    assert!(both.iter().all(|c| !c.starts_with("platform-")));
    assert!(read_all(port, "none").await.is_empty());

    let (_, mqtt_d2) = http_get(port, "/events?stream=mqtt&limit=100", Some("d2")).await;
    assert_eq!(mqtt_d2["events"].as_array().unwrap().len(), 10);
    let (_, users_d2) = http_get(port, "/events?stream=users&limit=100", Some("d2")).await;
    assert!(users_d2["events"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn sqlite_log_serves_each_caller_its_domains_only() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = sqlite_db(dir.path()).await;
    write_all(&db, &tenant_events()).await;
    let events = Events::start(db, EventsConfig::default()).await.unwrap();
    check_scopes(&events).await;
    events.shutdown().await;
}

/// An outbox written by a version without the `domain` column gains it at start; its
/// old rows (no domain) are for platform admins only.
#[tokio::test]
async fn sqlite_outbox_without_domain_column_is_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("old.db").display());
    {
        let Db::Sqlite(pool) = Db::open(&url).await.unwrap() else {
            panic!("sqlite");
        };
        sqlx::query(
            "CREATE TABLE events_outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, \
             stream TEXT NOT NULL, payload TEXT NOT NULL, created_at BIGINT NOT NULL)",
        )
        .execute(&pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO events_outbox (stream, payload, created_at) \
             VALUES ('mqtt', '{\"client_id\":\"old\"}', 1)",
        )
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
    }
    let db = Db::open(&url).await.unwrap();
    // No retention sweep: the old row's `created_at` is long past any retention, and the
    // pruner running at start would race this test for it.
    let config = EventsConfig {
        retention: std::time::Duration::ZERO,
        ..EventsConfig::default()
    };
    let events = Events::start(db.clone(), config).await.unwrap();
    // A second start finds the column and leaves it alone.
    db.ensure_schema().await.unwrap();
    let d1 = ReadScope::Domains(vec!["d1".into()]);
    assert!(db.fetch_scoped(0, None, 10, &d1).await.unwrap().is_empty());
    assert_eq!(
        db.fetch_scoped(0, None, 10, &ReadScope::All)
            .await
            .unwrap()
            .len(),
        1
    );
    db.append(&mqtt_event("new", MqttEventType::Connect, "n").in_domain("d1"))
        .await
        .unwrap();
    let rows = db.fetch_scoped(0, Some("mqtt"), 10, &d1).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert!(rows[0].payload.contains("\"new\""));
    events.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_log_serves_each_caller_its_domains_only() {
    let dir = tempfile::tempdir().unwrap();
    let pg = postgres(dir.path());
    let url = postgres_url(&pg);
    let events = Events::start(url.as_str(), EventsConfig::default())
        .await
        .unwrap();
    write_all(events.db(), &tenant_events()).await;
    // Idempotent on PostgreSQL too.
    events.db().ensure_schema().await.unwrap();
    check_scopes(&events).await;
    events.shutdown().await;
}
