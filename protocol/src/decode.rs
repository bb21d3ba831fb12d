//! The streaming decoder: one whole packet off the front of a read buffer.

use bytes::{Buf, Bytes, BytesMut};
use bytestring::ByteString;

use crate::properties::{self, Context};
use crate::wire::{peek_varint, read_binary, read_string, read_u16, read_u8};
use crate::{
    Auth, ConnAck, Connect, DecodeError, Disconnect, LastWill, Packet, Properties, ProtocolVersion,
    PubResponse, Publish, QoS, RetainHandling, SubAck, Subscribe, SubscriptionOptions, UnsubAck,
    Unsubscribe,
};

/// The least room the decoder reserves ahead for a partial packet. Beyond it, it reserves
/// at most as much again as is already buffered: a declared size is only a claim, and
/// reserving all of it would let a peer that sends a header and nothing more hold
/// `max_packet_size` (or, before CONNECT, `max_connect_packet_size`) of memory per
/// socket. So a buffer grows with the bytes that actually arrive, geometrically, which
/// costs a large packet a handful of copies and an idle liar a few KiB.
pub const MIN_RESERVE_AHEAD: usize = 4 * 1024;

/// Decodes the next packet in `buf`. Returns `Ok(None)` and consumes nothing when the
/// buffer does not yet hold a whole packet (reserving room as described at
/// [`MIN_RESERVE_AHEAD`]).
/// Fails as soon as the remaining length shows the packet is larger than
/// `max_packet_size`.
pub fn decode(
    buf: &mut BytesMut,
    version: ProtocolVersion,
    max_packet_size: usize,
) -> Result<Option<Packet>, DecodeError> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let Some((remaining, len_bytes)) = peek_varint(&buf[1..])? else {
        return Ok(None);
    };
    let total = 1 + len_bytes + remaining;
    if total > max_packet_size {
        return Err(DecodeError::PacketTooLarge {
            size: total,
            max: max_packet_size,
        });
    }
    if buf.len() < total {
        let ahead = buf.len().max(MIN_RESERVE_AHEAD);
        buf.reserve((total - buf.len()).min(ahead));
        return Ok(None);
    }
    let header = buf[0];
    let mut body = buf.split_to(total).freeze();
    body.advance(1 + len_bytes);
    decode_body(header, body, version).map(Some)
}

fn expect_flags(header: u8, flags: u8) -> Result<(), DecodeError> {
    if header & 0x0f != flags {
        return Err(DecodeError::InvalidFlags(header));
    }
    Ok(())
}

/// MQTT 3.1 set DUP (bit 3) on a resent PUBREL, SUBSCRIBE or UNSUBSCRIBE; 3.1.1 made
/// those flags fixed. A 3.1 client resending one must not be cut off as malformed.
fn without_v31_dup(header: u8, version: ProtocolVersion) -> u8 {
    if version == ProtocolVersion::V31 {
        header & !0x08
    } else {
        header
    }
}

fn expect_empty(body: &Bytes) -> Result<(), DecodeError> {
    if !body.is_empty() {
        return Err(DecodeError::TrailingBytes);
    }
    Ok(())
}

fn decode_body(
    header: u8,
    mut body: Bytes,
    version: ProtocolVersion,
) -> Result<Packet, DecodeError> {
    let v5 = version.is_v5();
    let packet = match header >> 4 {
        1 => {
            expect_flags(header, 0)?;
            Packet::Connect(Box::new(decode_connect(&mut body)?))
        }
        2 => {
            expect_flags(header, 0)?;
            Packet::ConnAck(decode_connack(&mut body, v5)?)
        }
        3 => Packet::Publish(decode_publish(header, &mut body, v5)?),
        4 => {
            expect_flags(header, 0)?;
            Packet::PubAck(decode_pub_response(&mut body, v5, PubAckKind::AckOrRec)?)
        }
        5 => {
            expect_flags(header, 0)?;
            Packet::PubRec(decode_pub_response(&mut body, v5, PubAckKind::AckOrRec)?)
        }
        6 => {
            expect_flags(without_v31_dup(header, version), 0b0010)?;
            Packet::PubRel(decode_pub_response(&mut body, v5, PubAckKind::RelOrComp)?)
        }
        7 => {
            expect_flags(header, 0)?;
            Packet::PubComp(decode_pub_response(&mut body, v5, PubAckKind::RelOrComp)?)
        }
        8 => {
            expect_flags(without_v31_dup(header, version), 0b0010)?;
            Packet::Subscribe(decode_subscribe(&mut body, v5)?)
        }
        9 => {
            expect_flags(header, 0)?;
            Packet::SubAck(decode_suback(&mut body, v5)?)
        }
        10 => {
            expect_flags(without_v31_dup(header, version), 0b0010)?;
            Packet::Unsubscribe(decode_unsubscribe(&mut body, v5)?)
        }
        11 => {
            expect_flags(header, 0)?;
            Packet::UnsubAck(decode_unsuback(&mut body, v5)?)
        }
        12 => {
            expect_flags(header, 0)?;
            Packet::PingReq
        }
        13 => {
            expect_flags(header, 0)?;
            Packet::PingResp
        }
        14 => {
            expect_flags(header, 0)?;
            Packet::Disconnect(decode_disconnect(&mut body, v5)?)
        }
        15 if v5 => {
            expect_flags(header, 0)?;
            Packet::Auth(decode_auth(&mut body)?)
        }
        other => return Err(DecodeError::InvalidPacketType(other)),
    };
    expect_empty(&body)?;
    Ok(packet)
}

fn decode_protocol(body: &mut Bytes) -> Result<ProtocolVersion, DecodeError> {
    let name = read_binary(body)?;
    let level = read_u8(body)?;
    match (&name[..], level) {
        (b"MQTT", 4) => Ok(ProtocolVersion::V311),
        (b"MQTT", 5) => Ok(ProtocolVersion::V5),
        (b"MQIsdp", 3) => Ok(ProtocolVersion::V31),
        (b"MQTT", other) | (b"MQIsdp", other) => {
            Err(DecodeError::UnsupportedProtocolVersion(other))
        }
        _ => Err(DecodeError::InvalidProtocolName),
    }
}

fn decode_connect(body: &mut Bytes) -> Result<Connect, DecodeError> {
    let protocol = decode_protocol(body)?;
    let v5 = protocol.is_v5();
    let flags = read_u8(body)?;
    if flags & 0x01 != 0 {
        return Err(DecodeError::Malformed("CONNECT reserved flag set"));
    }
    let clean_start = flags & 0x02 != 0;
    let will_flag = flags & 0x04 != 0;
    let will_qos = QoS::from_u8((flags >> 3) & 0x03).ok_or(DecodeError::InvalidQoS)?;
    let will_retain = flags & 0x20 != 0;
    let has_password = flags & 0x40 != 0;
    let has_username = flags & 0x80 != 0;
    if !will_flag && (will_qos != QoS::AtMostOnce || will_retain) {
        return Err(DecodeError::Malformed(
            "will QoS or retain set without a will",
        ));
    }
    if !v5 && has_password && !has_username {
        return Err(DecodeError::Malformed("password without user name"));
    }
    let keep_alive = read_u16(body)?;
    let properties = if v5 {
        properties::decode(body, Context::Connect)?
    } else {
        Properties::default()
    };
    let client_id = read_string(body)?;
    let will = if will_flag {
        let will_properties = if v5 {
            properties::decode(body, Context::Will)?
        } else {
            Properties::default()
        };
        let topic = read_string(body)?;
        if !crate::topic::valid_topic_name(&topic) {
            return Err(DecodeError::InvalidTopic);
        }
        let payload = read_binary(body)?;
        Some(LastWill {
            topic,
            payload,
            qos: will_qos,
            retain: will_retain,
            properties: will_properties,
        })
    } else {
        None
    };
    let username = if has_username {
        Some(read_string(body)?)
    } else {
        None
    };
    let password = if has_password {
        Some(read_binary(body)?)
    } else {
        None
    };
    Ok(Connect {
        protocol,
        clean_start,
        keep_alive,
        client_id,
        will,
        username,
        password,
        properties,
    })
}

fn decode_connack(body: &mut Bytes, v5: bool) -> Result<ConnAck, DecodeError> {
    let flags = read_u8(body)?;
    if flags & 0xfe != 0 {
        return Err(DecodeError::Malformed("CONNACK reserved flags set"));
    }
    let code = read_u8(body)?;
    let properties = if v5 {
        properties::decode(body, Context::ConnAck)?
    } else {
        Properties::default()
    };
    Ok(ConnAck {
        session_present: flags & 0x01 != 0,
        code,
        properties,
    })
}

fn decode_publish(header: u8, body: &mut Bytes, v5: bool) -> Result<Publish, DecodeError> {
    let dup = header & 0x08 != 0;
    let qos = QoS::from_u8((header >> 1) & 0x03).ok_or(DecodeError::InvalidQoS)?;
    let retain = header & 0x01 != 0;
    if dup && qos == QoS::AtMostOnce {
        return Err(DecodeError::Malformed("DUP set on a QoS 0 PUBLISH"));
    }
    let topic = read_string(body)?;
    if topic.contains(['+', '#']) || (!v5 && topic.is_empty()) {
        return Err(DecodeError::InvalidTopic);
    }
    let pkid = if qos == QoS::AtMostOnce {
        0
    } else {
        nonzero_pkid(body)?
    };
    let properties = if v5 {
        properties::decode(body, Context::Publish)?
    } else {
        Properties::default()
    };
    let payload = std::mem::take(body);
    Ok(Publish {
        dup,
        qos,
        retain,
        topic,
        pkid,
        payload,
        properties,
    })
}

fn nonzero_pkid(body: &mut Bytes) -> Result<u16, DecodeError> {
    match read_u16(body)? {
        0 => Err(DecodeError::Protocol("packet identifier 0")),
        id => Ok(id),
    }
}

/// Which reason codes an acknowledgement may carry (MQTT 5.0 §3.4.2.1, §3.6.2.1).
#[derive(Clone, Copy)]
enum PubAckKind {
    /// PUBACK and PUBREC: success, no matching subscribers, or one of the refusals.
    AckOrRec,
    /// PUBREL and PUBCOMP: success or packet identifier not found.
    RelOrComp,
}

impl PubAckKind {
    fn allows(self, code: u8) -> bool {
        use crate::reason::*;
        match self {
            PubAckKind::AckOrRec => matches!(
                code,
                SUCCESS
                    | NO_MATCHING_SUBSCRIBERS
                    | UNSPECIFIED_ERROR
                    | IMPLEMENTATION_SPECIFIC_ERROR
                    | NOT_AUTHORIZED
                    | TOPIC_NAME_INVALID
                    | PACKET_IDENTIFIER_IN_USE
                    | QUOTA_EXCEEDED
                    | PAYLOAD_FORMAT_INVALID
            ),
            PubAckKind::RelOrComp => matches!(code, SUCCESS | PACKET_IDENTIFIER_NOT_FOUND),
        }
    }
}

/// PUBACK / PUBREC / PUBREL / PUBCOMP; 5.0 may omit the reason code and properties.
/// A reason code the packet type does not define is a protocol error: the peer and we
/// would disagree on whether the flow succeeded.
fn decode_pub_response(
    body: &mut Bytes,
    v5: bool,
    kind: PubAckKind,
) -> Result<PubResponse, DecodeError> {
    let pkid = nonzero_pkid(body)?;
    let (code, properties) = short_form_tail(body, v5, Context::PubResponse)?;
    if !kind.allows(code) {
        return Err(DecodeError::Protocol(
            "reason code not defined for this packet",
        ));
    }
    Ok(PubResponse {
        pkid,
        code,
        properties,
    })
}

/// A reason code and properties that 5.0 lets a packet leave out when they are 0 / empty.
fn short_form_tail(
    body: &mut Bytes,
    v5: bool,
    ctx: Context,
) -> Result<(u8, Properties), DecodeError> {
    if !v5 || body.is_empty() {
        return Ok((0, Properties::default()));
    }
    let code = read_u8(body)?;
    let properties = if body.is_empty() {
        Properties::default()
    } else {
        properties::decode(body, ctx)?
    };
    Ok((code, properties))
}

fn decode_options(byte: u8, v5: bool) -> Result<SubscriptionOptions, DecodeError> {
    let qos = QoS::from_u8(byte & 0x03).ok_or(DecodeError::InvalidQoS)?;
    if !v5 {
        if byte & 0xfc != 0 {
            return Err(DecodeError::Malformed(
                "subscription options reserved bits set",
            ));
        }
        return Ok(SubscriptionOptions {
            qos,
            no_local: false,
            retain_as_published: false,
            retain_handling: RetainHandling::SendAtSubscribe,
        });
    }
    if byte & 0xc0 != 0 {
        return Err(DecodeError::Malformed(
            "subscription options reserved bits set",
        ));
    }
    let retain_handling = match (byte >> 4) & 0x03 {
        0 => RetainHandling::SendAtSubscribe,
        1 => RetainHandling::SendAtSubscribeIfNew,
        2 => RetainHandling::DoNotSend,
        _ => return Err(DecodeError::Protocol("retain handling 3")),
    };
    Ok(SubscriptionOptions {
        qos,
        no_local: byte & 0x04 != 0,
        retain_as_published: byte & 0x08 != 0,
        retain_handling,
    })
}

fn decode_subscribe(body: &mut Bytes, v5: bool) -> Result<Subscribe, DecodeError> {
    let pkid = nonzero_pkid(body)?;
    let properties = if v5 {
        properties::decode(body, Context::Subscribe)?
    } else {
        Properties::default()
    };
    if properties.subscription_identifiers.len() > 1 {
        return Err(DecodeError::DuplicateProperty(0x0B));
    }
    let mut filters = Vec::new();
    while !body.is_empty() {
        let filter = read_filter(body)?;
        let options = decode_options(read_u8(body)?, v5)?;
        filters.push((filter, options));
    }
    if filters.is_empty() {
        return Err(DecodeError::Protocol("SUBSCRIBE without topic filters"));
    }
    Ok(Subscribe {
        pkid,
        filters,
        properties,
    })
}

/// A topic filter of SUBSCRIBE / UNSUBSCRIBE: never empty [MQTT-4.7.3-1]. Malformed,
/// not a per-filter refusal, as mosquitto answers it (DISCONNECT 0x81 and close).
fn read_filter(body: &mut Bytes) -> Result<ByteString, DecodeError> {
    let filter = read_string(body)?;
    if filter.is_empty() {
        return Err(DecodeError::Malformed("empty topic filter"));
    }
    Ok(filter)
}

fn decode_suback(body: &mut Bytes, v5: bool) -> Result<SubAck, DecodeError> {
    let pkid = read_u16(body)?;
    let properties = if v5 {
        properties::decode(body, Context::SubAck)?
    } else {
        Properties::default()
    };
    let codes = std::mem::take(body).to_vec();
    Ok(SubAck {
        pkid,
        codes,
        properties,
    })
}

fn decode_unsubscribe(body: &mut Bytes, v5: bool) -> Result<Unsubscribe, DecodeError> {
    let pkid = nonzero_pkid(body)?;
    let properties = if v5 {
        properties::decode(body, Context::Unsubscribe)?
    } else {
        Properties::default()
    };
    let mut filters = Vec::new();
    while !body.is_empty() {
        filters.push(read_filter(body)?);
    }
    if filters.is_empty() {
        return Err(DecodeError::Protocol("UNSUBSCRIBE without topic filters"));
    }
    Ok(Unsubscribe {
        pkid,
        filters,
        properties,
    })
}

fn decode_unsuback(body: &mut Bytes, v5: bool) -> Result<UnsubAck, DecodeError> {
    let pkid = read_u16(body)?;
    if !v5 {
        return Ok(UnsubAck {
            pkid,
            codes: Vec::new(),
            properties: Properties::default(),
        });
    }
    let properties = properties::decode(body, Context::UnsubAck)?;
    let codes = std::mem::take(body).to_vec();
    Ok(UnsubAck {
        pkid,
        codes,
        properties,
    })
}

fn decode_disconnect(body: &mut Bytes, v5: bool) -> Result<Disconnect, DecodeError> {
    let (code, properties) = short_form_tail(body, v5, Context::Disconnect)?;
    Ok(Disconnect { code, properties })
}

fn decode_auth(body: &mut Bytes) -> Result<Auth, DecodeError> {
    let (code, properties) = short_form_tail(body, true, Context::Auth)?;
    Ok(Auth { code, properties })
}
