//! rumqttc (an independent Rust client) against the real binary: QoS 1/2 counts and
//! session takeover, plus raw-socket checks of the limits.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{drive, Server};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

fn options(id: &str, server: &Server) -> MqttOptions {
    let mut o = MqttOptions::new(id, "127.0.0.1", server.mqtt.port());
    o.set_keep_alive(Duration::from_secs(30));
    o
}

#[tokio::test]
async fn qos1_and_qos2_arrive_exactly_as_many_times_as_sent() {
    let server = common::start(&[]);
    let (sub, mut sub_loop) = AsyncClient::new(options("counter", &server), 100);
    sub.subscribe("count/#", QoS::ExactlyOnce)
        .await
        .expect("subscribe");
    assert!(
        drive(&mut sub_loop, Duration::from_secs(5), |e| matches!(
            e,
            Event::Incoming(Packet::SubAck(_))
        ))
        .await
    );

    let (publisher, mut pub_loop) = AsyncClient::new(options("sender", &server), 500);
    let pub_task = tokio::spawn(async move {
        for i in 0..200u32 {
            let qos = if i % 2 == 0 {
                QoS::AtLeastOnce
            } else {
                QoS::ExactlyOnce
            };
            publisher
                .publish("count/x", qos, false, i.to_be_bytes().to_vec())
                .await
                .expect("publish");
        }
        let mut acked = 0;
        drive(&mut pub_loop, Duration::from_secs(20), |e| {
            if matches!(
                e,
                Event::Incoming(Packet::PubAck(_)) | Event::Incoming(Packet::PubComp(_))
            ) {
                acked += 1;
            }
            acked == 200
        })
        .await
    });
    let mut seen = std::collections::BTreeSet::new();
    let mut total = 0;
    drive(&mut sub_loop, Duration::from_secs(20), |e| {
        if let Event::Incoming(Packet::Publish(p)) = e {
            total += 1;
            let mut n = [0u8; 4];
            n.copy_from_slice(&p.payload[..4]);
            seen.insert(u32::from_be_bytes(n));
        }
        total == 200
    })
    .await;
    assert!(
        pub_task.await.expect("publisher"),
        "publisher did not get every ack"
    );
    assert_eq!(total, 200, "deliveries");
    assert_eq!(seen.len(), 200, "distinct messages");
}

#[tokio::test]
async fn same_client_id_takes_the_session_over() {
    let server = common::start(&[]);
    let (_first, mut first_loop) = AsyncClient::new(options("dup-id", &server), 10);
    assert!(
        drive(&mut first_loop, Duration::from_secs(5), |e| matches!(
            e,
            Event::Incoming(Packet::ConnAck(_))
        ))
        .await
    );
    let (_second, mut second_loop) = AsyncClient::new(options("dup-id", &server), 10);
    assert!(
        drive(&mut second_loop, Duration::from_secs(5), |e| matches!(
            e,
            Event::Incoming(Packet::ConnAck(_))
        ))
        .await
    );
    // The first connection is closed by the broker.
    let closed = tokio::time::timeout(Duration::from_secs(5), first_loop.poll()).await;
    assert!(
        matches!(closed, Ok(Err(_))),
        "first connection still open: {closed:?}"
    );
}

/// CONNECT (3.1.1, keep-alive 1 s) as raw bytes.
fn raw_connect(keep_alive: u8) -> Vec<u8> {
    vec![
        0x10, 0x0d, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, keep_alive, 0, 1, b'k',
    ]
}

fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    stream.set_read_timeout(Some(limit)).expect("timeout");
    let mut buf = [0u8; 64];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Some(start.elapsed()),
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return Some(start.elapsed())
            }
            Err(_) => return None,
        }
    }
}

#[test]
fn silent_client_is_dropped_after_one_and_a_half_keep_alives() {
    let server = common::start(&[]);
    let mut stream = TcpStream::connect(server.mqtt).expect("connect");
    stream.write_all(&raw_connect(1)).expect("write");
    let closed_after = read_until_closed(&mut stream, Duration::from_secs(5)).expect("closed");
    assert!(
        closed_after >= Duration::from_millis(1400),
        "{closed_after:?}"
    );
}

#[test]
fn socket_without_connect_is_closed() {
    let server = common::start(&["--connect-timeout", "1"]);
    let mut stream = TcpStream::connect(server.mqtt).expect("connect");
    assert!(read_until_closed(&mut stream, Duration::from_secs(4)).is_some());
}

#[test]
fn malformed_packet_closes_that_connection_only() {
    let server = common::start(&[]);
    let mut good = TcpStream::connect(server.mqtt).expect("connect");
    good.write_all(&raw_connect(30)).expect("write");
    let mut connack = [0u8; 4];
    good.read_exact(&mut connack).expect("connack");
    let mut bad = TcpStream::connect(server.mqtt).expect("connect");
    bad.write_all(&[0x10, 0x04, 0xff, 0xff, 0xff, 0xff])
        .expect("write garbage");
    assert!(read_until_closed(&mut bad, Duration::from_secs(3)).is_some());
    good.write_all(&[0xc0, 0x00]).expect("PINGREQ");
    let mut pong = [0u8; 2];
    good.read_exact(&mut pong).expect("PINGRESP");
    assert_eq!(pong, [0xd0, 0x00]);
}
