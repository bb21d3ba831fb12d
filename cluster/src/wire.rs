//! The message as it crosses the bus: Magistrala's protobuf `Message` (fields 1-7, so
//! Magistrala-style consumers read it as they read their own), plus fields from 100 up
//! that those consumers skip as unknown and that other Magnetite instances need to
//! deliver with MQTT semantics:
//!
//! | field | name | meaning |
//! |---|---|---|
//! | 1 | channel | channel id (canonical topics) |
//! | 2 | domain | domain id (canonical topics) |
//! | 3 | subtopic | subtopic levels joined with `.` |
//! | 4 | publisher | platform client id (`--auth none`: MQTT client id) |
//! | 5 | protocol | `mqtt` |
//! | 6 | payload | bytes |
//! | 7 | created | Unix nanoseconds |
//! | 100 | topic | the routed MQTT topic, exactly |
//! | 101 | qos | 0, 1 or 2 |
//! | 102 | retain | the RETAIN flag as published |
//! | 103 | origin | instance id of the publisher's instance |
//! | 104 | sequence | per-origin number, from the start time in ns (duplicate suppression) |
//! | 105 | payload_format | v5 Payload Format Indicator |
//! | 106 | content_type | v5 Content Type |
//! | 107 | response_topic | v5 Response Topic |
//! | 108 | correlation_data | v5 Correlation Data |
//! | 109 | user_properties | v5 User Properties (`{key=1, value=2}`, repeated) |
//! | 110 | message_expiry | v5 Message Expiry Interval left, seconds |

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use magnetite_broker::protocol::{Properties, Publish, QoS};
use magnetite_broker::{ByteString, Message};
use prost::Message as _;

#[derive(Clone, PartialEq, prost::Message)]
pub struct BusMessage {
    #[prost(string, tag = "1")]
    pub channel: String,
    #[prost(string, tag = "2")]
    pub domain: String,
    #[prost(string, tag = "3")]
    pub subtopic: String,
    #[prost(string, tag = "4")]
    pub publisher: String,
    #[prost(string, tag = "5")]
    pub protocol: String,
    #[prost(bytes = "bytes", tag = "6")]
    pub payload: Bytes,
    #[prost(int64, tag = "7")]
    pub created: i64,
    #[prost(string, optional, tag = "100")]
    pub topic: Option<String>,
    #[prost(uint32, tag = "101")]
    pub qos: u32,
    #[prost(bool, tag = "102")]
    pub retain: bool,
    #[prost(string, tag = "103")]
    pub origin: String,
    #[prost(uint64, tag = "104")]
    pub sequence: u64,
    #[prost(uint32, optional, tag = "105")]
    pub payload_format: Option<u32>,
    #[prost(string, optional, tag = "106")]
    pub content_type: Option<String>,
    #[prost(string, optional, tag = "107")]
    pub response_topic: Option<String>,
    #[prost(bytes = "bytes", optional, tag = "108")]
    pub correlation_data: Option<Bytes>,
    #[prost(message, repeated, tag = "109")]
    pub user_properties: Vec<UserProperty>,
    #[prost(uint32, optional, tag = "110")]
    pub message_expiry: Option<u32>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct UserProperty {
    #[prost(string, tag = "1")]
    pub key: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

/// A message from the bus, ready for the local router.
pub struct Inbound {
    pub message: Message,
    /// (origin instance, sequence), when the sender stamped them.
    pub id: Option<(String, u64)>,
}

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("not a protobuf Message: {0}")]
    Decode(#[from] prost::DecodeError),
    #[error("no MQTT topic and no channel to derive one from")]
    NoTopic,
    #[error("QoS {0} does not exist")]
    BadQos(u32),
}

/// The bus form of a message published on this instance.
pub fn encode(message: &Message, origin: &str, sequence: u64) -> Bytes {
    let (domain, channel, subtopic) = magistrala_parts(&message.topic);
    let mut bus = BusMessage {
        channel: channel.to_string(),
        domain: domain.to_string(),
        subtopic,
        publisher: message.publisher.to_string(),
        protocol: "mqtt".into(),
        payload: message.payload.clone(),
        created: unix_nanos(),
        topic: Some(message.topic.to_string()),
        qos: message.qos as u32,
        retain: message.retain,
        origin: origin.to_string(),
        sequence,
        message_expiry: message.remaining_expiry(Instant::now()),
        ..Default::default()
    };
    if let Some(props) = message.properties.as_deref() {
        bus.payload_format = props.payload_format_indicator.map(u32::from);
        bus.content_type = props.content_type.as_ref().map(|s| s.to_string());
        bus.response_topic = props.response_topic.as_ref().map(|s| s.to_string());
        bus.correlation_data = props.correlation_data.clone();
        bus.user_properties = props
            .user_properties
            .iter()
            .map(|(key, value)| UserProperty {
                key: key.to_string(),
                value: value.to_string(),
            })
            .collect();
    }
    Bytes::from(bus.encode_to_vec())
}

/// A message read from the bus. One that carries no MQTT topic (a Magistrala service
/// published it) is routed under its canonical topic.
pub fn decode(bytes: Bytes) -> Result<Inbound, WireError> {
    let bus = BusMessage::decode(bytes)?;
    let qos = u8::try_from(bus.qos)
        .ok()
        .and_then(QoS::from_u8)
        .ok_or(WireError::BadQos(bus.qos))?;
    let topic = match bus.topic {
        Some(topic) => topic,
        None if !bus.domain.is_empty() && !bus.channel.is_empty() => {
            canonical_topic(&bus.domain, &bus.channel, &bus.subtopic)
        }
        None => return Err(WireError::NoTopic),
    };
    let properties = Properties {
        payload_format_indicator: bus.payload_format.and_then(|v| u8::try_from(v).ok()),
        message_expiry_interval: bus.message_expiry,
        content_type: bus.content_type.map(ByteString::from),
        response_topic: bus.response_topic.map(ByteString::from),
        correlation_data: bus.correlation_data,
        user_properties: bus
            .user_properties
            .into_iter()
            .map(|p| (ByteString::from(p.key), ByteString::from(p.value)))
            .collect(),
        ..Default::default()
    };
    let publish = Publish {
        dup: false,
        qos,
        retain: bus.retain,
        topic: ByteString::from(topic),
        pkid: 0,
        payload: bus.payload,
        properties,
    };
    let message = Message::from_publish(publish, 0).with_publisher(bus.publisher.into());
    let id = (!bus.origin.is_empty()).then_some((bus.origin, bus.sequence));
    Ok(Inbound { message, id })
}

/// (domain, channel, subtopic joined with `.`) of a canonical `m/<d>/c/<ch>[/<sub>]`
/// topic; empty strings for any other topic (`--auth none`).
fn magistrala_parts(topic: &str) -> (&str, &str, String) {
    let mut levels = topic.splitn(5, '/');
    match (levels.next(), levels.next(), levels.next(), levels.next()) {
        (Some("m"), Some(domain), Some("c"), Some(channel)) => {
            let subtopic = levels.next().unwrap_or_default().replace('/', ".");
            (domain, channel, subtopic)
        }
        _ => ("", "", String::new()),
    }
}

fn canonical_topic(domain: &str, channel: &str, subtopic: &str) -> String {
    let mut topic = format!("m/{domain}/c/{channel}");
    if !subtopic.is_empty() {
        topic.push('/');
        topic.push_str(&subtopic.replace('.', "/"));
    }
    topic
}

fn unix_nanos() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_nanos()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn published(topic: &str, properties: Properties) -> Message {
        let publish = Publish {
            dup: false,
            qos: QoS::AtLeastOnce,
            retain: true,
            topic: ByteString::from(topic),
            pkid: 7,
            payload: Bytes::from_static(b"21.5"),
            properties,
        };
        Message::from_publish(publish, 3).with_publisher("client-1".into())
    }

    #[test]
    fn magistrala_fields_are_filled_from_a_canonical_topic() {
        let message = published("m/d1/c/ch1/room/temp", Properties::default());
        let bytes = encode(&message, "inst-a", 9);
        let bus = BusMessage::decode(bytes).expect("decodes");
        assert_eq!(bus.domain, "d1");
        assert_eq!(bus.channel, "ch1");
        assert_eq!(bus.subtopic, "room.temp");
        assert_eq!(bus.publisher, "client-1");
        assert_eq!(bus.protocol, "mqtt");
        assert_eq!(&bus.payload[..], b"21.5");
        assert!(bus.created > 1_600_000_000_000_000_000);
        assert_eq!((bus.origin.as_str(), bus.sequence), ("inst-a", 9));
    }

    #[test]
    fn a_message_survives_the_round_trip_with_its_v5_properties() {
        let properties = Properties {
            payload_format_indicator: Some(1),
            message_expiry_interval: Some(60),
            content_type: Some("application/json".into()),
            response_topic: Some("m/d1/c/ch1/replies".into()),
            correlation_data: Some(Bytes::from_static(b"\x00\x01")),
            user_properties: vec![("k".into(), "v".into()), ("k".into(), "w".into())],
            ..Default::default()
        };
        let message = published("m/d1/c/ch1", properties);
        let back = decode(encode(&message, "inst-a", 1)).expect("decodes");
        let got = back.message;
        assert_eq!(&*got.topic, "m/d1/c/ch1");
        assert_eq!((got.qos, got.retain), (QoS::AtLeastOnce, true));
        assert_eq!(&*got.publisher, "client-1");
        assert_eq!(got.origin, 0, "no local session published it");
        let left = got.remaining_expiry(Instant::now()).expect("expiry kept");
        assert!((59..=60).contains(&left), "{left}");
        let props = got.properties.expect("properties kept");
        assert_eq!(props.payload_format_indicator, Some(1));
        assert_eq!(props.content_type.as_deref(), Some("application/json"));
        assert_eq!(props.response_topic.as_deref(), Some("m/d1/c/ch1/replies"));
        assert_eq!(props.correlation_data.as_deref(), Some(&b"\x00\x01"[..]));
        assert_eq!(props.user_properties.len(), 2);
        assert_eq!(back.id, Some(("inst-a".to_string(), 1)));
    }

    #[test]
    fn a_plain_topic_has_no_magistrala_parts() {
        let bus = BusMessage::decode(encode(&published("a/b", Properties::default()), "i", 1))
            .expect("decodes");
        assert_eq!((bus.domain.as_str(), bus.channel.as_str()), ("", ""));
        assert_eq!(bus.topic.as_deref(), Some("a/b"));
    }

    #[test]
    fn a_magistrala_message_without_topic_is_routed_canonically() {
        let bus = BusMessage {
            domain: "d1".into(),
            channel: "ch1".into(),
            subtopic: "a.b".into(),
            payload: Bytes::from_static(b"x"),
            ..Default::default()
        };
        let got = decode(Bytes::from(bus.encode_to_vec())).expect("decodes");
        assert_eq!(&*got.message.topic, "m/d1/c/ch1/a/b");
        assert_eq!(got.message.qos, QoS::AtMostOnce);
        assert!(got.id.is_none());
    }

    #[test]
    fn junk_is_refused() {
        assert!(decode(Bytes::from_static(b"\xff\xff\xff")).is_err());
        let bus = BusMessage {
            qos: 3,
            topic: Some("a".into()),
            ..Default::default()
        };
        assert!(matches!(
            decode(Bytes::from(bus.encode_to_vec())),
            Err(WireError::BadQos(3))
        ));
        let no_topic = BusMessage::default().encode_to_vec();
        assert!(matches!(
            decode(Bytes::from(no_topic)),
            Err(WireError::NoTopic)
        ));
    }
}
