//! The encoder: lengths are computed first, then the packet is written in one pass
//! straight into the caller's buffer (no intermediate allocation).

use bytes::{BufMut, BytesMut};

use crate::properties;
use crate::wire::{varint_len, write_binary, write_string, write_varint, MAX_VARINT};
use crate::{
    Connect, EncodeError, Packet, Properties, ProtocolVersion, PubResponse, Publish, QoS,
    Subscribe, SubscriptionOptions,
};

fn str_len(s: &str) -> usize {
    2 + s.len()
}

fn props_len(p: &Properties, v5: bool) -> usize {
    if v5 {
        properties::len_with_prefix(p)
    } else {
        0
    }
}

fn check_field(len: usize) -> Result<(), EncodeError> {
    if len > 65_535 {
        return Err(EncodeError::FieldTooLong);
    }
    Ok(())
}

fn connect_len(c: &Connect) -> usize {
    let v5 = c.protocol.is_v5();
    let name = if c.protocol == ProtocolVersion::V31 {
        "MQIsdp"
    } else {
        "MQTT"
    };
    let mut n = str_len(name) + 1 + 1 + 2 + props_len(&c.properties, v5) + str_len(&c.client_id);
    if let Some(w) = &c.will {
        n += props_len(&w.properties, v5) + str_len(&w.topic) + 2 + w.payload.len();
    }
    n += c.username.as_ref().map_or(0, |u| str_len(u));
    n += c.password.as_ref().map_or(0, |p| 2 + p.len());
    n
}

/// Whether a 5.0 ack can use its short form (reason code 0, no properties).
fn short_form(code: u8, props: &Properties) -> bool {
    code == 0 && props.is_empty()
}

fn pub_response_len(r: &PubResponse, v5: bool) -> usize {
    if !v5 || short_form(r.code, &r.properties) {
        2
    } else if r.properties.is_empty() {
        3
    } else {
        3 + props_len(&r.properties, true)
    }
}

fn publish_len(p: &Publish, v5: bool) -> usize {
    let id = if p.qos == QoS::AtMostOnce { 0 } else { 2 };
    str_len(&p.topic) + id + props_len(&p.properties, v5) + p.payload.len()
}

fn body_len(packet: &Packet, v5: bool) -> usize {
    match packet {
        Packet::Connect(c) => connect_len(c),
        Packet::ConnAck(a) => 2 + props_len(&a.properties, v5),
        Packet::Publish(p) => publish_len(p, v5),
        Packet::PubAck(r) | Packet::PubRec(r) | Packet::PubRel(r) | Packet::PubComp(r) => {
            pub_response_len(r, v5)
        }
        Packet::Subscribe(s) => {
            2 + props_len(&s.properties, v5)
                + s.filters.iter().map(|(f, _)| str_len(f) + 1).sum::<usize>()
        }
        Packet::SubAck(s) => 2 + props_len(&s.properties, v5) + s.codes.len(),
        Packet::Unsubscribe(u) => {
            2 + props_len(&u.properties, v5) + u.filters.iter().map(|f| str_len(f)).sum::<usize>()
        }
        Packet::UnsubAck(u) => {
            2 + if v5 {
                props_len(&u.properties, true) + u.codes.len()
            } else {
                0
            }
        }
        Packet::PingReq | Packet::PingResp => 0,
        Packet::Disconnect(d) => short_tail_len(d.code, &d.properties, v5),
        Packet::Auth(a) => short_tail_len(a.code, &a.properties, v5),
    }
}

fn short_tail_len(code: u8, props: &Properties, v5: bool) -> usize {
    if !v5 || short_form(code, props) {
        0
    } else if props.is_empty() {
        1
    } else {
        1 + props_len(props, true)
    }
}

/// Bytes `packet` takes on the wire in `version`, fixed header included.
pub fn encoded_len(packet: &Packet, version: ProtocolVersion) -> usize {
    let body = body_len(packet, version.is_v5());
    1 + varint_len(body) + body
}

fn fixed_header(packet: &Packet) -> u8 {
    match packet {
        Packet::Connect(_) => 0x10,
        Packet::ConnAck(_) => 0x20,
        Packet::Publish(p) => publish_header(p),
        Packet::PubAck(_) => 0x40,
        Packet::PubRec(_) => 0x50,
        Packet::PubRel(_) => 0x62,
        Packet::PubComp(_) => 0x70,
        Packet::Subscribe(_) => 0x82,
        Packet::SubAck(_) => 0x90,
        Packet::Unsubscribe(_) => 0xA2,
        Packet::UnsubAck(_) => 0xB0,
        Packet::PingReq => 0xC0,
        Packet::PingResp => 0xD0,
        Packet::Disconnect(_) => 0xE0,
        Packet::Auth(_) => 0xF0,
    }
}

fn publish_header(p: &Publish) -> u8 {
    0x30 | (u8::from(p.dup) << 3) | ((p.qos as u8) << 1) | u8::from(p.retain)
}

/// Checks the lengths the wire format cannot express before anything is written.
fn validate(packet: &Packet, version: ProtocolVersion) -> Result<(), EncodeError> {
    let v5 = version.is_v5();
    match packet {
        Packet::Auth(_) if !v5 => return Err(EncodeError::NotInVersion("AUTH")),
        Packet::Connect(c) => {
            check_field(c.client_id.len())?;
            if let Some(w) = &c.will {
                check_field(w.topic.len())?;
                check_field(w.payload.len())?;
                properties::check(&w.properties)?;
            }
            check_field(c.username.as_ref().map_or(0, |u| u.len()))?;
            check_field(c.password.as_ref().map_or(0, |p| p.len()))?;
            properties::check(&c.properties)?;
        }
        Packet::Publish(p) => {
            check_field(p.topic.len())?;
            properties::check(&p.properties)?;
        }
        Packet::Subscribe(s) => s
            .filters
            .iter()
            .try_for_each(|(f, _)| check_field(f.len()))?,
        Packet::Unsubscribe(u) => u.filters.iter().try_for_each(|f| check_field(f.len()))?,
        _ => {}
    }
    Ok(())
}

/// Appends `packet` encoded for `version` to `out`.
pub fn encode(
    packet: &Packet,
    version: ProtocolVersion,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    if let Packet::Publish(p) = packet {
        return encode_publish(p, version, out);
    }
    validate(packet, version)?;
    let v5 = version.is_v5();
    let body = body_len(packet, v5);
    if body > MAX_VARINT {
        return Err(EncodeError::PacketTooLarge);
    }
    out.reserve(1 + varint_len(body) + body);
    out.put_u8(fixed_header(packet));
    write_varint(out, body);
    write_body(packet, v5, out);
    Ok(())
}

/// The hot path: a PUBLISH written straight into `out`, no allocation but `out` growing.
pub fn encode_publish(
    p: &Publish,
    version: ProtocolVersion,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    let parts = PublishParts {
        dup: p.dup,
        qos: p.qos,
        retain: p.retain,
        topic: &p.topic,
        pkid: p.pkid,
        properties: Some(&p.properties),
        payload: &p.payload,
    };
    encode_publish_parts(&parts, version, out)
}

/// A PUBLISH as borrowed pieces. The broker delivers a stored message by pointing at its
/// topic, properties and payload: no `Publish` (with its ~400-byte `Properties`) is
/// built, cloned and dropped per delivery.
#[derive(Debug, Clone, Copy)]
pub struct PublishParts<'a> {
    pub dup: bool,
    pub qos: QoS,
    pub retain: bool,
    pub topic: &'a str,
    /// Written only for QoS 1/2.
    pub pkid: u16,
    /// 5.0 properties; `None` is the same as empty ones (one zero length byte).
    pub properties: Option<&'a Properties>,
    pub payload: &'a [u8],
}

/// Appends the PUBLISH made of `p` encoded for `version` to `out`.
pub fn encode_publish_parts(
    p: &PublishParts<'_>,
    version: ProtocolVersion,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    let v5 = version.is_v5();
    check_field(p.topic.len())?;
    // Empty properties encode as one zero byte; their 29 fields are not walked.
    let props = p.properties.filter(|props| v5 && !props.is_empty());
    if let Some(props) = props {
        properties::check(props)?;
    }
    let props_len = match props {
        Some(props) => properties::len_with_prefix(props),
        None => usize::from(v5),
    };
    let id = if p.qos == QoS::AtMostOnce { 0 } else { 2 };
    let body = str_len(p.topic) + id + props_len + p.payload.len();
    if body > MAX_VARINT {
        return Err(EncodeError::PacketTooLarge);
    }
    out.reserve(1 + varint_len(body) + body);
    out.put_u8(0x30 | (u8::from(p.dup) << 3) | ((p.qos as u8) << 1) | u8::from(p.retain));
    write_varint(out, body);
    write_string(out, p.topic);
    if id != 0 {
        out.put_u16(p.pkid);
    }
    match props {
        Some(props) => properties::encode(props, out),
        None if v5 => out.put_u8(0),
        None => {}
    }
    out.put_slice(p.payload);
    Ok(())
}

fn write_props(p: &Properties, v5: bool, out: &mut BytesMut) {
    if v5 {
        properties::encode(p, out);
    }
}

fn write_body(packet: &Packet, v5: bool, out: &mut BytesMut) {
    match packet {
        Packet::Connect(c) => write_connect(c, out),
        Packet::ConnAck(a) => {
            out.put_u8(u8::from(a.session_present));
            out.put_u8(a.code);
            write_props(&a.properties, v5, out);
        }
        Packet::Publish(_) => {}
        Packet::PubAck(r) | Packet::PubRec(r) | Packet::PubRel(r) | Packet::PubComp(r) => {
            out.put_u16(r.pkid);
            write_short_tail(r.code, &r.properties, v5, out);
        }
        Packet::Subscribe(s) => write_subscribe(s, v5, out),
        Packet::SubAck(s) => {
            out.put_u16(s.pkid);
            write_props(&s.properties, v5, out);
            out.put_slice(&s.codes);
        }
        Packet::Unsubscribe(u) => {
            out.put_u16(u.pkid);
            write_props(&u.properties, v5, out);
            u.filters.iter().for_each(|f| write_string(out, f));
        }
        Packet::UnsubAck(u) => {
            out.put_u16(u.pkid);
            if v5 {
                properties::encode(&u.properties, out);
                out.put_slice(&u.codes);
            }
        }
        Packet::PingReq | Packet::PingResp => {}
        Packet::Disconnect(d) => write_short_tail(d.code, &d.properties, v5, out),
        Packet::Auth(a) => write_short_tail(a.code, &a.properties, v5, out),
    }
}

fn write_short_tail(code: u8, props: &Properties, v5: bool, out: &mut BytesMut) {
    if !v5 || short_form(code, props) {
        return;
    }
    out.put_u8(code);
    if !props.is_empty() {
        properties::encode(props, out);
    }
}

fn write_connect(c: &Connect, out: &mut BytesMut) {
    let v5 = c.protocol.is_v5();
    let name = if c.protocol == ProtocolVersion::V31 {
        "MQIsdp"
    } else {
        "MQTT"
    };
    write_string(out, name);
    out.put_u8(c.protocol.level());
    let mut flags = 0u8;
    if c.clean_start {
        flags |= 0x02;
    }
    if let Some(w) = &c.will {
        flags |= 0x04 | ((w.qos as u8) << 3) | (u8::from(w.retain) << 5);
    }
    if c.password.is_some() {
        flags |= 0x40;
    }
    if c.username.is_some() {
        flags |= 0x80;
    }
    out.put_u8(flags);
    out.put_u16(c.keep_alive);
    write_props(&c.properties, v5, out);
    write_string(out, &c.client_id);
    if let Some(w) = &c.will {
        write_props(&w.properties, v5, out);
        write_string(out, &w.topic);
        write_binary(out, &w.payload);
    }
    if let Some(u) = &c.username {
        write_string(out, u);
    }
    if let Some(p) = &c.password {
        write_binary(out, p);
    }
}

fn options_byte(o: &SubscriptionOptions, v5: bool) -> u8 {
    let mut b = o.qos as u8;
    if v5 {
        b |= u8::from(o.no_local) << 2;
        b |= u8::from(o.retain_as_published) << 3;
        b |= (o.retain_handling as u8) << 4;
    }
    b
}

fn write_subscribe(s: &Subscribe, v5: bool, out: &mut BytesMut) {
    out.put_u16(s.pkid);
    write_props(&s.properties, v5, out);
    for (filter, options) in &s.filters {
        write_string(out, filter);
        out.put_u8(options_byte(options, v5));
    }
}
