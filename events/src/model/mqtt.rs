//! MQTT adapter events (stream `<prefix>.mqtt`): one definition shared by the broker
//! hooks (auth) and the tests, so connect/disconnect rows are written identically.
//!
//! Session activity (stream `<prefix>.mqtt.activity`, [`ACTIVITY_STREAM`]): SuperMQ's
//! MQTT adapter events `mqtt.client_subscribe` (client_id, subscriber_id, domain_id,
//! channel_id, subtopic) and their `mqtt.client_unsubscribe` counterpart, each with the
//! routed `topic` filter and the `instance`; and `mqtt.client_traffic`, the PUBLISH
//! counts of one session written once when it ends (never an event per message). The
//! journal derives a client's telemetry from them.
//!
//! Devices behind a gateway (same stream, our names after SuperMQ's `mqtt.client_*`):
//! `mqtt.endpoint_declare` when a gateway's session starts serving a device and
//! `mqtt.endpoint_undeclare` when it stops (the gateway said the device is gone, or
//! its session ended), each naming the device (`client_id`), the gateway
//! (`gateway_id`), the gateway's session (`subscriber_id`) and the `instance`; the
//! journal lists them under both clients.

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

/// A connect or disconnect as a connection records it: the few values of an
/// [`mqtt_event_at`], without building its field map. The MQTT batching writer queues
/// these (two per connection in a connect storm) and writes [`SessionEvent::payload`]
/// straight from them.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionEvent {
    /// The id the event names (see [`mqtt_event`]).
    pub client_id: String,
    /// Connect or disconnect.
    pub kind: MqttEventType,
    /// `occurred_at` (Unix ns).
    pub at_ns: i64,
    /// The client's domain ([`Event::domain`]); `None` without platform auth.
    pub domain: Option<String>,
    /// The groups above the client when the event is written ([`Event::ancestors`]).
    pub ancestors: Vec<String>,
}

/// The payload of an MQTT event, fields in the canonical (sorted) order of
/// [`Event::payload`]'s map, so both serialize to the same bytes.
#[derive(serde::Serialize)]
struct SessionPayload<'a> {
    client_id: &'a str,
    event_type: &'static str,
    instance: &'a str,
    occurred_at: i64,
}

impl SessionEvent {
    /// `kind` of `client_id` in `domain`, now.
    pub fn now(client_id: &str, domain: Option<&str>, kind: MqttEventType) -> SessionEvent {
        SessionEvent {
            client_id: client_id.to_string(),
            kind,
            at_ns: super::now_ns(),
            domain: domain.map(str::to_string),
            ancestors: Vec::new(),
        }
    }

    /// The canonical JSON text: byte for byte `mqtt_event_at(..).payload()`.
    pub fn payload(&self, instance: &str) -> String {
        let payload = SessionPayload {
            client_id: &self.client_id,
            event_type: self.kind.as_str(),
            instance,
            occurred_at: self.at_ns,
        };
        // Serializing strings and an integer into memory cannot fail.
        serde_json::to_string(&payload).unwrap_or_default()
    }
}

/// The outbox stream of session activity.
pub const ACTIVITY_STREAM: &str = "mqtt.activity";

/// `mqtt.client_subscribe` / `mqtt.client_unsubscribe`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionChange {
    /// A filter was granted.
    Subscribe,
    /// A held filter was dropped.
    Unsubscribe,
}

impl SubscriptionChange {
    /// The `operation` field.
    pub fn operation(self) -> &'static str {
        match self {
            SubscriptionChange::Subscribe => "mqtt.client_subscribe",
            SubscriptionChange::Unsubscribe => "mqtt.client_unsubscribe",
        }
    }
}

/// The `operation` of a session's message counts.
pub const TRAFFIC_OPERATION: &str = "mqtt.client_traffic";

/// How the endpoints a gateway's session serves changed ([`endpoint_event`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointChange {
    /// The gateway declared the device.
    Declared,
    /// The gateway said the device is gone.
    Undeclared,
    /// The gateway's session ended while serving the device.
    GatewayDisconnected,
}

impl EndpointChange {
    /// The `operation` field.
    pub fn operation(self) -> &'static str {
        match self {
            EndpointChange::Declared => "mqtt.endpoint_declare",
            EndpointChange::Undeclared | EndpointChange::GatewayDisconnected => {
                "mqtt.endpoint_undeclare"
            }
        }
    }

    /// The `reason` field of an undeclaration.
    fn reason(self) -> Option<&'static str> {
        match self {
            EndpointChange::Declared => None,
            EndpointChange::Undeclared => Some("undeclared"),
            EndpointChange::GatewayDisconnected => Some("gateway_disconnected"),
        }
    }
}

/// Who did something in an MQTT session: the client the event names (as in
/// [`mqtt_event`]), the MQTT client id of the session (`subscriber_id`, SuperMQ's name)
/// and the broker instance.
#[derive(Debug, Clone, Copy)]
pub struct SessionRef<'a> {
    /// The platform client id (the MQTT client id without platform auth).
    pub client_id: &'a str,
    /// The MQTT client id of the session.
    pub subscriber_id: &'a str,
    /// This broker's instance id.
    pub instance: &'a str,
}

impl SessionRef<'_> {
    fn event(&self, operation: &str) -> Event {
        Event::new(Service::MqttActivity, operation)
            .with("client_id", self.client_id)
            .with("subscriber_id", self.subscriber_id)
            .with("instance", self.instance)
    }
}

/// A subscription change of a session on the routed `filter`. A platform filter
/// (`m/<domain>/c/<channel>[/<subtopic>]`) also gives `domain_id`, `channel_id` and
/// `subtopic` (SuperMQ's fields); any other (`--auth none`) only the `topic`.
pub fn subscription_event(
    session: SessionRef<'_>,
    change: SubscriptionChange,
    filter: &str,
) -> Event {
    let ev = session.event(change.operation()).with("topic", filter);
    match platform_filter(filter) {
        Some((domain, channel, subtopic)) => ev
            .with("domain_id", domain)
            .with("channel_id", channel)
            .with("subtopic", subtopic),
        None => ev,
    }
}

/// The message counts of a session that ended: `inbound_messages` (PUBLISHes the
/// client sent) and `outbound_messages` (PUBLISHes delivered to it).
pub fn traffic_event(session: SessionRef<'_>, inbound: u64, outbound: u64) -> Event {
    session
        .event(TRAFFIC_OPERATION)
        .with("inbound_messages", inbound)
        .with("outbound_messages", outbound)
}

/// A change of the devices the gateway session `gateway` serves: the event names the
/// device as its `client_id` (so consumers and group ancestry follow the device) and
/// the gateway as `gateway_id`.
pub fn endpoint_event(gateway: SessionRef<'_>, change: EndpointChange, device_id: &str) -> Event {
    let ev = SessionRef {
        client_id: device_id,
        ..gateway
    }
    .event(change.operation())
    .with("gateway_id", gateway.client_id);
    match change.reason() {
        Some(reason) => ev.with("reason", reason),
        None => ev,
    }
}

/// `(domain, channel, subtopic)` of a routed platform filter `m/<d>/c/<ch>[/<sub>]`;
/// the subtopic is empty when there is none.
pub fn platform_filter(filter: &str) -> Option<(&str, &str, &str)> {
    let rest = filter.strip_prefix("m/")?;
    let (domain, rest) = rest.split_once("/c/")?;
    let (channel, subtopic) = rest.split_once('/').unwrap_or((rest, ""));
    let plain = |s: &str| !s.is_empty() && !s.contains(['/', '+', '#']);
    (plain(domain) && plain(channel)).then_some((domain, channel, subtopic))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SESSION: SessionRef<'static> = SessionRef {
        client_id: "c1",
        subscriber_id: "sensor-1",
        instance: "node-1",
    };

    #[test]
    fn a_platform_subscription_names_its_channel_as_supermq_does() {
        let ev = subscription_event(SESSION, SubscriptionChange::Subscribe, "m/d1/c/ch1/room/#");
        assert_eq!(ev.service, Service::MqttActivity);
        assert_eq!(ev.operation(), "mqtt.client_subscribe");
        assert_eq!(
            ev.field_names(),
            vec![
                "channel_id",
                "client_id",
                "domain_id",
                "instance",
                "occurred_at",
                "operation",
                "subscriber_id",
                "subtopic",
                "topic"
            ]
        );
        assert_eq!(ev.fields["channel_id"], "ch1");
        assert_eq!(ev.fields["subtopic"], "room/#");
    }

    #[test]
    fn any_other_filter_keeps_only_its_topic() {
        let ev = subscription_event(SESSION, SubscriptionChange::Unsubscribe, "sensors/#");
        assert_eq!(ev.operation(), "mqtt.client_unsubscribe");
        assert!(ev.fields.get("channel_id").is_none());
        assert_eq!(ev.fields["topic"], "sensors/#");
        assert_eq!(platform_filter("m/d/c/+"), None);
        assert_eq!(platform_filter("m/d/c/ch"), Some(("d", "ch", "")));
    }

    #[test]
    fn an_endpoint_event_names_the_device_and_its_gateway() {
        let ev = endpoint_event(SESSION, EndpointChange::Declared, "dev-1");
        assert_eq!(ev.service, Service::MqttActivity);
        assert_eq!(ev.operation(), "mqtt.endpoint_declare");
        assert_eq!(
            ev.field_names(),
            vec![
                "client_id",
                "gateway_id",
                "instance",
                "occurred_at",
                "operation",
                "subscriber_id"
            ]
        );
        assert_eq!(ev.fields["client_id"], "dev-1");
        assert_eq!(ev.fields["gateway_id"], "c1");
        assert_eq!(ev.fields["subscriber_id"], "sensor-1");
        let gone = endpoint_event(SESSION, EndpointChange::Undeclared, "dev-1");
        assert_eq!(gone.operation(), "mqtt.endpoint_undeclare");
        assert_eq!(gone.fields["reason"], "undeclared");
        let left = endpoint_event(SESSION, EndpointChange::GatewayDisconnected, "dev-1");
        assert_eq!(left.operation(), "mqtt.endpoint_undeclare");
        assert_eq!(left.fields["reason"], "gateway_disconnected");
    }

    #[test]
    fn a_session_event_writes_the_bytes_of_its_field_map() {
        for id in ["c1", "quo\"te\\", "caf\u{e9} \u{1f600}\n\u{1}", ""] {
            for kind in [MqttEventType::Connect, MqttEventType::Disconnect] {
                let ev = SessionEvent {
                    client_id: id.to_string(),
                    kind,
                    at_ns: 1_732_000_000_123_456_789,
                    domain: Some("d".into()),
                    ancestors: vec!["g".into()],
                };
                let map = mqtt_event_at(id, kind, "node-\"1", ev.at_ns);
                assert_eq!(ev.payload("node-\"1"), map.payload());
            }
        }
    }

    #[test]
    fn traffic_carries_both_counts() {
        let ev = traffic_event(SESSION, 3, 7);
        assert_eq!(ev.fields["inbound_messages"], 3);
        assert_eq!(ev.fields["outbound_messages"], 7);
        assert_eq!(ev.fields["subscriber_id"], "sensor-1");
    }
}
