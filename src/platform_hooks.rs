//! The engine's `Hooks` for `--auth platform`: auth decides (logins, topic routes,
//! which sessions a client has), this adapter turns its decisions into the broker's
//! verdicts. It is the one place that knows both crates, so auth does not depend on the
//! broker (as `event_hooks.rs` wraps any hooks with MQTT events).

use std::sync::Arc;

use magnetite_auth::mqtt::{
    LoginRefusal, MqttGate, MqttIdentity, MqttLogin, PublishRoute, ShownPrefix, SubscribeRoute,
};
use magnetite_auth::platform::SessionEnder;
use magnetite_broker::{
    AuthDecision, BrokerHandle, ByteString, ConnectInfo, ConnectRefusal, DisconnectReason,
    FilterVerdict, Hooks, Presentation, TopicVerdict, Traffic,
};

#[derive(Clone)]
pub struct PlatformHooks {
    gate: MqttGate,
}

impl PlatformHooks {
    pub fn new(gate: MqttGate) -> Self {
        PlatformHooks { gate }
    }
}

impl Hooks for PlatformHooks {
    type Identity = MqttIdentity;

    async fn authenticate(&self, info: ConnectInfo<'_>) -> AuthDecision<MqttIdentity> {
        let login = MqttLogin {
            username: info.username,
            password: info.password,
            peer_ip: info.peer_addr.ip(),
            peer_certificate: info.peer_certificate,
        };
        match self.gate.login(login).await {
            Ok(identity) => AuthDecision::Allow(identity),
            Err(refusal) => AuthDecision::Refuse(connect_refusal(refusal)),
        }
    }

    async fn authorize_publish(
        &self,
        identity: &MqttIdentity,
        _mqtt_client_id: &str,
        topic: &str,
    ) -> TopicVerdict {
        topic_verdict(self.gate.route_publish(identity, topic).await)
    }

    async fn authorize_subscribe(
        &self,
        identity: &MqttIdentity,
        _mqtt_client_id: &str,
        filter: &str,
    ) -> FilterVerdict {
        filter_verdict(self.gate.route_subscribe(identity, filter).await)
    }

    /// The platform client id: globally unique, so a device's MQTT client id (free text
    /// it chooses) can never reach another client's session.
    fn session_namespace<'a>(&self, identity: &'a MqttIdentity) -> &'a str {
        &identity.client_id
    }

    fn on_connect(&self, identity: &MqttIdentity, mqtt_client_id: &str) {
        self.gate.session_started(identity, mqtt_client_id);
    }

    fn on_disconnect(
        &self,
        identity: &MqttIdentity,
        mqtt_client_id: &str,
        _: DisconnectReason,
        _: Traffic,
    ) {
        self.gate.session_ended(identity, mqtt_client_id);
    }
}

/// How auth ends a session on revocation: the broker discards the session named by
/// (namespace = client id, MQTT client id), closing its connection if it has one.
pub fn session_ender(broker: BrokerHandle) -> SessionEnder {
    Arc::new(move |client_id: &str, mqtt_client_id: &str| broker.revoke(client_id, mqtt_client_id))
}

fn connect_refusal(refusal: LoginRefusal) -> ConnectRefusal {
    match refusal {
        LoginRefusal::BadCredentials => ConnectRefusal::BadCredentials,
        LoginRefusal::NotAuthorized => ConnectRefusal::NotAuthorized,
        LoginRefusal::Throttled => ConnectRefusal::Throttled,
    }
}

fn topic_verdict(route: PublishRoute) -> TopicVerdict {
    match route {
        PublishRoute::Refuse => TopicVerdict::Refuse,
        PublishRoute::AsSent => TopicVerdict::Allow,
        PublishRoute::Canonical(topic) => TopicVerdict::AllowAs(ByteString::from(topic)),
    }
}

fn filter_verdict(route: SubscribeRoute) -> FilterVerdict {
    match route {
        SubscribeRoute::Refuse => FilterVerdict::Refuse,
        SubscribeRoute::AsSent => FilterVerdict::Allow,
        SubscribeRoute::Canonical { filter, shown } => FilterVerdict::AllowAs {
            filter: ByteString::from(filter),
            presented: shown.and_then(presentation).map(Arc::new),
        },
    }
}

fn presentation(shown: ShownPrefix) -> Option<Presentation> {
    Presentation::new(
        ByteString::from(shown.canonical),
        ByteString::from(shown.written),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const D1: &str = "11111111-1111-4111-8111-111111111111";
    const CH1: &str = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa";

    /// Moved from auth's routing tests: a subscriber of `channels/telemetry/messages/#`
    /// is shown a delivered canonical topic under the prefix it wrote.
    #[test]
    fn subscribers_are_shown_their_own_form() {
        let route = SubscribeRoute::Canonical {
            filter: format!("m/{D1}/c/{CH1}/#"),
            shown: Some(ShownPrefix {
                canonical: format!("m/{D1}/c/{CH1}"),
                written: "channels/telemetry/messages".into(),
            }),
        };
        let FilterVerdict::AllowAs { filter, presented } = filter_verdict(route) else {
            panic!("refused");
        };
        assert_eq!(&*filter, format!("m/{D1}/c/{CH1}/#"));
        let shown = presented.expect("a presentation");
        let topic = ByteString::from(format!("m/{D1}/c/{CH1}/room/1"));
        assert_eq!(
            &*shown.present(&topic),
            "channels/telemetry/messages/room/1"
        );
    }

    #[test]
    fn auth_routes_map_to_the_same_verdicts() {
        assert_eq!(topic_verdict(PublishRoute::Refuse), TopicVerdict::Refuse);
        assert_eq!(topic_verdict(PublishRoute::AsSent), TopicVerdict::Allow);
        assert_eq!(
            topic_verdict(PublishRoute::Canonical("m/d/c/ch".into())),
            TopicVerdict::AllowAs(ByteString::from("m/d/c/ch"))
        );
        assert_eq!(
            filter_verdict(SubscribeRoute::Refuse),
            FilterVerdict::Refuse
        );
        assert_eq!(filter_verdict(SubscribeRoute::AsSent), FilterVerdict::Allow);
        assert_eq!(
            connect_refusal(LoginRefusal::Throttled),
            ConnectRefusal::Throttled
        );
    }
}
