//! Bytes of a [`Record`]: a tag byte, then its fields in order (integers big-endian,
//! strings and byte strings with a u32 length). A message is stored as the MQTT 5.0
//! PUBLISH it would be sent as (the engine's own codec, so every property round-trips)
//! plus its expiry as Unix milliseconds.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use bytestring::ByteString;

use super::record::{PersistedSubscription, Record, SessionMeta};
use crate::hooks::Presentation;
use crate::message::{Delivery, Message};
use crate::protocol::{self, Packet, ProtocolVersion, Publish, QoS};
use crate::router::SubOptions;
use crate::session::StoredSubscription;

/// Why a record could not be read back (its frame was intact: a bug or a foreign file).
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("record ends early")]
    Short,
    #[error("unknown record tag {0}")]
    Tag(u8),
    #[error("bad field: {0}")]
    Field(&'static str),
}

const RETAINED: u8 = 1;
const SESSION: u8 = 2;
const SESSION_GONE: u8 = 3;
const SUBSCRIBED: u8 = 4;
const UNSUBSCRIBED: u8 = 5;
const QUEUED: u8 = 6;
const SENT: u8 = 7;
const DONE: u8 = 8;
const INCOMING_QOS2: u8 = 9;

/// Wall-clock now, Unix seconds.
pub fn unix_now() -> u64 {
    unix_millis_now() / 1000
}

fn unix_millis_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

pub fn encode(record: &Record, out: &mut BytesMut) {
    match record {
        Record::Retained { topic, message } => {
            out.put_u8(RETAINED);
            put_str(out, topic);
            put_option(out, message.as_ref(), |out, m| put_message(out, m));
        }
        Record::Session { pid, meta } => {
            out.put_u8(SESSION);
            out.put_u64(*pid);
            put_meta(out, meta);
        }
        Record::SessionGone { pid } => {
            out.put_u8(SESSION_GONE);
            out.put_u64(*pid);
        }
        Record::Subscribed { pid, text, sub } => {
            out.put_u8(SUBSCRIBED);
            out.put_u64(*pid);
            put_str(out, text);
            put_subscription(out, sub);
        }
        Record::Unsubscribed { pid, text } => {
            out.put_u8(UNSUBSCRIBED);
            out.put_u64(*pid);
            put_str(out, text);
        }
        Record::Queued { pid, seq, delivery } => {
            out.put_u8(QUEUED);
            out.put_u64(*pid);
            out.put_u64(*seq);
            put_delivery(out, delivery);
        }
        Record::Sent {
            pid,
            seq,
            pkid,
            released,
        } => {
            out.put_u8(SENT);
            out.put_u64(*pid);
            out.put_u64(*seq);
            out.put_u16(*pkid);
            out.put_u8(u8::from(*released));
        }
        Record::Done { pid, seq } => {
            out.put_u8(DONE);
            out.put_u64(*pid);
            out.put_u64(*seq);
        }
        Record::IncomingQos2 { pid, pkid, held } => {
            out.put_u8(INCOMING_QOS2);
            out.put_u64(*pid);
            out.put_u16(*pkid);
            out.put_u8(u8::from(*held));
        }
    }
}

pub fn decode(mut buf: Bytes) -> Result<Record, CodecError> {
    let b = &mut buf;
    let record = match u8_(b)? {
        RETAINED => Record::Retained {
            topic: str_(b)?,
            message: option(b, message)?,
        },
        SESSION => Record::Session {
            pid: u64_(b)?,
            meta: meta(b)?,
        },
        SESSION_GONE => Record::SessionGone { pid: u64_(b)? },
        SUBSCRIBED => Record::Subscribed {
            pid: u64_(b)?,
            text: str_(b)?,
            sub: subscription(b)?,
        },
        UNSUBSCRIBED => Record::Unsubscribed {
            pid: u64_(b)?,
            text: str_(b)?,
        },
        QUEUED => Record::Queued {
            pid: u64_(b)?,
            seq: u64_(b)?,
            delivery: delivery(b)?,
        },
        SENT => Record::Sent {
            pid: u64_(b)?,
            seq: u64_(b)?,
            pkid: u16_(b)?,
            released: u8_(b)? != 0,
        },
        DONE => Record::Done {
            pid: u64_(b)?,
            seq: u64_(b)?,
        },
        INCOMING_QOS2 => Record::IncomingQos2 {
            pid: u64_(b)?,
            pkid: u16_(b)?,
            held: u8_(b)? != 0,
        },
        tag => return Err(CodecError::Tag(tag)),
    };
    Ok(record)
}

fn put_meta(out: &mut BytesMut, meta: &SessionMeta) {
    put_str(out, &meta.namespace);
    put_str(out, &meta.client_id);
    out.put_u32(meta.expiry);
    put_option(out, meta.offline_since.as_ref(), |out, t| out.put_u64(*t));
    put_option(out, meta.will.as_ref(), |out, (message, delay)| {
        put_message(out, message);
        out.put_u32(*delay);
    });
}

fn meta(b: &mut Bytes) -> Result<SessionMeta, CodecError> {
    Ok(SessionMeta {
        namespace: str_(b)?,
        client_id: str_(b)?,
        expiry: u32_(b)?,
        offline_since: option(b, u64_)?,
        will: option(b, |b| Ok((message(b)?, u32_(b)?)))?,
    })
}

fn put_subscription(out: &mut BytesMut, sub: &PersistedSubscription) {
    put_option(out, sub.stored.group.as_ref(), |out, g| put_str(out, g));
    put_str(out, &sub.stored.filter);
    put_presented(out, sub.stored.presented.as_ref());
    let o = &sub.options;
    out.put_u8(o.qos as u8);
    out.put_u8(u8::from(o.no_local) | (u8::from(o.retain_as_published) << 1));
    put_option(out, o.subscription_id.as_ref(), |out, id| out.put_u32(*id));
}

fn subscription(b: &mut Bytes) -> Result<PersistedSubscription, CodecError> {
    let group = option(b, str_)?;
    let filter = str_(b)?;
    let presented = presented(b)?;
    let qos = qos(b)?;
    let flags = u8_(b)?;
    let options = SubOptions {
        qos,
        no_local: flags & 1 != 0,
        retain_as_published: flags & 2 != 0,
        subscription_id: option(b, u32_)?,
    };
    let stored = StoredSubscription {
        group,
        filter,
        presented,
        options,
    };
    Ok(PersistedSubscription { stored, options })
}

fn put_delivery(out: &mut BytesMut, d: &Delivery) {
    put_message(out, &d.message);
    out.put_u8(d.qos as u8);
    out.put_u8(u8::from(d.retain));
    out.put_u32(d.subscription_ids.len() as u32);
    for id in &d.subscription_ids {
        out.put_u32(*id);
    }
    put_presented(out, d.presented.as_ref());
}

fn delivery(b: &mut Bytes) -> Result<Delivery, CodecError> {
    let message = message(b)?;
    let qos = qos(b)?;
    let retain = u8_(b)? != 0;
    let count = u32_(b)? as usize;
    if count > b.remaining() / 4 {
        return Err(CodecError::Short);
    }
    let subscription_ids = (0..count).map(|_| u32_(b)).collect::<Result<_, _>>()?;
    Ok(Delivery {
        message,
        qos,
        retain,
        subscription_ids,
        presented: presented(b)?,
        stored: 0,
    })
}

fn put_presented(out: &mut BytesMut, presented: Option<&Arc<Presentation>>) {
    put_option(out, presented, |out, p| {
        let (canonical, shown) = p.prefixes();
        put_str(out, canonical);
        put_str(out, shown);
    });
}

fn presented(b: &mut Bytes) -> Result<Option<Arc<Presentation>>, CodecError> {
    let pair = option(b, |b| Ok((str_(b)?, str_(b)?)))?;
    Ok(pair.and_then(|(canonical, shown)| Presentation::new(canonical, shown).map(Arc::new)))
}

/// The message as a 5.0 PUBLISH frame, then its expiry (Unix ms, 0: none).
fn put_message(out: &mut BytesMut, message: &Message) {
    let publish = Publish {
        dup: false,
        qos: message.qos,
        retain: message.retain,
        topic: message.topic.clone(),
        pkid: u16::from(message.qos != QoS::AtMostOnce),
        payload: message.payload.clone(),
        properties: message.properties.as_deref().cloned().unwrap_or_default(),
    };
    let mut frame = BytesMut::new();
    if let Err(err) = protocol::encode_publish(&publish, ProtocolVersion::V5, &mut frame) {
        // Cannot happen for a message we decoded; stored empty, read back as damage.
        tracing::warn!(error = %err, "persisted message could not be encoded");
        frame.clear();
    }
    put_bytes(out, &frame);
    let expires = message.expires_at.map_or(0, |at| {
        let left = at.saturating_duration_since(Instant::now());
        unix_millis_now() + left.as_millis() as u64
    });
    out.put_u64(expires);
}

fn message(b: &mut Bytes) -> Result<Arc<Message>, CodecError> {
    let frame = bytes_(b)?;
    let expires = u64_(b)?;
    let mut frame = BytesMut::from(&frame[..]);
    let publish = match protocol::decode(&mut frame, ProtocolVersion::V5, usize::MAX) {
        Ok(Some(Packet::Publish(publish))) => publish,
        _ => return Err(CodecError::Field("message")),
    };
    let mut message = Message::from_publish(publish, 0);
    if expires != 0 {
        let left = Duration::from_millis(expires.saturating_sub(unix_millis_now()));
        message.expires_at = Some(Instant::now() + left);
    }
    Ok(Arc::new(message))
}

fn put_option<T>(out: &mut BytesMut, value: Option<&T>, put: impl FnOnce(&mut BytesMut, &T)) {
    match value {
        None => out.put_u8(0),
        Some(v) => {
            out.put_u8(1);
            put(out, v);
        }
    }
}

fn option<T>(
    b: &mut Bytes,
    read: impl FnOnce(&mut Bytes) -> Result<T, CodecError>,
) -> Result<Option<T>, CodecError> {
    match u8_(b)? {
        0 => Ok(None),
        1 => read(b).map(Some),
        _ => Err(CodecError::Field("option")),
    }
}

fn put_str(out: &mut BytesMut, s: &str) {
    put_bytes(out, s.as_bytes());
}

fn put_bytes(out: &mut BytesMut, data: &[u8]) {
    out.put_u32(data.len() as u32);
    out.put_slice(data);
}

fn bytes_(b: &mut Bytes) -> Result<Bytes, CodecError> {
    let len = u32_(b)? as usize;
    if b.remaining() < len {
        return Err(CodecError::Short);
    }
    Ok(b.split_to(len))
}

fn str_(b: &mut Bytes) -> Result<ByteString, CodecError> {
    ByteString::try_from(bytes_(b)?).map_err(|_| CodecError::Field("utf-8"))
}

fn qos(b: &mut Bytes) -> Result<QoS, CodecError> {
    QoS::from_u8(u8_(b)?).ok_or(CodecError::Field("qos"))
}

fn u8_(b: &mut Bytes) -> Result<u8, CodecError> {
    b.try_get_u8().map_err(|_| CodecError::Short)
}

fn u16_(b: &mut Bytes) -> Result<u16, CodecError> {
    b.try_get_u16().map_err(|_| CodecError::Short)
}

fn u32_(b: &mut Bytes) -> Result<u32, CodecError> {
    b.try_get_u32().map_err(|_| CodecError::Short)
}

fn u64_(b: &mut Bytes) -> Result<u64, CodecError> {
    b.try_get_u64().map_err(|_| CodecError::Short)
}

/// Encodes `record` as one journal frame appended to `out`.
pub fn encode_into_frame(record: &Record, out: &mut BytesMut) {
    let mut payload = BytesMut::new();
    encode(record, &mut payload);
    super::journal::write_frame(&payload, out);
}
