//! One queued message on disk: the record format of the bridge's segment log, in two
//! versions that are both read.
//!
//! A record is `len u32 | crc32(body) u32 | body` (little endian). The body:
//!
//! ```text
//! seq u64 | written unix ms u64 | kind u8 | retain u8 | topic len u16 | topic
//!         | [properties]                                  (format 1 only)
//!         | payload
//! ```
//!
//! `kind` is the QoS in its low two bits and the record format in its high four:
//! - format 0 (the original layout, still written for a message without 5.0
//!   properties, so a queue of plain messages costs what it always did);
//! - format 1: the message's 5.0 properties follow the topic, in MQTT's own wire
//!   encoding (length prefix, then the properties: [`encode_publish_properties`]).
//!   The Message Expiry Interval stored is the time left when the message was queued;
//!   the link counts it down from `written`.
//!
//! A format this build does not know reads as a damaged record (it ends its segment for
//! the reader): queues are read by the same or a newer build, never an older one.

use bytes::{Bytes, BytesMut};
use magnetite_protocol::{
    decode_publish_properties, encode_publish_properties, EncodeError, Properties, QoS,
};

pub(crate) const HEADER: usize = 8;
pub(crate) const BODY_FIXED: usize = 8 + 8 + 1 + 1 + 2;
/// The original layout: no properties.
const FORMAT_PLAIN: u8 = 0;
/// Properties between the topic and the payload.
const FORMAT_PROPERTIES: u8 = 1;
const QOS_BITS: u8 = 0x03;
const FORMAT_SHIFT: u32 = 4;

/// One queued message, as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub seq: u64,
    /// When it was queued, Unix milliseconds (ages survive a restart).
    pub written_ms: u64,
    pub qos: QoS,
    pub retain: bool,
    pub topic: String,
    /// 5.0 properties kept with the message (`None`: it had none).
    pub properties: Option<Box<Properties>>,
    pub payload: Bytes,
    /// Bytes it takes on disk.
    disk_size: u64,
}

impl Record {
    /// Bytes it takes on disk (what `--bridge-queue-max-bytes` counts).
    pub fn size(&self) -> u64 {
        self.disk_size
    }
}

/// A message to append: what `encode` writes.
#[derive(Debug, Clone, Copy)]
pub struct NewRecord<'a> {
    pub topic: &'a str,
    pub payload: &'a [u8],
    pub qos: QoS,
    pub retain: bool,
    /// 5.0 properties to keep (empty ones are the same as none).
    pub properties: Option<&'a Properties>,
}

impl NewRecord<'_> {
    /// The record as [`decode`] would read it back, sharing `payload` (the same bytes
    /// as `self.payload`) rather than copying it.
    pub(crate) fn into_record(
        self,
        seq: u64,
        written_ms: u64,
        disk_size: u64,
        payload: Bytes,
    ) -> Record {
        Record {
            seq,
            written_ms,
            qos: self.qos,
            retain: self.retain,
            topic: self.topic.to_string(),
            properties: self
                .properties
                .filter(|p| !p.is_empty())
                .map(|p| Box::new(p.clone())),
            payload,
            disk_size,
        }
    }
}

/// Writes the whole record (header included) into `out`, replacing what it held.
pub(crate) fn encode(
    seq: u64,
    written_ms: u64,
    message: &NewRecord<'_>,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let properties = message.properties.filter(|p| !p.is_empty());
    let mut encoded = BytesMut::new();
    if let Some(properties) = properties {
        encode_publish_properties(properties, &mut encoded)?;
    }
    let format = if properties.is_some() {
        FORMAT_PROPERTIES
    } else {
        FORMAT_PLAIN
    };
    if message.topic.len() > usize::from(u16::MAX) {
        return Err(EncodeError::FieldTooLong);
    }
    out.clear();
    let body_len = BODY_FIXED + message.topic.len() + encoded.len() + message.payload.len();
    out.extend_from_slice(&(body_len as u32).to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&written_ms.to_le_bytes());
    out.push(message.qos as u8 | (format << FORMAT_SHIFT));
    out.push(u8::from(message.retain));
    out.extend_from_slice(&(message.topic.len() as u16).to_le_bytes());
    out.extend_from_slice(message.topic.as_bytes());
    out.extend_from_slice(&encoded);
    out.extend_from_slice(message.payload);
    let crc = crc32fast::hash(&out[HEADER..]);
    out[4..8].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// The record whose body (checksum verified) is `body`; `None` if it does not parse.
pub(crate) fn decode(body: &[u8]) -> Option<Record> {
    let u64_at = |at: usize| {
        body.get(at..at + 8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
    };
    let seq = u64_at(0)?;
    let written_ms = u64_at(8)?;
    let kind = *body.get(16)?;
    let qos = QoS::from_u8(kind & QOS_BITS)?;
    let retain = *body.get(17)? != 0;
    let topic_len = usize::from(u16::from_le_bytes(body.get(18..20)?.try_into().ok()?));
    let topic = std::str::from_utf8(body.get(20..20 + topic_len)?)
        .ok()?
        .to_string();
    let mut rest = Bytes::copy_from_slice(body.get(20 + topic_len..)?);
    let properties = match kind >> FORMAT_SHIFT {
        FORMAT_PLAIN => None,
        FORMAT_PROPERTIES => Some(Box::new(decode_publish_properties(&mut rest).ok()?)),
        _ => return None,
    };
    Some(Record {
        seq,
        written_ms,
        qos,
        retain,
        topic,
        properties,
        payload: rest,
        disk_size: (HEADER + body.len()) as u64,
    })
}
