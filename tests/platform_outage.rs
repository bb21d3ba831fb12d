//! A sink that is down delays events and loses none: for each sink, its server is
//! stopped, 1,000 HTTP operations and 1,000 authenticated MQTT connects happen, the
//! server comes back, and every event arrives in order, once. MQTT keeps working while
//! the sink is down (the connect times are printed; the benchmark is in BENCHMARKS.md).

mod common;
mod platform;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use magnetite_testkit::servers::Server as Sink;
use platform::{fleet, Api};
use serde_json::json;

type Fields = BTreeMap<String, String>;

fn json_fields(v: Vec<serde_json::Map<String, serde_json::Value>>) -> Vec<Fields> {
    v.into_iter()
        .map(|m| {
            m.into_iter()
                .map(|(k, v)| {
                    (
                        k,
                        v.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| v.to_string()),
                    )
                })
                .collect()
        })
        .collect()
}

/// Runs the outage scenario; `read(stream_suffix, n)` reads a stream of the sink.
fn outage(mut sink: Sink, url: &str, read: impl Fn(&str, usize) -> Vec<Fields>) {
    let server = platform::server(&["--event-store", url]);
    let api = Api::admin(&server);
    let f = fleet(&api, "outage");
    let login = Some((f.device.id.as_str(), f.device.secret.as_str()));
    let baseline = Instant::now();
    for i in 0..100 {
        assert_eq!(
            magnetite_testkit::mqtt::connect_and_disconnect(
                server.mqtt,
                &format!("warm-{i}"),
                login
            ),
            0
        );
    }
    let per_connect_up = baseline.elapsed() / 100;

    // Everything so far has reached the sink (its streams exist) before it goes down.
    assert!(read("clients", 3).len() >= 3, "shipping before the outage");
    sink.stop_gracefully();
    // 1,000 HTTP operations (client creates, one event each) ...
    for i in 0..1000 {
        let body = json!({"name": format!("c{i:04}")});
        api.expect("POST", &format!("/{}/clients", f.domain), Some(body), 201);
    }
    // ... and 1,000 authenticated connects (2,000 MQTT events).
    let started = Instant::now();
    for i in 0..1000 {
        assert_eq!(
            magnetite_testkit::mqtt::connect_and_disconnect(
                server.mqtt,
                &format!("dev-{i}"),
                login
            ),
            0
        );
    }
    let per_connect_down = started.elapsed() / 1000;
    eprintln!("connect+disconnect: {per_connect_up:?} with the sink up, {per_connect_down:?} with it down");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "MQTT stalled while the sink was down"
    );

    sink.start();
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

fn wait_for(n: usize, mut read: impl FnMut() -> Vec<Fields>) -> Vec<Fields> {
    let t = Instant::now();
    loop {
        let v = read();
        if v.len() >= n || t.elapsed() > Duration::from_secs(60) {
            return v;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn redis_outage_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let sink = magnetite_testkit::servers::redis_persistent(dir.path());
    let port = sink.port;
    outage(sink, &format!("redis://127.0.0.1:{port}"), |stream, n| {
        wait_for(n, || {
            magnetite_testkit::sinks::xrange(port, &format!("magistrala.{stream}"))
        })
    });
}

#[test]
fn nats_outage_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let sink = magnetite_testkit::servers::nats(dir.path());
    let port = sink.port;
    let rt = tokio::runtime::Runtime::new().unwrap();
    outage(sink, &format!("nats://127.0.0.1:{port}"), |stream, n| {
        let subject = format!("events.magistrala.{stream}");
        wait_for(n, || {
            json_fields(rt.block_on(magnetite_testkit::sinks::read_subject(port, &subject)))
        })
    });
}

#[test]
fn rabbitmq_outage_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let sink = magnetite_testkit::servers::rabbitmq(dir.path());
    let port = sink.port;
    let rt = tokio::runtime::Runtime::new().unwrap();
    outage(
        sink,
        &format!("rabbitmq-stream://guest:guest@127.0.0.1:{port}"),
        |stream, n| {
            json_fields(rt.block_on(magnetite_testkit::sinks::read_stream(
                port,
                &format!("magistrala.{stream}"),
                n,
            )))
        },
    );
}
