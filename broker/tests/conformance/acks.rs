//! Acknowledgements of the broker's deliveries: each in-flight state accepts exactly one
//! ack type; anything else, or a reason code the packet does not define, is a protocol
//! error; a retransmitted PUBREC gets the same PUBREL again.

use magnetite_broker::protocol::{reason, Packet, ProtocolVersion, QoS};
use magnetite_broker::{AllowAll, BrokerConfig};

use crate::common::{self, publish, Client};
use crate::{ack, expect_alive, expect_violation, subscriber_with_delivery, V311, V5};

async fn wrong_ack(version: ProtocolVersion, qos: QoS, answer: fn(u16) -> Packet) {
    let b = common::start(BrokerConfig::default(), AllowAll).await;
    let (mut sub, pkid) = subscriber_with_delivery(b.addr, version, qos).await;
    sub.send(answer(pkid)).await;
    expect_violation(&mut sub, reason::PROTOCOL_ERROR).await;
}

#[tokio::test]
async fn pubrec_for_a_qos1_delivery_is_a_protocol_error() {
    for version in [V311, V5] {
        wrong_ack(version, QoS::AtLeastOnce, |id| Packet::PubRec(ack(id, 0))).await;
    }
}

#[tokio::test]
async fn pubcomp_for_a_qos1_delivery_is_a_protocol_error() {
    for version in [V311, V5] {
        wrong_ack(version, QoS::AtLeastOnce, |id| Packet::PubComp(ack(id, 0))).await;
    }
}

#[tokio::test]
async fn puback_for_a_qos2_delivery_is_a_protocol_error() {
    for version in [V311, V5] {
        wrong_ack(version, QoS::ExactlyOnce, |id| Packet::PubAck(ack(id, 0))).await;
    }
}

#[tokio::test]
async fn pubcomp_before_pubrec_is_a_protocol_error() {
    for version in [V311, V5] {
        wrong_ack(version, QoS::ExactlyOnce, |id| Packet::PubComp(ack(id, 0))).await;
    }
}

#[tokio::test]
async fn undefined_reason_codes_in_acks_are_protocol_errors() {
    // 0x92 is a PUBREL/PUBCOMP code, not a PUBACK one; 0x10 the other way round.
    wrong_ack(V5, QoS::AtLeastOnce, |id| {
        Packet::PubAck(ack(id, reason::PACKET_IDENTIFIER_NOT_FOUND))
    })
    .await;
    wrong_ack(V5, QoS::ExactlyOnce, |id| Packet::PubRec(ack(id, 0x05))).await;
    let b = common::start(BrokerConfig::default(), AllowAll).await;
    let (mut sub, pkid) = subscriber_with_delivery(b.addr, V5, QoS::ExactlyOnce).await;
    sub.send(Packet::PubRec(ack(pkid, 0))).await;
    assert_eq!(sub.recv().await, Some(Packet::PubRel(ack(pkid, 0))));
    sub.send(Packet::PubComp(ack(pkid, reason::NO_MATCHING_SUBSCRIBERS)))
        .await;
    expect_violation(&mut sub, reason::PROTOCOL_ERROR).await;

    // Inbound side: a PUBREL with a PUBACK-only code.
    let mut publisher = Client::connect(b.addr, V5, "pub5").await;
    publisher.publish("x", b"m", QoS::ExactlyOnce, 3).await;
    assert_eq!(
        publisher.recv().await,
        Some(Packet::PubRec(ack(3, reason::NO_MATCHING_SUBSCRIBERS)))
    );
    publisher
        .send(Packet::PubRel(ack(3, reason::NOT_AUTHORIZED)))
        .await;
    expect_violation(&mut publisher, reason::PROTOCOL_ERROR).await;
}

#[tokio::test]
async fn a_second_pubrec_gets_the_same_pubrel() {
    for version in [V311, V5] {
        let b = common::start(BrokerConfig::default(), AllowAll).await;
        let (mut sub, pkid) = subscriber_with_delivery(b.addr, version, QoS::ExactlyOnce).await;
        for _ in 0..2 {
            sub.send(Packet::PubRec(ack(pkid, 0))).await;
            assert_eq!(sub.recv().await, Some(Packet::PubRel(ack(pkid, 0))));
        }
        sub.send(Packet::PubComp(ack(pkid, 0))).await;
        expect_alive(&mut sub).await;
        // The flow is over: a late PUBCOMP is ignored, a late PUBREC gets 0x92 (5.0).
        sub.send(Packet::PubComp(ack(pkid, 0))).await;
        expect_alive(&mut sub).await;
        sub.send(Packet::PubRec(ack(pkid, 0))).await;
        let code = if version.is_v5() {
            reason::PACKET_IDENTIFIER_NOT_FOUND
        } else {
            0
        };
        assert_eq!(sub.recv().await, Some(Packet::PubRel(ack(pkid, code))));
    }
}

#[tokio::test]
async fn a_client_publish_with_a_subscription_identifier_is_a_protocol_error() {
    let b = common::start(BrokerConfig::default(), AllowAll).await;
    let mut watcher = Client::connect(b.addr, V5, "watcher").await;
    watcher.subscribe("t", QoS::AtMostOnce).await;
    let mut publisher = Client::connect(b.addr, V5, "pub").await;
    let mut p = publish("t", b"bad", QoS::AtLeastOnce, 1);
    p.properties.subscription_identifiers.push(5);
    publisher.send(Packet::Publish(p)).await;
    expect_violation(&mut publisher, reason::PROTOCOL_ERROR).await;
    // Not routed; the subscriber still gets well-formed traffic.
    let mut other = Client::connect(b.addr, V5, "other").await;
    other.publish("t", b"ok", QoS::AtMostOnce, 0).await;
    let got = watcher.next_publish().await.expect("delivery");
    assert_eq!(&got.payload[..], b"ok");
}
