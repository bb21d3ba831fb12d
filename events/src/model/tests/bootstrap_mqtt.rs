//! Bootstrap and MQTT field sets against the reference.

use super::super::bootstrap::{self as b, Config};
use super::super::mqtt::{mqtt_event, MqttEventType};
use super::super::Service;
use super::check_all;
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

/// The fields of a whole config, without the two that some operations leave out.
const CONFIG_BASE: &[&str] = &[
    "channels",
    "client_id",
    "content",
    "external_id",
    "name",
    "occurred_at",
    "operation",
    "owner",
];

fn config_fields(extra: &[&'static str]) -> Vec<&'static str> {
    [CONFIG_BASE, extra].concat()
}

#[test]
fn bootstrap_operations_match_reference() {
    let upd = Config {
        client_id: "c".into(),
        name: Some("demo".into()),
        content: Some("{}".into()),
        state: Some(0),
        ..Default::default()
    };
    let view = Config {
        client_key_sha256: None,
        ca_cert: None,
        ..config()
    };
    let boot = Config {
        client_cert: None,
        client_key_sha256: None,
        state: None,
        ..config()
    };
    let create_extra = ["ca_cert", "client_cert", "client_key_sha256", "state"];
    check_all(
        Service::Bootstrap,
        vec![
            (
                b::config_create(&config()),
                "config.create",
                config_fields(&create_extra),
            ),
            (
                b::config_update(&upd),
                "config.update",
                vec![
                    "client_id",
                    "content",
                    "name",
                    "occurred_at",
                    "operation",
                    "state",
                ],
            ),
            (
                b::cert_update("c", "cc", &b::key_fingerprint("ck"), "ca"),
                "cert.update",
                vec![
                    "ca_cert",
                    "client_cert",
                    "client_id",
                    "client_key_sha256",
                    "occurred_at",
                    "operation",
                ],
            ),
            (
                b::config_list(0, 10),
                "config.list",
                vec!["limit", "occurred_at", "offset", "operation"],
            ),
            (
                b::config_view(&view),
                "config.view",
                config_fields(&["client_cert", "state"]),
            ),
            (
                b::config_remove("c"),
                "config.remove",
                vec!["client_id", "occurred_at", "operation"],
            ),
            (
                b::config_remove_handler("c"),
                "config.remove_handler",
                vec!["config_id", "occurred_at", "operation"],
            ),
            (
                b::client_bootstrap(&boot, true),
                "client.bootstrap",
                config_fields(&["ca_cert", "success"]),
            ),
            (
                b::client_change_state("c", 0),
                "client.change_state",
                vec!["client_id", "occurred_at", "operation", "state"],
            ),
            (
                b::client_update_connections("c", &["a".to_string()]),
                "client.update_connections",
                vec!["channels", "client_id", "occurred_at", "operation"],
            ),
            (
                b::channel_update_handler("ch", "dry-sky", &json!({"log": "info"})),
                "channel.update_handler",
                vec!["channel_id", "metadata", "name", "occurred_at", "operation"],
            ),
            (
                b::channel_remove_handler("ch"),
                "channel.remove_handler",
                vec!["channel_id", "occurred_at", "operation"],
            ),
        ],
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
