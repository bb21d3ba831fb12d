//! Arbitrary bytes into the decoder, for both protocol versions. Whatever decodes must
//! encode and decode back to the same packet: the codec may refuse input, never crash
//! or disagree with itself.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use magnetite_protocol::{decode, encode, ProtocolVersion};

fn round_trip(data: &[u8], version: ProtocolVersion) {
    let mut buf = BytesMut::from(data);
    while let Ok(Some(packet)) = decode(&mut buf, version, 1 << 20) {
        // A CONNECT carries its own version; everything else uses the session's.
        let as_version = match &packet {
            magnetite_protocol::Packet::Connect(c) => c.protocol,
            _ => version,
        };
        let mut out = BytesMut::new();
        if encode(&packet, as_version, &mut out).is_ok() {
            let again = decode(&mut out, as_version, 1 << 20);
            assert_eq!(again, Ok(Some(packet)), "re-encoded packet decoded differently");
            assert!(out.is_empty(), "encoder wrote trailing bytes");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    round_trip(data, ProtocolVersion::V311);
    round_trip(data, ProtocolVersion::V5);
});
