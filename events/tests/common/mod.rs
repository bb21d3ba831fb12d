//! Shared test fixtures: real servers on free loopback ports (a test FAILS if its server
//! cannot start), a SQLite file outbox, one sample event per operation, and polling.

#![allow(dead_code, unused_imports)]

pub use magnetite_testkit::poll::eventually;
pub use magnetite_testkit::servers::*;

use magnetite_db::Db;
use magnetite_events::model::bootstrap::{self as b, Config};
use magnetite_events::model::clients as c;
use magnetite_events::model::users::{self as u, Policy};
use magnetite_events::OutboxDb;
use magnetite_events::{mqtt_event, Event, MqttEventType, Page, Record, Service};
use serde_json::json;
use std::path::Path;

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
