//! The event model: one [`Event`] per state change (or read) the reference lists.
//!
//! An event is a service (which stream it goes to) and a flat map of fields named exactly
//! as `reference/magistrala-events.txt` names them, including `operation` and
//! `occurred_at` (Unix nanoseconds). The map is the *canonical* form stored in the outbox
//! (`events_outbox.payload`); [`crate::encode`] turns it into the per-transport form
//! (Redis flat strings, NATS/RabbitMQ JSON body) and [`naming`] into SuperMQ names.
//!
//! Canonical value conventions (so that every writer of the outbox agrees):
//! - `metadata`: a JSON object (or the JSON text of one, as a string);
//! - `tags`, `channels`, `actions`, id lists: JSON arrays of strings;
//! - counters (`total`, `offset`, `limit`) and `occurred_at`: JSON numbers;
//! - `state` (bootstrap): a string such as `"0"`, as the reference shows it;
//! - everything else: strings.

pub mod bootstrap;
pub mod clients;
pub mod invitations;
pub mod mqtt;
pub mod naming;
pub mod pats;
pub mod record;
pub mod roles;
pub mod users;

use serde_json::{Map, Value};
use std::time::{SystemTime, UNIX_EPOCH};

pub use record::{Page, Record};

/// The service (= stream) an event belongs to. `as_str` is the outbox `stream` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    /// `users`: users, groups, user-side policies.
    Users,
    /// `clients`: clients, channels, connections (`things` under the SuperMQ prefix).
    Clients,
    /// `bootstrap`: bootstrap configs.
    Bootstrap,
    /// `mqtt`: MQTT adapter connect/disconnect.
    Mqtt,
    /// `mqtt.activity`: what MQTT sessions did besides connecting, in SuperMQ's shape
    /// (`mqtt.client_subscribe`, `mqtt.client_unsubscribe`) plus each session's message
    /// counts (`mqtt.client_traffic`), see [`mqtt`]. A stream of its own so the
    /// `<prefix>.mqtt` stream keeps exactly Magistrala's connect/disconnect events.
    MqttActivity,
    /// `kaa`: Kaa endpoint events ([`crate::kaa`]), shipped only to NATS, as Avro on
    /// their own subjects. Not in [`Service::ALL`]: no Magistrala stream carries them.
    Kaa,
}

impl Service {
    /// Every service, in a stable order.
    pub const ALL: [Service; 4] = [
        Service::Users,
        Service::Clients,
        Service::Bootstrap,
        Service::Mqtt,
    ];

    /// Canonical (Magistrala) service name, as stored in `events_outbox.stream`.
    pub fn as_str(self) -> &'static str {
        match self {
            Service::Users => "users",
            Service::Clients => "clients",
            Service::Bootstrap => "bootstrap",
            Service::Mqtt => "mqtt",
            Service::MqttActivity => mqtt::ACTIVITY_STREAM,
            Service::Kaa => crate::kaa::STREAM,
        }
    }

    /// Parses a canonical service name (also accepts SuperMQ's `things`).
    pub fn parse(s: &str) -> Option<Service> {
        match s {
            "users" => Some(Service::Users),
            "clients" | "things" => Some(Service::Clients),
            "bootstrap" => Some(Service::Bootstrap),
            "mqtt" => Some(Service::Mqtt),
            mqtt::ACTIVITY_STREAM => Some(Service::MqttActivity),
            crate::kaa::STREAM => Some(Service::Kaa),
            _ => None,
        }
    }
}

/// One event: where it goes and its canonical fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Target stream.
    pub service: Service,
    /// Canonical fields, `operation` and `occurred_at` included.
    pub fields: Map<String, Value>,
    /// The domain (tenant) the event is about: who may read it from `GET /events`.
    /// `None` = platform-level (users, tokens): only platform admins read it. Stored in
    /// the outbox row's `domain` column, never in the payload, so sinks see no change.
    pub domain: Option<String>,
    /// The groups above the event's subjects ([`crate::scopes::subjects`]) when it
    /// happened, set by the writer that knows the hierarchy (auth, inside the same
    /// transaction). Stored as indirect rows of `events_scopes`, never in the payload:
    /// a group consumer with subresources sees an event by the membership it had then.
    pub ancestors: Vec<String>,
}

impl Event {
    /// Starts an event with `operation` and `occurred_at` = now.
    pub fn new(service: Service, operation: &str) -> Self {
        Self::at(service, operation, now_ns())
    }

    /// Starts an event with an explicit `occurred_at` (Unix ns); for tests and replays.
    pub fn at(service: Service, operation: &str, occurred_at: i64) -> Self {
        let mut fields = Map::new();
        fields.insert("operation".into(), Value::from(operation));
        fields.insert("occurred_at".into(), Value::from(occurred_at));
        Event {
            service,
            fields,
            domain: None,
            ancestors: Vec::new(),
        }
    }

    /// Sets a field (builder style).
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.fields.insert(key.to_string(), value.into());
        self
    }

    /// Scopes the event to a domain (builder style); see [`Event::domain`].
    pub fn in_domain(mut self, domain_id: &str) -> Self {
        self.domain = Some(domain_id.to_string());
        self
    }

    /// Sets a field only when a value is present: the reference omits unused fields.
    pub fn with_opt<V: Into<Value>>(self, key: &str, value: Option<V>) -> Self {
        match value {
            Some(v) => self.with(key, v),
            None => self,
        }
    }

    /// The `operation` field.
    pub fn operation(&self) -> &str {
        self.fields
            .get("operation")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// The canonical JSON text stored in `events_outbox.payload`: the field map
    /// serialized in place (the same bytes as `Value::Object(fields).to_string()`,
    /// without cloning the map first).
    pub fn payload(&self) -> String {
        // Serializing string keys and JSON values into memory cannot fail.
        serde_json::to_string(&self.fields).unwrap_or_default()
    }

    /// Field names, sorted; what the unit tests compare with the reference.
    pub fn field_names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.fields.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }
}

/// Current time in Unix nanoseconds (the reference's `occurred_at`).
pub fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Turns a list of ids/tags into the canonical JSON array.
pub(crate) fn str_list(items: &[String]) -> Value {
    Value::Array(items.iter().map(|s| Value::from(s.as_str())).collect())
}

#[cfg(test)]
mod tests;
