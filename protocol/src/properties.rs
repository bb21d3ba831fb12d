//! MQTT 5.0 properties: which packet may carry which, decoding with duplicate checks,
//! and encoding with the length computed up front.

use bytes::{BufMut, Bytes, BytesMut};
use bytestring::ByteString;

use crate::wire::{
    read_binary, read_string, read_u16, read_u32, read_u8, read_varint, varint_len, write_binary,
    write_string, write_varint,
};
use crate::{DecodeError, EncodeError, Properties};

/// The packet (or will) a property list belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    Connect,
    ConnAck,
    Publish,
    Will,
    PubResponse,
    Subscribe,
    SubAck,
    Unsubscribe,
    UnsubAck,
    Disconnect,
    Auth,
}

mod id {
    pub const PAYLOAD_FORMAT_INDICATOR: u8 = 0x01;
    pub const MESSAGE_EXPIRY_INTERVAL: u8 = 0x02;
    pub const CONTENT_TYPE: u8 = 0x03;
    pub const RESPONSE_TOPIC: u8 = 0x08;
    pub const CORRELATION_DATA: u8 = 0x09;
    pub const SUBSCRIPTION_IDENTIFIER: u8 = 0x0B;
    pub const SESSION_EXPIRY_INTERVAL: u8 = 0x11;
    pub const ASSIGNED_CLIENT_IDENTIFIER: u8 = 0x12;
    pub const SERVER_KEEP_ALIVE: u8 = 0x13;
    pub const AUTHENTICATION_METHOD: u8 = 0x15;
    pub const AUTHENTICATION_DATA: u8 = 0x16;
    pub const REQUEST_PROBLEM_INFORMATION: u8 = 0x17;
    pub const WILL_DELAY_INTERVAL: u8 = 0x18;
    pub const REQUEST_RESPONSE_INFORMATION: u8 = 0x19;
    pub const RESPONSE_INFORMATION: u8 = 0x1A;
    pub const SERVER_REFERENCE: u8 = 0x1C;
    pub const REASON_STRING: u8 = 0x1F;
    pub const RECEIVE_MAXIMUM: u8 = 0x21;
    pub const TOPIC_ALIAS_MAXIMUM: u8 = 0x22;
    pub const TOPIC_ALIAS: u8 = 0x23;
    pub const MAXIMUM_QOS: u8 = 0x24;
    pub const RETAIN_AVAILABLE: u8 = 0x25;
    pub const USER_PROPERTY: u8 = 0x26;
    pub const MAXIMUM_PACKET_SIZE: u8 = 0x27;
    pub const WILDCARD_SUBSCRIPTION_AVAILABLE: u8 = 0x28;
    pub const SUBSCRIPTION_IDENTIFIER_AVAILABLE: u8 = 0x29;
    pub const SHARED_SUBSCRIPTION_AVAILABLE: u8 = 0x2A;
}

/// Whether property `pid` may appear in `ctx` (MQTT 5.0 §2.2.2.2 table).
fn allowed(pid: u8, ctx: Context) -> bool {
    use Context::*;
    match pid {
        id::PAYLOAD_FORMAT_INDICATOR
        | id::MESSAGE_EXPIRY_INTERVAL
        | id::CONTENT_TYPE
        | id::RESPONSE_TOPIC
        | id::CORRELATION_DATA => matches!(ctx, Publish | Will),
        id::SUBSCRIPTION_IDENTIFIER => matches!(ctx, Publish | Subscribe),
        id::SESSION_EXPIRY_INTERVAL => matches!(ctx, Connect | ConnAck | Disconnect),
        id::ASSIGNED_CLIENT_IDENTIFIER
        | id::SERVER_KEEP_ALIVE
        | id::RESPONSE_INFORMATION
        | id::MAXIMUM_QOS
        | id::RETAIN_AVAILABLE
        | id::WILDCARD_SUBSCRIPTION_AVAILABLE
        | id::SUBSCRIPTION_IDENTIFIER_AVAILABLE
        | id::SHARED_SUBSCRIPTION_AVAILABLE => ctx == ConnAck,
        id::AUTHENTICATION_METHOD | id::AUTHENTICATION_DATA => {
            matches!(ctx, Connect | ConnAck | Auth)
        }
        id::REQUEST_PROBLEM_INFORMATION | id::REQUEST_RESPONSE_INFORMATION => ctx == Connect,
        id::WILL_DELAY_INTERVAL => ctx == Will,
        id::SERVER_REFERENCE => matches!(ctx, ConnAck | Disconnect),
        id::REASON_STRING => matches!(
            ctx,
            ConnAck | PubResponse | SubAck | UnsubAck | Disconnect | Auth
        ),
        id::RECEIVE_MAXIMUM | id::TOPIC_ALIAS_MAXIMUM | id::MAXIMUM_PACKET_SIZE => {
            matches!(ctx, Connect | ConnAck)
        }
        id::TOPIC_ALIAS => ctx == Publish,
        id::USER_PROPERTY => true,
        _ => false,
    }
}

/// Stores `value` in `slot`, refusing a second occurrence.
fn set_once<T>(slot: &mut Option<T>, value: T, pid: u8) -> Result<(), DecodeError> {
    if slot.is_some() {
        return Err(DecodeError::DuplicateProperty(pid));
    }
    *slot = Some(value);
    Ok(())
}

fn read_flag(buf: &mut Bytes, pid: u8) -> Result<u8, DecodeError> {
    let value = read_u8(buf)?;
    if value > 1 {
        return Err(DecodeError::InvalidPropertyValue(pid));
    }
    Ok(value)
}

fn nonzero_u16(buf: &mut Bytes, pid: u8) -> Result<u16, DecodeError> {
    match read_u16(buf)? {
        0 => Err(DecodeError::InvalidPropertyValue(pid)),
        v => Ok(v),
    }
}

/// Reads a property length and the properties that follow.
pub fn decode(buf: &mut Bytes, ctx: Context) -> Result<Properties, DecodeError> {
    let len = read_varint(buf)?;
    if buf.len() < len {
        return Err(DecodeError::UnexpectedEnd);
    }
    let mut props_buf = buf.split_to(len);
    let mut p = Properties::default();
    while !props_buf.is_empty() {
        let pid = read_varint(&mut props_buf)?;
        let pid = u8::try_from(pid).map_err(|_| DecodeError::InvalidPropertyId(0xff))?;
        if !allowed(pid, ctx) {
            return Err(DecodeError::InvalidPropertyId(pid));
        }
        decode_one(&mut props_buf, pid, &mut p)?;
    }
    Ok(p)
}

fn decode_one(b: &mut Bytes, pid: u8, p: &mut Properties) -> Result<(), DecodeError> {
    match pid {
        id::PAYLOAD_FORMAT_INDICATOR => {
            set_once(&mut p.payload_format_indicator, read_flag(b, pid)?, pid)
        }
        id::MESSAGE_EXPIRY_INTERVAL => set_once(&mut p.message_expiry_interval, read_u32(b)?, pid),
        id::CONTENT_TYPE => set_once(&mut p.content_type, read_string(b)?, pid),
        id::RESPONSE_TOPIC => {
            let topic = read_string(b)?;
            if !crate::topic::valid_topic_name(&topic) {
                return Err(DecodeError::InvalidPropertyValue(pid));
            }
            set_once(&mut p.response_topic, topic, pid)
        }
        id::CORRELATION_DATA => set_once(&mut p.correlation_data, read_binary(b)?, pid),
        id::SUBSCRIPTION_IDENTIFIER => {
            let v = read_varint(b)?;
            if v == 0 {
                return Err(DecodeError::InvalidPropertyValue(pid));
            }
            p.subscription_identifiers.push(v as u32);
            Ok(())
        }
        id::SESSION_EXPIRY_INTERVAL => set_once(&mut p.session_expiry_interval, read_u32(b)?, pid),
        id::ASSIGNED_CLIENT_IDENTIFIER => {
            set_once(&mut p.assigned_client_identifier, read_string(b)?, pid)
        }
        id::SERVER_KEEP_ALIVE => set_once(&mut p.server_keep_alive, read_u16(b)?, pid),
        id::AUTHENTICATION_METHOD => set_once(&mut p.authentication_method, read_string(b)?, pid),
        id::AUTHENTICATION_DATA => set_once(&mut p.authentication_data, read_binary(b)?, pid),
        id::REQUEST_PROBLEM_INFORMATION => {
            set_once(&mut p.request_problem_information, read_flag(b, pid)?, pid)
        }
        id::WILL_DELAY_INTERVAL => set_once(&mut p.will_delay_interval, read_u32(b)?, pid),
        id::REQUEST_RESPONSE_INFORMATION => {
            set_once(&mut p.request_response_information, read_flag(b, pid)?, pid)
        }
        id::RESPONSE_INFORMATION => set_once(&mut p.response_information, read_string(b)?, pid),
        id::SERVER_REFERENCE => set_once(&mut p.server_reference, read_string(b)?, pid),
        id::REASON_STRING => set_once(&mut p.reason_string, read_string(b)?, pid),
        id::RECEIVE_MAXIMUM => set_once(&mut p.receive_maximum, nonzero_u16(b, pid)?, pid),
        id::TOPIC_ALIAS_MAXIMUM => set_once(&mut p.topic_alias_maximum, read_u16(b)?, pid),
        id::TOPIC_ALIAS => set_once(&mut p.topic_alias, read_u16(b)?, pid),
        id::MAXIMUM_QOS => set_once(&mut p.maximum_qos, read_flag(b, pid)?, pid),
        id::RETAIN_AVAILABLE => set_once(&mut p.retain_available, read_flag(b, pid)?, pid),
        id::USER_PROPERTY => {
            let key = read_string(b)?;
            let value = read_string(b)?;
            p.user_properties.push((key, value));
            Ok(())
        }
        id::MAXIMUM_PACKET_SIZE => match read_u32(b)? {
            0 => Err(DecodeError::InvalidPropertyValue(pid)),
            v => set_once(&mut p.maximum_packet_size, v, pid),
        },
        id::WILDCARD_SUBSCRIPTION_AVAILABLE => set_once(
            &mut p.wildcard_subscription_available,
            read_flag(b, pid)?,
            pid,
        ),
        id::SUBSCRIPTION_IDENTIFIER_AVAILABLE => set_once(
            &mut p.subscription_identifier_available,
            read_flag(b, pid)?,
            pid,
        ),
        id::SHARED_SUBSCRIPTION_AVAILABLE => set_once(
            &mut p.shared_subscription_available,
            read_flag(b, pid)?,
            pid,
        ),
        other => Err(DecodeError::InvalidPropertyId(other)),
    }
}

fn str_len(s: &Option<ByteString>) -> usize {
    s.as_ref().map_or(0, |s| 1 + 2 + s.len())
}

fn bin_len(b: &Option<Bytes>) -> usize {
    b.as_ref().map_or(0, |b| 1 + 2 + b.len())
}

fn fixed_len<T>(v: &Option<T>, size: usize) -> usize {
    v.as_ref().map_or(0, |_| 1 + size)
}

/// Length of the properties themselves (without their own length prefix).
pub fn len(p: &Properties) -> usize {
    fixed_len(&p.payload_format_indicator, 1)
        + fixed_len(&p.message_expiry_interval, 4)
        + str_len(&p.content_type)
        + str_len(&p.response_topic)
        + bin_len(&p.correlation_data)
        + p.subscription_identifiers
            .iter()
            .map(|&v| 1 + varint_len(v as usize))
            .sum::<usize>()
        + fixed_len(&p.session_expiry_interval, 4)
        + str_len(&p.assigned_client_identifier)
        + fixed_len(&p.server_keep_alive, 2)
        + str_len(&p.authentication_method)
        + bin_len(&p.authentication_data)
        + fixed_len(&p.request_problem_information, 1)
        + fixed_len(&p.will_delay_interval, 4)
        + fixed_len(&p.request_response_information, 1)
        + str_len(&p.response_information)
        + str_len(&p.server_reference)
        + str_len(&p.reason_string)
        + fixed_len(&p.receive_maximum, 2)
        + fixed_len(&p.topic_alias_maximum, 2)
        + fixed_len(&p.topic_alias, 2)
        + fixed_len(&p.maximum_qos, 1)
        + fixed_len(&p.retain_available, 1)
        + p.user_properties
            .iter()
            .map(|(k, v)| 1 + 2 + k.len() + 2 + v.len())
            .sum::<usize>()
        + fixed_len(&p.maximum_packet_size, 4)
        + fixed_len(&p.wildcard_subscription_available, 1)
        + fixed_len(&p.subscription_identifier_available, 1)
        + fixed_len(&p.shared_subscription_available, 1)
}

/// Length including the variable byte integer length prefix.
pub fn len_with_prefix(p: &Properties) -> usize {
    let n = len(p);
    varint_len(n) + n
}

/// Checks every string / binary property fits its 16-bit length.
pub fn check(p: &Properties) -> Result<(), EncodeError> {
    let strings = [
        &p.content_type,
        &p.response_topic,
        &p.assigned_client_identifier,
        &p.authentication_method,
        &p.response_information,
        &p.server_reference,
        &p.reason_string,
    ];
    let too_long = strings
        .iter()
        .any(|s| s.as_ref().is_some_and(|s| s.len() > 65_535))
        || [&p.correlation_data, &p.authentication_data]
            .iter()
            .any(|b| b.as_ref().is_some_and(|b| b.len() > 65_535))
        || p.user_properties
            .iter()
            .any(|(k, v)| k.len() > 65_535 || v.len() > 65_535);
    if too_long {
        return Err(EncodeError::FieldTooLong);
    }
    Ok(())
}

fn put_u8(out: &mut BytesMut, pid: u8, v: Option<u8>) {
    if let Some(v) = v {
        out.put_u8(pid);
        out.put_u8(v);
    }
}

fn put_u16(out: &mut BytesMut, pid: u8, v: Option<u16>) {
    if let Some(v) = v {
        out.put_u8(pid);
        out.put_u16(v);
    }
}

fn put_u32(out: &mut BytesMut, pid: u8, v: Option<u32>) {
    if let Some(v) = v {
        out.put_u8(pid);
        out.put_u32(v);
    }
}

fn put_str(out: &mut BytesMut, pid: u8, v: &Option<ByteString>) {
    if let Some(v) = v {
        out.put_u8(pid);
        write_string(out, v);
    }
}

fn put_bin(out: &mut BytesMut, pid: u8, v: &Option<Bytes>) {
    if let Some(v) = v {
        out.put_u8(pid);
        write_binary(out, v);
    }
}

/// A PUBLISH's 5.0 property list as on the wire (length prefix, then the properties),
/// for a store that keeps a message's properties beside it (the bridge's queue): the
/// wire format is already versioned by MQTT and decoded with the same checks.
pub fn encode_publish_properties(p: &Properties, out: &mut BytesMut) -> Result<(), EncodeError> {
    check(p)?;
    encode(p, out);
    Ok(())
}

/// Reads what [`encode_publish_properties`] wrote (properties a PUBLISH may not carry
/// are refused).
pub fn decode_publish_properties(buf: &mut Bytes) -> Result<Properties, DecodeError> {
    decode(buf, Context::Publish)
}

/// Writes the length prefix and the properties.
pub fn encode(p: &Properties, out: &mut BytesMut) {
    write_varint(out, len(p));
    put_u8(
        out,
        id::PAYLOAD_FORMAT_INDICATOR,
        p.payload_format_indicator,
    );
    put_u32(out, id::MESSAGE_EXPIRY_INTERVAL, p.message_expiry_interval);
    put_str(out, id::CONTENT_TYPE, &p.content_type);
    put_str(out, id::RESPONSE_TOPIC, &p.response_topic);
    put_bin(out, id::CORRELATION_DATA, &p.correlation_data);
    for &sid in &p.subscription_identifiers {
        out.put_u8(id::SUBSCRIPTION_IDENTIFIER);
        write_varint(out, sid as usize);
    }
    put_u32(out, id::SESSION_EXPIRY_INTERVAL, p.session_expiry_interval);
    put_str(
        out,
        id::ASSIGNED_CLIENT_IDENTIFIER,
        &p.assigned_client_identifier,
    );
    put_u16(out, id::SERVER_KEEP_ALIVE, p.server_keep_alive);
    put_str(out, id::AUTHENTICATION_METHOD, &p.authentication_method);
    put_bin(out, id::AUTHENTICATION_DATA, &p.authentication_data);
    put_u8(
        out,
        id::REQUEST_PROBLEM_INFORMATION,
        p.request_problem_information,
    );
    put_u32(out, id::WILL_DELAY_INTERVAL, p.will_delay_interval);
    put_u8(
        out,
        id::REQUEST_RESPONSE_INFORMATION,
        p.request_response_information,
    );
    put_str(out, id::RESPONSE_INFORMATION, &p.response_information);
    put_str(out, id::SERVER_REFERENCE, &p.server_reference);
    put_str(out, id::REASON_STRING, &p.reason_string);
    put_u16(out, id::RECEIVE_MAXIMUM, p.receive_maximum);
    put_u16(out, id::TOPIC_ALIAS_MAXIMUM, p.topic_alias_maximum);
    put_u16(out, id::TOPIC_ALIAS, p.topic_alias);
    put_u8(out, id::MAXIMUM_QOS, p.maximum_qos);
    put_u8(out, id::RETAIN_AVAILABLE, p.retain_available);
    for (k, v) in &p.user_properties {
        out.put_u8(id::USER_PROPERTY);
        write_string(out, k);
        write_string(out, v);
    }
    put_u32(out, id::MAXIMUM_PACKET_SIZE, p.maximum_packet_size);
    put_u8(
        out,
        id::WILDCARD_SUBSCRIPTION_AVAILABLE,
        p.wildcard_subscription_available,
    );
    put_u8(
        out,
        id::SUBSCRIPTION_IDENTIFIER_AVAILABLE,
        p.subscription_identifier_available,
    );
    put_u8(
        out,
        id::SHARED_SUBSCRIPTION_AVAILABLE,
        p.shared_subscription_available,
    );
}
