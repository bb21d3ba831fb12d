//! Raw sockets for the resource-bound attacks: CONNECT packets built by hand, sockets
//! bound to a chosen loopback source address (127.0.0.x stands for distinct hosts), the
//! server's memory from `/proc`, and `/metrics` values.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::OnceLock;
use std::time::Duration;

use crate::common::Server;
use magnetite_testkit::mqtt::{connect_packet, varint};

/// The first bytes of a CONNECT whose header claims `declared` bytes of body.
pub fn connect_header(declared: usize, v5: bool) -> Vec<u8> {
    let mut packet = vec![0x10];
    packet.extend_from_slice(&varint(declared));
    packet.extend_from_slice(&[0, 4, b'M', b'Q', b'T', b'T', if v5 { 5 } else { 4 }]);
    packet
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    })
}

/// A blocking TCP connection to `to` from the loopback address `from` (e.g. `127.0.0.2`).
pub fn tcp_from(from: &str, to: SocketAddr) -> TcpStream {
    let local: SocketAddr = format!("{from}:0").parse().expect("local address");
    let stream = runtime().block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.bind(local).expect("bind a loopback source address");
        socket.connect(to).await.expect("TCP connect")
    });
    let stream = stream.into_std().expect("std stream");
    stream.set_nonblocking(false).expect("blocking");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("read timeout");
    stream
}

/// Sends CONNECT from `from` and returns the CONNACK code (`None`: closed without one).
pub fn connack_from(
    from: &str,
    to: SocketAddr,
    client_id: &str,
    login: (&str, &str),
    v5: bool,
) -> Option<u8> {
    let mut stream = tcp_from(from, to);
    stream
        .write_all(&connect_packet(client_id, Some(login), v5))
        .ok()?;
    let code = read_connack(&mut stream);
    if code == Some(0) {
        let _ = stream.write_all(&[0xe0, 0x00]);
    }
    code
}

/// Reads one CONNACK (either version) and returns its code; `None` on EOF or another packet.
pub fn read_connack(stream: &mut TcpStream) -> Option<u8> {
    let mut first = [0u8; 2];
    stream.read_exact(&mut first).ok()?;
    if first[0] != 0x20 {
        return None;
    }
    let mut len = usize::from(first[1] & 0x7f);
    let mut shift = 7;
    let mut byte = first[1];
    while byte & 0x80 != 0 {
        let mut b = [0u8; 1];
        stream.read_exact(&mut b).ok()?;
        byte = b[0];
        len |= usize::from(byte & 0x7f) << shift;
        shift += 7;
    }
    let mut rest = vec![0u8; len];
    stream.read_exact(&mut rest).ok()?;
    rest.get(1).copied()
}

/// `VmRSS` and `VmSize` of the server process, in kB.
pub fn memory_kb(server: &Server) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid()))
        .expect("/proc/<pid>/status of the server");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or_else(|| panic!("{name} in /proc status"))
    };
    (field("VmRSS:"), field("VmSize:"))
}

/// `GET /metrics` as text.
pub fn metrics(server: &Server) -> String {
    reqwest::blocking::get(format!("http://{}/metrics", server.http))
        .and_then(|r| r.text())
        .expect("GET /metrics")
}

/// The value of the sample `name` (with its labels, e.g. `x{by="address"}`).
pub fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("metric {name} in:\n{text}"))
}
