//! Why bytes could not be decoded or a packet could not be encoded.

use crate::reason;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("packet of {size} bytes exceeds the maximum of {max}")]
    PacketTooLarge { size: usize, max: usize },
    #[error("unsupported protocol level {0}")]
    UnsupportedProtocolVersion(u8),
    #[error("unknown protocol name")]
    InvalidProtocolName,
    #[error("malformed variable byte integer")]
    MalformedVarint,
    #[error("packet ends before its fields do")]
    UnexpectedEnd,
    #[error("bytes left over after the last field")]
    TrailingBytes,
    #[error("string is not valid UTF-8 or contains U+0000")]
    InvalidString,
    #[error("reserved packet type {0}")]
    InvalidPacketType(u8),
    #[error("invalid fixed header flags {0:#04x}")]
    InvalidFlags(u8),
    #[error("invalid QoS 3")]
    InvalidQoS,
    #[error("topic name is empty or contains a wildcard")]
    InvalidTopic,
    #[error("property {0:#04x} is not allowed here")]
    InvalidPropertyId(u8),
    #[error("property {0:#04x} appears twice")]
    DuplicateProperty(u8),
    #[error("property {0:#04x} has an invalid value")]
    InvalidPropertyValue(u8),
    #[error("protocol error: {0}")]
    Protocol(&'static str),
    #[error("malformed packet: {0}")]
    Malformed(&'static str),
}

impl DecodeError {
    /// The MQTT 5.0 reason code to close the connection with.
    pub fn reason_code(&self) -> u8 {
        match self {
            DecodeError::PacketTooLarge { .. } => reason::PACKET_TOO_LARGE,
            DecodeError::UnsupportedProtocolVersion(_) => reason::UNSUPPORTED_PROTOCOL_VERSION,
            DecodeError::InvalidTopic => reason::TOPIC_NAME_INVALID,
            DecodeError::InvalidPropertyId(_)
            | DecodeError::DuplicateProperty(_)
            | DecodeError::InvalidPropertyValue(_)
            | DecodeError::Protocol(_) => reason::PROTOCOL_ERROR,
            _ => reason::MALFORMED_PACKET,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("a string or binary field is longer than 65,535 bytes")]
    FieldTooLong,
    #[error("packet is larger than MQTT's 256 MiB limit")]
    PacketTooLarge,
    #[error("{0} does not exist in MQTT 3.1.1")]
    NotInVersion(&'static str),
}
