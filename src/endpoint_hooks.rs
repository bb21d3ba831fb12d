//! The endpoints each MQTT connection serves (auth's declaration door,
//! `magnetite_auth::mqtt::endpoints`): wraps the platform hooks, takes a gateway's
//! declarations and undeclarations of the devices behind it, and records what changes
//! through the MQTT event writer, which never blocks a connection:
//! - always: `mqtt.endpoint_declare` / `mqtt.endpoint_undeclare` of each device a
//!   gateway's session starts or stops serving (it said the device is gone, or the
//!   session ended), for the journals of the device and of the gateway;
//! - with `--kaa-events`: connectivity connected when a session starts (its own client,
//!   plus any device a will declared at CONNECT) and once per newly declared device, as
//!   RFC 9 has it ("when endpoint opens a communication session"); disconnected once
//!   per undeclared device (the endpoint left) and once per connection, listing every
//!   endpoint it still served.
//!
//! What a connection serves is loaded at CONNECT with Kaa events (its own connected
//! event needs its app version) and otherwise at its first endpoint request, so a
//! device's CONNECT costs no extra read. Endpoint requests are routed to
//! [`ENDPOINTS_ROUTED_AS`], a topic no platform client may subscribe to.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use magnetite_auth::mqtt::endpoints::{EndpointRequest, Precheck, Refusal, ServedEndpoints};
use magnetite_auth::{MqttGate, MqttIdentity};
use magnetite_broker::{
    AuthDecision, ByteString, ConnectInfo, DisconnectReason, FilterVerdict, Hooks, TopicVerdict,
    Traffic, V3PublishRefusal,
};
use magnetite_events::kaa::{KaaOrigin, KaaRecord};
use magnetite_events::{EndpointChange, MqttWriter};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::MetricType;

use crate::event_hooks::EventClientId;

/// Where accepted and ignored endpoint requests are routed (no subscriber can match it).
pub const ENDPOINTS_ROUTED_AS: &str = "$magnetite/endpoints";

/// An accepted session and, once known, the endpoints it serves.
pub struct EndpointSession {
    pub identity: MqttIdentity,
    /// Boxed and set on first use: a connection that never declares pays a pointer.
    served: OnceLock<Box<Mutex<ServedEndpoints>>>,
    /// `on_connect` ran: endpoints loaded later start as connected.
    started: AtomicBool,
}

impl EventClientId for EndpointSession {
    fn event_client_id<'a>(&'a self, mqtt_client_id: &'a str) -> &'a str {
        self.identity.event_client_id(mqtt_client_id)
    }
    fn event_domain(&self) -> Option<&str> {
        self.identity.event_domain()
    }
}

pub struct WithEndpoints<H> {
    inner: H,
    gate: MqttGate,
    /// `None` when Kaa events are off.
    kaa: Option<KaaOrigin>,
    /// Taken at shutdown so the writer can flush and stop.
    writer: Mutex<Option<MqttWriter>>,
    ignored: Arc<AtomicU64>,
}

impl<H> WithEndpoints<H> {
    /// `kaa` is `None` when Kaa events are off (the journal's endpoint events are made
    /// either way).
    pub fn new(inner: H, gate: MqttGate, kaa: Option<KaaOrigin>, writer: MqttWriter) -> Self {
        WithEndpoints {
            inner,
            gate,
            kaa,
            writer: Mutex::new(Some(writer)),
            ignored: Arc::default(),
        }
    }

    /// Stops recording (at shutdown, after every session's disconnect ran).
    pub fn close_events(&self) {
        if let Ok(mut writer) = self.writer.lock() {
            writer.take();
        }
    }

    /// `magnetite_kaa_declarations_ignored_total` for `/metrics`.
    pub fn collector(&self) -> IgnoredDeclarations {
        IgnoredDeclarations(Arc::clone(&self.ignored))
    }

    fn with_writer(&self, write: impl FnOnce(&MqttWriter)) {
        if let Ok(writer) = self.writer.lock() {
            if let Some(writer) = writer.as_ref() {
                write(writer);
            }
        }
    }

    /// Records what a change of the session's endpoints means: the Kaa record (when
    /// Kaa events are on) and one journal event per device (never the gateway itself).
    fn record(
        &self,
        session: &EndpointSession,
        mqtt_client_id: &str,
        change: EndpointChange,
        endpoints: BTreeMap<String, String>,
    ) {
        let identity = &session.identity;
        let devices = endpoints.keys().filter(|id| **id != *identity.client_id);
        self.with_writer(|w| {
            for device in devices {
                let gateway = &*identity.client_id;
                w.record_endpoint(gateway, mqtt_client_id, &identity.domain_id, change, device);
            }
        });
        let Some(origin) = &self.kaa else { return };
        let record = match change {
            EndpointChange::Declared => KaaRecord::Connected { endpoints },
            _ => KaaRecord::Disconnected { endpoints },
        };
        let event = origin
            .event(record)
            .into_outbox_event(Some(&*identity.domain_id));
        self.with_writer(|w| w.record_event(event));
    }

    /// What `session` serves, loaded on first use (`None`: its client cannot be read).
    async fn served<'s>(
        &self,
        session: &'s EndpointSession,
        mqtt_client_id: &str,
    ) -> Option<&'s Mutex<ServedEndpoints>> {
        if let Some(served) = session.served.get() {
            return Some(served);
        }
        let mut loaded = self.gate.served_endpoints(&session.identity).await?;
        if session.started.load(Ordering::Relaxed) {
            // Only the own client, and only when loading at CONNECT failed.
            let own = loaded.connected();
            self.record(session, mqtt_client_id, EndpointChange::Declared, own);
        }
        Some(session.served.get_or_init(|| Box::new(Mutex::new(loaded))))
    }

    /// Handles an endpoint request of `session` (see the auth door for the rules).
    async fn request(
        &self,
        session: &EndpointSession,
        mqtt_client_id: &str,
        request: EndpointRequest<'_>,
    ) {
        let Some(served) = self.served(session, mqtt_client_id).await else {
            let id = match request {
                EndpointRequest::Declare(id) | EndpointRequest::Undeclare(id) => id,
            };
            return self.ignored(&session.identity, id, Refusal::NotAGateway, false);
        };
        match request {
            EndpointRequest::Declare(id) => self.declare(session, mqtt_client_id, served, id).await,
            EndpointRequest::Undeclare(id) => {
                let removed = match served.lock() {
                    Ok(mut served) => served.remove(id),
                    Err(_) => return,
                };
                match removed {
                    Ok(Some(endpoints)) => {
                        let change = EndpointChange::Undeclared;
                        self.record(session, mqtt_client_id, change, endpoints);
                    }
                    Ok(None) => {}
                    // Costs no lookup, so it does not use up the lookup budget.
                    Err(why) => self.ignored(&session.identity, id, why, false),
                }
            }
        }
    }

    async fn declare(
        &self,
        session: &EndpointSession,
        mqtt_client_id: &str,
        served: &Mutex<ServedEndpoints>,
        endpoint_id: &str,
    ) {
        let precheck = match served.lock() {
            Ok(s) => s.precheck(endpoint_id),
            Err(_) => return,
        };
        let looked_up = match precheck {
            Precheck::AlreadyServed => return,
            Precheck::Refused(why) => Err(why),
            Precheck::Lookup => {
                self.gate
                    .declared_endpoint(&session.identity, endpoint_id)
                    .await
            }
        };
        let Ok(mut served) = served.lock() else {
            return;
        };
        match looked_up {
            Ok(version) => {
                if let Some(endpoints) = served.add(endpoint_id, version) {
                    drop(served);
                    let change = EndpointChange::Declared;
                    self.record(session, mqtt_client_id, change, endpoints);
                }
            }
            Err(why) => {
                let first = served.refused();
                drop(served);
                self.ignored(&session.identity, endpoint_id, why, first);
            }
        }
    }

    fn ignored(&self, gateway: &MqttIdentity, endpoint_id: &str, why: Refusal, first: bool) {
        self.ignored.fetch_add(1, Ordering::Relaxed);
        let shown: String = endpoint_id.chars().take(64).collect();
        if first {
            tracing::warn!(gateway = %gateway.client_id, endpoint = %shown, reason = why.as_str(), "endpoint request ignored");
        } else {
            tracing::debug!(gateway = %gateway.client_id, endpoint = %shown, reason = why.as_str(), "endpoint request ignored");
        }
    }
}

impl<H: Hooks<Identity = MqttIdentity>> Hooks for WithEndpoints<H> {
    type Identity = EndpointSession;

    async fn authenticate(&self, info: ConnectInfo<'_>) -> AuthDecision<EndpointSession> {
        let identity = match self.inner.authenticate(info).await {
            AuthDecision::Allow(identity) => identity,
            AuthDecision::Refuse(refusal) => return AuthDecision::Refuse(refusal),
        };
        let served = OnceLock::new();
        if self.kaa.is_some() {
            if let Some(loaded) = self.gate.served_endpoints(&identity).await {
                let _ = served.set(Box::new(Mutex::new(loaded)));
            }
        }
        AuthDecision::Allow(EndpointSession {
            identity,
            served,
            started: AtomicBool::new(false),
        })
    }

    async fn authorize_publish(
        &self,
        session: &EndpointSession,
        mqtt_client_id: &str,
        topic: &str,
    ) -> TopicVerdict {
        match EndpointRequest::parse(topic) {
            Some(request) => {
                self.request(session, mqtt_client_id, request).await;
                TopicVerdict::AllowAs(ByteString::from_static(ENDPOINTS_ROUTED_AS))
            }
            None => {
                self.inner
                    .authorize_publish(&session.identity, mqtt_client_id, topic)
                    .await
            }
        }
    }

    fn authorize_subscribe(
        &self,
        session: &EndpointSession,
        mqtt_client_id: &str,
        filter: &str,
    ) -> impl Future<Output = FilterVerdict> + Send {
        self.inner
            .authorize_subscribe(&session.identity, mqtt_client_id, filter)
    }

    fn session_namespace<'a>(&self, session: &'a EndpointSession) -> &'a str {
        self.inner.session_namespace(&session.identity)
    }

    fn subscribe_refusal_code(&self) -> u8 {
        self.inner.subscribe_refusal_code()
    }

    fn v3_publish_refusal(&self) -> V3PublishRefusal {
        self.inner.v3_publish_refusal()
    }

    fn on_subscribe(&self, session: &EndpointSession, mqtt_client_id: &str, filter: &str) {
        self.inner
            .on_subscribe(&session.identity, mqtt_client_id, filter);
    }

    fn on_unsubscribe(&self, session: &EndpointSession, mqtt_client_id: &str, filter: &str) {
        self.inner
            .on_unsubscribe(&session.identity, mqtt_client_id, filter);
    }

    fn on_connect(&self, session: &EndpointSession, mqtt_client_id: &str) {
        self.inner.on_connect(&session.identity, mqtt_client_id);
        session.started.store(true, Ordering::Relaxed);
        if let Some(endpoints) = served_now(session, ServedEndpoints::connected) {
            self.record(session, mqtt_client_id, EndpointChange::Declared, endpoints);
        }
    }

    fn on_disconnect(
        &self,
        session: &EndpointSession,
        mqtt_client_id: &str,
        reason: DisconnectReason,
        traffic: Traffic,
    ) {
        self.inner
            .on_disconnect(&session.identity, mqtt_client_id, reason, traffic);
        if let Some(endpoints) = served_now(session, ServedEndpoints::disconnected) {
            let change = EndpointChange::GatewayDisconnected;
            self.record(session, mqtt_client_id, change, endpoints);
        }
    }
}

/// Applies a session transition to what `session` serves, once that is known.
fn served_now(
    session: &EndpointSession,
    transition: fn(&mut ServedEndpoints) -> BTreeMap<String, String>,
) -> Option<BTreeMap<String, String>> {
    let mut served = session.served.get()?.lock().ok()?;
    let endpoints = transition(&mut served);
    (!endpoints.is_empty()).then_some(endpoints)
}

/// Endpoint requests ignored (not a gateway, unknown or foreign id, limit, an
/// undeclaration of a device not declared on that connection), for `/metrics`.
pub struct IgnoredDeclarations(Arc<AtomicU64>);

impl fmt::Debug for IgnoredDeclarations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IgnoredDeclarations")
    }
}

impl Collector for IgnoredDeclarations {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let ignored = ConstCounter::new(self.0.load(Ordering::Relaxed));
        ignored.encode(encoder.encode_descriptor(
            "magnetite_kaa_declarations_ignored",
            "Gateway endpoint declarations and undeclarations ignored (not a gateway, unknown or foreign client, limit, not declared on that connection).",
            None,
            MetricType::Counter,
        )?)
    }
}
