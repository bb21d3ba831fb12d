//! MQTT 5 features end to end: aliases, subscription options, identifiers, expiry,
//! flow control, shared subscriptions, authorization refusals.

mod common;

use std::time::Duration;

use bytestring::ByteString;
use common::{connect_packet, publish, subscribe, Client};
use magnetite_broker::acl::{Acl, OpenHooks};
use magnetite_broker::protocol::{reason, Packet, ProtocolVersion, QoS, RetainHandling};
use magnetite_broker::{AllowAll, BrokerConfig};

const V5: ProtocolVersion = ProtocolVersion::V5;

#[tokio::test]
async fn inbound_topic_alias_is_resolved() {
    let b = common::start(BrokerConfig::default(), AllowAll).await;
    let mut sub = Client::connect(b.addr, V5, "sub").await;
    sub.subscribe("long/topic/name", QoS::AtMostOnce).await;
    let mut publisher = Client::connect(b.addr, V5, "pub").await;
    let mut first = publish("long/topic/name", b"1", QoS::AtMostOnce, 0);
    first.properties.topic_alias = Some(1);
    publisher.send(Packet::Publish(first)).await;
    let mut second = publish("", b"2", QoS::AtMostOnce, 0);
    second.topic = ByteString::new();
    second.properties.topic_alias = Some(1);
    publisher.send(Packet::Publish(second)).await;
    for expected in [&b"1"[..], &b"2"[..]] {
        let p = sub.next_publish().await.expect("delivery");
        assert_eq!((&*p.topic, &p.payload[..]), ("long/topic/name", expected));
    }
}

#[tokio::test]
async fn outbound_topic_alias_is_used_when_the_client_allows() {
    let b = common::start(BrokerConfig::default(), AllowAll).await;
    let mut connect = connect_packet(V5, "sub", true);
    connect.properties.topic_alias_maximum = Some(5);
    let (mut sub, _) = Client::connect_with(b.addr, connect).await;
    sub.subscribe("a/b", QoS::AtMostOnce).await;
    let mut publisher = Client::connect(b.addr, V5, "pub").await;
    for _ in 0..2 {
        publisher.publish("a/b", b"x", QoS::AtMostOnce, 0).await;
    }
    let first = sub.next_publish().await.expect("first");
    assert_eq!(&*first.topic, "a/b");
    let alias = first.properties.topic_alias.expect("alias assigned");
    let second = sub.next_publish().await.expect("second");
    assert!(second.topic.is_empty());
    assert_eq!(second.properties.topic_alias, Some(alias));
}

#[tokio::test]
async fn no_local_and_retain_as_published() {
    let b = common::start(BrokerConfig::default(), AllowAll).await;
    let mut c = Client::connect(b.addr, V5, "self").await;
    let mut s = subscribe(1, "loop", QoS::AtMostOnce);
    s.filters[0].1.no_local = true;
    c.send(Packet::Subscribe(s)).await;
    assert!(matches!(c.recv().await, Some(Packet::SubAck(_))));
    c.publish("loop", b"mine", QoS::AtMostOnce, 0).await;
    assert!(
        c.recv_within(Duration::from_millis(300)).await.is_none(),
        "no-local delivered own message"
    );

    let mut s = subscribe(2, "rap", QoS::AtMostOnce);
    s.filters[0].1.retain_as_published = true;
    c.send(Packet::Subscribe(s)).await;
    assert!(matches!(c.recv().await, Some(Packet::SubAck(_))));
    let mut kept = Client::connect(b.addr, V5, "plain").await;
    kept.subscribe("rap", QoS::AtMostOnce).await;
    let mut p = publish("rap", b"r", QoS::AtMostOnce, 0);
    p.retain = true;
    let mut publisher = Client::connect(b.addr, V5, "pub").await;
    publisher.send(Packet::Publish(p)).await;
    assert!(c.next_publish().await.expect("rap delivery").retain);
    assert!(!kept.next_publish().await.expect("plain delivery").retain);
}

#[tokio::test]
async fn retain_handling_options() {
    let b = common::start(BrokerConfig::default(), AllowAll).await;
    let mut publisher = Client::connect(b.addr, V5, "pub").await;
    let mut p = publish("rh/1", b"kept", QoS::AtMostOnce, 0);
    p.retain = true;
    publisher.send(Packet::Publish(p)).await;
    publisher.ping().await;

    let mut c = Client::connect(b.addr, V5, "c").await;
    for (pkid, handling, expect_replay) in [
        (1, RetainHandling::SendAtSubscribeIfNew, true),
        (2, RetainHandling::SendAtSubscribeIfNew, false),
        (3, RetainHandling::DoNotSend, false),
        (4, RetainHandling::SendAtSubscribe, true),
    ] {
        let mut s = subscribe(pkid, "rh/#", QoS::AtMostOnce);
        s.filters[0].1.retain_handling = handling;
        c.send(Packet::Subscribe(s)).await;
        assert!(matches!(c.recv().await, Some(Packet::SubAck(_))));
        let replay = c.recv_within(Duration::from_millis(300)).await;
        assert_eq!(replay.is_some(), expect_replay, "{handling:?}: {replay:?}");
    }
}

#[tokio::test]
async fn subscription_identifiers_and_user_properties_are_forwarded() {
    let b = common::start(BrokerConfig::default(), AllowAll).await;
    let mut c = Client::connect(b.addr, V5, "c").await;
    let mut s = subscribe(1, "id/+", QoS::AtMostOnce);
    s.properties.subscription_identifiers = vec![42];
    c.send(Packet::Subscribe(s)).await;
    assert!(matches!(c.recv().await, Some(Packet::SubAck(_))));
    let mut p = publish("id/x", b"", QoS::AtMostOnce, 0);
    p.properties.user_properties = vec![(ByteString::from("a"), ByteString::from("2"))];
    p.properties.response_topic = Some(ByteString::from("reply/here"));
    p.properties.correlation_data = Some(bytes::Bytes::from_static(b"corr"));
    let mut publisher = Client::connect(b.addr, V5, "pub").await;
    publisher.send(Packet::Publish(p)).await;
    let got = c.next_publish().await.expect("delivery");
    assert_eq!(got.properties.subscription_identifiers, vec![42]);
    assert_eq!(
        got.properties.user_properties,
        vec![(ByteString::from("a"), ByteString::from("2"))]
    );
    assert_eq!(got.properties.response_topic.as_deref(), Some("reply/here"));
    assert_eq!(
        got.properties.correlation_data.as_deref(),
        Some(&b"corr"[..])
    );
}

#[tokio::test]
async fn expired_messages_are_not_delivered_and_remaining_time_is_sent() {
    let b = common::start(BrokerConfig::default(), AllowAll).await;
    let mut connect = connect_packet(V5, "late", true);
    connect.properties.session_expiry_interval = Some(60);
    let (mut sub, _) = Client::connect_with(b.addr, connect.clone()).await;
    sub.subscribe("e", QoS::AtLeastOnce).await;
    sub.disconnect().await;
    let mut publisher = Client::connect(b.addr, V5, "pub").await;
    for (pkid, expiry) in [(1u16, 1u32), (2, 30)] {
        let mut p = publish("e", b"", QoS::AtLeastOnce, pkid);
        p.properties.message_expiry_interval = Some(expiry);
        publisher.send(Packet::Publish(p)).await;
        assert!(matches!(publisher.recv().await, Some(Packet::PubAck(_))));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    connect.clean_start = false;
    let (mut back, _) = Client::connect_with(b.addr, connect).await;
    let got = back.next_publish().await.expect("the unexpired one");
    let left = got
        .properties
        .message_expiry_interval
        .expect("remaining expiry");
    assert!(left <= 29 && left > 0, "{left}");
    assert!(
        back.recv_within(Duration::from_millis(300)).await.is_none(),
        "expired message delivered"
    );
}

#[tokio::test]
async fn exceeding_receive_maximum_gets_0x93() {
    let config = BrokerConfig {
        receive_maximum: 2,
        ..Default::default()
    };
    let b = common::start(config, AllowAll).await;
    let mut c = Client::connect(b.addr, V5, "flood").await;
    for pkid in 1..=3u16 {
        c.publish("f", b"", QoS::ExactlyOnce, pkid).await;
    }
    let mut saw = None;
    while let Some(packet) = c.recv().await {
        if let Packet::Disconnect(d) = packet {
            saw = Some(d.code);
            break;
        }
    }
    assert_eq!(saw, Some(reason::RECEIVE_MAXIMUM_EXCEEDED));
}

#[tokio::test]
async fn shared_subscription_splits_the_load() {
    let b = common::start(BrokerConfig::default(), AllowAll).await;
    let mut w1 = Client::connect(b.addr, V5, "w1").await;
    let mut w2 = Client::connect(b.addr, V5, "w2").await;
    w1.subscribe("$share/g/jobs", QoS::AtMostOnce).await;
    w2.subscribe("$share/g/jobs", QoS::AtMostOnce).await;
    let mut publisher = Client::connect(b.addr, V5, "pub").await;
    for _ in 0..10 {
        publisher.publish("jobs", b"j", QoS::AtMostOnce, 0).await;
    }
    let mut counts = [0, 0];
    for (i, w) in [&mut w1, &mut w2].into_iter().enumerate() {
        while w.recv_within(Duration::from_millis(300)).await.is_some() {
            counts[i] += 1;
        }
    }
    assert_eq!(counts[0] + counts[1], 10, "{counts:?}");
    assert!(counts[0] > 0 && counts[1] > 0, "{counts:?}");
}

#[tokio::test]
async fn acl_refusals_use_the_version_specific_codes() {
    let acl = Acl::parse("topic readwrite #\ntopic deny test/nosubscribe\n").expect("acl");
    let b = common::start(BrokerConfig::default(), OpenHooks::new(Some(acl))).await;
    let mut v5 = Client::connect(b.addr, V5, "v5").await;
    assert_eq!(
        v5.subscribe("test/nosubscribe", QoS::AtLeastOnce).await,
        vec![reason::UNSPECIFIED_ERROR]
    );
    v5.publish("test/nosubscribe", b"", QoS::AtLeastOnce, 9)
        .await;
    assert!(matches!(v5.recv().await, Some(Packet::PubAck(a)) if a.code == reason::NOT_AUTHORIZED));
    let mut v3 = Client::connect(b.addr, ProtocolVersion::V311, "v3").await;
    assert_eq!(
        v3.subscribe("test/nosubscribe", QoS::AtLeastOnce).await,
        vec![0x80]
    );
    assert_eq!(v3.subscribe("test/other", QoS::AtLeastOnce).await, vec![1]);
    v3.publish("test/nosubscribe", b"", QoS::AtLeastOnce, 9)
        .await;
    // An ACL file's denial is acknowledged and dropped (tests/conformance/acl.rs).
    assert!(matches!(v3.recv().await, Some(Packet::PubAck(a)) if a.pkid == 9));
}

#[tokio::test]
async fn invalid_filters_are_refused_per_filter() {
    let b = common::start(BrokerConfig::default(), AllowAll).await;
    let mut c = Client::connect(b.addr, V5, "c").await;
    // A share name with a wildcard is refused per filter; `$share/g` without a filter
    // is a protocol error instead (tests/conformance.rs).
    assert_eq!(
        c.subscribe("$share/g+/t", QoS::AtMostOnce).await,
        vec![reason::TOPIC_FILTER_INVALID]
    );
}
