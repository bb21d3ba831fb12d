//! Kaa connectivity events (`--kaa-events`): wraps the platform hooks, tracks which
//! endpoints each connection serves (auth's declaration door,
//! `magnetite_auth::mqtt::endpoints`) and records connectivity connected /
//! disconnected through the MQTT event writer, which never blocks a connection.
//!
//! Connected is published when a session starts (its own client, plus any device a will
//! declared at CONNECT) and then once per newly declared device, as RFC 9 has it ("when
//! endpoint opens a communication session"); disconnected once per connection, listing
//! every endpoint it served. A declaration PUBLISH is routed to
//! [`DECLARATIONS_ROUTED_AS`], a topic no platform client may subscribe to.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use magnetite_auth::mqtt::endpoints::{declared_id, Precheck, Refusal, ServedEndpoints};
use magnetite_auth::{MqttGate, MqttIdentity};
use magnetite_broker::{
    AuthDecision, ByteString, ConnectInfo, DisconnectReason, FilterVerdict, Hooks, TopicVerdict,
    Traffic, V3PublishRefusal,
};
use magnetite_events::kaa::{KaaOrigin, KaaRecord};
use magnetite_events::MqttWriter;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::MetricType;

use crate::event_hooks::EventClientId;

/// Where accepted and ignored declarations are routed (no subscriber can match it).
pub const DECLARATIONS_ROUTED_AS: &str = "$magnetite/endpoints";

/// An accepted session with, when Kaa events are on, the endpoints it serves.
pub struct KaaSession {
    pub identity: MqttIdentity,
    /// Boxed: a connection without Kaa events pays one pointer, not the map.
    served: Option<Box<Mutex<ServedEndpoints>>>,
}

impl EventClientId for KaaSession {
    fn event_client_id<'a>(&'a self, mqtt_client_id: &'a str) -> &'a str {
        self.identity.event_client_id(mqtt_client_id)
    }
    fn event_domain(&self) -> Option<&str> {
        self.identity.event_domain()
    }
}

/// What the wrapper needs when Kaa events are on.
struct KaaMqtt {
    origin: KaaOrigin,
    /// Taken at shutdown so the writer can flush and stop.
    writer: Mutex<Option<MqttWriter>>,
    refused: Arc<AtomicU64>,
}

pub struct WithKaa<H> {
    inner: H,
    gate: MqttGate,
    kaa: Option<KaaMqtt>,
}

impl<H> WithKaa<H> {
    /// `origin` is `None` when Kaa events are off: then every call goes straight through.
    pub fn new(inner: H, gate: MqttGate, origin: Option<KaaOrigin>, writer: MqttWriter) -> Self {
        let kaa = origin.map(|origin| KaaMqtt {
            origin,
            writer: Mutex::new(Some(writer)),
            refused: Arc::default(),
        });
        WithKaa { inner, gate, kaa }
    }

    /// Stops recording (at shutdown, after every session's disconnect ran).
    pub fn close_events(&self) {
        if let Some(mut writer) = self.kaa.as_ref().and_then(|k| k.writer.lock().ok()) {
            writer.take();
        }
    }

    /// `magnetite_kaa_declarations_ignored_total` for `/metrics`.
    pub fn collector(&self) -> Option<IgnoredDeclarations> {
        self.kaa
            .as_ref()
            .map(|k| IgnoredDeclarations(Arc::clone(&k.refused)))
    }

    fn record(&self, identity: &MqttIdentity, record: KaaRecord) {
        let Some(kaa) = &self.kaa else { return };
        let event = kaa.origin.event(record);
        if let Ok(writer) = kaa.writer.lock() {
            if let Some(writer) = writer.as_ref() {
                writer.record_event(event.into_outbox_event(Some(&identity.domain_id)));
            }
        }
    }

    /// Handles a declaration PUBLISH of `session` (see the auth door for the rules).
    async fn declare(&self, session: &KaaSession, endpoint_id: &str) {
        let Some(served) = &session.served else {
            return;
        };
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
                    self.record(&session.identity, KaaRecord::Connected { endpoints });
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
        if let Some(kaa) = &self.kaa {
            kaa.refused.fetch_add(1, Ordering::Relaxed);
        }
        let shown: String = endpoint_id.chars().take(64).collect();
        if first {
            tracing::warn!(gateway = %gateway.client_id, endpoint = %shown, reason = why.as_str(), "kaa: endpoint declaration ignored");
        } else {
            tracing::debug!(gateway = %gateway.client_id, endpoint = %shown, reason = why.as_str(), "kaa: endpoint declaration ignored");
        }
    }
}

impl<H: Hooks<Identity = MqttIdentity>> Hooks for WithKaa<H> {
    type Identity = KaaSession;

    async fn authenticate(&self, info: ConnectInfo<'_>) -> AuthDecision<KaaSession> {
        let identity = match self.inner.authenticate(info).await {
            AuthDecision::Allow(identity) => identity,
            AuthDecision::Refuse(refusal) => return AuthDecision::Refuse(refusal),
        };
        let served = match &self.kaa {
            Some(_) => self
                .gate
                .served_endpoints(&identity)
                .await
                .map(|served| Box::new(Mutex::new(served))),
            None => None,
        };
        AuthDecision::Allow(KaaSession { identity, served })
    }

    async fn authorize_publish(
        &self,
        session: &KaaSession,
        mqtt_client_id: &str,
        topic: &str,
    ) -> TopicVerdict {
        match declared_id(topic).filter(|_| session.served.is_some()) {
            Some(endpoint_id) => {
                self.declare(session, endpoint_id).await;
                TopicVerdict::AllowAs(ByteString::from_static(DECLARATIONS_ROUTED_AS))
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
        session: &KaaSession,
        mqtt_client_id: &str,
        filter: &str,
    ) -> impl Future<Output = FilterVerdict> + Send {
        self.inner
            .authorize_subscribe(&session.identity, mqtt_client_id, filter)
    }

    fn session_namespace<'a>(&self, session: &'a KaaSession) -> &'a str {
        self.inner.session_namespace(&session.identity)
    }

    fn subscribe_refusal_code(&self) -> u8 {
        self.inner.subscribe_refusal_code()
    }

    fn v3_publish_refusal(&self) -> V3PublishRefusal {
        self.inner.v3_publish_refusal()
    }

    fn on_subscribe(&self, session: &KaaSession, mqtt_client_id: &str, filter: &str) {
        self.inner
            .on_subscribe(&session.identity, mqtt_client_id, filter);
    }

    fn on_unsubscribe(&self, session: &KaaSession, mqtt_client_id: &str, filter: &str) {
        self.inner
            .on_unsubscribe(&session.identity, mqtt_client_id, filter);
    }

    fn on_connect(&self, session: &KaaSession, mqtt_client_id: &str) {
        self.inner.on_connect(&session.identity, mqtt_client_id);
        if let Some(endpoints) = served_now(session, ServedEndpoints::connected) {
            self.record(&session.identity, KaaRecord::Connected { endpoints });
        }
    }

    fn on_disconnect(
        &self,
        session: &KaaSession,
        mqtt_client_id: &str,
        reason: DisconnectReason,
        traffic: Traffic,
    ) {
        self.inner
            .on_disconnect(&session.identity, mqtt_client_id, reason, traffic);
        if let Some(endpoints) = served_now(session, ServedEndpoints::disconnected) {
            self.record(&session.identity, KaaRecord::Disconnected { endpoints });
        }
    }
}

/// Applies a session transition to what `session` serves, when Kaa events track it.
fn served_now(
    session: &KaaSession,
    transition: fn(&mut ServedEndpoints) -> BTreeMap<String, String>,
) -> Option<BTreeMap<String, String>> {
    let mut served = session.served.as_ref()?.lock().ok()?;
    let endpoints = transition(&mut served);
    (!endpoints.is_empty()).then_some(endpoints)
}

/// Declarations ignored (not a gateway, unknown or foreign id, limit), for `/metrics`.
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
            "Gateway endpoint declarations ignored (not a gateway, unknown or foreign client, limit).",
            None,
            MetricType::Counter,
        )?)
    }
}
