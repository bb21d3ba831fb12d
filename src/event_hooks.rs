//! MQTT connect/disconnect events for any hook set: wraps the hooks in use and records
//! each session start and end (the platform client id when authenticated as one, else
//! the MQTT client id; this instance) through the
//! events crate's batching writer, which never blocks a connection. Also each granted
//! or dropped subscription, and, when a session that published or received anything
//! ends, its message counts (the engine counts them per connection; one event per
//! session, never one per message): the journal's telemetry comes from these.
//! Session starts and ends also go, under the same id, to the gateway bridges' device
//! door ([`BridgeLink::device_connected`]) once one is installed; ends caused by this
//! instance's shutdown do not (the links go down with it).

use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};

use magnetite_broker::{
    AuthDecision, BridgeLink, ConnectInfo, DisconnectReason, FilterVerdict, Hooks, TopicVerdict,
    Traffic, V3PublishRefusal,
};
use magnetite_events::{MqttEventType, MqttWriter, SubscriptionChange};

/// Which id an MQTT event names: the authenticated platform client when there is one
/// (devices choose their MQTT client id freely), else the MQTT client id.
/// The domain is the tenant whose `GET /events` shows the event (none without platform
/// auth, where only the open log of `--auth none` reads it).
pub trait EventClientId {
    fn event_client_id<'a>(&'a self, mqtt_client_id: &'a str) -> &'a str;
    fn event_domain(&self) -> Option<&str> {
        None
    }
}

impl EventClientId for () {
    fn event_client_id<'a>(&'a self, mqtt_client_id: &'a str) -> &'a str {
        mqtt_client_id
    }
}

/// `--auth none` with an ACL: the identity is the username; events keep the MQTT id.
impl EventClientId for Option<String> {
    fn event_client_id<'a>(&'a self, mqtt_client_id: &'a str) -> &'a str {
        mqtt_client_id
    }
}

impl EventClientId for magnetite_auth::MqttIdentity {
    fn event_client_id<'a>(&'a self, _: &'a str) -> &'a str {
        &self.client_id
    }
    fn event_domain(&self) -> Option<&str> {
        Some(&*self.domain_id)
    }
}

pub struct WithEvents<H> {
    inner: H,
    /// Taken at shutdown so the writer can flush and stop.
    writer: Mutex<Option<MqttWriter>>,
    /// Told every session start and end (bridges with `declare=true`).
    bridge: OnceLock<Arc<dyn BridgeLink>>,
}

impl<H> WithEvents<H> {
    pub fn new(inner: H, writer: MqttWriter) -> WithEvents<H> {
        WithEvents {
            inner,
            writer: Mutex::new(Some(writer)),
            bridge: OnceLock::new(),
        }
    }

    /// Tells `bridge` of every session start and end from now on, by the id the
    /// events name; false when one is installed already.
    pub fn set_bridge(&self, bridge: Arc<dyn BridgeLink>) -> bool {
        self.bridge.set(bridge).is_ok()
    }

    /// The wrapped hooks.
    pub fn inner(&self) -> &H {
        &self.inner
    }

    /// Stops recording; the writer's task then writes what it holds and ends.
    pub fn close_events(&self) {
        if let Ok(mut writer) = self.writer.lock() {
            writer.take();
        }
    }

    /// Hands the writer to `write` unless recording has stopped.
    fn with_writer(&self, write: impl FnOnce(&MqttWriter)) {
        if let Ok(writer) = self.writer.lock() {
            if let Some(writer) = writer.as_ref() {
                write(writer);
            }
        }
    }

    /// A gateway bridge's own upstream link came up or went down: an MQTT event naming
    /// `$bridge/<name>` (no domain: the operator's; never a device id).
    pub fn record_bridge(&self, bridge: &str, kind: MqttEventType) {
        self.record(&format!("$bridge/{bridge}"), None, kind);
    }

    /// `event_client_id`: the id the event names ([`EventClientId`]).
    fn record(&self, event_client_id: &str, domain: Option<&str>, kind: MqttEventType) {
        self.with_writer(|w| w.record(event_client_id, domain, kind));
    }

    fn record_subscription<I: EventClientId>(
        &self,
        identity: &I,
        mqtt_client_id: &str,
        change: SubscriptionChange,
        filter: &str,
    ) {
        let client = identity.event_client_id(mqtt_client_id);
        let domain = identity.event_domain();
        self.with_writer(|w| w.record_subscription(client, mqtt_client_id, domain, change, filter));
    }
}

impl<H: Hooks> Hooks for WithEvents<H>
where
    H::Identity: EventClientId,
{
    type Identity = H::Identity;

    fn authenticate(
        &self,
        info: ConnectInfo<'_>,
    ) -> impl Future<Output = AuthDecision<Self::Identity>> + Send {
        self.inner.authenticate(info)
    }

    fn authorize_publish(
        &self,
        identity: &Self::Identity,
        mqtt_client_id: &str,
        topic: &str,
    ) -> impl Future<Output = TopicVerdict> + Send {
        self.inner
            .authorize_publish(identity, mqtt_client_id, topic)
    }

    fn authorize_subscribe(
        &self,
        identity: &Self::Identity,
        mqtt_client_id: &str,
        filter: &str,
    ) -> impl Future<Output = FilterVerdict> + Send {
        self.inner
            .authorize_subscribe(identity, mqtt_client_id, filter)
    }

    fn session_namespace<'a>(&self, identity: &'a Self::Identity) -> &'a str {
        self.inner.session_namespace(identity)
    }

    fn subscribe_refusal_code(&self) -> u8 {
        self.inner.subscribe_refusal_code()
    }

    fn v3_publish_refusal(&self) -> V3PublishRefusal {
        self.inner.v3_publish_refusal()
    }

    fn on_connect(&self, identity: &Self::Identity, mqtt_client_id: &str) {
        self.inner.on_connect(identity, mqtt_client_id);
        let client = identity.event_client_id(mqtt_client_id);
        if let Some(bridge) = self.bridge.get() {
            bridge.device_connected(client);
        }
        self.record(client, identity.event_domain(), MqttEventType::Connect);
    }

    fn on_disconnect(
        &self,
        identity: &Self::Identity,
        mqtt_client_id: &str,
        reason: DisconnectReason,
        traffic: Traffic,
    ) {
        self.inner
            .on_disconnect(identity, mqtt_client_id, reason, traffic);
        let client = identity.event_client_id(mqtt_client_id);
        let domain = identity.event_domain();
        if !traffic.is_empty() {
            let (inbound, outbound) = (traffic.inbound, traffic.outbound);
            self.with_writer(|w| {
                w.record_traffic(client, mqtt_client_id, domain, inbound, outbound)
            });
        }
        // Not at shutdown: the instance going down takes the bridges' links down, and
        // the central reports every device then, in one disconnect of the gateway; an
        // undeclaration per device on the way out would split it.
        if let Some(bridge) = self.bridge.get() {
            if reason != DisconnectReason::ServerShutdown {
                bridge.device_disconnected(client);
            }
        }
        self.record(client, domain, MqttEventType::Disconnect);
    }

    fn on_subscribe(&self, identity: &Self::Identity, mqtt_client_id: &str, filter: &str) {
        self.inner.on_subscribe(identity, mqtt_client_id, filter);
        self.record_subscription(
            identity,
            mqtt_client_id,
            SubscriptionChange::Subscribe,
            filter,
        );
    }

    fn on_unsubscribe(&self, identity: &Self::Identity, mqtt_client_id: &str, filter: &str) {
        self.inner.on_unsubscribe(identity, mqtt_client_id, filter);
        let change = SubscriptionChange::Unsubscribe;
        self.record_subscription(identity, mqtt_client_id, change, filter);
    }
}
