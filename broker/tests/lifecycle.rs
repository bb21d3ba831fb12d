//! Connection and session lifecycle: timeouts, takeover, wills, limits, shutdown.

mod common;

use std::time::Duration;

use bytes::Bytes;
use bytestring::ByteString;
use common::{connect_packet, publish, Client};
use magnetite_broker::protocol::{reason, LastWill, Packet, Properties, ProtocolVersion, QoS};
use magnetite_broker::{AllowAll, BrokerConfig};

fn will(topic: &str, delay: Option<u32>) -> LastWill {
    LastWill {
        topic: ByteString::from(topic),
        payload: Bytes::from_static(b"gone"),
        qos: QoS::AtMostOnce,
        retain: false,
        properties: Properties {
            will_delay_interval: delay,
            ..Default::default()
        },
    }
}

#[tokio::test]
async fn silent_socket_is_closed_after_connect_timeout() {
    let config = BrokerConfig {
        connect_timeout: Duration::from_millis(300),
        ..Default::default()
    };
    let b = common::start(config, AllowAll).await;
    let mut idle = Client::open(b.addr, ProtocolVersion::V311).await;
    assert!(idle.closed_within(Duration::from_secs(2)).await);
}

#[tokio::test]
async fn keep_alive_is_enforced_at_one_and_a_half_times() {
    let b = common::start(BrokerConfig::default(), AllowAll).await;
    let mut connect = connect_packet(ProtocolVersion::V5, "sleepy", true);
    connect.keep_alive = 1;
    let (mut client, _) = Client::connect_with(b.addr, connect).await;
    let started = std::time::Instant::now();
    match client.recv_within(Duration::from_secs(4)).await {
        Some(Packet::Disconnect(d)) => {
            assert_eq!(d.code, reason::KEEP_ALIVE_TIMEOUT);
            assert!(d
                .properties
                .reason_string
                .is_some_and(|r| r.contains("keep alive")));
        }
        other => panic!("expected DISCONNECT 0x8D, got {other:?}"),
    }
    assert!(
        started.elapsed() >= Duration::from_millis(1400),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn second_connection_takes_the_session_over() {
    let b = common::start(BrokerConfig::default(), AllowAll).await;
    let mut first = Client::connect(b.addr, ProtocolVersion::V5, "same").await;
    let _second = Client::connect(b.addr, ProtocolVersion::V5, "same").await;
    match first.recv().await {
        Some(Packet::Disconnect(d)) => assert_eq!(d.code, reason::SESSION_TAKEN_OVER),
        other => panic!("expected DISCONNECT 0x8E, got {other:?}"),
    }
    assert!(first.closed_within(Duration::from_secs(2)).await);
}

#[tokio::test]
async fn malformed_packet_closes_only_that_connection() {
    let b = common::start(BrokerConfig::default(), AllowAll).await;
    let mut good = Client::connect(b.addr, ProtocolVersion::V5, "good").await;
    good.subscribe("t", QoS::AtMostOnce).await;
    let mut bad = Client::connect(b.addr, ProtocolVersion::V5, "bad").await;
    bad.send_raw(&[0x30, 0x02, 0xff, 0xff]).await; // topic length overruns the packet
    match bad.recv().await {
        Some(Packet::Disconnect(d)) => assert!(d.code >= 0x80, "{d:?}"),
        other => panic!("expected DISCONNECT with an error code, got {other:?}"),
    }
    assert!(bad.closed_within(Duration::from_secs(2)).await);
    let mut publisher = Client::connect(b.addr, ProtocolVersion::V5, "pub").await;
    publisher
        .publish("t", b"still here", QoS::AtMostOnce, 0)
        .await;
    assert!(good.next_publish().await.is_some());
}

#[tokio::test]
async fn oversized_packet_gets_0x95() {
    let config = BrokerConfig {
        max_packet_size: 128,
        ..Default::default()
    };
    let b = common::start(config, AllowAll).await;
    let mut client = Client::connect(b.addr, ProtocolVersion::V5, "big").await;
    let mut p = publish("t", b"", QoS::AtMostOnce, 0);
    p.payload = Bytes::from(vec![7u8; 512]);
    client.send(Packet::Publish(p)).await;
    match client.recv().await {
        Some(Packet::Disconnect(d)) => assert_eq!(d.code, reason::PACKET_TOO_LARGE),
        other => panic!("expected DISCONNECT 0x95, got {other:?}"),
    }
}

#[tokio::test]
async fn will_is_published_on_abrupt_close_not_on_disconnect() {
    let b = common::start(BrokerConfig::default(), AllowAll).await;
    let mut watcher = Client::connect(b.addr, ProtocolVersion::V311, "watcher").await;
    watcher.subscribe("wills/#", QoS::AtMostOnce).await;

    let mut polite = connect_packet(ProtocolVersion::V311, "polite", true);
    polite.will = Some(will("wills/polite", None));
    let (mut polite, _) = Client::connect_with(b.addr, polite).await;
    polite.send(Packet::Disconnect(Default::default())).await;

    let mut rude = connect_packet(ProtocolVersion::V311, "rude", true);
    rude.will = Some(will("wills/rude", None));
    let (rude, _) = Client::connect_with(b.addr, rude).await;
    drop(rude);

    let got = watcher.next_publish().await.expect("will");
    assert_eq!(&*got.topic, "wills/rude");
    assert!(watcher
        .recv_within(Duration::from_millis(300))
        .await
        .is_none());
}

#[tokio::test]
async fn delayed_will_is_cancelled_when_the_client_returns() {
    let b = common::start(BrokerConfig::default(), AllowAll).await;
    let mut watcher = Client::connect(b.addr, ProtocolVersion::V5, "watcher").await;
    watcher.subscribe("wills/#", QoS::AtMostOnce).await;
    let mut connect = connect_packet(ProtocolVersion::V5, "flaky", false);
    connect.properties.session_expiry_interval = Some(60);
    connect.will = Some(will("wills/flaky", Some(2)));
    let (first, _) = Client::connect_with(b.addr, connect.clone()).await;
    drop(first);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_back, _) = Client::connect_with(b.addr, connect.clone()).await;
    assert!(
        watcher
            .recv_within(Duration::from_millis(2500))
            .await
            .is_none(),
        "will sent despite return"
    );

    // Without a return, it arrives after the delay.
    let mut other = connect.clone();
    other.client_id = ByteString::from("gone");
    other.will = Some(will("wills/gone", Some(1)));
    let (gone, _) = Client::connect_with(b.addr, other).await;
    let dropped_at = std::time::Instant::now();
    drop(gone);
    let got = watcher.next_publish().await.expect("delayed will");
    assert_eq!(&*got.topic, "wills/gone");
    assert!(dropped_at.elapsed() >= Duration::from_millis(900));
}

#[tokio::test]
async fn v5_connack_announces_limits_and_assigned_id() {
    let config = BrokerConfig {
        max_keepalive: Some(60),
        ..Default::default()
    };
    let b = common::start(config, AllowAll).await;
    let mut connect = connect_packet(ProtocolVersion::V5, "", true);
    connect.keep_alive = 120;
    let (_client, connack) = Client::connect_with(b.addr, connect).await;
    let Packet::ConnAck(ack) = connack else {
        panic!("{connack:?}")
    };
    assert_eq!(ack.code, 0);
    assert_eq!(ack.properties.server_keep_alive, Some(60));
    assert!(ack
        .properties
        .assigned_client_identifier
        .is_some_and(|id| !id.is_empty()));
    assert!(ack.properties.receive_maximum.is_some());
    assert!(ack.properties.topic_alias_maximum.is_some_and(|m| m > 0));
}

#[tokio::test]
async fn v311_empty_client_id_needs_clean_session() {
    let b = common::start(BrokerConfig::default(), AllowAll).await;
    let (_c, connack) =
        Client::connect_with(b.addr, connect_packet(ProtocolVersion::V311, "", false)).await;
    assert!(
        matches!(connack, Packet::ConnAck(ref a) if a.code == reason::v3::IDENTIFIER_REJECTED),
        "{connack:?}"
    );
    let (_c, connack) =
        Client::connect_with(b.addr, connect_packet(ProtocolVersion::V311, "", true)).await;
    assert!(
        matches!(connack, Packet::ConnAck(ref a) if a.code == 0),
        "{connack:?}"
    );
}

#[tokio::test]
async fn session_expiry_decides_session_present() {
    let b = common::start(BrokerConfig::default(), AllowAll).await;
    let mut connect = connect_packet(ProtocolVersion::V5, "exp", true);
    connect.properties.session_expiry_interval = Some(1);
    let (mut c, _) = Client::connect_with(b.addr, connect.clone()).await;
    c.subscribe("x", QoS::AtLeastOnce).await;
    c.disconnect().await;
    connect.clean_start = false;
    let (c, connack) = Client::connect_with(b.addr, connect.clone()).await;
    assert!(
        matches!(connack, Packet::ConnAck(ref a) if a.session_present),
        "{connack:?}"
    );
    c.disconnect().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (_c, connack) = Client::connect_with(b.addr, connect).await;
    assert!(
        matches!(connack, Packet::ConnAck(ref a) if !a.session_present),
        "{connack:?}"
    );
}

#[tokio::test]
async fn full_broker_refuses_with_server_busy() {
    let config = BrokerConfig {
        max_connections: 1,
        ..Default::default()
    };
    let b = common::start(config, AllowAll).await;
    let _one = Client::connect(b.addr, ProtocolVersion::V5, "one").await;
    let (_two, connack) =
        Client::connect_with(b.addr, connect_packet(ProtocolVersion::V5, "two", true)).await;
    assert!(
        matches!(connack, Packet::ConnAck(ref a) if a.code == reason::SERVER_BUSY),
        "{connack:?}"
    );
}

#[tokio::test]
async fn shutdown_sends_server_shutting_down() {
    let b = common::start(BrokerConfig::default(), AllowAll).await;
    let mut client = Client::connect(b.addr, ProtocolVersion::V5, "c").await;
    let broker = b.broker.clone();
    let stopping = tokio::spawn(async move { broker.shutdown().await });
    match client.recv().await {
        Some(Packet::Disconnect(d)) => assert_eq!(d.code, reason::SERVER_SHUTTING_DOWN),
        other => panic!("expected DISCONNECT 0x8B, got {other:?}"),
    }
    tokio::time::timeout(Duration::from_secs(5), stopping)
        .await
        .expect("shutdown finished")
        .expect("join");
}
