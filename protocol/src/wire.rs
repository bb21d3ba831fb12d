//! Primitive wire types: integers, variable byte integers, UTF-8 strings, binary data.
//!
//! Reading works on a `Bytes` holding exactly one packet body, so strings and binary
//! fields are zero-copy slices of the read buffer.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use bytestring::ByteString;

use crate::DecodeError;

/// Largest value a variable byte integer can hold (4 bytes).
pub const MAX_VARINT: usize = 268_435_455;

pub fn read_u8(buf: &mut Bytes) -> Result<u8, DecodeError> {
    if buf.remaining() < 1 {
        return Err(DecodeError::UnexpectedEnd);
    }
    Ok(buf.get_u8())
}

pub fn read_u16(buf: &mut Bytes) -> Result<u16, DecodeError> {
    if buf.remaining() < 2 {
        return Err(DecodeError::UnexpectedEnd);
    }
    Ok(buf.get_u16())
}

pub fn read_u32(buf: &mut Bytes) -> Result<u32, DecodeError> {
    if buf.remaining() < 4 {
        return Err(DecodeError::UnexpectedEnd);
    }
    Ok(buf.get_u32())
}

/// Reads a variable byte integer from a body.
pub fn read_varint(buf: &mut Bytes) -> Result<usize, DecodeError> {
    let mut value = 0usize;
    for i in 0..4 {
        let byte = read_u8(buf)?;
        value |= usize::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(DecodeError::MalformedVarint)
}

/// Parses a variable byte integer at the start of `bytes` without consuming it:
/// `Ok(Some((value, length)))`, `Ok(None)` if more bytes are needed.
pub fn peek_varint(bytes: &[u8]) -> Result<Option<(usize, usize)>, DecodeError> {
    let mut value = 0usize;
    for i in 0..4 {
        let Some(&byte) = bytes.get(i) else {
            return Ok(None);
        };
        value |= usize::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(Some((value, i + 1)));
        }
    }
    Err(DecodeError::MalformedVarint)
}

pub fn read_binary(buf: &mut Bytes) -> Result<Bytes, DecodeError> {
    let len = usize::from(read_u16(buf)?);
    if buf.remaining() < len {
        return Err(DecodeError::UnexpectedEnd);
    }
    Ok(buf.split_to(len))
}

/// A UTF-8 string: valid UTF-8 without U+0000 [MQTT-1.5.4-1, -2].
pub fn read_string(buf: &mut Bytes) -> Result<ByteString, DecodeError> {
    let raw = read_binary(buf)?;
    if raw.contains(&0) {
        return Err(DecodeError::InvalidString);
    }
    ByteString::try_from(raw).map_err(|_| DecodeError::InvalidString)
}

pub fn varint_len(value: usize) -> usize {
    match value {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

pub fn write_varint(out: &mut BytesMut, mut value: usize) {
    loop {
        let mut byte = (value & 0x7f) as u8;
        value >>= 7;
        if value > 0 {
            byte |= 0x80;
        }
        out.put_u8(byte);
        if value == 0 {
            return;
        }
    }
}

/// Writes a length-prefixed field; callers check lengths against 65,535 first.
pub fn write_binary(out: &mut BytesMut, data: &[u8]) {
    out.put_u16(data.len() as u16);
    out.put_slice(data);
}

pub fn write_string(out: &mut BytesMut, s: &str) {
    write_binary(out, s.as_bytes());
}
