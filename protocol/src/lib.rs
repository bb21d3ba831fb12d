//! MQTT 3.1.1 and 5.0 wire format: packet types, a streaming decoder and an encoder.
//!
//! This is the one module boundary the rest of Magnetite goes through to touch bytes on
//! the wire (`broker::protocol` re-exports it); the load tester uses it as a client.
//!
//! - [`decode`] takes bytes from a read buffer and returns the next whole packet, or
//!   `Ok(None)` when more bytes are needed. A CONNECT carries its own protocol level; every
//!   other packet is decoded for the version the caller passes (the session's).
//! - [`encode`] appends one packet to a write buffer in the given version;
//!   [`encode_publish`] is the allocation-free path for the broker's hot loop.
//! - [`topic`] validates topic names and filters and matches them (`+`, `#`, `$` rules).

mod decode;
mod encode;
mod error;
pub mod packet;
mod properties;
pub mod reason;
pub mod topic;
mod wire;

pub use decode::{decode, MIN_RESERVE_AHEAD};
pub use encode::{encode, encode_publish, encode_publish_parts, encoded_len, PublishParts};
pub use error::{DecodeError, EncodeError};
pub use packet::*;
pub use properties::{decode_publish_properties, encode_publish_properties};
