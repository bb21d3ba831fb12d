//! MQTT adapter events (stream `<prefix>.mqtt`): one definition shared by the broker
//! hooks (auth) and the tests, so connect/disconnect rows are written identically.

use super::{Event, Service};

/// `event_type` of an MQTT event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MqttEventType {
    /// A client finished CONNECT successfully.
    Connect,
    /// A client's session ended (DISCONNECT, network loss, kick).
    Disconnect,
}

impl MqttEventType {
    /// `connect` / `disconnect`.
    pub fn as_str(self) -> &'static str {
        match self {
            MqttEventType::Connect => "connect",
            MqttEventType::Disconnect => "disconnect",
        }
    }
}

/// The MQTT event: `client_id`, `event_type`, `instance` (this broker's instance id)
/// and `occurred_at` (now). The `client_id` field (its name is the wire format) holds
/// the platform client id when the session authenticated as a platform client (`--auth
/// platform`), else the MQTT client id from CONNECT (`--auth none`); never a password.
///
/// Unlike the service events it has no `operation` field, as the reference shows.
pub fn mqtt_event(client_id: &str, kind: MqttEventType, instance: &str) -> Event {
    mqtt_event_at(client_id, kind, instance, super::now_ns())
}

/// [`mqtt_event`] with an explicit `occurred_at` (the time the broker saw it, when
/// events are written later by a batching writer).
pub fn mqtt_event_at(client_id: &str, kind: MqttEventType, instance: &str, at_ns: i64) -> Event {
    let mut e = Event::at(Service::Mqtt, "", at_ns);
    e.fields.remove("operation");
    e.with("client_id", client_id)
        .with("event_type", kind.as_str())
        .with("instance", instance)
}
