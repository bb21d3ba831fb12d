//! Shared test fixtures: real servers on free loopback ports (a test FAILS if its server
//! cannot start), a SQLite file outbox, one sample event per operation, and polling.

#![allow(dead_code, unused_imports)]

pub use magnetite_testkit::poll::eventually;
pub use magnetite_testkit::servers::*;

use magnetite_db::Db;
use magnetite_events::http::LogAccess;
use magnetite_events::model::bootstrap::{self as b, Config};
use magnetite_events::model::clients as c;
use magnetite_events::model::users::{self as u, Policy};
use magnetite_events::OutboxDb;
use magnetite_events::{
    mqtt_event, Event, Events, EventsConfig, MqttEventType, Page, Record, Service,
};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A SQLite file outbox in `dir`.
pub async fn sqlite_db(dir: &Path) -> (Db, String) {
    let url = format!("sqlite://{}", dir.join("outbox.db").display());
    let db = Db::open(&url).await.expect("open sqlite");
    db.ensure_schema().await.expect("schema");
    (db, url)
}

fn rec(id: &str) -> Record {
    Record {
        id: id.into(),
        name: Some(format!("name-{id}")),
        identity: None,
        owner: Some("fe2e5de0-9900-4ac5-b364-eae0c35777fb".into()),
        metadata: Some(json!({"Update": "rough-leaf"})),
        tags: None,
        status: Some("enabled".into()),
        created_at: Some("2023-08-29T11:06:12.032254Z".into()),
        updated_at: Some("2023-08-29T11:06:12.294444Z".into()),
        updated_by: Some("e1b982d8-a332-4bc2-aaff-4bbaa86880fc".into()),
    }
}

fn page() -> Page {
    Page {
        total: 3,
        offset: 0,
        limit: 10,
        status: Some("enabled".into()),
    }
}

/// One event of every operation family of the reference (users, groups, policies,
/// clients, channels, connections, bootstrap, mqtt).
pub fn every_operation() -> Vec<Event> {
    let usr = Record {
        identity: Some("-small-flower@email.com".into()),
        owner: None,
        ..rec("u1")
    };
    let tagged = Record {
        tags: Some(vec!["patient-thunder".into(), "x".into()]),
        ..usr.clone()
    };
    let pol = Policy {
        owner_id: Some("o1".into()),
        subject: "s1".into(),
        object: "ob1".into(),
        actions: vec!["m_write".into(), "m_read".into()],
        created_at: Some("2023-08-29T12:17:50.715541Z".into()),
        updated_at: Some("2023-08-29T12:35:00.095028Z".into()),
    };
    let cfg = Config {
        client_id: "dc82d6bf".into(),
        owner: Some("64fd20bf".into()),
        name: Some("demo".into()),
        external_id: Some("FF-41-EF-BC-90-BC".into()),
        channels: Some(vec!["ch1".into(), "ch2".into()]),
        content: Some(r#"{"device_id": "12345"}"#.into()),
        client_cert: Some("CERT".into()),
        client_key_sha256: Some(b::key_fingerprint("KEY")),
        ca_cert: Some("CA".into()),
        state: Some(0),
    };
    let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    vec![
        u::user_create(&usr),
        u::user_view(&usr),
        u::user_view_profile(&usr),
        u::user_update(&usr),
        u::user_update_identity(&usr),
        u::user_update_tags(&tagged),
        u::user_update_secret(&usr),
        u::user_remove(&usr),
        u::user_list(&page()),
        u::user_list_by_group(&page(), "g1"),
        u::user_identify("u1"),
        u::user_generate_reset_token("a@b.c", "http://localhost"),
        u::user_issue_token("a@b.c"),
        u::user_refresh_token(),
        u::user_reset_secret(),
        u::user_send_password_reset("http://localhost", "a@b.c", "rodney"),
        u::group_create(&rec("g1")),
        u::group_update(&rec("g1")),
        u::group_view(&rec("g1")),
        u::group_list(&page()),
        u::group_list_by_user(&page(), "u1"),
        u::group_remove(&rec("g1")),
        u::policy_authorize(Service::Users, "client", "clients", "c_list"),
        u::policy_add(Service::Users, &pol),
        u::policy_update(Service::Users, &pol),
        u::policy_delete(Service::Users, &pol),
        u::policy_list(Service::Users, 0, 0, 10),
        c::client_create(&rec("c1")),
        c::client_update(&rec("c1")),
        c::client_update_secret(&rec("c1")),
        c::client_update_tags(&Record {
            tags: Some(ids(&["morning-pine"])),
            ..rec("c1")
        }),
        c::client_remove(&rec("c1")),
        c::client_view(&rec("c1")),
        c::client_list(&page()),
        c::client_list_by_channel(&page(), "ch1"),
        c::client_identify("c1"),
        c::channel_create(&rec("ch1")),
        c::channel_update(&rec("ch1")),
        c::channel_remove(&rec("ch1")),
        c::channel_view(&rec("ch1")),
        c::channel_list(&page()),
        c::channel_list_by_client(&page(), "c1"),
        c::channel_connect(
            &ids(&["ch1"]),
            &ids(&["c1", "c2"]),
            &ids(&["publish", "subscribe"]),
        ),
        c::channel_disconnect(&ids(&["ch1"]), &ids(&["c1"]), &ids(&["publish"])),
        u::policy_add(Service::Clients, &pol),
        u::policy_list(Service::Clients, 0, 0, 10),
        b::config_create(&cfg),
        b::config_update(&cfg),
        b::cert_update("dc82d6bf", "CERT", &b::key_fingerprint("KEY"), "CA"),
        b::config_list(0, 10),
        b::config_view(&cfg),
        b::config_remove("dc82d6bf"),
        b::config_remove_handler("cfg1"),
        b::client_bootstrap(&cfg, true),
        b::client_change_state("dc82d6bf", 1),
        b::client_update_connections("dc82d6bf", &ids(&["ch1", "ch2"])),
        b::channel_update_handler("ch1", "dry-sky", &json!({"log": "info"})),
        b::channel_remove_handler("ch1"),
        mqtt_event("c1", MqttEventType::Connect, "node-a"),
        mqtt_event("c1", MqttEventType::Disconnect, "node-a"),
    ]
}

/// Writes events into the outbox, each in its own transaction (as HTTP operations do).
pub async fn write_all(db: &Db, evs: &[Event]) {
    for e in evs {
        db.append(e).await.expect("append");
    }
}

/// Numbered MQTT connect events (`client_id` = `dev-<n>`) for order checks.
pub fn numbered(n: usize, from: usize) -> Vec<Event> {
    (from..from + n)
        .map(|i| mqtt_event(&format!("dev-{i}"), MqttEventType::Connect, "node-a"))
        .collect()
}

/// The reference's expectations that do not depend on our encoder: operation names of
/// the prefix, `occurred_at` a decimal of Unix ns, `metadata` JSON text, lists `[a,b]`.
pub fn assert_reference_shape_redis(fields: &std::collections::BTreeMap<String, String>) {
    if let Some(t) = fields.get("occurred_at") {
        let ns: i64 = t.parse().expect("occurred_at is a decimal");
        assert!(ns > 1_600_000_000_000_000_000, "occurred_at in ns: {t}");
    }
    if let Some(m) = fields.get("metadata") {
        assert!(
            serde_json::from_str::<serde_json::Value>(m)
                .map(|v| v.is_object())
                .unwrap_or(false),
            "metadata JSON text: {m}"
        );
    }
    for k in [
        "tags",
        "channels",
        "actions",
        "channel_ids",
        "client_ids",
        "types",
    ] {
        if let Some(v) = fields.get(k) {
            assert!(
                v.starts_with('[') && v.ends_with(']') && !v.contains('"'),
                "{k} Go list: {v}"
            );
        }
    }
}

/// The services whose streams every sink test reads back.
pub const SERVICES: [&str; 4] = ["users", "clients", "bootstrap", "mqtt"];

/// The events of `evs` that belong to `service`, in outbox order.
pub fn of_service<'a>(evs: &'a [Event], service: &str) -> Vec<&'a Event> {
    evs.iter()
        .filter(|e| e.service.as_str() == service)
        .collect()
}

/// A shipper to one sink (`store` URL) under `prefix`, as instance `node-a`.
pub fn sink_config(prefix: &str, store: String) -> EventsConfig {
    EventsConfig {
        prefix: prefix.into(),
        stores: vec![store],
        maxlen: 1_000_000,
        instance_id: "node-a".into(),
        ..Default::default()
    }
}

/// A shipper to the Redis at `port`, everything else default.
pub fn redis_config(port: u16) -> EventsConfig {
    EventsConfig {
        stores: vec![format!("redis://127.0.0.1:{port}")],
        ..Default::default()
    }
}

/// A SQLite outbox in `dir` holding [`every_operation`], and those events.
pub async fn outbox_with_every_operation(dir: &Path) -> (Db, Vec<Event>) {
    let (db, _) = sqlite_db(dir).await;
    let evs = every_operation();
    write_all(&db, &evs).await;
    (db, evs)
}

/// Polls `read` until it returns at least `n` items (within 30 s) and returns them;
/// panics naming `what` otherwise.
pub async fn wait_len<T, F, Fut>(what: &str, n: usize, mut read: F) -> Vec<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Vec<T>>,
{
    eventually(Duration::from_secs(30), || {
        let fut = read();
        async move {
            let v = fut.await;
            (v.len() >= n).then_some(v)
        }
    })
    .await
    .unwrap_or_else(|| panic!("{what} did not reach {n} entries"))
}

/// A Redis stream entry: field -> value.
pub type Entry = BTreeMap<String, String>;

/// `XRANGE key - +` on the Redis at `port`, each entry as its field map.
pub async fn xrange(port: u16, key: &str) -> Vec<Entry> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let raw: Vec<(String, Vec<String>)> = redis::cmd("XRANGE")
        .arg(key)
        .arg("-")
        .arg("+")
        .query_async(&mut con)
        .await
        .unwrap();
    raw.into_iter()
        .map(|(_, kv)| kv.chunks(2).map(|p| (p[0].clone(), p[1].clone())).collect())
        .collect()
}

/// The `client_id` of each Redis entry (panics where one has none).
pub fn entry_client_ids(entries: &[Entry]) -> Vec<String> {
    entries.iter().map(|e| e["client_id"].clone()).collect()
}

/// The client ids of the `magistrala.mqtt` Redis stream, in stream order.
pub async fn redis_mqtt_ids(port: u16) -> Vec<String> {
    entry_client_ids(&xrange(port, "magistrala.mqtt").await)
}

/// The client ids of `magistrala.mqtt`, once there are at least `n`.
pub async fn wait_redis_mqtt_ids(port: u16, n: usize) -> Vec<String> {
    wait_len("magistrala.mqtt", n, || redis_mqtt_ids(port)).await
}

/// The `client_id` of each JSON body (NATS, RabbitMQ), `""` where there is none.
pub fn json_client_ids(v: &[Map<String, Value>]) -> Vec<String> {
    v.iter()
        .map(|m| m["client_id"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// The client ids [`numbered`] gives events `from..from + n`.
pub fn expected_ids(from: usize, n: usize) -> Vec<String> {
    (from..from + n).map(|i| format!("dev-{i}")).collect()
}

/// Serves `events`' `GET /events` behind `access` on a free port.
pub async fn serve_log(events: &Events, access: LogAccess) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = events.router(access).into_router();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    port
}

/// A plain HTTP/1.1 GET, with a bearer token when given; returns (status, JSON body).
pub async fn http_get(port: u16, path: &str, token: Option<&str>) -> (u16, Value) {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Connection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8(raw).unwrap();
    let status: u16 = text[9..12].parse().unwrap();
    let (_, body) = text.split_once("\r\n\r\n").unwrap();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}
