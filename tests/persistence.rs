//! `--persistence` against the real binary: what survives a clean restart and a
//! `kill -9`, a damaged store, and `--persistence none` keeping nothing.

mod common;

/// The security suite's raw MQTT client names its credentials by a platform `Device`;
/// under `--auth none` any will do, so this stands in for the platform test helpers.
mod platform {
    pub struct Device {
        pub id: String,
        pub secret: String,
    }
}

#[path = "security/mqtt.rs"]
mod mqtt;

#[path = "persistence/sessions.rs"]
mod sessions;

#[path = "persistence/full_disk.rs"]
mod full_disk;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{mosquitto, Server};

/// How a test ends the first broker.
#[derive(Clone, Copy)]
enum Stop {
    Clean,
    Kill9,
}

fn stop(server: Server, how: Stop) -> PathBuf {
    match how {
        Stop::Clean => server.stop(),
        Stop::Kill9 => server.kill9(),
    }
}

fn text(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn publish(server: &Server, args: &[&str]) {
    let out = mosquitto("mosquitto_pub", &server.port(), args);
    assert!(out.status.success(), "mosquitto_pub failed: {out:?}");
}

/// Registers a persistent session `id` subscribed to `filter` at `qos`, then leaves.
fn subscribe_persistent(server: &Server, id: &str, filter: &str, qos: &str) {
    let out = mosquitto(
        "mosquitto_sub",
        &server.port(),
        &["-i", id, "-c", "-q", qos, "-t", filter, "-E"],
    );
    assert!(out.status.success(), "mosquitto_sub failed: {out:?}");
}

/// Takes back session `id` and returns the first `count` messages (`topic payload`).
fn resume(server: &Server, id: &str, filter: &str, qos: &str, count: usize) -> String {
    let count = count.to_string();
    let out = mosquitto(
        "mosquitto_sub",
        &server.port(),
        &[
            "-i", id, "-c", "-q", qos, "-t", filter, "-v", "-C", &count, "-W", "10",
        ],
    );
    text(&out)
}

fn metric(server: &Server, name: &str) -> u64 {
    let url = format!("http://{}/metrics", server.http);
    let body = reqwest::blocking::get(url)
        .and_then(|r| r.text())
        .expect("metrics");
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} missing from /metrics:\n{body}"))
}

fn retained_and_queued_survive(how: Stop, policy: &str) {
    let server = common::start(&["--persistence", policy]);
    publish(&server, &["-t", "plant/temp", "-m", "21", "-r", "-q", "1"]);
    subscribe_persistent(&server, "dev-q1", "q1/#", "1");
    subscribe_persistent(&server, "dev-q2", "q2/#", "2");
    publish(&server, &["-t", "q1/a", "-m", "one", "-q", "1"]);
    publish(&server, &["-t", "q2/a", "-m", "two", "-q", "2"]);
    let dir = stop(server, how);
    let server = common::start_in(dir, &["--persistence", policy]);
    let retained = mosquitto(
        "mosquitto_sub",
        &server.port(),
        &["-t", "plant/temp", "-v", "-C", "1", "-W", "5"],
    );
    assert_eq!(text(&retained).trim(), "plant/temp 21");
    assert_eq!(resume(&server, "dev-q1", "q1/#", "1", 1).trim(), "q1/a one");
    assert_eq!(resume(&server, "dev-q2", "q2/#", "2", 1).trim(), "q2/a two");
}

#[test]
fn retained_and_queued_qos1_qos2_survive_a_clean_restart() {
    retained_and_queued_survive(Stop::Clean, "batched");
}

#[test]
fn retained_and_queued_qos1_qos2_survive_kill_9() {
    retained_and_queued_survive(Stop::Kill9, "batched");
    retained_and_queued_survive(Stop::Kill9, "sync");
}

#[test]
fn persistence_none_keeps_nothing() {
    let server = common::start(&["--persistence", "none"]);
    publish(&server, &["-t", "plant/temp", "-m", "21", "-r"]);
    subscribe_persistent(&server, "dev", "q/#", "1");
    publish(&server, &["-t", "q/a", "-m", "one", "-q", "1"]);
    let dir = server.stop();
    assert!(!dir.join("persistence").exists());
    let server = common::start_in(dir, &["--persistence", "none"]);
    let retained = mosquitto(
        "mosquitto_sub",
        &server.port(),
        &["-t", "plant/temp", "-C", "1", "-W", "2"],
    );
    assert_eq!(text(&retained), "");
    assert_eq!(resume(&server, "dev", "q/#", "1", 1), "");
}

#[test]
fn session_expiry_is_honoured_across_a_restart() {
    let server = common::start(&[]);
    for (id, expiry) in [("short", "1"), ("long", "3600")] {
        let out = mosquitto(
            "mosquitto_sub",
            &server.port(),
            &[
                "-V", "5", "-i", id, "-c", "-x", expiry, "-q", "1", "-t", "e/#", "-E",
            ],
        );
        assert!(out.status.success(), "{out:?}");
    }
    publish(&server, &["-t", "e/x", "-m", "kept", "-q", "1"]);
    let dir = server.kill9();
    // The short session's second passes while the broker is down.
    std::thread::sleep(Duration::from_millis(2100));
    let server = common::start_in(dir, &[]);
    let resume_v5 = |id: &str| {
        let out = mosquitto(
            "mosquitto_sub",
            &server.port(),
            &[
                "-V", "5", "-i", id, "-c", "-x", "3600", "-q", "1", "-t", "e/#", "-v", "-C", "1",
                "-W", "3",
            ],
        );
        text(&out)
    };
    assert_eq!(resume_v5("long").trim(), "e/x kept");
    assert_eq!(resume_v5("short"), "", "expired session came back");
}

#[test]
fn a_delayed_will_survives_and_is_published_when_due() {
    let server = common::start(&[]);
    let watcher = common::spawn_mosquitto(
        "mosquitto_sub",
        &server.port(),
        &["-i", "watcher", "-c", "-q", "1", "-t", "wills/#", "-E"],
    );
    drop(common::finish(watcher, Duration::from_secs(5)));
    // A v5 client with a 2 s will delay and a 1 h session, killed without DISCONNECT.
    let mut device = common::spawn_mosquitto(
        "mosquitto_sub",
        &server.port(),
        &[
            "-V",
            "5",
            "-i",
            "dev-will",
            "-c",
            "-x",
            "3600",
            "-t",
            "none",
            "--will-topic",
            "wills/dev",
            "--will-payload",
            "gone",
            "--will-qos",
            "1",
            "-D",
            "will",
            "will-delay-interval",
            "2",
        ],
    );
    std::thread::sleep(Duration::from_millis(500));
    let _ = device.kill();
    let _ = device.wait();
    std::thread::sleep(Duration::from_millis(300));
    let dir = server.kill9();
    std::thread::sleep(Duration::from_millis(2100));
    let server = common::start_in(dir, &[]);
    assert_eq!(
        resume(&server, "watcher", "wills/#", "1", 1).trim(),
        "wills/dev gone"
    );
}

#[test]
fn a_damaged_store_starts_keeps_the_rest_and_counts_the_loss() {
    let server = common::start(&[]);
    for (topic, value) in [("r/1", "one"), ("r/2", "two"), ("r/3", "three")] {
        publish(&server, &["-t", topic, "-m", value, "-r", "-q", "1"]);
    }
    let dir = server.stop();
    let journal = dir.join("persistence/journal.mgj");
    let mut bytes = std::fs::read(&journal).expect("journal");
    // Scribble inside the first record's payload, and cut the last one short.
    bytes[20] ^= 0xff;
    bytes.truncate(bytes.len() - 3);
    std::fs::write(&journal, &bytes).expect("write journal");
    let server = common::start_in(dir, &[]);
    let out = mosquitto(
        "mosquitto_sub",
        &server.port(),
        &["-t", "r/#", "-v", "-C", "1", "-W", "3"],
    );
    let kept = text(&out);
    assert_eq!(kept.lines().count(), 1, "one intact record kept: {kept}");
    assert!(kept.starts_with("r/"), "{kept}");
    assert_eq!(
        metric(&server, "magnetite_persistence_corrupt_records_total"),
        2
    );
    // Garbage alone: still starts, with nothing.
    let dir = server.stop();
    std::fs::write(dir.join("persistence/journal.mgj"), b"garbage").expect("write");
    let server = common::start_in(dir, &[]);
    assert_eq!(
        metric(&server, "magnetite_persistence_corrupt_records_total"),
        1
    );
}

/// A QoS 1 PUBLISH of `payload` to `load/x` with packet id `pkid` (MQTT 3.1.1).
fn qos1_publish(pkid: u16, payload: &str) -> Vec<u8> {
    let topic = b"load/x";
    let body = 2 + topic.len() + 2 + payload.len();
    let mut out = vec![0x32, body as u8];
    out.extend_from_slice(&(topic.len() as u16).to_be_bytes());
    out.extend_from_slice(topic);
    out.extend_from_slice(&pkid.to_be_bytes());
    out.extend_from_slice(payload.as_bytes());
    out
}

/// Connects as `loader` (3.1.1, clean session) and starts a thread collecting the
/// packet ids of the PUBACKs it receives.
fn loader(server: &Server) -> (TcpStream, Arc<Mutex<Vec<u16>>>) {
    let mut socket = TcpStream::connect(server.mqtt).expect("connect");
    let connect = [
        0x10, 18, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 60, 0, 6, b'l', b'o', b'a', b'd', b'e',
        b'r',
    ];
    socket.write_all(&connect).expect("CONNECT");
    let mut connack = [0u8; 4];
    socket.read_exact(&mut connack).expect("CONNACK");
    assert_eq!(connack, [0x20, 2, 0, 0]);
    let acked = Arc::new(Mutex::new(Vec::new()));
    let mut reader = socket.try_clone().expect("clone");
    let sink = Arc::clone(&acked);
    std::thread::spawn(move || {
        let mut ack = [0u8; 4];
        while reader.read_exact(&mut ack).is_ok() {
            if ack[0] == 0x40 {
                sink.lock()
                    .unwrap()
                    .push(u16::from_be_bytes([ack[2], ack[3]]));
            }
        }
    });
    (socket, acked)
}

#[test]
fn kill_9_under_qos1_load_with_sync_loses_no_acknowledged_message() {
    let (acked, lost) = kill_9_under_sync_load(5000, 500);
    assert!(acked.len() >= 500);
    assert!(
        lost.is_empty(),
        "{} of {} PUBACKed messages lost, e.g. {:?}",
        lost.len(),
        acked.len(),
        &lost[..lost.len().min(5)]
    );
}

/// One publisher pipelining QoS 1 under `sync` (its PUBACKs wait for the fsync of
/// their records while it reads on): the PUBACKs come in publish order [MQTT-4.6.0-2],
/// and a `kill -9` mid-way loses none of the messages they acknowledged.
#[test]
fn pipelined_qos1_pubacks_under_sync_come_in_order_and_survive_kill_9() {
    let (acked, lost) = kill_9_under_sync_load(6000, 1000);
    assert!(acked.len() >= 1000);
    let in_order: Vec<u16> = (1..=acked.len() as u16).collect();
    assert!(acked == in_order, "PUBACKs out of order: {acked:?}");
    assert!(lost.is_empty(), "{} PUBACKed messages lost", lost.len());
}

/// Sends `count` QoS 1 messages from one publisher to a persistent subscriber's filter
/// without waiting for acks, under `--persistence sync`; `kill -9`s the broker once
/// `kill_after` are PUBACKed, restarts it and collects what the subscriber gets.
/// Returns the PUBACKed packet ids in arrival order and those never delivered.
fn kill_9_under_sync_load(count: u16, kill_after: usize) -> (Vec<u16>, Vec<u16>) {
    let server = common::start(&["--persistence", "sync"]);
    subscribe_persistent(&server, "sink", "load/#", "1");
    let (mut socket, acked) = loader(&server);
    let writer = std::thread::spawn(move || {
        for pkid in 1..=count {
            if socket
                .write_all(&qos1_publish(pkid, &format!("m{pkid}")))
                .is_err()
            {
                return;
            }
        }
    });
    while acked.lock().unwrap().len() < kill_after {
        std::thread::sleep(Duration::from_millis(5));
    }
    let dir = server.kill9();
    let _ = writer.join();
    let acked: Vec<u16> = acked.lock().unwrap().clone();
    let server = common::start_in(dir, &["--persistence", "sync"]);
    let out = mosquitto(
        "mosquitto_sub",
        &server.port(),
        &["-i", "sink", "-c", "-q", "1", "-t", "load/#", "-W", "5"],
    );
    let received: std::collections::HashSet<String> =
        text(&out).lines().map(str::to_string).collect();
    let lost = acked
        .iter()
        .copied()
        .filter(|p| !received.contains(&format!("m{p}")))
        .collect();
    (acked, lost)
}
