//! Which MQTT access an event changes: the one decision both the instance that made a
//! change (right after its transaction) and every other instance (reading the same
//! outbox row, [`super::remote`]) act on, so a cluster revokes exactly what one
//! instance does.
//!
//! The decision is pure, from the event's canonical fields alone (what the outbox row
//! carries); turning targets into client ids needs the store and the cache and is
//! [`crate::Platform::clients_of`]'s job.

use serde_json::{Map, Value};

/// What happens to the targets' access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Access may have grown: forget the cache entries, sessions stay.
    Refresh,
    /// Access may have shrunk: forget the cache entries and end the sessions.
    Revoke,
}

/// Whose access an event touches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Targets {
    /// These clients.
    Clients(Vec<String>),
    /// Every client connected to this channel.
    Channel(String),
    /// Every client of this domain.
    Domain(String),
}

/// One event's effect on MQTT access.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessChange {
    pub effect: Effect,
    pub targets: Targets,
}

impl AccessChange {
    fn new(effect: Effect, targets: Targets) -> Option<AccessChange> {
        Some(AccessChange { effect, targets })
    }
}

/// The access change an event (its canonical fields: `operation`, `id`, `status`,
/// `client_ids`) stands for; `None` for events that change no MQTT access (reads,
/// users, groups, domain members, creations, MQTT connect/disconnect).
///
/// A status other than `enabled` (`disabled`, `deleted`) revokes. An update of name,
/// tags or metadata only refreshes: the event does not say whether a channel's route
/// changed, so the writing instance, which knows, upgrades that case to a revoke
/// itself (see `Entities::after_change`).
pub fn access_change(fields: &Map<String, Value>) -> Option<AccessChange> {
    let op = fields.get("operation")?.as_str()?;
    let (kind, action) = op.split_once('.')?;
    let id = || fields.get("id").and_then(Value::as_str).map(str::to_string);
    let targets = match kind {
        "client" => Targets::Clients(vec![id()?]),
        "channel" if action == "connect" || action == "disconnect" => {
            Targets::Clients(string_list(fields.get("client_ids")?))
        }
        "channel" => Targets::Channel(id()?),
        "domain" if matches!(action, "enable" | "disable" | "freeze") => Targets::Domain(id()?),
        _ => return None,
    };
    let enabled = fields.get("status").and_then(Value::as_str) == Some("enabled");
    match action {
        "update_secret" | "disconnect" | "disable" | "freeze" => {
            AccessChange::new(Effect::Revoke, targets)
        }
        "remove" if enabled => AccessChange::new(Effect::Refresh, targets),
        "remove" => AccessChange::new(Effect::Revoke, targets),
        "update" | "update_tags" | "connect" | "enable" => {
            AccessChange::new(Effect::Refresh, targets)
        }
        _ => None,
    }
}

/// A JSON array of strings (other items skipped).
fn string_list(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn change(v: Value) -> Option<AccessChange> {
        access_change(v.as_object().expect("a test object"))
    }

    fn clients(effect: Effect, ids: &[&str]) -> Option<AccessChange> {
        let ids = ids.iter().map(|s| s.to_string()).collect();
        AccessChange::new(effect, Targets::Clients(ids))
    }

    #[test]
    fn a_disabled_or_deleted_client_is_revoked() {
        for status in ["disabled", "deleted"] {
            let ev = json!({"operation": "client.remove", "id": "c1", "status": status});
            assert_eq!(change(ev), clients(Effect::Revoke, &["c1"]));
        }
    }

    #[test]
    fn an_enabled_client_is_refreshed() {
        let ev = json!({"operation": "client.remove", "id": "c1", "status": "enabled"});
        assert_eq!(change(ev), clients(Effect::Refresh, &["c1"]));
    }

    #[test]
    fn a_new_secret_revokes() {
        let ev = json!({"operation": "client.update_secret", "id": "c1", "status": "enabled"});
        assert_eq!(change(ev), clients(Effect::Revoke, &["c1"]));
    }

    #[test]
    fn a_disconnect_revokes_exactly_its_clients() {
        let ev = json!({"operation": "channel.disconnect", "channel_ids": ["ch"],
            "client_ids": ["c1", "c2"], "types": ["publish"]});
        assert_eq!(change(ev), clients(Effect::Revoke, &["c1", "c2"]));
        let ev = json!({"operation": "channel.connect", "channel_ids": ["ch"],
            "client_ids": ["c1"], "types": ["publish"]});
        assert_eq!(change(ev), clients(Effect::Refresh, &["c1"]));
    }

    /// Each `(operation, status, effect)` on the entity `id` of `targets`.
    fn assert_changes(id: &str, targets: Targets, cases: &[(&str, &str, Effect)]) {
        for &(op, status, effect) in cases {
            let ev = json!({"operation": op, "id": id, "status": status});
            let want = AccessChange::new(effect, targets.clone());
            assert_eq!(change(ev), want, "{op} {status}");
        }
    }

    #[test]
    fn a_disabled_or_deleted_channel_revokes_its_clients() {
        let cases = [
            ("channel.remove", "deleted", Effect::Revoke),
            ("channel.remove", "disabled", Effect::Revoke),
            ("channel.update", "enabled", Effect::Refresh),
        ];
        assert_changes("ch", Targets::Channel("ch".into()), &cases);
    }

    #[test]
    fn a_domain_status_reaches_its_clients() {
        let cases = [
            ("domain.disable", "disabled", Effect::Revoke),
            ("domain.freeze", "freezed", Effect::Revoke),
            ("domain.enable", "enabled", Effect::Refresh),
        ];
        assert_changes("d1", Targets::Domain("d1".into()), &cases);
        let ev = json!({"operation": "domain.unassign", "domain_id": "d1", "user_ids": ["u"]});
        assert_eq!(change(ev), None, "members are users, not devices");
    }

    #[test]
    fn reads_creations_and_other_services_change_nothing() {
        for ev in [
            json!({"operation": "client.view", "id": "c1"}),
            json!({"operation": "client.create", "id": "c1", "status": "enabled"}),
            json!({"operation": "channel.list", "total": 3}),
            json!({"operation": "group.remove", "id": "g", "status": "disabled"}),
            json!({"operation": "user.remove", "id": "u", "status": "disabled"}),
            json!({"client_id": "c1", "event_type": "disconnect"}),
        ] {
            assert_eq!(change(ev.clone()), None, "{ev}");
        }
    }

    #[test]
    fn an_event_without_its_ids_changes_nothing() {
        assert_eq!(
            change(json!({"operation": "client.remove", "status": "disabled"})),
            None
        );
        assert_eq!(change(json!({"operation": "channel.disconnect"})), None);
    }
}
