//! SUBSCRIBE / UNSUBSCRIBE filters the spec makes a protocol error rather than a
//! per-filter refusal: an empty filter [MQTT-4.7.3-1], `$share/<group>` without a filter
//! [MQTT-4.8.2-1], No Local on a shared subscription [MQTT-3.8.3-4], a wildcard out of
//! place [MQTT-4.7.1-1/2].

use bytestring::ByteString;
use magnetite_broker::protocol::{reason, Packet, Properties, ProtocolVersion, QoS, Unsubscribe};
use magnetite_broker::{AllowAll, BrokerConfig};

use crate::common::{self, subscribe, Client};
use crate::{expect_alive, expect_violation, V311, V5};

async fn subscribe_violates(version: ProtocolVersion, filter: &str, no_local: bool, code: u8) {
    let b = common::start(BrokerConfig::default(), AllowAll).await;
    let mut client = Client::connect(b.addr, version, "c").await;
    let mut packet = subscribe(1, filter, QoS::AtLeastOnce);
    packet.filters[0].1.no_local = no_local;
    client.send(Packet::Subscribe(packet)).await;
    expect_violation(&mut client, code).await;
}

#[tokio::test]
async fn an_empty_subscribe_filter_is_malformed() {
    for version in [V311, V5] {
        subscribe_violates(version, "", false, reason::MALFORMED_PACKET).await;
    }
    // The same bytes by hand: SUBSCRIBE id 1, (5.0: no properties), filter "", QoS 0.
    let b = common::start(BrokerConfig::default(), AllowAll).await;
    let mut client = Client::connect(b.addr, V5, "raw").await;
    client
        .send_raw(&[0x82, 0x06, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00])
        .await;
    expect_violation(&mut client, reason::MALFORMED_PACKET).await;
}

#[tokio::test]
async fn an_empty_unsubscribe_filter_is_malformed() {
    for version in [V311, V5] {
        let b = common::start(BrokerConfig::default(), AllowAll).await;
        let mut client = Client::connect(b.addr, version, "c").await;
        let packet = Unsubscribe {
            pkid: 1,
            filters: vec![ByteString::from("a"), ByteString::new()],
            properties: Properties::default(),
        };
        client.send(Packet::Unsubscribe(packet)).await;
        expect_violation(&mut client, reason::MALFORMED_PACKET).await;
    }
}

#[tokio::test]
async fn a_shared_subscription_without_a_filter_is_a_protocol_error() {
    for version in [V311, V5] {
        for filter in ["$share/group", "$share/group/"] {
            subscribe_violates(version, filter, false, reason::PROTOCOL_ERROR).await;
        }
    }
}

#[tokio::test]
async fn no_local_on_a_shared_subscription_is_a_protocol_error() {
    subscribe_violates(V5, "$share/group/t", true, reason::PROTOCOL_ERROR).await;
}

#[tokio::test]
async fn a_misplaced_wildcard_is_malformed() {
    // [MQTT-4.7.1-1/2]; 0x8F means "correctly formed but not allowed", so it cannot be it.
    for version in [V311, V5] {
        for filter in ["#/test/topic", "a/b#", "a/+b/c"] {
            subscribe_violates(version, filter, false, reason::MALFORMED_PACKET).await;
        }
        let b = common::start(BrokerConfig::default(), AllowAll).await;
        let mut client = Client::connect(b.addr, version, "c").await;
        let packet = Unsubscribe {
            pkid: 1,
            filters: vec![ByteString::from("#/test/topic")],
            properties: Properties::default(),
        };
        client.send(Packet::Unsubscribe(packet)).await;
        expect_violation(&mut client, reason::MALFORMED_PACKET).await;
    }
}

#[tokio::test]
async fn well_formed_refusals_still_get_a_suback_code() {
    // Contrast: a well-formed filter deeper than --max-topic-levels is refused per
    // filter, and the connection stays.
    let config = BrokerConfig {
        max_topic_levels: 3,
        ..Default::default()
    };
    for (version, code) in [(V311, 0x80), (V5, reason::TOPIC_FILTER_INVALID)] {
        let b = common::start(config.clone(), AllowAll).await;
        let mut client = Client::connect(b.addr, version, "c").await;
        assert_eq!(
            client.subscribe("a/b/c/d", QoS::AtMostOnce).await,
            vec![code]
        );
        assert_eq!(client.subscribe("a/b/c", QoS::AtMostOnce).await, vec![0]);
        assert_eq!(
            client.subscribe("$share/g/t", QoS::AtMostOnce).await,
            vec![0]
        );
        expect_alive(&mut client).await;
    }
}
