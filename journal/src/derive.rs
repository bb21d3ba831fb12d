//! From an outbox row to what the journal stores: the entry (split as SuperMQ's journal
//! consumer splits an event: `operation`, `occurred_at`, `metadata`, and the rest as
//! `attributes`), the entities whose journals list it, and what it changes in a client's
//! telemetry. Pure functions, so every rule is tested without a database.
//!
//! - Magistrala's `mqtt` events have no `operation`; the journal names them as SuperMQ's
//!   MQTT adapter does: `mqtt.client_connect` / `mqtt.client_disconnect`.
//! - `kaa` rows are Kaa re-encodings of changes already journalled (and Avro-bound), so
//!   they are skipped; so are MQTT rows without a tenant (`--auth none`: no platform
//!   client, no journal route could ever show them, and a busy open broker would grow
//!   the table for nobody). Events that name no client, channel, group or user
//!   (`client.list`, `user.issue_token`, ...) are skipped too: no journal lists them.

use serde_json::{Map, Value};

use crate::model::{EntityType, Entry};
use magnetite_events::model::mqtt::{SubscriptionChange, ACTIVITY_STREAM, TRAFFIC_OPERATION};
use magnetite_events::OutboxRow;

/// Everything one outbox row gives the journal.
#[derive(Debug, Clone, PartialEq)]
pub struct Derived {
    pub entry: Entry,
    /// The journals that list it, without duplicates.
    pub entities: Vec<(EntityType, String)>,
    pub telemetry: Option<TelemetryChange>,
}

/// What an MQTT adapter event changes in its client's telemetry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelemetryChange {
    pub client_id: String,
    pub domain_id: String,
    /// When it happened (Unix ns): first / last seen.
    pub at: i64,
    pub kind: Change,
}

/// The kinds of [`TelemetryChange`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Connected or disconnected: only seen.
    Seen,
    /// A session (`subscriber`, its MQTT client id) holds `topic` now.
    Subscribed { subscriber: String, topic: String },
    /// A session dropped `topic`.
    Unsubscribed { subscriber: String, topic: String },
    /// A session ended having carried these PUBLISHes; its subscriptions end with it.
    SessionEnded {
        subscriber: String,
        inbound: i64,
        outbound: i64,
    },
}

/// Single-id fields naming an entity an event is about (`gateway_id`: the gateway
/// serving the device of an `mqtt.endpoint_*` event).
const SUBJECT_FIELDS: [(&str, EntityType); 5] = [
    ("client_id", EntityType::Client),
    ("gateway_id", EntityType::Client),
    ("channel_id", EntityType::Channel),
    ("group_id", EntityType::Group),
    ("user_id", EntityType::User),
];
/// Id-list fields naming entities (connections, domain membership).
const SUBJECT_LISTS: [(&str, EntityType); 4] = [
    ("client_ids", EntityType::Client),
    ("channel_ids", EntityType::Channel),
    ("group_ids", EntityType::Group),
    ("user_ids", EntityType::User),
];

/// What `row` (with its outbox `domain`) gives the journal; `None` for rows it skips.
pub fn derive(row: &OutboxRow, domain: Option<&str>) -> Option<Derived> {
    let mqtt = row.stream == "mqtt" || row.stream == ACTIVITY_STREAM;
    if row.stream == magnetite_events::kaa::STREAM || (mqtt && domain.is_none()) {
        return None;
    }
    let Ok(Value::Object(mut fields)) = serde_json::from_str::<Value>(&row.payload) else {
        return None;
    };
    let operation = operation(&row.stream, &mut fields)?;
    let occurred_at = match fields.remove("occurred_at") {
        Some(v) => v.as_i64().unwrap_or(row.created_at),
        None => row.created_at,
    };
    let metadata = take_metadata(&mut fields);
    let entities = entities(&operation, &fields);
    if entities.is_empty() {
        return None;
    }
    let telemetry = domain
        .filter(|_| mqtt)
        .and_then(|d| telemetry(&operation, &fields, d, occurred_at));
    let entry = Entry {
        id: row.id,
        operation,
        occurred_at,
        domain: domain.map(str::to_string),
        attributes: fields,
        metadata,
    };
    Some(Derived {
        entry,
        entities,
        telemetry,
    })
}

/// The event's operation (taken out of the fields), or the SuperMQ name of a
/// Magistrala MQTT event.
fn operation(stream: &str, fields: &mut Map<String, Value>) -> Option<String> {
    if stream == "mqtt" {
        let kind = fields.get("event_type").and_then(Value::as_str)?;
        return match kind {
            "connect" | "disconnect" => Some(format!("mqtt.client_{kind}")),
            _ => None,
        };
    }
    match fields.remove("operation") {
        Some(Value::String(op)) if !op.is_empty() => Some(op),
        _ => None,
    }
}

/// The `metadata` object, taken out of the fields (also when stored as its JSON text);
/// a value that is no object stays an attribute.
fn take_metadata(fields: &mut Map<String, Value>) -> Map<String, Value> {
    let parsed = match fields.get("metadata") {
        Some(Value::Object(m)) => Some(m.clone()),
        Some(Value::String(text)) => match serde_json::from_str(text) {
            Ok(Value::Object(m)) => Some(m),
            _ => None,
        },
        _ => None,
    };
    match parsed {
        Some(m) => {
            fields.remove("metadata");
            m
        }
        None => Map::new(),
    }
}

/// The entities whose journals list an event: the one its operation is about
/// (`client.update` -> client `id`) and every client, channel, group and user it names.
pub fn entities(operation: &str, fields: &Map<String, Value>) -> Vec<(EntityType, String)> {
    let mut out: Vec<(EntityType, String)> = Vec::new();
    let mut push = |kind: EntityType, v: &Value| {
        if let Some(id) = v.as_str().filter(|s| !s.is_empty()) {
            if !out.iter().any(|(k, o)| *k == kind && o == id) {
                out.push((kind, id.to_string()));
            }
        }
    };
    let own = match operation.split_once('.').map(|(kind, _)| kind) {
        Some("client") => Some(EntityType::Client),
        Some("channel") => Some(EntityType::Channel),
        Some("group") => Some(EntityType::Group),
        Some("user") => Some(EntityType::User),
        _ => None,
    };
    if let (Some(kind), Some(id)) = (own, fields.get("id")) {
        push(kind, id);
    }
    for (field, kind) in SUBJECT_FIELDS {
        if let Some(v) = fields.get(field) {
            push(kind, v);
        }
    }
    for (field, kind) in SUBJECT_LISTS {
        if let Some(Value::Array(items)) = fields.get(field) {
            items.iter().for_each(|v| push(kind, v));
        }
    }
    out
}

/// What an MQTT adapter event of a tenant's client changes in its telemetry.
fn telemetry(
    operation: &str,
    fields: &Map<String, Value>,
    domain: &str,
    at: i64,
) -> Option<TelemetryChange> {
    let text = |k: &str| fields.get(k).and_then(Value::as_str).map(str::to_string);
    let count = |k: &str| fields.get(k).and_then(Value::as_i64).unwrap_or(0).max(0);
    let subscription =
        || -> Option<(String, String)> { Some((text("subscriber_id")?, text("topic")?)) };
    let kind = match operation {
        "mqtt.client_connect" | "mqtt.client_disconnect" => Change::Seen,
        op if op == SubscriptionChange::Subscribe.operation() => {
            let (subscriber, topic) = subscription()?;
            Change::Subscribed { subscriber, topic }
        }
        op if op == SubscriptionChange::Unsubscribe.operation() => {
            let (subscriber, topic) = subscription()?;
            Change::Unsubscribed { subscriber, topic }
        }
        TRAFFIC_OPERATION => Change::SessionEnded {
            subscriber: text("subscriber_id")?,
            inbound: count("inbound_messages"),
            outbound: count("outbound_messages"),
        },
        _ => return None,
    };
    Some(TelemetryChange {
        client_id: text("client_id")?,
        domain_id: domain.to_string(),
        at,
        kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(stream: &str, payload: Value) -> OutboxRow {
        OutboxRow {
            id: 7,
            stream: stream.into(),
            payload: payload.to_string(),
            created_at: 5,
            instance: None,
            domain: None,
        }
    }

    #[test]
    fn an_event_is_split_as_supermq_splits_it() {
        let payload = json!({"operation": "client.update", "occurred_at": 42, "id": "c1",
            "name": "n", "metadata": "{\"k\":1}"});
        let d = derive(&row("clients", payload), Some("d1")).unwrap();
        assert_eq!(d.entry.operation, "client.update");
        assert_eq!(d.entry.occurred_at, 42);
        assert_eq!(
            d.entry.metadata,
            json!({"k": 1}).as_object().cloned().unwrap()
        );
        assert_eq!(
            d.entry.attributes,
            json!({"id": "c1", "name": "n"})
                .as_object()
                .cloned()
                .unwrap()
        );
        assert_eq!(d.entry.domain.as_deref(), Some("d1"));
        assert_eq!(d.entities, vec![(EntityType::Client, "c1".to_string())]);
        assert_eq!(d.telemetry, None);
    }

    #[test]
    fn connections_are_in_the_journal_of_every_client_and_channel() {
        let payload = json!({"operation": "channel.connect", "occurred_at": 1,
            "channel_ids": ["ch1"], "client_ids": ["c1", "c2"], "types": ["publish"]});
        let d = derive(&row("clients", payload), Some("d1")).unwrap();
        assert_eq!(
            d.entities,
            vec![
                (EntityType::Client, "c1".to_string()),
                (EntityType::Client, "c2".to_string()),
                (EntityType::Channel, "ch1".to_string()),
            ]
        );
    }

    #[test]
    fn magistrala_mqtt_events_get_supermq_operations_and_mark_the_client_seen() {
        let payload = json!({"client_id": "c1", "event_type": "disconnect", "instance": "i",
            "occurred_at": 9});
        let d = derive(&row("mqtt", payload), Some("d1")).unwrap();
        assert_eq!(d.entry.operation, "mqtt.client_disconnect");
        assert_eq!(d.entities, vec![(EntityType::Client, "c1".to_string())]);
        let t = d.telemetry.unwrap();
        assert_eq!(
            (t.client_id.as_str(), t.at, t.kind),
            ("c1", 9, Change::Seen)
        );
    }

    #[test]
    fn session_activity_changes_telemetry() {
        let sub = json!({"operation": "mqtt.client_subscribe", "occurred_at": 3,
            "client_id": "c1", "subscriber_id": "s", "topic": "m/d1/c/ch/#", "channel_id": "ch"});
        let d = derive(&row(ACTIVITY_STREAM, sub), Some("d1")).unwrap();
        assert!(d
            .entities
            .contains(&(EntityType::Channel, "ch".to_string())));
        assert_eq!(
            d.telemetry.unwrap().kind,
            Change::Subscribed {
                subscriber: "s".into(),
                topic: "m/d1/c/ch/#".into()
            }
        );
        let end = json!({"operation": "mqtt.client_traffic", "occurred_at": 4, "client_id": "c1",
            "subscriber_id": "s", "inbound_messages": 5, "outbound_messages": 6});
        let d = derive(&row(ACTIVITY_STREAM, end), Some("d1")).unwrap();
        assert_eq!(
            d.telemetry.unwrap().kind,
            Change::SessionEnded {
                subscriber: "s".into(),
                inbound: 5,
                outbound: 6
            }
        );
    }

    #[test]
    fn a_device_behind_a_gateway_is_in_both_journals_and_no_telemetry() {
        let declare = json!({"operation": "mqtt.endpoint_declare", "occurred_at": 3,
            "client_id": "dev", "gateway_id": "gw", "subscriber_id": "edge-1", "instance": "i"});
        let d = derive(&row(ACTIVITY_STREAM, declare), Some("d1")).unwrap();
        assert_eq!(d.entry.operation, "mqtt.endpoint_declare");
        assert_eq!(
            d.entities,
            vec![
                (EntityType::Client, "dev".to_string()),
                (EntityType::Client, "gw".to_string()),
            ]
        );
        assert_eq!(
            d.telemetry, None,
            "serving a device is no sign of life of it"
        );
    }

    #[test]
    fn skipped_rows() {
        let open = json!({"client_id": "any", "event_type": "connect", "occurred_at": 1});
        assert_eq!(
            derive(&row("mqtt", open), None),
            None,
            "--auth none: no tenant"
        );
        let kaa = json!({"operation": "x", "occurred_at": 1});
        assert_eq!(derive(&row("kaa", kaa), Some("d")), None);
        assert_eq!(
            derive(&row("clients", json!("not an object")), Some("d")),
            None
        );
        let no_op = json!({"occurred_at": 1, "id": "c"});
        assert_eq!(derive(&row("clients", no_op), Some("d")), None);
        let list = json!({"operation": "client.list", "occurred_at": 1, "total": 3});
        assert_eq!(
            derive(&row("clients", list), Some("d")),
            None,
            "names no entity"
        );
    }

    #[test]
    fn a_platform_event_without_domain_is_kept() {
        let payload = json!({"operation": "user.create", "occurred_at": 1, "id": "u1"});
        let d = derive(&row("users", payload), None).unwrap();
        assert_eq!(d.entities, vec![(EntityType::User, "u1".to_string())]);
        assert_eq!(d.entry.domain, None);
    }
}
