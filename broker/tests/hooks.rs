//! The `Hooks` contract: authentication outcomes map to the right CONNACK codes, the
//! identity travels to every later call, connect/disconnect are reported with a reason,
//! and the platform can kick a live session.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use bytestring::ByteString;
use common::{connect_packet, Client};
use magnetite_broker::protocol::{reason, Packet, ProtocolVersion, QoS, Unsubscribe};
use magnetite_broker::{
    AuthDecision, BrokerConfig, ConnectInfo, ConnectRefusal, DisconnectReason, FilterVerdict,
    Hooks, TopicVerdict, Traffic,
};

/// Accepts password "good" (identity = username), refuses others; only the `own/<user>/#`
/// topics are allowed; records connect/disconnect.
#[derive(Default, Clone)]
struct Recorder {
    events: Arc<Mutex<Vec<String>>>,
    /// Subscription changes (`+filter` / `-filter`) and each session's end counts.
    activity: Arc<Mutex<Vec<String>>>,
    traffic: Arc<Mutex<Vec<Traffic>>>,
}

impl Hooks for Recorder {
    type Identity = String;

    async fn authenticate(&self, info: ConnectInfo<'_>) -> AuthDecision<String> {
        match (info.username, info.password) {
            (Some("banned"), _) => AuthDecision::Refuse(ConnectRefusal::NotAuthorized),
            (Some(user), Some(b"good")) => AuthDecision::Allow(user.to_string()),
            _ => AuthDecision::Refuse(ConnectRefusal::BadCredentials),
        }
    }

    async fn authorize_publish(
        &self,
        user: &String,
        _client_id: &str,
        topic: &str,
    ) -> TopicVerdict {
        topic.starts_with(&format!("own/{user}/")).into()
    }

    async fn authorize_subscribe(
        &self,
        user: &String,
        _client_id: &str,
        filter: &str,
    ) -> FilterVerdict {
        filter.starts_with(&format!("own/{user}/")).into()
    }

    /// Each user's MQTT client ids are their own.
    fn session_namespace<'a>(&self, user: &'a String) -> &'a str {
        user
    }

    fn on_connect(&self, user: &String, client_id: &str) {
        self.events
            .lock()
            .unwrap()
            .push(format!("connect {user} {client_id}"));
    }

    fn on_disconnect(
        &self,
        user: &String,
        client_id: &str,
        reason: DisconnectReason,
        traffic: Traffic,
    ) {
        self.events
            .lock()
            .unwrap()
            .push(format!("disconnect {user} {client_id} {reason:?}"));
        self.traffic.lock().unwrap().push(traffic);
    }

    fn on_subscribe(&self, _: &String, _: &str, filter: &str) {
        self.activity.lock().unwrap().push(format!("+{filter}"));
    }

    fn on_unsubscribe(&self, _: &String, _: &str, filter: &str) {
        self.activity.lock().unwrap().push(format!("-{filter}"));
    }
}

fn login(
    version: ProtocolVersion,
    id: &str,
    user: &str,
    password: &'static [u8],
) -> magnetite_broker::protocol::Connect {
    let mut c = connect_packet(version, id, true);
    c.username = Some(ByteString::from(user));
    c.password = Some(Bytes::from_static(password));
    c
}

fn connack_code(packet: &Packet) -> u8 {
    match packet {
        Packet::ConnAck(a) => a.code,
        other => panic!("expected CONNACK, got {other:?}"),
    }
}

#[tokio::test]
async fn refusals_map_to_version_specific_codes() {
    let b = common::start(BrokerConfig::default(), Recorder::default()).await;
    let cases = [
        (
            ProtocolVersion::V5,
            "alice",
            &b"bad"[..],
            reason::BAD_USERNAME_OR_PASSWORD,
        ),
        (
            ProtocolVersion::V5,
            "banned",
            &b"good"[..],
            reason::NOT_AUTHORIZED,
        ),
        (
            ProtocolVersion::V311,
            "alice",
            &b"bad"[..],
            reason::v3::BAD_USERNAME_OR_PASSWORD,
        ),
        (
            ProtocolVersion::V311,
            "banned",
            &b"x"[..],
            reason::v3::NOT_AUTHORIZED,
        ),
    ];
    for (version, user, password, expected) in cases {
        let password: &'static [u8] = Box::leak(password.to_vec().into_boxed_slice());
        let (mut c, connack) =
            Client::connect_with(b.addr, login(version, "c", user, password)).await;
        assert_eq!(connack_code(&connack), expected, "{version:?} {user}");
        assert!(c.closed_within(Duration::from_secs(2)).await);
    }
}

#[tokio::test]
async fn identity_reaches_authorization_and_events_are_reported() {
    let hooks = Recorder::default();
    let b = common::start(BrokerConfig::default(), hooks.clone()).await;
    let (mut c, connack) = Client::connect_with(
        b.addr,
        login(ProtocolVersion::V5, "dev-1", "alice", b"good"),
    )
    .await;
    assert_eq!(connack_code(&connack), 0);
    assert_eq!(c.subscribe("own/alice/#", QoS::AtLeastOnce).await, vec![1]);
    assert_eq!(
        c.subscribe("own/bob/#", QoS::AtLeastOnce).await,
        vec![reason::NOT_AUTHORIZED]
    );
    c.publish("own/bob/x", b"", QoS::AtLeastOnce, 5).await;
    assert!(matches!(c.recv().await, Some(Packet::PubAck(a)) if a.code == reason::NOT_AUTHORIZED));
    c.disconnect().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let events = hooks.events.lock().unwrap().clone();
    assert_eq!(
        events,
        vec![
            "connect alice dev-1",
            "disconnect alice dev-1 ClientDisconnect"
        ]
    );
}

#[tokio::test]
async fn kick_ends_a_live_session_with_administrative_action() {
    let hooks = Recorder::default();
    let b = common::start(BrokerConfig::default(), hooks.clone()).await;
    let (mut c, _) = Client::connect_with(
        b.addr,
        login(ProtocolVersion::V5, "dev-2", "alice", b"good"),
    )
    .await;
    assert!(b.broker.handle().kick("alice", "dev-2"));
    match c.recv().await {
        Some(Packet::Disconnect(d)) => assert_eq!(d.code, reason::ADMINISTRATIVE_ACTION),
        other => panic!("expected DISCONNECT 0x98, got {other:?}"),
    }
    assert!(c.closed_within(Duration::from_secs(2)).await);
    assert!(
        !b.broker.handle().kick("alice", "dev-2"),
        "nobody left to kick"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    let events = hooks.events.lock().unwrap().clone();
    assert_eq!(
        events.last().map(String::as_str),
        Some("disconnect alice dev-2 Kicked")
    );
}

#[tokio::test]
async fn unauthorized_v311_publish_closes_the_connection() {
    let b = common::start(BrokerConfig::default(), Recorder::default()).await;
    let (mut c, _) = Client::connect_with(
        b.addr,
        login(ProtocolVersion::V311, "dev-3", "alice", b"good"),
    )
    .await;
    c.publish("own/bob/x", b"", QoS::AtMostOnce, 0).await;
    assert!(c.closed_within(Duration::from_secs(3)).await);
}

#[tokio::test]
async fn a_session_reports_its_subscriptions_and_counts_its_messages_once_at_the_end() {
    let hooks = Recorder::default();
    let b = common::start(BrokerConfig::default(), hooks.clone()).await;
    let (mut c, _) = Client::connect_with(
        b.addr,
        login(ProtocolVersion::V5, "dev-9", "alice", b"good"),
    )
    .await;
    assert_eq!(c.subscribe("own/alice/#", QoS::AtLeastOnce).await, vec![1]);
    assert_eq!(
        c.subscribe("own/bob/#", QoS::AtLeastOnce).await,
        vec![reason::NOT_AUTHORIZED]
    );
    // Two routed publishes come back to the subscriber; a refused one counts nowhere.
    c.publish("own/alice/x", b"1", QoS::AtMostOnce, 0).await;
    c.publish("own/alice/y", b"2", QoS::AtLeastOnce, 7).await;
    c.publish("own/bob/x", b"3", QoS::AtLeastOnce, 8).await;
    for _ in 0..2 {
        assert!(c.next_publish().await.is_some());
    }
    let unsubscribe = Unsubscribe {
        pkid: 9,
        filters: vec!["own/alice/#".into()],
        properties: Default::default(),
    };
    c.send(Packet::Unsubscribe(unsubscribe)).await;
    while !matches!(c.recv().await, Some(Packet::UnsubAck(_)) | None) {}
    c.disconnect().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let activity = hooks.activity.lock().unwrap().clone();
    assert_eq!(activity, vec!["+own/alice/#", "-own/alice/#"]);
    let traffic = hooks.traffic.lock().unwrap().clone();
    let want = Traffic {
        inbound: 2,
        outbound: 2,
        subscribed: true,
    };
    assert_eq!(traffic, vec![want], "one report, at the end");
}
