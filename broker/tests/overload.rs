//! Overload protection against the engine: each limit is driven past its bound, and the
//! sessions that stay within their own limits are shown unaffected.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::time::Duration;

use common::{connect_packet, start, Client};
use magnetite_broker::limits::PublishLimit;
use magnetite_broker::protocol::{reason, ConnAck, Packet, ProtocolVersion, QoS};
use magnetite_broker::{AllowAll, BrokerConfig, OverloadConfig, RefusalReason};
use tokio::net::TcpSocket;

fn rate(value: u32) -> Option<NonZeroU32> {
    NonZeroU32::new(value)
}

fn config(overload: OverloadConfig) -> BrokerConfig {
    BrokerConfig {
        overload,
        ..BrokerConfig::default()
    }
}

/// CONNECT from the source address `from` (a loopback alias); the CONNACK.
async fn connect_from(
    from: Ipv4Addr,
    addr: SocketAddr,
    version: ProtocolVersion,
    id: &str,
) -> (Client, ConnAck) {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::new(IpAddr::V4(from), 0))
        .expect("bind source");
    let stream = socket.connect(addr).await.expect("connect");
    let mut client = Client::over(stream, version);
    client
        .send(Packet::Connect(Box::new(connect_packet(version, id, true))))
        .await;
    match client.recv().await {
        Some(Packet::ConnAck(ack)) => (client, ack),
        other => panic!("expected CONNACK, got {other:?}"),
    }
}

const HOME: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
const OTHER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

fn retry_after_ms(ack: &ConnAck) -> u64 {
    let (_, value) = ack
        .properties
        .user_properties
        .iter()
        .find(|(name, _)| name == "retry-after-ms")
        .expect("a retry hint");
    value.parse().expect("milliseconds")
}

#[tokio::test]
async fn a_source_over_its_connect_rate_is_refused_while_another_source_connects() {
    let overload = OverloadConfig {
        max_connect_rate_per_ip: rate(3),
        ..OverloadConfig::default()
    };
    let broker = start(config(overload), AllowAll).await;
    let v5 = ProtocolVersion::V5;
    let mut admitted = Vec::new();
    for i in 0..3 {
        let (client, ack) = connect_from(HOME, broker.addr, v5, &format!("home-{i}")).await;
        assert_eq!(ack.code, reason::SUCCESS);
        admitted.push(client);
    }
    let (_, refused) = connect_from(HOME, broker.addr, v5, "home-3").await;
    assert_eq!(refused.code, reason::CONNECTION_RATE_EXCEEDED);
    assert!(refused.properties.reason_string.is_some());
    assert!(retry_after_ms(&refused) > 0);
    assert_eq!(refused.properties.server_reference, None);
    let (_, refused) = connect_from(HOME, broker.addr, ProtocolVersion::V311, "home-4").await;
    assert_eq!(refused.code, reason::v3::SERVER_UNAVAILABLE);

    let (mut other, ack) = connect_from(OTHER, broker.addr, v5, "other").await;
    assert_eq!(ack.code, reason::SUCCESS, "another source is not limited");
    other.ping().await;
    for client in &mut admitted {
        client.ping().await;
    }
    let counters = &broker.broker.admission().counters;
    assert_eq!(counters.refused(RefusalReason::SourceConnectRate), 2);
    assert_eq!(counters.refused(RefusalReason::ConnectRate), 0);
}

#[tokio::test]
async fn the_global_connect_rate_sends_refused_clients_to_the_server_reference() {
    let overload = OverloadConfig {
        max_connect_rate: rate(2),
        server_reference: Some("mqtt-2.example.com:1883".into()),
        ..OverloadConfig::default()
    };
    let broker = start(config(overload), AllowAll).await;
    let v5 = ProtocolVersion::V5;
    for (i, from) in [HOME, OTHER].into_iter().enumerate() {
        let (_, ack) = connect_from(from, broker.addr, v5, &format!("ok-{i}")).await;
        assert_eq!(ack.code, reason::SUCCESS);
    }
    let (_, refused) = connect_from(OTHER, broker.addr, v5, "third").await;
    assert_eq!(refused.code, reason::USE_ANOTHER_SERVER);
    assert_eq!(
        refused.properties.server_reference.as_deref(),
        Some("mqtt-2.example.com:1883")
    );
    assert!(retry_after_ms(&refused) > 0);
    let counters = &broker.broker.admission().counters;
    assert_eq!(counters.refused(RefusalReason::ConnectRate), 1);
}

/// Polls `done` until it holds (the sampler runs once a second).
async fn eventually(what: &str, done: impl Fn() -> bool) {
    for _ in 0..100 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what} did not happen within 10 s");
}

#[tokio::test]
async fn past_the_memory_watermark_qos0_is_shed_and_connects_refused_until_it_recovers() {
    let overload = OverloadConfig {
        memory_high_watermark: Some(u64::MAX),
        ..OverloadConfig::default()
    };
    let broker = start(config(overload), AllowAll).await;
    let admission = broker.broker.admission();
    let v5 = ProtocolVersion::V5;
    let mut reliable = Client::connect(broker.addr, v5, "sub-qos1").await;
    assert_eq!(reliable.subscribe("t/#", QoS::AtLeastOnce).await, [1]);
    let mut casual = Client::connect(broker.addr, v5, "sub-qos0").await;
    assert_eq!(casual.subscribe("t/#", QoS::AtMostOnce).await, [0]);
    let mut publisher = Client::connect(broker.addr, v5, "pub").await;

    admission.set_memory_watermarks(1, 1);
    eventually("shedding", || admission.shedding()).await;
    publisher.publish("t/a", b"qos0", QoS::AtMostOnce, 0).await;
    publisher.publish("t/b", b"qos1", QoS::AtLeastOnce, 7).await;
    assert!(matches!(publisher.recv().await, Some(Packet::PubAck(ack)) if ack.pkid == 7));
    let delivered = reliable.next_publish().await.expect("QoS 1 is never shed");
    assert_eq!(
        (&*delivered.payload, delivered.qos),
        (&b"qos1"[..], QoS::AtLeastOnce)
    );
    assert_eq!(reliable.recv_within(Duration::from_millis(300)).await, None);
    assert_eq!(casual.recv_within(Duration::from_millis(300)).await, None);
    // QoS 0 to both subscribers, and the QoS 1 message to the QoS 0 one.
    assert_eq!(admission.counters.shed_qos0(), 3);

    let (_, refused) = Client::connect_with(broker.addr, connect_packet(v5, "new", true)).await;
    let Packet::ConnAck(refused) = refused else {
        panic!("CONNACK");
    };
    assert_eq!(refused.code, reason::QUOTA_EXCEEDED);
    assert!(retry_after_ms(&refused) >= 5000);
    let v3 = ProtocolVersion::V311;
    let (_, refused) = Client::connect_with(broker.addr, connect_packet(v3, "new3", true)).await;
    assert!(matches!(refused, Packet::ConnAck(ack) if ack.code == reason::v3::SERVER_UNAVAILABLE));
    assert_eq!(admission.counters.refused(RefusalReason::Memory), 2);
    // Sessions already connected carry on.
    publisher.ping().await;

    admission.set_memory_watermarks(u64::MAX, u64::MAX);
    eventually("recovery", || !admission.shedding()).await;
    publisher.publish("t/c", b"again", QoS::AtMostOnce, 0).await;
    let delivered = casual.next_publish().await.expect("QoS 0 flows again");
    assert_eq!(&*delivered.payload, b"again");
    Client::connect(broker.addr, v5, "new").await.ping().await;
}

/// Reads PUBLISHes until `want` payloads equal to `payload` arrived; how many others
/// arrived meanwhile.
async fn count_until(client: &mut Client, payload: &[u8], want: usize) -> usize {
    let (mut seen, mut others) = (0, 0);
    while seen < want {
        let publish = client.next_publish().await.expect("a PUBLISH");
        if &*publish.payload == payload {
            seen += 1;
        } else {
            others += 1;
        }
    }
    others
}

#[tokio::test]
async fn a_flooding_publisher_is_throttled_while_a_normal_clients_messages_arrive() {
    let overload = OverloadConfig {
        max_publish_rate: rate(100),
        ..OverloadConfig::default()
    };
    let broker = start(config(overload), AllowAll).await;
    let v5 = ProtocolVersion::V5;
    let mut subscriber = Client::connect(broker.addr, v5, "sub").await;
    subscriber.subscribe("t/#", QoS::AtMostOnce).await;
    let mut flooder = Client::connect(broker.addr, v5, "flooder").await;
    let mut normal = Client::connect(broker.addr, v5, "normal").await;

    // 400 at once: the first second's 100, then 100 a second (3 s more).
    for _ in 0..400 {
        flooder
            .publish("t/flood", b"flood", QoS::AtMostOnce, 0)
            .await;
    }
    for _ in 0..5 {
        normal
            .publish("t/normal", b"normal", QoS::AtMostOnce, 0)
            .await;
    }
    let flood_first = count_until(&mut subscriber, b"normal", 5).await;
    assert!(
        flood_first < 400,
        "the normal client waited behind the whole flood ({flood_first})"
    );
    // Throttled, not dropped: the rest of the flood arrives.
    let rest = 400 - flood_first;
    assert_eq!(count_until(&mut subscriber, b"flood", rest).await, 0);
    let counters = &broker.broker.admission().counters;
    assert!(counters.throttled(PublishLimit::Rate) > 0);
    assert_eq!(counters.throttled(PublishLimit::Bandwidth), 0);
    assert_eq!(counters.shed_qos0(), 0);
    flooder.ping().await;
}

#[tokio::test]
async fn a_publisher_over_its_bandwidth_waits_and_loses_nothing() {
    let overload = OverloadConfig {
        max_publish_bandwidth: rate(2000),
        ..OverloadConfig::default()
    };
    let broker = start(config(overload), AllowAll).await;
    let v5 = ProtocolVersion::V5;
    let mut subscriber = Client::connect(broker.addr, v5, "sub").await;
    subscriber.subscribe("big/#", QoS::AtLeastOnce).await;
    let mut publisher = Client::connect(broker.addr, v5, "pub").await;
    static PAYLOAD: [u8; 500] = [7; 500];
    // 10 x ~505 bytes against 2,000 B/s: about 1.5 s beyond the first second's budget.
    for pkid in 1..=10 {
        publisher
            .publish("big/x", &PAYLOAD, QoS::AtLeastOnce, pkid)
            .await;
    }
    assert_eq!(count_until(&mut subscriber, &PAYLOAD, 10).await, 0);
    let counters = &broker.broker.admission().counters;
    assert!(counters.throttled(PublishLimit::Bandwidth) > 0);
    assert_eq!(counters.throttled(PublishLimit::Rate), 0);
}
