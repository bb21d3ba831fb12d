//! Idle connections park (give up their task) and everything that needs one wakes it:
//! its own input, a delivery, a takeover, its keep-alive, server shutdown.

mod common;

use std::time::Duration;

use bytes::Bytes;
use bytestring::ByteString;
use common::{connect_packet, Client, TestBroker};
use magnetite_broker::persist::{Persistence, Policy};
use magnetite_broker::protocol::{
    reason, LastWill, Packet, Properties, ProtocolVersion, PubResponse, QoS,
};
use magnetite_broker::{AllowAll, Broker, BrokerConfig};

fn parking_config() -> BrokerConfig {
    BrokerConfig {
        park_idle_after: Some(Duration::from_millis(100)),
        ..Default::default()
    }
}

/// Waits (up to 5 s) until exactly `n` connections are parked; fails otherwise.
async fn until_parked(broker: &Broker<AllowAll>, n: usize) {
    for _ in 0..250 {
        if broker.parked_connections() == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "expected {n} parked connections, have {}",
        broker.parked_connections()
    );
}

async fn start() -> TestBroker<AllowAll> {
    common::start(parking_config(), AllowAll).await
}

#[tokio::test]
async fn a_parked_connection_answers_pingreq_and_publish() {
    let b = start().await;
    let mut client = Client::connect(b.addr, ProtocolVersion::V5, "idle").await;
    until_parked(&b.broker, 1).await;
    // Asserts that the next packet is PINGRESP.
    client.ping().await;
    until_parked(&b.broker, 1).await;
    client.publish("t", b"x", QoS::AtLeastOnce, 7).await;
    match client.recv().await {
        Some(Packet::PubAck(ack)) => assert_eq!(ack.pkid, 7),
        other => panic!("expected PUBACK, got {other:?}"),
    }
}

#[tokio::test]
async fn a_parked_subscriber_receives_qos0_and_qos1() {
    let b = start().await;
    let mut subscriber = Client::connect(b.addr, ProtocolVersion::V311, "sub").await;
    subscriber.subscribe("t/#", QoS::AtLeastOnce).await;
    until_parked(&b.broker, 1).await;
    let mut publisher = Client::connect(b.addr, ProtocolVersion::V311, "pub").await;
    publisher.publish("t/0", b"zero", QoS::AtMostOnce, 0).await;
    let got = subscriber.next_publish().await.expect("QoS 0 delivery");
    assert_eq!((&*got.topic, got.qos), ("t/0", QoS::AtMostOnce));
    // Both idle again (the subscriber's ack of nothing, the publisher's silence).
    until_parked(&b.broker, 2).await;
    publisher.publish("t/1", b"one", QoS::AtLeastOnce, 3).await;
    let got = subscriber.next_publish().await.expect("QoS 1 delivery");
    assert_eq!((&*got.topic, got.qos), ("t/1", QoS::AtLeastOnce));
    assert_eq!(&got.payload[..], b"one");
    // The PUBACK from the subscriber settles it: nothing in flight, it parks again.
    until_parked(&b.broker, 2).await;
}

#[tokio::test]
async fn a_takeover_wakes_the_parked_owner() {
    let b = start().await;
    let mut first = Client::connect(b.addr, ProtocolVersion::V5, "same").await;
    until_parked(&b.broker, 1).await;
    let _second = Client::connect(b.addr, ProtocolVersion::V5, "same").await;
    match first.recv().await {
        Some(Packet::Disconnect(d)) => assert_eq!(d.code, reason::SESSION_TAKEN_OVER),
        other => panic!("expected DISCONNECT 0x8E, got {other:?}"),
    }
    assert!(first.closed_within(Duration::from_secs(2)).await);
}

#[tokio::test]
async fn a_parked_connection_that_goes_silent_expires_and_leaves_its_will() {
    let b = start().await;
    let mut watcher = Client::connect(b.addr, ProtocolVersion::V5, "watcher").await;
    watcher.subscribe("wills/#", QoS::AtMostOnce).await;
    let mut connect = connect_packet(ProtocolVersion::V5, "sleepy", true);
    connect.keep_alive = 1;
    connect.will = Some(LastWill {
        topic: ByteString::from("wills/sleepy"),
        payload: Bytes::from_static(b"gone"),
        qos: QoS::AtMostOnce,
        retain: false,
        properties: Properties::default(),
    });
    let (mut sleepy, _) = Client::connect_with(b.addr, connect).await;
    until_parked(&b.broker, 2).await;
    match sleepy.recv_within(Duration::from_secs(5)).await {
        Some(Packet::Disconnect(d)) => assert_eq!(d.code, reason::KEEP_ALIVE_TIMEOUT),
        other => panic!("expected DISCONNECT 0x8D, got {other:?}"),
    }
    let will = watcher.next_publish().await.expect("the will");
    assert_eq!(&*will.topic, "wills/sleepy");
}

#[tokio::test]
async fn a_parked_client_that_closes_is_gone() {
    let b = start().await;
    let client = Client::connect(b.addr, ProtocolVersion::V311, "leaver").await;
    until_parked(&b.broker, 1).await;
    drop(client);
    until_parked(&b.broker, 0).await;
    for _ in 0..250 {
        if b.broker
            .stats()
            .connections
            .load(std::sync::atomic::Ordering::Relaxed)
            == 0
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("connection still counted");
}

#[tokio::test]
async fn shutdown_wakes_parked_connections_and_persists_their_sessions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let open = || Persistence::open(dir.path(), Policy::Batched(Duration::from_millis(50)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let broker = Broker::assemble(parking_config(), AllowAll, open().expect("store"), None);
    let serving = broker.clone();
    tokio::spawn(async move { serving.serve_tcp(listener).await });

    let mut connect = connect_packet(ProtocolVersion::V5, "keeper", false);
    connect.properties.session_expiry_interval = Some(3600);
    let (mut keeper, _) = Client::connect_with(addr, connect.clone()).await;
    keeper.subscribe("kept/#", QoS::AtLeastOnce).await;
    until_parked(&broker, 1).await;
    let stopping = tokio::spawn({
        let broker = broker.clone();
        async move { broker.shutdown().await }
    });
    match keeper.recv().await {
        Some(Packet::Disconnect(d)) => assert_eq!(d.code, reason::SERVER_SHUTTING_DOWN),
        other => panic!("expected DISCONNECT 0x8B, got {other:?}"),
    }
    tokio::time::timeout(Duration::from_secs(5), stopping)
        .await
        .expect("shutdown finished")
        .expect("join");
    drop(keeper);

    // A new broker on the same store has the session, subscription included.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let again = Broker::assemble(parking_config(), AllowAll, open().expect("store"), None);
    let serving = again.clone();
    tokio::spawn(async move { serving.serve_tcp(listener).await });
    let (mut keeper, connack) = Client::connect_with(addr, connect).await;
    assert!(
        matches!(connack, Packet::ConnAck(ref a) if a.session_present),
        "{connack:?}"
    );
    let mut publisher = Client::connect(addr, ProtocolVersion::V5, "pub").await;
    publisher
        .publish("kept/x", b"after", QoS::AtLeastOnce, 1)
        .await;
    let got = keeper
        .next_publish()
        .await
        .expect("delivery to the resumed session");
    assert_eq!(&*got.topic, "kept/x");
    keeper.send(Packet::PubAck(PubResponse::ok(got.pkid))).await;
}
