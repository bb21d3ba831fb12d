//! Conformance points that mosquitto's own broker test suite exposed (issue 12): each
//! test speaks raw MQTT to the broker, in both versions where the point applies, and
//! asserts the exact packets that come back and whether the connection closes.

mod common;

#[path = "conformance/acks.rs"]
mod acks;
#[path = "conformance/acl.rs"]
mod acl;
#[path = "conformance/connect.rs"]
mod connect;
#[path = "conformance/sessions.rs"]
mod sessions;
#[path = "conformance/slots.rs"]
mod slots;
#[path = "conformance/subscribe.rs"]
mod subscribe;

use std::time::Duration;

use common::Client;
use magnetite_broker::protocol::{Packet, ProtocolVersion, PubResponse, QoS};

pub const V311: ProtocolVersion = ProtocolVersion::V311;
pub const V5: ProtocolVersion = ProtocolVersion::V5;

/// After a protocol violation: 5.0 gets DISCONNECT `code`, 3.1.1 nothing; both are closed.
pub async fn expect_violation(client: &mut Client, code: u8) {
    if client.version.is_v5() {
        match client.recv().await {
            Some(Packet::Disconnect(d)) => assert_eq!(d.code, code, "{d:?}"),
            other => panic!("expected DISCONNECT {code:#04x}, got {other:?}"),
        }
    }
    let after = client.recv().await;
    assert_eq!(after, None, "nothing after the violation");
    assert!(
        client.closed_within(Duration::from_secs(3)).await,
        "the broker must close the connection"
    );
}

/// The connection is still served: PINGREQ gets PINGRESP.
pub async fn expect_alive(client: &mut Client) {
    client.send(Packet::PingReq).await;
    assert_eq!(client.recv().await, Some(Packet::PingResp));
}

pub fn ack(pkid: u16, code: u8) -> PubResponse {
    let mut response = PubResponse::ok(pkid);
    response.code = code;
    response
}

/// A subscriber of `version` on topic `t` at `qos`, and the PUBLISH it received from
/// another client (not yet acknowledged).
pub async fn subscriber_with_delivery(
    addr: std::net::SocketAddr,
    version: ProtocolVersion,
    qos: QoS,
) -> (Client, u16) {
    let mut sub = Client::connect(addr, version, "sub").await;
    assert_eq!(sub.subscribe("t", qos).await, vec![qos as u8]);
    let mut publisher = Client::connect(addr, V311, "pub").await;
    publisher.publish("t", b"m", qos, 7).await;
    match sub.recv().await {
        Some(Packet::Publish(p)) => {
            assert_eq!((p.qos, &p.payload[..]), (qos, &b"m"[..]));
            (sub, p.pkid)
        }
        other => panic!("expected PUBLISH, got {other:?}"),
    }
}
