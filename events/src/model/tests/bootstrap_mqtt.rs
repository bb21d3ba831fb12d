//! Bootstrap and MQTT field sets against the reference.

use super::super::bootstrap::{self as b, Config};
use super::super::mqtt::{mqtt_event, MqttEventType};
use super::super::Service;
use super::check;
use serde_json::json;

fn config() -> Config {
    Config {
        client_id: "dc82d6bf-973b-4582-9806-0230cee11c20".into(),
        owner: Some("64fd20bf-e8fb-46bf-9b64-2a6572eda21b".into()),
        name: Some("demo".into()),
        external_id: Some("209327A2FA2D47E3B05F118D769DC521".into()),
        channels: Some(vec!["8d77099e-4911-4140-8555-7d3be65a1694".into()]),
        content: Some("{}".into()),
        client_cert: Some("cert".into()),
        client_key_sha256: Some(b::key_fingerprint("key")),
        ca_cert: Some("ca".into()),
        state: Some(0),
    }
}

/// The events carry a fingerprint, never the key: SHA-256 of the PEM text, in hex.
#[test]
fn key_fingerprint_is_the_sha256_of_the_pem() {
    assert_eq!(
        b::key_fingerprint("abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    let ev = b::config_create(&config());
    assert!(!ev.payload().contains("\"key\""), "{}", ev.payload());
}

#[test]
fn bootstrap_operations_match_reference() {
    let bs = Service::Bootstrap;
    check(
        b::config_create(&config()),
        bs,
        "config.create",
        &[
            "ca_cert",
            "channels",
            "client_cert",
            "client_id",
            "client_key_sha256",
            "content",
            "external_id",
            "name",
            "occurred_at",
            "operation",
            "owner",
            "state",
        ],
    );
    let upd = Config {
        client_id: "c".into(),
        name: Some("demo".into()),
        content: Some("{}".into()),
        state: Some(0),
        ..Default::default()
    };
    check(
        b::config_update(&upd),
        bs,
        "config.update",
        &[
            "client_id",
            "content",
            "name",
            "occurred_at",
            "operation",
            "state",
        ],
    );
    check(
        b::cert_update("c", "cc", &b::key_fingerprint("ck"), "ca"),
        bs,
        "cert.update",
        &[
            "ca_cert",
            "client_cert",
            "client_id",
            "client_key_sha256",
            "occurred_at",
            "operation",
        ],
    );
    check(
        b::config_list(0, 10),
        bs,
        "config.list",
        &["limit", "occurred_at", "offset", "operation"],
    );
    let view = Config {
        client_key_sha256: None,
        ca_cert: None,
        ..config()
    };
    check(
        b::config_view(&view),
        bs,
        "config.view",
        &[
            "channels",
            "client_cert",
            "client_id",
            "content",
            "external_id",
            "name",
            "occurred_at",
            "operation",
            "owner",
            "state",
        ],
    );
    check(
        b::config_remove("c"),
        bs,
        "config.remove",
        &["client_id", "occurred_at", "operation"],
    );
    check(
        b::config_remove_handler("c"),
        bs,
        "config.remove_handler",
        &["config_id", "occurred_at", "operation"],
    );
    let boot = Config {
        client_cert: None,
        client_key_sha256: None,
        state: None,
        ..config()
    };
    check(
        b::client_bootstrap(&boot, true),
        bs,
        "client.bootstrap",
        &[
            "ca_cert",
            "channels",
            "client_id",
            "content",
            "external_id",
            "name",
            "occurred_at",
            "operation",
            "owner",
            "success",
        ],
    );
    check(
        b::client_change_state("c", 0),
        bs,
        "client.change_state",
        &["client_id", "occurred_at", "operation", "state"],
    );
    check(
        b::client_update_connections("c", &["a".to_string()]),
        bs,
        "client.update_connections",
        &["channels", "client_id", "occurred_at", "operation"],
    );
    check(
        b::channel_update_handler("ch", "dry-sky", &json!({"log": "info"})),
        bs,
        "channel.update_handler",
        &["channel_id", "metadata", "name", "occurred_at", "operation"],
    );
    check(
        b::channel_remove_handler("ch"),
        bs,
        "channel.remove_handler",
        &["channel_id", "occurred_at", "operation"],
    );
}

#[test]
fn mqtt_event_matches_reference() {
    let ev = mqtt_event("76a58221", MqttEventType::Connect, "node-1");
    assert_eq!(ev.service, Service::Mqtt);
    assert_eq!(
        ev.field_names(),
        vec!["client_id", "event_type", "instance", "occurred_at"]
    );
    assert_eq!(ev.fields["event_type"], "connect");
    assert_eq!(ev.fields["instance"], "node-1");
    assert!(ev.fields["occurred_at"]
        .as_i64()
        .is_some_and(|t| t > 1_600_000_000_000_000_000));
    let d = mqtt_event("76a58221", MqttEventType::Disconnect, "");
    assert_eq!(d.fields["event_type"], "disconnect");
}

#[test]
fn state_is_a_string_and_success_a_bool() {
    let e = b::client_change_state("c", 1);
    assert_eq!(e.fields["state"], json!("1"));
    let e = b::client_bootstrap(&config(), true);
    assert_eq!(e.fields["success"], json!(true));
}
