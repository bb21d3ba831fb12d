//! Round trips for every packet type in both versions, byte-exact vectors, streaming,
//! and the malformed inputs the decoder must refuse.

use bytes::{Bytes, BytesMut};
use bytestring::ByteString;
use magnetite_protocol::*;

const MAX: usize = 1 << 20;

fn s(v: &str) -> ByteString {
    ByteString::from(v)
}

fn every_property() -> Properties {
    Properties {
        payload_format_indicator: Some(1),
        message_expiry_interval: Some(60),
        content_type: Some(s("text/plain")),
        response_topic: Some(s("reply/to")),
        correlation_data: Some(Bytes::from_static(b"corr")),
        subscription_identifiers: vec![5, 300],
        user_properties: vec![(s("k"), s("v")), (s("k"), s("v2"))],
        topic_alias: Some(3),
        ..Default::default()
    }
}

fn connack_properties() -> Properties {
    Properties {
        session_expiry_interval: Some(30),
        assigned_client_identifier: Some(s("auto-1")),
        server_keep_alive: Some(60),
        authentication_method: Some(s("m")),
        authentication_data: Some(Bytes::from_static(b"d")),
        response_information: Some(s("info")),
        server_reference: Some(s("other:1883")),
        reason_string: Some(s("fine")),
        receive_maximum: Some(10),
        topic_alias_maximum: Some(5),
        maximum_qos: Some(1),
        retain_available: Some(1),
        maximum_packet_size: Some(4096),
        wildcard_subscription_available: Some(1),
        subscription_identifier_available: Some(1),
        shared_subscription_available: Some(0),
        user_properties: vec![(s("a"), s("b"))],
        ..Default::default()
    }
}

/// The constructor of one of the four acks (`Packet::PubAck`, ...).
type AckKind = fn(PubResponse) -> Packet;

fn round_trip(packet: Packet, version: ProtocolVersion) {
    let mut buf = BytesMut::new();
    encode(&packet, version, &mut buf).expect("encode");
    assert_eq!(
        buf.len(),
        encoded_len(&packet, version),
        "encoded_len of {}",
        packet.name()
    );
    let decoded = decode(&mut buf, version, MAX)
        .expect("decode")
        .expect("whole packet");
    assert_eq!(decoded, packet);
    assert!(buf.is_empty());
}

fn connect(version: ProtocolVersion, with_props: bool) -> Packet {
    let v5 = version.is_v5() && with_props;
    Packet::Connect(Box::new(Connect {
        protocol: version,
        clean_start: true,
        keep_alive: 30,
        client_id: s("dev-1"),
        will: Some(LastWill {
            topic: s("wills/dev-1"),
            payload: Bytes::from_static(b"bye"),
            qos: QoS::AtLeastOnce,
            retain: true,
            properties: if v5 {
                Properties {
                    will_delay_interval: Some(5),
                    content_type: Some(s("t")),
                    ..Default::default()
                }
            } else {
                Properties::default()
            },
        }),
        username: Some(s("user")),
        password: Some(Bytes::from_static(b"secret")),
        properties: if v5 {
            Properties {
                session_expiry_interval: Some(100),
                receive_maximum: Some(20),
                maximum_packet_size: Some(1000),
                topic_alias_maximum: Some(4),
                request_problem_information: Some(0),
                request_response_information: Some(1),
                authentication_method: Some(s("SCRAM")),
                user_properties: vec![(s("x"), s("y"))],
                ..Default::default()
            }
        } else {
            Properties::default()
        },
    }))
}

fn all_packets(version: ProtocolVersion, with_props: bool) -> Vec<Packet> {
    let v5 = version.is_v5() && with_props;
    let props = |p: Properties| if v5 { p } else { Properties::default() };
    let reason = |code: u8| if version.is_v5() { code } else { 0 };
    let options = SubscriptionOptions {
        qos: QoS::ExactlyOnce,
        no_local: version.is_v5(),
        retain_as_published: version.is_v5(),
        retain_handling: if version.is_v5() {
            RetainHandling::DoNotSend
        } else {
            RetainHandling::SendAtSubscribe
        },
    };
    let mut out = vec![
        connect(version, with_props),
        Packet::ConnAck(ConnAck {
            session_present: true,
            code: 0,
            properties: props(connack_properties()),
        }),
        Packet::Publish(Publish {
            dup: true,
            qos: QoS::ExactlyOnce,
            retain: true,
            topic: s("a/b"),
            pkid: 9,
            payload: Bytes::from_static(b"payload"),
            properties: props(every_property()),
        }),
        Packet::Publish(Publish {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: false,
            topic: s("a"),
            pkid: 0,
            payload: Bytes::new(),
            properties: Properties::default(),
        }),
        Packet::Subscribe(Subscribe {
            pkid: 3,
            filters: vec![(s("a/+"), options.clone()), (s("$share/g/#"), options)],
            properties: props(Properties {
                subscription_identifiers: vec![7],
                ..Default::default()
            }),
        }),
        Packet::SubAck(SubAck {
            pkid: 3,
            codes: vec![0, 1, 2, 0x80],
            properties: Properties::default(),
        }),
        Packet::Unsubscribe(Unsubscribe {
            pkid: 4,
            filters: vec![s("a/+"), s("b")],
            properties: Properties::default(),
        }),
        Packet::UnsubAck(UnsubAck {
            pkid: 4,
            codes: if version.is_v5() {
                vec![0, 0x11]
            } else {
                vec![]
            },
            properties: props(Properties {
                reason_string: Some(s("r")),
                ..Default::default()
            }),
        }),
        Packet::PingReq,
        Packet::PingResp,
        Packet::Disconnect(Disconnect {
            code: reason(0x8B),
            properties: props(Properties {
                reason_string: Some(s("bye")),
                ..Default::default()
            }),
        }),
    ];
    // A reason code each packet defines: 0x10 No matching subscribers (PUBACK, PUBREC),
    // 0x92 Packet Identifier not found (PUBREL, PUBCOMP).
    let kinds: [(AckKind, u8); 4] = [
        (Packet::PubAck, 0x10),
        (Packet::PubRec, 0x10),
        (Packet::PubRel, 0x92),
        (Packet::PubComp, 0x92),
    ];
    for (kind, code) in kinds {
        out.push(kind(PubResponse::ok(1)));
        out.push(kind(PubResponse {
            pkid: 2,
            code: reason(code),
            properties: props(Properties {
                reason_string: Some(s("why")),
                ..Default::default()
            }),
        }));
    }
    if version.is_v5() {
        out.push(Packet::Auth(Auth {
            code: 0x18,
            properties: props(Properties {
                authentication_method: Some(s("m")),
                ..Default::default()
            }),
        }));
    }
    out
}

#[test]
fn every_packet_round_trips_in_both_versions() {
    for version in [
        ProtocolVersion::V311,
        ProtocolVersion::V5,
        ProtocolVersion::V31,
    ] {
        for with_props in [false, true] {
            for packet in all_packets(version, with_props) {
                round_trip(packet, version);
            }
        }
    }
}

#[test]
fn mosquitto_pub_connect_bytes() {
    // CONNECT as mosquitto_pub -i c1 -k 60 sends it (3.1.1, clean session).
    let bytes = [
        0x10, 0x0e, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x02, 0x00, 0x3c, 0x00, 0x02, b'c',
        b'1',
    ];
    let mut buf = BytesMut::from(&bytes[..]);
    match decode(&mut buf, ProtocolVersion::V311, MAX) {
        Ok(Some(Packet::Connect(c))) => {
            assert_eq!(
                (c.protocol, c.clean_start, c.keep_alive, &*c.client_id),
                (ProtocolVersion::V311, true, 60, "c1")
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn v5_short_forms_are_accepted_and_produced() {
    let mut buf = BytesMut::from(&[0x40u8, 0x02, 0x00, 0x05, 0xe0, 0x00][..]);
    assert_eq!(
        decode(&mut buf, ProtocolVersion::V5, MAX),
        Ok(Some(Packet::PubAck(PubResponse::ok(5))))
    );
    assert_eq!(
        decode(&mut buf, ProtocolVersion::V5, MAX),
        Ok(Some(Packet::Disconnect(Disconnect::default())))
    );
    let mut out = BytesMut::new();
    encode(
        &Packet::PubAck(PubResponse::ok(5)),
        ProtocolVersion::V5,
        &mut out,
    )
    .unwrap();
    assert_eq!(&out[..], &[0x40, 0x02, 0x00, 0x05]);
}

#[test]
fn streaming_byte_by_byte() {
    let mut whole = BytesMut::new();
    for packet in all_packets(ProtocolVersion::V5, true) {
        encode(&packet, ProtocolVersion::V5, &mut whole).unwrap();
    }
    let expected = all_packets(ProtocolVersion::V5, true);
    let mut buf = BytesMut::new();
    let mut got = Vec::new();
    for byte in whole.iter() {
        buf.extend_from_slice(&[*byte]);
        while let Some(p) = decode(&mut buf, ProtocolVersion::V5, MAX).unwrap() {
            got.push(p);
        }
    }
    assert_eq!(got, expected);
}

fn refuse(bytes: &[u8], version: ProtocolVersion) -> DecodeError {
    let mut buf = BytesMut::from(bytes);
    match decode(&mut buf, version, MAX) {
        Err(e) => e,
        Ok(p) => panic!("{bytes:02x?} decoded as {p:?}"),
    }
}

#[test]
fn malformed_input_is_refused_with_a_reason() {
    use ProtocolVersion::{V311, V5};
    // PUBREL / SUBSCRIBE with wrong fixed-header flags.
    assert!(matches!(
        refuse(&[0x60, 0x02, 0x00, 0x01], V311),
        DecodeError::InvalidFlags(_)
    ));
    assert!(matches!(
        refuse(&[0x80, 0x06, 0x00, 0x01, 0x00, 0x01, b'a', 0x00], V311),
        DecodeError::InvalidFlags(_)
    ));
    // QoS 3 PUBLISH.
    assert_eq!(
        refuse(&[0x36, 0x05, 0x00, 0x01, b'a', 0x00, 0x01], V311),
        DecodeError::InvalidQoS
    );
    // Remaining length longer than 4 bytes.
    assert_eq!(
        refuse(&[0x30, 0xff, 0xff, 0xff, 0xff, 0x01], V311),
        DecodeError::MalformedVarint
    );
    // Wildcard in a PUBLISH topic.
    assert_eq!(
        refuse(&[0x30, 0x03, 0x00, 0x01, b'#'], V311),
        DecodeError::InvalidTopic
    );
    assert_eq!(
        refuse(&[0x30, 0x03, 0x00, 0x01, b'#'], V5).reason_code(),
        reason::TOPIC_NAME_INVALID
    );
    // Invalid UTF-8 and U+0000 in a topic.
    assert_eq!(
        refuse(&[0x30, 0x04, 0x00, 0x02, 0xc3, 0x28], V311),
        DecodeError::InvalidString
    );
    assert_eq!(
        refuse(&[0x30, 0x04, 0x00, 0x02, b'a', 0x00], V311),
        DecodeError::InvalidString
    );
    // QoS 1 with packet id 0.
    assert!(matches!(
        refuse(&[0x32, 0x05, 0x00, 0x01, b'a', 0x00, 0x00], V311),
        DecodeError::Protocol(_)
    ));
    // SUBSCRIBE without filters.
    assert!(matches!(
        refuse(&[0x82, 0x02, 0x00, 0x01], V311),
        DecodeError::Protocol(_)
    ));
    // Reserved subscription option bits in 3.1.1.
    assert!(matches!(
        refuse(&[0x82, 0x06, 0x00, 0x01, 0x00, 0x01, b'a', 0x04], V311),
        DecodeError::Malformed(_)
    ));
    // CONNECT reserved flag, and unknown protocol name / level.
    let mut connect = vec![
        0x10, 0x0d, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x03, 0x00, 0x3c, 0x00, 0x01, b'c',
    ];
    assert!(matches!(refuse(&connect, V311), DecodeError::Malformed(_)));
    connect[9] = 0x02;
    connect[8] = 0x07;
    assert_eq!(
        refuse(&connect, V311),
        DecodeError::UnsupportedProtocolVersion(7)
    );
    assert_eq!(
        refuse(&connect, V311).reason_code(),
        reason::UNSUPPORTED_PROTOCOL_VERSION
    );
    connect[8] = 0x04;
    connect[4] = b'X';
    assert_eq!(refuse(&connect, V311), DecodeError::InvalidProtocolName);
    // Trailing bytes after a 3.1.1 PUBACK.
    assert_eq!(
        refuse(&[0x40, 0x03, 0x00, 0x01, 0x00], V311),
        DecodeError::TrailingBytes
    );
    // A property not allowed in PUBLISH, and a duplicated one.
    assert_eq!(
        refuse(&[0x30, 0x07, 0x00, 0x01, b'a', 0x02, 0x21, 0x00, 0x01], V5),
        DecodeError::InvalidPropertyId(0x21)
    );
    assert_eq!(
        refuse(
            &[0x30, 0x08, 0x00, 0x01, b'a', 0x04, 0x01, 0x00, 0x01, 0x01],
            V5
        ),
        DecodeError::DuplicateProperty(0x01)
    );
    // AUTH does not exist in 3.1.1.
    assert_eq!(
        refuse(&[0xf0, 0x00], V311),
        DecodeError::InvalidPacketType(15)
    );
}

#[test]
fn too_large_is_reported_from_the_header_alone() {
    let mut buf = BytesMut::from(&[0x30u8, 0xff, 0xff, 0x03][..]);
    match decode(&mut buf, ProtocolVersion::V5, 1024) {
        Err(e @ DecodeError::PacketTooLarge { .. }) => {
            assert_eq!(e.reason_code(), reason::PACKET_TOO_LARGE)
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn incomplete_input_consumes_nothing() {
    let mut buf = BytesMut::from(&[0x32u8, 0x07, 0x00, 0x03, b'a'][..]);
    assert_eq!(decode(&mut buf, ProtocolVersion::V311, MAX), Ok(None));
    assert_eq!(buf.len(), 5);
}

/// The broker's delivery path (`encode_publish_parts`, borrowed pieces) writes the same
/// bytes as a `Publish` would, in both versions, with and without properties.
#[test]
fn publish_parts_encode_like_a_publish() {
    for version in [ProtocolVersion::V311, ProtocolVersion::V5] {
        for properties in [Properties::default(), every_property()] {
            for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
                let pkid = if qos == QoS::AtMostOnce { 0 } else { 7 };
                let publish = Publish {
                    dup: qos != QoS::AtMostOnce,
                    qos,
                    retain: true,
                    topic: s("a/b"),
                    pkid,
                    payload: Bytes::from_static(b"payload"),
                    properties: properties.clone(),
                };
                let mut whole = BytesMut::new();
                encode_publish(&publish, version, &mut whole).unwrap();
                let parts = PublishParts {
                    dup: publish.dup,
                    qos,
                    retain: true,
                    topic: "a/b",
                    pkid,
                    properties: Some(&properties).filter(|p| !p.is_empty()),
                    payload: b"payload",
                };
                let mut split = BytesMut::new();
                encode_publish_parts(&parts, version, &mut split).unwrap();
                assert_eq!(whole, split, "{version:?} {qos:?}");
            }
        }
    }
}
