//! Per-transport encodings of a canonical event (see [`crate::model`]).
//!
//! They reproduce what Magistrala's Go producers put on the wire:
//! - Redis Streams (go-redis `XADD` of the event map): every value a string; numbers in
//!   decimal, booleans `1`/`0`, `metadata` as its JSON text (`{}`), lists as
//!   `[a,b]` (Go's `fmt.Sprintf("[%s]", strings.Join(..., ","))`).
//! - NATS / RabbitMQ (`json.Marshal` of the same map): a JSON object with sorted keys;
//!   numbers stay numbers, `metadata` is the base64 of its JSON text (Go marshals the
//!   `[]byte` that way: `{}` becomes `e30=`), lists are the same `[a,b]` strings.

use crate::model::naming::Naming;
use base64::Engine;
use serde_json::{Map, Value};

/// Stream names for one prefix.
#[derive(Debug, Clone)]
pub struct Names {
    prefix: String,
    naming: Naming,
}

impl Names {
    /// Names for `prefix` (`magistrala` by default, `supermq` switches naming).
    pub fn new(prefix: &str) -> Self {
        Names {
            prefix: prefix.to_string(),
            naming: Naming::for_prefix(prefix),
        }
    }

    /// The naming scheme.
    pub fn naming(&self) -> Naming {
        self.naming
    }

    /// Redis stream and RabbitMQ stream name: `<prefix>.<service>`.
    pub fn stream(&self, canonical_service: &str) -> String {
        format!("{}.{}", self.prefix, self.naming.service(canonical_service))
    }

    /// NATS subject: `events.<prefix>.<service>`.
    pub fn subject(&self, canonical_service: &str) -> String {
        format!("events.{}", self.stream(canonical_service))
    }

    /// Canonical fields with the prefix's naming applied.
    pub fn renamed(&self, fields: &Map<String, Value>) -> Map<String, Value> {
        let mut f = fields.clone();
        self.naming.apply(&mut f);
        f
    }
}

/// Go-style list rendering: `[a,b,c]`.
fn list_string(items: &[Value]) -> String {
    let parts: Vec<String> = items.iter().map(scalar_string).collect();
    format!("[{}]", parts.join(","))
}

/// A value as go-redis would write it.
fn scalar_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => if *b { "1" } else { "0" }.to_string(),
        Value::Null => String::new(),
        Value::Array(items) => list_string(items),
        Value::Object(_) => v.to_string(),
    }
}

/// The JSON text of a `metadata` value (a string is taken as already-encoded JSON).
fn metadata_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "{}".to_string(),
        other => other.to_string(),
    }
}

/// Redis Streams form: `(field, value)` pairs, all strings.
pub fn redis_fields(fields: &Map<String, Value>) -> Vec<(String, String)> {
    fields
        .iter()
        .map(|(k, v)| {
            let s = if k == "metadata" {
                metadata_text(v)
            } else {
                scalar_string(v)
            };
            (k.clone(), s)
        })
        .collect()
}

/// NATS JetStream / RabbitMQ Streams form: the JSON body.
pub fn json_body(fields: &Map<String, Value>) -> Map<String, Value> {
    fields
        .iter()
        .map(|(k, v)| {
            let out = if k == "metadata" {
                let text = metadata_text(v);
                Value::from(base64::engine::general_purpose::STANDARD.encode(text))
            } else {
                match v {
                    Value::Array(items) => Value::from(list_string(items)),
                    Value::Object(_) => Value::from(v.to_string()),
                    other => other.clone(),
                }
            };
            (k.clone(), out)
        })
        .collect()
}

/// [`json_body`] serialized (keys sorted, as Go's `json.Marshal` of a map).
pub fn json_bytes(fields: &Map<String, Value>) -> Vec<u8> {
    Value::Object(json_body(fields)).to_string().into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::mqtt::{mqtt_event_at, MqttEventType};
    use crate::model::{bootstrap, clients, users, Event, Page, Record, Service};
    use serde_json::json;

    fn profile() -> Event {
        let r = Record {
            id: "97466511-6317-4c98-8d58-7bd78bcaf587".into(),
            name: Some("admin".into()),
            identity: Some("admin@example.com".into()),
            metadata: Some(json!({"role": "admin"})),
            status: Some("enabled".into()),
            created_at: Some("2023-10-05T11:59:02.029606Z".into()),
            ..Default::default()
        };
        let mut e = users::user_view_profile(&r);
        e.fields
            .insert("occurred_at".into(), json!(1696524061363472648_i64));
        e
    }

    #[test]
    fn nats_body_is_byte_identical_to_reference() {
        // reference line: In Nats JetStreams, user.view_profile
        let want = r#"{"created_at":"2023-10-05T11:59:02.029606Z","id":"97466511-6317-4c98-8d58-7bd78bcaf587","identity":"admin@example.com","metadata":"eyJyb2xlIjoiYWRtaW4ifQ==","name":"admin","occurred_at":1696524061363472648,"operation":"user.view_profile","status":"enabled"}"#;
        assert_eq!(
            String::from_utf8(json_bytes(&profile().fields)).unwrap(),
            want
        );
    }

    #[test]
    fn redis_fields_are_strings_as_reference() {
        let f: std::collections::BTreeMap<String, String> =
            redis_fields(&profile().fields).into_iter().collect();
        assert_eq!(f["metadata"], r#"{"role":"admin"}"#);
        assert_eq!(f["occurred_at"], "1696524061363472648");
        assert_eq!(f["operation"], "user.view_profile");
        let list = users::user_list(&Page {
            total: 0,
            offset: 0,
            limit: 10,
            status: Some("enabled".into()),
        });
        let f: std::collections::BTreeMap<String, String> =
            redis_fields(&list.fields).into_iter().collect();
        assert_eq!(
            (
                f["total"].as_str(),
                f["offset"].as_str(),
                f["limit"].as_str()
            ),
            ("0", "0", "10")
        );
        let body = json_body(&list.fields);
        assert_eq!(body["limit"], json!(10));
    }

    #[test]
    fn lists_metadata_and_bools_encode_like_go() {
        let r = Record {
            id: "x".into(),
            metadata: Some(json!({})),
            tags: Some(vec!["a".into(), "b".into()]),
            ..Default::default()
        };
        let e = clients::client_update_tags(&r);
        let red: std::collections::BTreeMap<String, String> =
            redis_fields(&e.fields).into_iter().collect();
        assert_eq!(red["tags"], "[a,b]");
        assert_eq!(red["metadata"], "{}");
        let body = json_body(&e.fields);
        assert_eq!(body["tags"], json!("[a,b]"));
        assert_eq!(body["metadata"], json!("e30="));
        let cfg = bootstrap::Config {
            client_id: "c".into(),
            ..Default::default()
        };
        let boot = bootstrap::client_bootstrap(&cfg, true);
        let red: std::collections::BTreeMap<String, String> =
            redis_fields(&boot.fields).into_iter().collect();
        assert_eq!(red["success"], "1");
        assert_eq!(json_body(&boot.fields)["success"], json!(true));
    }

    #[test]
    fn metadata_given_as_json_text_is_not_double_encoded() {
        let e = Event::new(Service::Users, "user.create").with("metadata", r#"{"a":1}"#);
        let red: std::collections::BTreeMap<String, String> =
            redis_fields(&e.fields).into_iter().collect();
        assert_eq!(red["metadata"], r#"{"a":1}"#);
        assert_eq!(json_body(&e.fields)["metadata"], json!("eyJhIjoxfQ=="));
    }

    #[test]
    fn stream_and_subject_names() {
        let m = Names::new("magistrala");
        assert_eq!(m.stream("users"), "magistrala.users");
        assert_eq!(m.stream("clients"), "magistrala.clients");
        assert_eq!(m.subject("mqtt"), "events.magistrala.mqtt");
        let s = Names::new("supermq");
        assert_eq!(s.stream("clients"), "supermq.things");
        assert_eq!(s.subject("clients"), "events.supermq.things");
        assert_eq!(s.stream("bootstrap"), "supermq.bootstrap");
    }

    #[test]
    fn supermq_renames_clients_to_things() {
        let s = Names::new("supermq");
        let mq = mqtt_event_at("76a5", MqttEventType::Connect, "", 1);
        let f = s.renamed(&mq.fields);
        assert_eq!(f["thing_id"], json!("76a5"));
        assert!(!f.contains_key("client_id"));
        let r = Record {
            id: "x".into(),
            ..Default::default()
        };
        assert_eq!(
            s.renamed(&clients::client_create(&r).fields)["operation"],
            json!("thing.create")
        );
        let p = Page {
            total: 0,
            offset: 0,
            limit: 10,
            status: None,
        };
        let f = s.renamed(&clients::channel_list_by_client(&p, "t").fields);
        assert_eq!(f["operation"], json!("channel.list_by_thing"));
        assert_eq!(f["thing_id"], json!("t"));
        let f = s.renamed(&bootstrap::client_change_state("t", 0).fields);
        assert_eq!(f["operation"], json!("thing.change_state"));
        let f = s.renamed(&bootstrap::cert_update("t", "a", "b", "c").fields);
        assert_eq!(f["thing_key"], json!("t"));
        assert_eq!(f["client_key_sha256"], json!("b"));
        let f =
            s.renamed(&users::policy_authorize(Service::Clients, "client", "o", "m_read").fields);
        assert_eq!(f["entity_type"], json!("thing"));
        // Magistrala naming leaves everything alone.
        let m = Names::new("magistrala");
        assert_eq!(m.renamed(&mq.fields), mq.fields);
    }
}
