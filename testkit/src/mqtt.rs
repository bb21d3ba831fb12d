//! A minimal raw MQTT client (3.1.1, and 5.0 CONNECTs) for connect storms in tests: no client library in
//! between, so what is measured and asserted is the broker's answer.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

/// Appends an MQTT string: two length bytes, then the bytes.
pub fn put_str(buf: &mut Vec<u8>, s: &[u8]) {
    buf.extend_from_slice(&(s.len() as u16).to_be_bytes());
    buf.extend_from_slice(s);
}

/// The Remaining Length of a fixed header (7 bits a byte, high bit = more follows).
pub fn varint(mut len: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let mut byte = (len % 128) as u8;
        len /= 128;
        if len > 0 {
            byte |= 0x80;
        }
        out.push(byte);
        if len == 0 {
            return out;
        }
    }
}

/// A CONNECT (clean start, keep-alive 30 s) with username and password; `v5` picks the
/// protocol level (5.0 gets an empty property section).
pub fn connect_packet(client_id: &str, login: Option<(&str, &str)>, v5: bool) -> Vec<u8> {
    let mut body = Vec::new();
    put_str(&mut body, b"MQTT");
    body.push(if v5 { 5 } else { 4 });
    body.push(0x02 | if login.is_some() { 0xC0 } else { 0 });
    body.extend_from_slice(&30u16.to_be_bytes());
    if v5 {
        body.push(0);
    }
    put_str(&mut body, client_id.as_bytes());
    if let Some((user, pass)) = login {
        put_str(&mut body, user.as_bytes());
        put_str(&mut body, pass.as_bytes());
    }
    let mut packet = vec![0x10];
    packet.extend_from_slice(&varint(body.len()));
    packet.extend_from_slice(&body);
    packet
}

/// CONNECT (clean session, keep-alive 30 s) with optional username/password; returns
/// the CONNACK return code, and on 0 sends DISCONNECT and closes first (as a client
/// should: the broker waits for that).
pub fn connect_and_disconnect(
    addr: SocketAddr,
    client_id: &str,
    login: Option<(&str, &str)>,
) -> u8 {
    let packet = connect_packet(client_id, login, false);
    let mut stream = TcpStream::connect(addr).expect("TCP connect");
    stream.write_all(&packet).expect("CONNECT");
    let mut connack = [0u8; 4];
    stream.read_exact(&mut connack).expect("CONNACK");
    assert_eq!(&connack[..2], &[0x20, 0x02], "a CONNACK");
    if connack[3] == 0 {
        stream.write_all(&[0xe0, 0x00]).expect("DISCONNECT");
    }
    connack[3]
}
