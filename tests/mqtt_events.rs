//! MQTT connect/disconnect events from the real binary: shipped to a real Redis
//! (`XRANGE magistrala.mqtt`) and readable from the embedded log (`GET /events`).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use magnetite_testkit::servers::Server as Redis;
use magnetite_testkit::sinks::{xrange, Fields, Sink, StreamReader};

/// A Redis on a free port with its data in a temp dir (removed with the guard).
fn redis() -> (Redis, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    (magnetite_testkit::servers::redis(dir.path()), dir)
}

fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).expect("http connect");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut body = String::new();
    stream.read_to_string(&mut body).unwrap();
    body
}

/// The `magistrala.mqtt` Redis stream once it holds `n` events (or `secs` passed).
fn mqtt_stream(port: u16, n: usize, secs: u64) -> Vec<Fields> {
    StreamReader::new(Sink::Redis(port), Duration::from_secs(secs)).read("mqtt", n)
}

#[test]
fn connect_and_disconnect_reach_redis_and_the_embedded_log() {
    let (redis, _dir) = redis();
    let store = format!("redis://127.0.0.1:{}", redis.port);
    let server = common::start(&["--event-store", &store, "--instance-id", "broker-a"]);
    let out = common::mosquitto(
        "mosquitto_pub",
        &server.port(),
        &["-i", "dev-42", "-t", "t", "-m", "x"],
    );
    assert!(out.status.success());

    let events = mqtt_stream(redis.port, 2, 10);
    assert_eq!(events.len(), 2, "{events:?}");
    for (event, kind) in events.iter().zip(["connect", "disconnect"]) {
        assert_eq!(
            event.get("client_id").map(String::as_str),
            Some("dev-42"),
            "{event:?}"
        );
        assert_eq!(
            event.get("event_type").map(String::as_str),
            Some(kind),
            "{event:?}"
        );
        assert_eq!(
            event.get("instance").map(String::as_str),
            Some("broker-a"),
            "{event:?}"
        );
        let at: u128 = event
            .get("occurred_at")
            .and_then(|v| v.parse().ok())
            .expect("occurred_at in ns");
        assert!(at > 1_600_000_000_000_000_000, "{at}");
    }
    let log = http_get(server.http, "/events?stream=mqtt&limit=10");
    assert!(
        log.contains("\"dev-42\"") && log.contains("\"disconnect\""),
        "{log}"
    );
    let metrics = http_get(server.http, "/metrics");
    assert!(metrics.contains("magnetite_mqtt_connections"), "{metrics}");
    assert!(metrics.contains("127.0.0.1"), "per-sink metrics: {metrics}");
}

fn connect_and_disconnect(addr: std::net::SocketAddr, client_id: &str) {
    assert_eq!(
        magnetite_testkit::mqtt::connect_and_disconnect(addr, client_id, None),
        0
    );
}

#[test]
fn events_wait_out_a_redis_outage_and_arrive_in_order_once() {
    let (mut redis, _dir) = redis();
    let port = redis.port;
    let store = format!("redis://127.0.0.1:{port}");
    let server = common::start(&["--event-store", &store]);
    redis.stop(); // the sink goes down before any event
    let started = Instant::now();
    for i in 0..1000 {
        connect_and_disconnect(server.mqtt, &format!("c{i:04}"));
    }
    let connect_time = started.elapsed();
    assert!(
        connect_time < Duration::from_secs(30),
        "connects stalled while the sink was down: {connect_time:?}"
    );
    redis.start();
    let events = mqtt_stream(redis.port, 2000, 30);
    assert_eq!(events.len(), 2000, "every event arrives once");
    let mut connects = Vec::new();
    for e in &events {
        if e.get("event_type").map(String::as_str) == Some("connect") {
            connects.push(e.get("client_id").cloned().unwrap_or_default());
        }
    }
    let expected: Vec<String> = (0..1000).map(|i| format!("c{i:04}")).collect();
    assert_eq!(
        connects, expected,
        "connect events in the order they happened"
    );
}

#[test]
fn events_pending_at_a_kill_9_are_shipped_after_restart() {
    let (mut redis, _dir) = redis();
    redis.stop();
    let store = format!("redis://127.0.0.1:{}", redis.port);
    // No Redis yet: events stay pending in the outbox.
    let server = common::start(&["--event-store", &store]);
    for i in 0..100 {
        connect_and_disconnect(server.mqtt, &format!("k{i:03}"));
    }
    // Once the batching writer has put all 200 in the outbox (the embedded log shows
    // them), kill -9 the broker with every one of them still unshipped.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let log = http_get(server.http, "/events?stream=mqtt&limit=500");
        if log.matches("\"disconnect\"").count() == 100 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "events never reached the outbox: {log}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let data_dir = server.kill9();
    redis.start();
    let restarted = common::start_in(data_dir, &["--event-store", &store]);
    let events = mqtt_stream(redis.port, 200, 30);
    assert_eq!(
        events.len(),
        200,
        "every pending event arrives once after the restart"
    );
    let connects: Vec<String> = events
        .iter()
        .filter(|e| e.get("event_type").map(String::as_str) == Some("connect"))
        .filter_map(|e| e.get("client_id").cloned())
        .collect();
    let expected: Vec<String> = (0..100).map(|i| format!("k{i:03}")).collect();
    assert_eq!(
        connects, expected,
        "connect events in the order they happened"
    );
    drop(restarted);
}

/// The MQTT events the embedded log (`GET /events`) still holds.
fn logged_disconnects(server: &common::Server) -> usize {
    http_get(server.http, "/events?stream=mqtt&limit=500")
        .matches("\"disconnect\"")
        .count()
}

#[test]
fn retention_prunes_only_what_every_sink_has_shipped() {
    let (mut redis, _dir) = redis();
    redis.stop();
    let store = format!("redis://127.0.0.1:{}", redis.port);
    let flags = ["--event-store", store.as_str(), "--event-retention", "1s"];
    let server = common::start(&flags);
    for i in 0..20 {
        connect_and_disconnect(server.mqtt, &format!("r{i:02}"));
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while logged_disconnects(&server) < 20 {
        assert!(Instant::now() < deadline, "events never reached the outbox");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Older than the retention but unshipped: a restart's sweep keeps them.
    std::thread::sleep(Duration::from_millis(1_500));
    let server = common::start_in(server.kill9(), &flags);
    std::thread::sleep(Duration::from_millis(1_500));
    assert_eq!(
        logged_disconnects(&server),
        20,
        "nothing unshipped is pruned"
    );

    redis.start();
    let deadline = Instant::now() + Duration::from_secs(30);
    while xrange(redis.port, "magistrala.mqtt").len() < 40 {
        assert!(Instant::now() < deadline, "events never shipped");
        std::thread::sleep(Duration::from_millis(200));
    }
    // Shipped and old: the next sweep (at start) deletes them from the outbox.
    let server = common::start_in(server.kill9(), &flags);
    let deadline = Instant::now() + Duration::from_secs(20);
    while logged_disconnects(&server) > 0 {
        assert!(
            Instant::now() < deadline,
            "shipped events were never pruned"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        xrange(redis.port, "magistrala.mqtt").len(),
        40,
        "pruning the outbox touches nothing shipped"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let metrics = http_get(server.http, "/metrics");
        if metrics.contains("magnetite_events_pruned_total 40") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "pruned rows not counted: {metrics}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// An MQTT 3.1.1 packet: fixed-header byte, remaining length, body.
fn packet(first: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![first];
    let mut len = body.len();
    loop {
        let byte = (len % 128) as u8;
        len /= 128;
        out.push(if len > 0 { byte | 0x80 } else { byte });
        if len == 0 {
            break;
        }
    }
    out.extend_from_slice(body);
    out
}

fn with_len(s: &[u8]) -> Vec<u8> {
    [&(s.len() as u16).to_be_bytes()[..], s].concat()
}

/// A raw 3.1.1 connection (clean session), CONNACK read.
fn mqtt_connect(addr: std::net::SocketAddr, client_id: &str) -> TcpStream {
    let body = [
        &with_len(b"MQTT")[..],
        &[4, 0x02, 0, 60],
        &with_len(client_id.as_bytes()),
    ]
    .concat();
    let mut stream = TcpStream::connect(addr).expect("MQTT connect");
    stream.write_all(&packet(0x10, &body)).expect("CONNECT");
    let mut connack = [0u8; 4];
    stream.read_exact(&mut connack).expect("CONNACK");
    assert_eq!(connack, [0x20, 2, 0, 0]);
    stream
}

/// The bug this guards: QoS 0 messages dropped at a full subscriber queue were counted
/// nowhere `/metrics` could see. A subscriber that stops reading, a flood bigger than its
/// socket buffers and `--max-queued`: the drops show with reason `queue_full`.
#[test]
fn qos0_dropped_at_a_full_subscriber_queue_are_counted_on_metrics() {
    let server = common::start(&["--max-queued", "5"]);
    let mut slow = mqtt_connect(server.mqtt, "slow");
    let subscribe = [&[0, 1][..], &with_len(b"flood"), &[0]].concat();
    slow.write_all(&packet(0x82, &subscribe))
        .expect("SUBSCRIBE");
    let mut suback = [0u8; 5];
    slow.read_exact(&mut suback).expect("SUBACK");
    assert_eq!(suback, [0x90, 3, 0, 1, 0]);
    // `slow` reads nothing from now on.
    let mut publisher = mqtt_connect(server.mqtt, "fast");
    let flood = packet(0x30, &[&with_len(b"flood")[..], &[7u8; 64 * 1024]].concat());
    for _ in 0..400 {
        publisher.write_all(&flood).expect("PUBLISH");
    }
    // A QoS 1 PUBLISH elsewhere: its PUBACK means every flood message was routed.
    let done = [&with_len(b"done")[..], &[0, 1]].concat();
    publisher
        .write_all(&packet(0x32, &done))
        .expect("PUBLISH done");
    let mut puback = [0u8; 4];
    publisher.read_exact(&mut puback).expect("PUBACK");
    assert_eq!(puback, [0x40, 2, 0, 1]);
    let metrics = http_get(server.http, "/metrics");
    let dropped: u64 = metrics
        .lines()
        .find_map(|l| {
            l.strip_prefix("magnetite_mqtt_messages_dropped_total{reason=\"queue_full\"} ")
        })
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no queue_full drops line: {metrics}"));
    assert!(dropped > 0, "{metrics}");
    drop(slow);
}
