//! MQTT control packets as plain data, shared by the broker and the load tester.
//!
//! One set of types covers 3.1.1 and 5.0: fields that exist only in 5.0 (reason codes,
//! properties) are simply left at their defaults for 3.1.1, and the encoder omits them.
//! Strings on the wire are `ByteString` (a `Bytes`-backed, UTF-8 checked string) so a
//! decoded topic or payload shares the read buffer instead of being copied.

use bytes::Bytes;
use bytestring::ByteString;

/// Protocol level from CONNECT. MQTT 3.1 ("MQIsdp", level 3) is handled as 3.1.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ProtocolVersion {
    V31,
    #[default]
    V311,
    V5,
}

impl ProtocolVersion {
    pub fn is_v5(self) -> bool {
        self == ProtocolVersion::V5
    }
    /// The protocol level byte written in CONNECT.
    pub fn level(self) -> u8 {
        match self {
            ProtocolVersion::V31 => 3,
            ProtocolVersion::V311 => 4,
            ProtocolVersion::V5 => 5,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum QoS {
    #[default]
    AtMostOnce = 0,
    AtLeastOnce = 1,
    ExactlyOnce = 2,
}

impl QoS {
    pub fn from_u8(v: u8) -> Option<QoS> {
        match v {
            0 => Some(QoS::AtMostOnce),
            1 => Some(QoS::AtLeastOnce),
            2 => Some(QoS::ExactlyOnce),
            _ => None,
        }
    }
}

/// All MQTT 5.0 properties. Each packet uses the subset the spec allows; the decoder
/// rejects a property that is not allowed in the packet being decoded (protocol error),
/// and a property that appears twice where the spec forbids it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Properties {
    pub payload_format_indicator: Option<u8>,
    pub message_expiry_interval: Option<u32>,
    pub content_type: Option<ByteString>,
    pub response_topic: Option<ByteString>,
    pub correlation_data: Option<Bytes>,
    /// Zero or more (PUBLISH from the server may carry several).
    pub subscription_identifiers: Vec<u32>,
    pub session_expiry_interval: Option<u32>,
    pub assigned_client_identifier: Option<ByteString>,
    pub server_keep_alive: Option<u16>,
    pub authentication_method: Option<ByteString>,
    pub authentication_data: Option<Bytes>,
    pub request_problem_information: Option<u8>,
    pub will_delay_interval: Option<u32>,
    pub request_response_information: Option<u8>,
    pub response_information: Option<ByteString>,
    pub server_reference: Option<ByteString>,
    pub reason_string: Option<ByteString>,
    pub receive_maximum: Option<u16>,
    pub topic_alias_maximum: Option<u16>,
    pub topic_alias: Option<u16>,
    pub maximum_qos: Option<u8>,
    pub retain_available: Option<u8>,
    pub user_properties: Vec<(ByteString, ByteString)>,
    pub maximum_packet_size: Option<u32>,
    pub wildcard_subscription_available: Option<u8>,
    pub subscription_identifier_available: Option<u8>,
    pub shared_subscription_available: Option<u8>,
}

impl Properties {
    pub fn is_empty(&self) -> bool {
        *self == Properties::default()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastWill {
    pub topic: ByteString,
    pub payload: Bytes,
    pub qos: QoS,
    pub retain: bool,
    /// Will properties (5.0): will delay interval, message expiry, content type, ...
    pub properties: Properties,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect {
    pub protocol: ProtocolVersion,
    /// 3.1.1: clean session; 5.0: clean start.
    pub clean_start: bool,
    pub keep_alive: u16,
    pub client_id: ByteString,
    pub will: Option<LastWill>,
    pub username: Option<ByteString>,
    pub password: Option<Bytes>,
    pub properties: Properties,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnAck {
    pub session_present: bool,
    /// 3.1.1 return code (0..=5) or 5.0 reason code; see [`crate::reason`].
    pub code: u8,
    pub properties: Properties,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    pub dup: bool,
    pub qos: QoS,
    pub retain: bool,
    /// May be empty in 5.0 when a topic alias is given.
    pub topic: ByteString,
    /// Packet identifier; 0 for QoS 0.
    pub pkid: u16,
    pub payload: Bytes,
    pub properties: Properties,
}

/// PUBACK, PUBREC, PUBREL and PUBCOMP share one shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PubResponse {
    pub pkid: u16,
    /// 5.0 reason code, 0 = success. Always 0 for 3.1.1.
    pub code: u8,
    pub properties: Properties,
}

impl PubResponse {
    pub fn ok(pkid: u16) -> Self {
        PubResponse {
            pkid,
            code: 0,
            properties: Properties::default(),
        }
    }
}

/// Retain handling option of a 5.0 subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RetainHandling {
    #[default]
    SendAtSubscribe = 0,
    SendAtSubscribeIfNew = 1,
    DoNotSend = 2,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionOptions {
    pub qos: QoS,
    pub no_local: bool,
    pub retain_as_published: bool,
    pub retain_handling: RetainHandling,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribe {
    pub pkid: u16,
    pub filters: Vec<(ByteString, SubscriptionOptions)>,
    pub properties: Properties,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubAck {
    pub pkid: u16,
    /// One per filter: granted QoS (0..=2) or a failure code (0x80 in 3.1.1, 5.0 reason codes).
    pub codes: Vec<u8>,
    pub properties: Properties,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscribe {
    pub pkid: u16,
    pub filters: Vec<ByteString>,
    pub properties: Properties,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsubAck {
    pub pkid: u16,
    /// 5.0 only: one reason code per filter. Empty for 3.1.1.
    pub codes: Vec<u8>,
    pub properties: Properties,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Disconnect {
    /// 5.0 reason code; 0 = normal disconnection.
    pub code: u8,
    pub properties: Properties,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Auth {
    pub code: u8,
    pub properties: Properties,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    Connect(Box<Connect>),
    ConnAck(ConnAck),
    Publish(Publish),
    PubAck(PubResponse),
    PubRec(PubResponse),
    PubRel(PubResponse),
    PubComp(PubResponse),
    Subscribe(Subscribe),
    SubAck(SubAck),
    Unsubscribe(Unsubscribe),
    UnsubAck(UnsubAck),
    PingReq,
    PingResp,
    Disconnect(Disconnect),
    Auth(Auth),
}

impl Packet {
    /// The 5.0 properties of the packet, for packets that carry them.
    pub fn properties_mut(&mut self) -> Option<&mut Properties> {
        match self {
            Packet::Connect(c) => Some(&mut c.properties),
            Packet::ConnAck(a) => Some(&mut a.properties),
            Packet::Publish(p) => Some(&mut p.properties),
            Packet::PubAck(r) | Packet::PubRec(r) | Packet::PubRel(r) | Packet::PubComp(r) => {
                Some(&mut r.properties)
            }
            Packet::Subscribe(s) => Some(&mut s.properties),
            Packet::SubAck(a) => Some(&mut a.properties),
            Packet::Unsubscribe(u) => Some(&mut u.properties),
            Packet::UnsubAck(a) => Some(&mut a.properties),
            Packet::Disconnect(d) => Some(&mut d.properties),
            Packet::Auth(a) => Some(&mut a.properties),
            Packet::PingReq | Packet::PingResp => None,
        }
    }

    /// A short name for logs and errors.
    pub fn name(&self) -> &'static str {
        match self {
            Packet::Connect(_) => "CONNECT",
            Packet::ConnAck(_) => "CONNACK",
            Packet::Publish(_) => "PUBLISH",
            Packet::PubAck(_) => "PUBACK",
            Packet::PubRec(_) => "PUBREC",
            Packet::PubRel(_) => "PUBREL",
            Packet::PubComp(_) => "PUBCOMP",
            Packet::Subscribe(_) => "SUBSCRIBE",
            Packet::SubAck(_) => "SUBACK",
            Packet::Unsubscribe(_) => "UNSUBSCRIBE",
            Packet::UnsubAck(_) => "UNSUBACK",
            Packet::PingReq => "PINGREQ",
            Packet::PingResp => "PINGRESP",
            Packet::Disconnect(_) => "DISCONNECT",
            Packet::Auth(_) => "AUTH",
        }
    }
}
