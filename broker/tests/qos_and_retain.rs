//! Delivery guarantees over real sockets: QoS 0/1/2 flows, retained messages, wildcards.

mod common;

use std::time::Duration;

use common::{publish, Client};
use magnetite_broker::protocol::{Packet, ProtocolVersion, PubResponse, QoS};
use magnetite_broker::{AllowAll, BrokerConfig, DropReason};

#[tokio::test]
async fn qos_levels_are_downgraded_to_the_granted_qos() {
    let b = common::start(BrokerConfig::default(), AllowAll).await;
    for version in [ProtocolVersion::V311, ProtocolVersion::V5] {
        let mut sub = Client::connect(b.addr, version, "sub").await;
        assert_eq!(sub.subscribe("a/+", QoS::AtLeastOnce).await, vec![1]);
        let mut publisher = Client::connect(b.addr, version, "pub").await;
        publisher.publish("a/b", b"q2", QoS::ExactlyOnce, 7).await;
        match publisher.recv().await {
            Some(Packet::PubRec(rec)) => assert_eq!(rec.pkid, 7),
            other => panic!("expected PUBREC, got {other:?}"),
        }
        publisher.send(Packet::PubRel(PubResponse::ok(7))).await;
        assert!(matches!(publisher.recv().await, Some(Packet::PubComp(c)) if c.pkid == 7));
        let got = sub.next_publish().await.expect("delivery");
        assert_eq!(
            (&*got.topic, got.qos, &got.payload[..]),
            ("a/b", QoS::AtLeastOnce, &b"q2"[..])
        );
        assert_ne!(got.pkid, 0);
    }
}

#[tokio::test]
async fn qos2_retransmission_is_not_routed_twice() {
    let b = common::start(BrokerConfig::default(), AllowAll).await;
    let mut sub = Client::connect(b.addr, ProtocolVersion::V311, "sub").await;
    sub.subscribe("t", QoS::AtMostOnce).await;
    let mut publisher = Client::connect(b.addr, ProtocolVersion::V311, "pub").await;
    let mut first = publish("t", b"once", QoS::ExactlyOnce, 3);
    publisher.send(Packet::Publish(first.clone())).await;
    assert!(matches!(publisher.recv().await, Some(Packet::PubRec(_))));
    first.dup = true;
    publisher.send(Packet::Publish(first)).await;
    assert!(matches!(publisher.recv().await, Some(Packet::PubRec(_))));
    assert!(sub.next_publish().await.is_some());
    assert!(
        sub.recv_within(Duration::from_millis(300)).await.is_none(),
        "duplicate delivered"
    );
}

#[tokio::test]
async fn retained_message_is_set_replaced_and_cleared() {
    let b = common::start(BrokerConfig::default(), AllowAll).await;
    let mut publisher = Client::connect(b.addr, ProtocolVersion::V311, "pub").await;
    for payload in [&b"one"[..], &b"two"[..]] {
        let mut p = publish("r/x", b"", QoS::AtMostOnce, 0);
        p.payload = bytes::Bytes::copy_from_slice(payload);
        p.retain = true;
        publisher.send(Packet::Publish(p)).await;
    }
    publisher.ping().await;

    let mut sub = Client::connect(b.addr, ProtocolVersion::V311, "sub1").await;
    sub.subscribe("r/#", QoS::AtLeastOnce).await;
    let got = sub.next_publish().await.expect("retained");
    assert!(got.retain);
    assert_eq!(&got.payload[..], b"two");

    let mut clear = publish("r/x", b"", QoS::AtMostOnce, 0);
    clear.retain = true;
    publisher.send(Packet::Publish(clear)).await;
    publisher.ping().await;
    let mut late = Client::connect(b.addr, ProtocolVersion::V311, "sub2").await;
    late.subscribe("r/#", QoS::AtLeastOnce).await;
    assert!(
        late.recv_within(Duration::from_millis(300)).await.is_none(),
        "cleared message replayed"
    );
}

#[tokio::test]
async fn wildcards_respect_dollar_topics() {
    // Not `$SYS`: clients may not publish there (`broker::sys`), any other `$` topic shows the rule.
    let b = common::start(BrokerConfig::default(), AllowAll).await;
    let mut all = Client::connect(b.addr, ProtocolVersion::V311, "all").await;
    all.subscribe("#", QoS::AtMostOnce).await;
    let mut sys = Client::connect(b.addr, ProtocolVersion::V311, "sys").await;
    sys.subscribe("$meta/#", QoS::AtMostOnce).await;
    let mut publisher = Client::connect(b.addr, ProtocolVersion::V311, "pub").await;
    publisher
        .publish("$meta/load", b"1", QoS::AtMostOnce, 0)
        .await;
    assert_eq!(
        sys.next_publish()
            .await
            .expect("$meta delivery")
            .topic
            .to_string(),
        "$meta/load"
    );
    assert!(
        all.recv_within(Duration::from_millis(300)).await.is_none(),
        "# matched a $ topic"
    );
}

#[tokio::test]
async fn unacknowledged_qos1_is_resent_with_dup_on_reconnect() {
    let b = common::start(BrokerConfig::default(), AllowAll).await;
    let connect = common::connect_packet(ProtocolVersion::V311, "keeper", false);
    let (mut sub, _) = Client::connect_with(b.addr, connect.clone()).await;
    sub.subscribe("q", QoS::AtLeastOnce).await;
    let mut publisher = Client::connect(b.addr, ProtocolVersion::V311, "pub").await;
    publisher.publish("q", b"m", QoS::AtLeastOnce, 1).await;
    match sub.recv().await {
        Some(Packet::Publish(p)) => assert!(!p.dup),
        other => panic!("expected PUBLISH, got {other:?}"),
    }
    drop(sub); // no PUBACK
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (mut again, connack) = Client::connect_with(b.addr, connect).await;
    assert!(
        matches!(connack, Packet::ConnAck(ref a) if a.session_present),
        "{connack:?}"
    );
    match again.recv().await {
        Some(Packet::Publish(p)) => assert!(p.dup && &p.payload[..] == b"m", "{p:?}"),
        other => panic!("expected resent PUBLISH, got {other:?}"),
    }
}

#[tokio::test]
async fn offline_persistent_session_queues_qos1() {
    let b = common::start(BrokerConfig::default(), AllowAll).await;
    let connect = common::connect_packet(ProtocolVersion::V311, "away", false);
    let (mut sub, _) = Client::connect_with(b.addr, connect.clone()).await;
    sub.subscribe("q/#", QoS::AtLeastOnce).await;
    sub.disconnect().await;
    let mut publisher = Client::connect(b.addr, ProtocolVersion::V311, "pub").await;
    for pkid in 1..=3u16 {
        publisher.publish("q/1", b"x", QoS::AtLeastOnce, pkid).await;
        assert!(matches!(publisher.recv().await, Some(Packet::PubAck(_))));
    }
    publisher.publish("q/1", b"qos0", QoS::AtMostOnce, 0).await;
    // The PINGRESP comes after the broker handled the QoS 0 PUBLISH.
    publisher.ping().await;
    let (mut back, _) = Client::connect_with(b.addr, connect).await;
    for _ in 0..3 {
        let p = back.next_publish().await.expect("queued message");
        assert_eq!(p.qos, QoS::AtLeastOnce);
    }
    assert!(
        back.recv_within(Duration::from_millis(300)).await.is_none(),
        "QoS 0 queued while offline"
    );
}

#[tokio::test]
async fn one_message_reaches_subscribers_of_both_versions_intact() {
    let b = common::start(BrokerConfig::default(), AllowAll).await;
    let mut v3 = Client::connect(b.addr, ProtocolVersion::V311, "v3").await;
    let mut v5 = Client::connect(b.addr, ProtocolVersion::V5, "v5").await;
    v3.subscribe("fan/#", QoS::AtMostOnce).await;
    v5.subscribe("fan/#", QoS::AtMostOnce).await;
    let mut publisher = Client::connect(b.addr, ProtocolVersion::V5, "pub").await;
    for i in 0..3u8 {
        let mut p = publish("fan/x", b"", QoS::AtMostOnce, 0);
        p.payload = bytes::Bytes::from(vec![i; 100]);
        publisher.send(Packet::Publish(p)).await;
    }
    for client in [&mut v3, &mut v5] {
        for i in 0..3u8 {
            let got = client.next_publish().await.expect("delivery");
            assert_eq!((&*got.topic, got.payload.to_vec()), ("fan/x", vec![i; 100]));
        }
    }
}

#[tokio::test]
async fn slow_qos1_subscriber_slows_the_publisher_and_loses_nothing() {
    let config = BrokerConfig {
        max_queued: 5,
        ..Default::default()
    };
    let b = common::start(config, AllowAll).await;
    let mut connect = common::connect_packet(ProtocolVersion::V5, "slow", true);
    connect.properties.receive_maximum = Some(2);
    let (mut slow, _) = Client::connect_with(b.addr, connect).await;
    slow.subscribe("work", QoS::AtLeastOnce).await;
    let mut publisher = Client::connect(b.addr, ProtocolVersion::V5, "fast").await;
    for pkid in 1..=20u16 {
        let mut p = publish("work", b"", QoS::AtLeastOnce, pkid);
        p.payload = bytes::Bytes::from(pkid.to_be_bytes().to_vec());
        publisher.send(Packet::Publish(p)).await;
    }
    // 2 in flight + 5 queued: the broker cannot acknowledge all 20 yet.
    let mut acked = 0;
    while let Some(Packet::PubAck(_)) = publisher.recv_within(Duration::from_millis(500)).await {
        acked += 1;
    }
    assert!(acked < 20, "publisher was not held back ({acked} acks)");
    let mut got = Vec::new();
    while got.len() < 20 {
        let p = slow.next_publish().await.expect("every message arrives");
        got.push(u16::from_be_bytes([p.payload[0], p.payload[1]]));
    }
    assert_eq!(got, (1..=20).collect::<Vec<_>>());
    while acked < 20 {
        match publisher.recv().await {
            Some(Packet::PubAck(_)) => acked += 1,
            other => panic!("expected the remaining PUBACKs, got {other:?}"),
        }
    }
}

/// A QoS 0 subscriber that stops reading: once its socket buffers and its queue
/// (`max_queued`) are full, further messages are dropped, and every one of them is
/// counted — what it received plus what was counted is exactly what was published.
#[tokio::test]
async fn qos0_dropped_at_a_full_queue_are_counted() {
    const SENT: usize = 400;
    const PAYLOAD: usize = 64 * 1024; // 400 x 64 KiB outgrows any loopback socket buffer
    let config = BrokerConfig {
        max_queued: 5,
        ..Default::default()
    };
    let b = common::start(config, AllowAll).await;
    let mut slow = Client::connect(b.addr, ProtocolVersion::V311, "slow").await;
    slow.subscribe("flood", QoS::AtMostOnce).await;
    let mut publisher = Client::connect(b.addr, ProtocolVersion::V311, "fast").await;
    for _ in 0..SENT {
        let mut p = publish("flood", b"", QoS::AtMostOnce, 0);
        p.payload = bytes::Bytes::from(vec![7u8; PAYLOAD]);
        publisher.send(Packet::Publish(p)).await;
    }
    // The PUBACK of a later QoS 1 message on another topic: every flood message was routed.
    publisher.publish("done", b"", QoS::AtLeastOnce, 1).await;
    assert!(matches!(publisher.recv().await, Some(Packet::PubAck(_))));
    let dropped = b.broker.stats().dropped.get(DropReason::QueueFull) as usize;
    assert!(dropped > 0, "nothing was dropped; the queue never filled");
    let mut received = 0;
    while received + dropped < SENT {
        let p = slow.next_publish().await.expect("the rest is delivered");
        assert_eq!(p.payload.len(), PAYLOAD);
        received += 1;
    }
    assert!(slow.recv_within(Duration::from_millis(200)).await.is_none());
    assert_eq!(received + dropped, SENT);
    assert_eq!(b.broker.stats().dropped.get(DropReason::SlowSubscriber), 0);
}
