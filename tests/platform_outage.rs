//! A sink that is down delays events and loses none: for each sink, its server is
//! stopped, 1,000 HTTP operations and 1,000 authenticated MQTT connects happen, the
//! server comes back, and every event arrives in order, once. MQTT keeps working while
//! the sink is down (the connect times are printed; the benchmark is in BENCHMARKS.md).

mod common;
mod platform;

use std::time::{Duration, Instant};

use magnetite_testkit::servers::{self, Server};
use magnetite_testkit::sinks::{Sink, StreamReader};
use platform::{fleet, Api};
use serde_json::json;

/// Runs the outage scenario: `server_of_sink` is the process of `sink`, stopped and
/// started again in the middle.
fn outage(mut server_of_sink: Server, sink: Sink) {
    let reader = StreamReader::new(sink, Duration::from_secs(60));
    let read = |service: &str, n: usize| reader.read(service, n);
    let server = platform::server(&["--event-store", &reader.store_url()]);
    let api = Api::admin(&server);
    let f = fleet(&api, "outage");
    let login = Some((f.device.id.as_str(), f.device.secret.as_str()));
    let baseline = Instant::now();
    connect_all(server.mqtt, "warm", 100, login);
    let per_connect_up = baseline.elapsed() / 100;

    // Everything so far has reached the sink (its streams exist) before it goes down.
    assert!(read("clients", 3).len() >= 3, "shipping before the outage");
    server_of_sink.stop_gracefully();
    // 1,000 HTTP operations (client creates, one event each) ...
    for i in 0..1000 {
        let body = json!({"name": format!("c{i:04}")});
        api.expect("POST", &format!("/{}/clients", f.domain), Some(body), 201);
    }
    // ... and 1,000 authenticated connects (2,000 MQTT events).
    let started = Instant::now();
    connect_all(server.mqtt, "dev", 1000, login);
    let per_connect_down = started.elapsed() / 1000;
    eprintln!("connect+disconnect: {per_connect_up:?} with the sink up, {per_connect_down:?} with it down");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "MQTT stalled while the sink was down"
    );

    server_of_sink.start();
    let clients = read("clients", 1000 + 3);
    let names: Vec<&str> = clients
        .iter()
        .filter(|e| e.get("operation").map(String::as_str) == Some("client.create"))
        .filter_map(|e| e.get("name").map(String::as_str))
        .filter(|n| n.starts_with('c') && n.len() == 5)
        .collect();
    let expected: Vec<String> = (0..1000).map(|i| format!("c{i:04}")).collect();
    assert_eq!(names, expected, "every client.create, in order, once");
    let mqtt = read("mqtt", 2200);
    let shipped: Vec<(String, String)> = mqtt
        .iter()
        .map(|e| (e["event_type"].clone(), e["occurred_at"].clone()))
        .collect();
    let connects = shipped.iter().filter(|(k, _)| k == "connect").count();
    assert_eq!(
        (shipped.len(), connects),
        (2200, 1100),
        "100 + 1,000 connects and their disconnects, once each"
    );
    assert_eq!(shipped, outbox_mqtt(&api), "shipped in the outbox's order");
}

/// `n` connects (MQTT client ids `<prefix>-<i>`) that must each be accepted, then end.
fn connect_all(addr: std::net::SocketAddr, prefix: &str, n: usize, login: Option<(&str, &str)>) {
    for i in 0..n {
        let id = format!("{prefix}-{i}");
        let code = magnetite_testkit::mqtt::connect_and_disconnect(addr, &id, login);
        assert_eq!(code, 0, "{id}");
    }
}

/// The `mqtt` stream of the embedded log (the outbox order), as (event_type, occurred_at).
fn outbox_mqtt(api: &Api) -> Vec<(String, String)> {
    api.event_log("mqtt")
        .iter()
        .map(|ev| {
            (
                ev["event_type"].as_str().unwrap_or("").to_string(),
                ev["occurred_at"].to_string(),
            )
        })
        .collect()
}

/// Starts the sink with `start`, then runs [`outage`] against it.
fn outage_of(start: fn(&std::path::Path) -> Server, sink: fn(u16) -> Sink) {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let port = server.port;
    outage(server, sink(port));
}

#[test]
fn redis_outage_loses_nothing() {
    outage_of(servers::redis_persistent, Sink::Redis);
}

#[test]
fn nats_outage_loses_nothing() {
    outage_of(servers::nats, Sink::Nats);
}

#[test]
fn rabbitmq_outage_loses_nothing() {
    outage_of(servers::rabbitmq, Sink::Rabbitmq);
}
