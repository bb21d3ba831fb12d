//! Every operation family of the platform, driven through the HTTP API and MQTT clients
//! of the binary, read back from each real sink (Redis `XRANGE`, a JetStream consumer, a
//! RabbitMQ stream consumer) and compared with the reference: the operation names in the
//! order they happened, once each, and each event's fields within the reference's set
//! for that operation (with the ones every such event has), never a secret.

mod common;
mod platform;

#[path = "platform_events/drive.rs"]
mod drive;
#[path = "platform_events/reference.rs"]
mod reference;

use std::time::{Duration, Instant};

use common::Server;
use drive::{drive, Drive};
use reference::{check_mqtt, check_stream, Fields};

/// Waits until `read` returns at least `n` events (or 30 s), then returns them.
fn wait_for<F: FnMut() -> Vec<Fields>>(n: usize, mut read: F) -> Vec<Fields> {
    let t = Instant::now();
    loop {
        let v = read();
        if v.len() >= n || t.elapsed() > Duration::from_secs(30) {
            return v;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn json_fields(v: Vec<serde_json::Map<String, serde_json::Value>>) -> Vec<Fields> {
    v.into_iter()
        .map(|m| {
            m.into_iter()
                .map(|(k, v)| {
                    (
                        k,
                        match v {
                            serde_json::Value::String(s) => s,
                            other => other.to_string(),
                        },
                    )
                })
                .collect()
        })
        .collect()
}

fn start(store: &str) -> Server {
    platform::server(&["--event-store", store, "--instance-id", "node-7"])
}

/// Checks each stream the drive wrote to (named `<prefix><service>` in the sink) as
/// `read(name, expected count)` returns it.
fn check_sink(sink: &str, prefix: &str, d: &Drive, read: impl Fn(&str, usize) -> Vec<Fields>) {
    let streams = [("users", &d.users), ("clients", &d.clients)];
    for (service, ops) in streams {
        let events = read(&format!("{prefix}{service}"), ops.len());
        check_stream(&format!("{sink} {service}"), &events, ops, &d.secrets);
    }
    check_mqtt(
        &format!("{sink} mqtt"),
        &read(&format!("{prefix}mqtt"), 2),
        d,
    );
    let events = read(&format!("{prefix}bootstrap"), d.bootstrap.len());
    check_stream(
        &format!("{sink} bootstrap"),
        &events,
        &d.bootstrap,
        &d.secrets,
    );
}

#[test]
fn every_family_reaches_redis_streams() {
    let dir = tempfile::tempdir().unwrap();
    let redis = magnetite_testkit::servers::redis(dir.path());
    let server = start(&format!("redis://127.0.0.1:{}", redis.port));
    let d = drive(&server);
    check_sink("redis", "magistrala.", &d, |key, n| {
        wait_for(n, || magnetite_testkit::sinks::xrange(redis.port, key))
    });
}

#[test]
fn every_family_reaches_nats_jetstream() {
    let dir = tempfile::tempdir().unwrap();
    let nats = magnetite_testkit::servers::nats(dir.path());
    let server = start(&format!("nats://127.0.0.1:{}", nats.port));
    let d = drive(&server);
    let rt = tokio::runtime::Runtime::new().unwrap();
    check_sink("nats", "events.magistrala.", &d, |subject, n| {
        wait_for(n, || {
            json_fields(rt.block_on(magnetite_testkit::sinks::read_subject(nats.port, subject)))
        })
    });
}

#[test]
fn every_family_reaches_rabbitmq_streams() {
    let dir = tempfile::tempdir().unwrap();
    let rabbit = magnetite_testkit::servers::rabbitmq(dir.path());
    let server = start(&format!(
        "rabbitmq-stream://guest:guest@127.0.0.1:{}",
        rabbit.port
    ));
    let d = drive(&server);
    let rt = tokio::runtime::Runtime::new().unwrap();
    check_sink("rabbitmq", "magistrala.", &d, |stream, n| {
        let read = magnetite_testkit::sinks::read_stream(rabbit.port, stream, n);
        json_fields(rt.block_on(read))
    });
}
