//! Flows in progress across a `kill -9` (QoS 1/2 sent but unacknowledged, an incoming
//! QoS 2 id between PUBREC and PUBREL), and a live clean session made persistent by a
//! takeover. Driven packet by packet with the security suite's raw client, so packet
//! ids, DUP flags and session-present are seen exactly as the broker sends them.
//!
//! `--persistence sync` plus a barrier: a QoS 1 PUBLISH stored for an offline session
//! is acknowledged only once every record appended before it is fsynced, so after its
//! PUBACK the state the test reads back is on disk (no sleeping on the writer).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use magnetite_broker::protocol::{
    reason, ConnAck, Packet, Properties, ProtocolVersion, PubResponse, Publish, QoS,
};
use magnetite_broker::ByteString;

use crate::common;
use crate::mqtt::{Login, Mqtt, V311, V5};
use crate::platform::Device;

const WAIT: Duration = Duration::from_secs(10);

/// Connects `client_id` (clean, or resuming a 1 h session) and returns the CONNACK.
/// `--auth none` accepts any credentials; the raw client wants some.
pub fn try_connect(
    addr: SocketAddr,
    version: ProtocolVersion,
    client_id: &str,
    clean: bool,
) -> (Mqtt, ConnAck) {
    let device = Device {
        id: "anyone-at-all".into(),
        secret: "unused".into(),
    };
    let login = Login {
        version,
        client_id,
        device: &device,
        clean,
    };
    Mqtt::connect(addr, login)
}

/// [`try_connect`], asserting success; returns whether a session was present.
pub fn connect(
    addr: SocketAddr,
    version: ProtocolVersion,
    client_id: &str,
    clean: bool,
) -> (Mqtt, bool) {
    let (client, ack) = try_connect(addr, version, client_id, clean);
    assert_eq!(ack.code, 0, "CONNACK for {client_id}: {ack:?}");
    (client, ack.session_present)
}

pub fn publish(client: &mut Mqtt, topic: &str, payload: &str, qos: QoS, pkid: u16, dup: bool) {
    client.send(Packet::Publish(Publish {
        dup,
        qos,
        retain: false,
        topic: ByteString::from(topic),
        pkid,
        payload: Bytes::from(payload.to_string()),
        properties: Properties::default(),
    }));
}

/// The next packet, which must come within [`WAIT`].
pub fn next(client: &mut Mqtt) -> Packet {
    client.recv(WAIT).expect("a packet from the broker")
}

/// The next packet must be the acknowledgement `expected(pkid)` with reason `code`.
pub fn expect_ack(client: &mut Mqtt, expected: fn(PubResponse) -> Packet, pkid: u16, code: u8) {
    let got = next(client);
    let want = expected(PubResponse {
        pkid,
        code,
        properties: Properties::default(),
    });
    assert_eq!(got, want);
}

/// An offline persistent session on `barrier/#`: a QoS 1 PUBLISH there is stored, so
/// under `sync` its PUBACK means everything appended before it is durable.
fn barrier_session(addr: SocketAddr, version: ProtocolVersion) {
    let (mut barrier, _) = connect(addr, version, "barrier", false);
    assert_eq!(barrier.subscribe("barrier/#"), vec![1]);
    barrier.disconnect();
}

fn wait_durable(publisher: &mut Mqtt, pkid: u16) {
    publish(
        publisher,
        "barrier/x",
        "sync",
        QoS::AtLeastOnce,
        pkid,
        false,
    );
    expect_ack(publisher, Packet::PubAck, pkid, 0);
}

/// What a subscriber got before the crash: packet id and QoS per payload.
type Sent = HashMap<String, (u16, QoS)>;

fn receive_publishes(sub: &mut Mqtt, count: usize) -> Sent {
    let mut sent = Sent::new();
    while sent.len() < count {
        match next(sub) {
            Packet::Publish(p) => {
                assert!(!p.dup, "first delivery with DUP: {p:?}");
                let payload = String::from_utf8_lossy(&p.payload).into_owned();
                sent.insert(payload, (p.pkid, p.qos));
            }
            other => panic!("expected PUBLISH, got {other:?}"),
        }
    }
    sent
}

fn inflight_survives_kill_9(version: ProtocolVersion) {
    let server = common::start(&["--persistence", "sync"]);
    barrier_session(server.mqtt, version);
    let (mut sub, _) = connect(server.mqtt, version, "inflight-sub", false);
    assert_eq!(sub.subscribe_qos("inf/#", QoS::ExactlyOnce), vec![2]);
    let (mut publ, _) = connect(server.mqtt, version, "inflight-pub", false);
    publish(&mut publ, "inf/a", "one", QoS::AtLeastOnce, 1, false);
    expect_ack(&mut publ, Packet::PubAck, 1, 0);
    // Incoming QoS 2 held: PUBREC received, PUBREL not sent before the crash.
    publish(&mut publ, "inf/b", "two", QoS::ExactlyOnce, 2, false);
    expect_ack(&mut publ, Packet::PubRec, 2, 0);
    publish(&mut publ, "inf/c", "three", QoS::ExactlyOnce, 3, false);
    expect_ack(&mut publ, Packet::PubRec, 3, 0);
    publ.send(Packet::PubRel(PubResponse::ok(3)));
    expect_ack(&mut publ, Packet::PubComp, 3, 0);

    // The subscriber acknowledges nothing but "three"'s PUBREC (its PUBREL is then due).
    let sent = receive_publishes(&mut sub, 3);
    assert_eq!(sent["one"].1, QoS::AtLeastOnce);
    assert_eq!(sent["two"].1, QoS::ExactlyOnce);
    let released = sent["three"].0;
    sub.send(Packet::PubRec(PubResponse::ok(released)));
    expect_ack(&mut sub, Packet::PubRel, released, 0);
    wait_durable(&mut publ, 4);
    let dir = server.kill9();

    let server = common::start_in(dir, &["--persistence", "sync"]);
    let (mut sub, present) = connect(server.mqtt, version, "inflight-sub", false);
    assert!(present, "subscriber's session lost");
    assert_resent(&mut sub, &sent);
    let (mut publ, present) = connect(server.mqtt, version, "inflight-pub", false);
    assert!(present, "publisher's session lost");
    // A retransmission of "two" (as a client that missed the PUBREC sends it): the id
    // is still held, so it is acknowledged and not routed again; PUBREL completes it.
    publish(&mut publ, "inf/b", "two", QoS::ExactlyOnce, 2, true);
    expect_ack(&mut publ, Packet::PubRec, 2, 0);
    publ.send(Packet::PubRel(PubResponse::ok(2)));
    expect_ack(&mut publ, Packet::PubComp, 2, 0);
    publish(&mut publ, "inf/end", "end", QoS::AtLeastOnce, 5, false);
    expect_ack(&mut publ, Packet::PubAck, 5, 0);
    let after = sub.until("end");
    assert_eq!(
        crate::mqtt::payloads(&after),
        vec!["end"],
        "a message was delivered twice"
    );
}

/// After the restart: "one" and "two" again with their packet ids and DUP, and the
/// PUBREL of "three" (not its PUBLISH); each answered so the flows end.
fn assert_resent(sub: &mut Mqtt, sent: &Sent) {
    let mut publishes_due: Vec<u16> = vec![sent["one"].0, sent["two"].0];
    let mut pubrels_due: Vec<u16> = vec![sent["three"].0];
    while !publishes_due.is_empty() || !pubrels_due.is_empty() {
        match next(sub) {
            Packet::Publish(p) => {
                assert!(p.dup, "resent without DUP: {p:?}");
                let payload = String::from_utf8_lossy(&p.payload).into_owned();
                assert_eq!(Some(&(p.pkid, p.qos)), sent.get(&payload), "{p:?}");
                assert!(publishes_due.contains(&p.pkid), "not due: {p:?}");
                publishes_due.retain(|&pkid| pkid != p.pkid);
                if p.qos == QoS::AtLeastOnce {
                    sub.send(Packet::PubAck(PubResponse::ok(p.pkid)));
                } else {
                    sub.send(Packet::PubRec(PubResponse::ok(p.pkid)));
                    pubrels_due.push(p.pkid);
                }
            }
            Packet::PubRel(rel) => {
                assert!(pubrels_due.contains(&rel.pkid), "unexpected {rel:?}");
                pubrels_due.retain(|&pkid| pkid != rel.pkid);
                sub.send(Packet::PubComp(PubResponse::ok(rel.pkid)));
            }
            other => panic!("unexpected after restart: {other:?}"),
        }
    }
}

#[test]
fn qos1_qos2_in_flight_are_resent_with_their_ids_after_kill_9_v5() {
    inflight_survives_kill_9(V5);
}

#[test]
fn qos1_qos2_in_flight_are_resent_with_their_ids_after_kill_9_v311() {
    inflight_survives_kill_9(V311);
}

/// A live clean session (expiry 0) taken over by `clean_start=false` with an expiry:
/// the clean session ends with its connection (MQTT 5 3.1.2.11.2), so the new one
/// starts empty (session present 0) and only what it subscribes itself is stored and
/// comes back after a restart; nothing of the clean session is resurrected.
#[test]
fn a_clean_session_taken_over_as_persistent_starts_empty_and_persists_its_own() {
    let server = common::start(&[]);
    let (mut clean, _) = connect(server.mqtt, V5, "taken", true);
    assert_eq!(clean.subscribe("taken/old"), vec![1]);
    assert!(clean.alive());
    let (mut resumed, present) = connect(server.mqtt, V5, "taken", false);
    assert!(!present, "an expiry-0 session outlived its connection");
    assert_eq!(resumed.subscribe("taken/new"), vec![1]);
    resumed.disconnect();
    let dir = server.stop();

    let server = common::start_in(dir, &[]);
    let (mut publ, _) = connect(server.mqtt, V5, "taken-pub", true);
    publish(&mut publ, "taken/old", "old", QoS::AtLeastOnce, 1, false);
    expect_ack(
        &mut publ,
        Packet::PubAck,
        1,
        reason::NO_MATCHING_SUBSCRIBERS,
    );
    publish(&mut publ, "taken/new", "new", QoS::AtLeastOnce, 2, false);
    expect_ack(&mut publ, Packet::PubAck, 2, 0);
    let (mut back, present) = connect(server.mqtt, V5, "taken", false);
    assert!(
        present,
        "the persistent session did not survive the restart"
    );
    assert_eq!(crate::mqtt::payloads(&back.until("new")), vec!["new"]);
}

/// Pipelined acks under `sync` keep the order of what they answer: packets sent without
/// waiting (a stored QoS 2, its PUBREL, a PINGREQ, an unstored QoS 1, a stored QoS 1,
/// DISCONNECT) get PUBREC before the PUBCOMP of its id, the unstored one's PUBACK
/// behind the stored ones ahead of it, and every ack before the DISCONNECT is handled.
#[test]
fn pipelined_acks_under_sync_keep_their_order_up_to_a_disconnect() {
    let server = common::start(&["--persistence", "sync"]);
    barrier_session(server.mqtt, V5);
    let (mut publisher, _) = connect(server.mqtt, V5, "pipeliner", true);
    publish(
        &mut publisher,
        "barrier/a",
        "q2",
        QoS::ExactlyOnce,
        1,
        false,
    );
    publisher.send(Packet::PubRel(PubResponse::ok(1)));
    publisher.send(Packet::PingReq);
    publish(&mut publisher, "nobody/x", "q1", QoS::AtLeastOnce, 2, false);
    publish(
        &mut publisher,
        "barrier/b",
        "q1",
        QoS::AtLeastOnce,
        3,
        false,
    );
    publisher.send(Packet::Disconnect(Default::default()));
    let got: Vec<Packet> = (0..5).map(|_| next(&mut publisher)).collect();
    assert!(got.contains(&Packet::PingResp), "{got:?}");
    let acks: Vec<Packet> = got.into_iter().filter(|p| *p != Packet::PingResp).collect();
    let ack = |kind: fn(PubResponse) -> Packet, pkid, code| {
        let mut response = PubResponse::ok(pkid);
        response.code = code;
        kind(response)
    };
    assert_eq!(
        acks,
        vec![
            ack(Packet::PubRec, 1, 0),
            ack(Packet::PubComp, 1, 0),
            ack(Packet::PubAck, 2, reason::NO_MATCHING_SUBSCRIBERS),
            ack(Packet::PubAck, 3, 0),
        ]
    );
}
