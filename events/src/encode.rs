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
