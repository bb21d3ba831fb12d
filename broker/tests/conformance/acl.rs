//! A PUBLISH an ACL file denies (`--auth none --acl-file`, mosquitto's `09-acl-*`):
//! 3.1.1 has no "not authorized" code, and MQTT-3.3.5-2 allows a positive ack or a
//! close; with an ACL file Magnetite acknowledges and drops it as mosquitto does, so the
//! connection stays. 5.0 gets 0x87. Platform mode still closes (tests/hooks.rs).

use magnetite_broker::acl::{Acl, OpenHooks};
use magnetite_broker::protocol::{reason, Packet, ProtocolVersion, PubResponse, QoS};
use magnetite_broker::BrokerConfig;

use crate::common::{self, publish, Client};
use crate::{ack, expect_alive, V311, V5};

const ACL: &str = "topic readwrite #\ntopic deny test/denied\n";

/// Sends a denied PUBLISH at each QoS and asserts the answers `version` gets.
async fn publish_denied(client: &mut Client, version: ProtocolVersion) {
    let code = if version.is_v5() {
        reason::NOT_AUTHORIZED
    } else {
        reason::SUCCESS
    };
    let denied = |qos, pkid| Packet::Publish(publish("test/denied", b"x", qos, pkid));
    client.send(denied(QoS::AtMostOnce, 0)).await;
    client.send(denied(QoS::AtLeastOnce, 11)).await;
    assert_eq!(client.recv().await, Some(Packet::PubAck(ack(11, code))));
    client.send(denied(QoS::ExactlyOnce, 12)).await;
    assert_eq!(client.recv().await, Some(Packet::PubRec(ack(12, code))));
    if !version.is_v5() {
        // A positive PUBREC: the flow completes as for any QoS 2 message.
        client.send(Packet::PubRel(PubResponse::ok(12))).await;
        assert_eq!(client.recv().await, Some(Packet::PubComp(ack(12, 0))));
    }
}

#[tokio::test]
async fn a_denied_publish_is_acknowledged_and_dropped_and_the_connection_stays() {
    for version in [V311, V5] {
        let acl = Acl::parse(ACL).expect("acl");
        let b = common::start(BrokerConfig::default(), OpenHooks::new(Some(acl))).await;
        let mut watcher = Client::connect(b.addr, V311, "watcher").await;
        assert_eq!(watcher.subscribe("#", QoS::AtLeastOnce).await, vec![1]);
        let mut device = Client::connect(b.addr, version, "device").await;
        publish_denied(&mut device, version).await;
        expect_alive(&mut device).await;
        // The same client on an allowed topic reaches the watcher, and only that does.
        device.publish("test/ok", b"y", QoS::AtMostOnce, 0).await;
        let delivered = watcher.next_publish().await.expect("the allowed message");
        assert_eq!(
            (&*delivered.topic, &delivered.payload[..]),
            ("test/ok", &b"y"[..]),
            "{version:?}: nothing of test/denied was routed"
        );
        expect_alive(&mut watcher).await;
    }
}
