//! The reference's field sets per operation, and the checks of one stream's events
//! against them and against what the drive did.

use std::collections::BTreeSet;

use magnetite_testkit::sinks::Fields;

use super::drive::Drive;

const REC: &[&str] = &["id", "name", "metadata", "tags", "status", "created_at"];
const UPD: &[&str] = &["updated_at", "updated_by"];
const LIST: &[&str] = &["total", "offset", "limit", "status"];
/// A bootstrap config as the reference's `config.*` / `client.bootstrap` events carry it.
const BOOT: &[&str] = &[
    "client_id",
    "owner",
    "name",
    "external_id",
    "channels",
    "content",
    "client_cert",
    "client_key_sha256",
    "ca_cert",
    "state",
];

/// The reference's field set for `op` (`operation` and `occurred_at` implied) and the
/// fields every such event must carry.
fn reference(op: &str) -> (Vec<&'static str>, Vec<&'static str>) {
    let with = |base: &[&'static str], extra: &[&'static str]| {
        base.iter().chain(extra).copied().collect::<Vec<_>>()
    };
    let user = with(REC, &["identity"]);
    let owned = with(REC, &["owner"]);
    match op {
        "user.create" | "user.view" | "user.view_profile" => {
            (user, vec!["id", "name", "identity", "status", "created_at"])
        }
        "user.update" | "user.update_tags" | "user.update_identity" | "user.update_secret" => (
            with(&user, UPD),
            vec!["id", "identity", "updated_at", "updated_by"],
        ),
        "user.update_role" => (with(&with(&user, UPD), &["role"]), vec!["id", "role"]),
        "user.remove" | "group.remove" | "client.remove" | "channel.remove" => (
            with(&["id", "status"], UPD),
            vec!["id", "status", "updated_at", "updated_by"],
        ),
        "user.list" | "group.list" | "client.list" | "channel.list" => {
            (LIST.to_vec(), vec!["total", "offset", "limit"])
        }
        "client.list_by_channel" => (with(LIST, &["channel_id"]), vec!["total", "channel_id"]),
        "channel.list_by_client" => (with(LIST, &["client_id"]), vec!["total", "client_id"]),
        "user.issue_token" => (vec!["identity"], vec!["identity"]),
        "user.refresh_token" | "user.reset_secret" => (vec![], vec![]),
        "user.generate_reset_token" => (vec!["email", "host"], vec!["email", "host"]),
        "user.send_password_reset" => {
            (vec!["email", "host", "user"], vec!["email", "host", "user"])
        }
        "group.create" | "group.view" | "client.create" | "client.view" | "channel.create"
        | "channel.view" => (owned, vec!["id", "name", "owner", "status", "created_at"]),
        "group.update"
        | "client.update"
        | "client.update_tags"
        | "client.update_secret"
        | "channel.update" => (with(&owned, UPD), vec!["id", "updated_at", "updated_by"]),
        "channel.connect" | "channel.disconnect" => (
            vec!["channel_ids", "client_ids", "types"],
            vec!["channel_ids", "client_ids", "types"],
        ),
        "config.create" | "config.view" => (
            BOOT.to_vec(),
            vec![
                "client_id",
                "external_id",
                "name",
                "owner",
                "channels",
                "state",
            ],
        ),
        "config.update" => (
            vec!["client_id", "name", "content", "state"],
            vec!["client_id"],
        ),
        "cert.update" => (
            vec!["client_id", "client_cert", "client_key_sha256", "ca_cert"],
            vec!["client_id"],
        ),
        "config.list" => (
            vec!["offset", "limit", "total", "state", "name"],
            vec!["offset", "limit"],
        ),
        "config.remove" => (vec!["client_id"], vec!["client_id"]),
        "client.bootstrap" => (
            BOOT.iter().copied().chain(["success"]).collect(),
            vec!["external_id", "success"],
        ),
        "client.change_state" => (vec!["client_id", "state"], vec!["client_id", "state"]),
        "client.update_connections" => {
            (vec!["client_id", "channels"], vec!["client_id", "channels"])
        }
        other => panic!("no reference entry for {other}"),
    }
}

/// Checks one stream's events against what the drive did.
pub fn check_stream(what: &str, events: &[Fields], expected_ops: &[&str], secrets: &[String]) {
    let ops: Vec<&str> = events
        .iter()
        .map(|e| e.get("operation").map(String::as_str).unwrap_or(""))
        .collect();
    assert_eq!(ops, expected_ops, "{what}: operations in order, once each");
    for e in events {
        let op = e["operation"].as_str();
        let (allowed, required) = reference(op);
        let allowed: BTreeSet<&str> = allowed
            .into_iter()
            .chain(["operation", "occurred_at"])
            .collect();
        let have: BTreeSet<&str> = e.keys().map(String::as_str).collect();
        let extra: Vec<_> = have.difference(&allowed).collect();
        assert!(
            extra.is_empty(),
            "{what} {op}: fields outside the reference: {extra:?} in {e:?}"
        );
        for r in required.iter().chain(&["occurred_at"]) {
            assert!(have.contains(r), "{what} {op}: missing {r} in {e:?}");
        }
        let ns: i64 = e["occurred_at"]
            .trim_matches('"')
            .parse()
            .expect("occurred_at integer");
        assert!(
            ns > 1_600_000_000_000_000_000,
            "{what} {op}: occurred_at in Unix ns"
        );
        for s in secrets {
            assert!(
                e.values().all(|v| !v.contains(s.as_str())),
                "{what} {op}: a secret leaked: {e:?}"
            );
        }
    }
}

pub fn check_mqtt(what: &str, events: &[Fields], drive: &Drive) {
    let mine: Vec<&Fields> = events
        .iter()
        .filter(|e| {
            e.get("client_id").map(|c| c.trim_matches('"')) == Some(drive.mqtt_client.as_str())
        })
        .collect();
    let kinds: Vec<&str> = mine
        .iter()
        .map(|e| e["event_type"].trim_matches('"'))
        .collect();
    assert_eq!(
        kinds,
        ["connect", "disconnect"],
        "{what}: the device's MQTT events, by its platform id (not its MQTT id)"
    );
    for e in mine {
        let keys: BTreeSet<&str> = e.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            BTreeSet::from(["client_id", "event_type", "instance", "occurred_at"]),
            "{what}"
        );
        assert_eq!(e["instance"].trim_matches('"'), "node-7");
    }
}
