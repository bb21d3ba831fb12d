//! Arbitrary bytes into the decoder, for both protocol versions. Whatever decodes must
//! encode and decode back to the same packet: the codec may refuse input, never crash
//! or disagree with itself.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use magnetite_protocol::{decode, encode, Packet, ProtocolVersion};

/// What the decoder promises the broker beyond "it parses": filters are never empty
/// [MQTT-4.7.3-1] and acks carry only reason codes their packet type defines.
fn check_promises(packet: &Packet) {
    match packet {
        Packet::Subscribe(s) => assert!(s.filters.iter().all(|(f, _)| !f.is_empty())),
        Packet::Unsubscribe(u) => assert!(u.filters.iter().all(|f| !f.is_empty())),
        Packet::PubRel(r) | Packet::PubComp(r) => assert!(matches!(r.code, 0x00 | 0x92)),
        Packet::PubAck(r) | Packet::PubRec(r) => assert!(matches!(
            r.code,
            0x00 | 0x10 | 0x80 | 0x83 | 0x87 | 0x90 | 0x91 | 0x97 | 0x99
        )),
        _ => {}
    }
}

fn round_trip(data: &[u8], version: ProtocolVersion) {
    let mut buf = BytesMut::from(data);
    while let Ok(Some(packet)) = decode(&mut buf, version, 1 << 20) {
        check_promises(&packet);
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
