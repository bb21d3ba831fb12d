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

use std::time::Duration;

use drive::{drive, Drive};
use magnetite_testkit::servers::{self, Server};
use magnetite_testkit::sinks::{Sink, StreamReader};
use reference::{check_mqtt, check_stream};

/// Starts a sink with `start`, drives a platform server shipping to it, then checks
/// each stream the drive wrote to as the sink's consumers read it (`what` names the sink
/// in failures).
fn check_sink(what: &str, start: fn(&std::path::Path) -> Server, sink: fn(u16) -> Sink) {
    let dir = tempfile::tempdir().unwrap();
    let sink_server = start(dir.path());
    let sink = sink(sink_server.port);
    let reader = StreamReader::new(sink, Duration::from_secs(30));
    let store = reader.store_url();
    let server = platform::server(&["--event-store", &store, "--instance-id", "node-7"]);
    let d: Drive = drive(&server);
    let streams = [("users", &d.users), ("clients", &d.clients)];
    for (service, ops) in streams {
        let events = reader.read(service, ops.len());
        check_stream(&format!("{what} {service}"), &events, ops, &d.secrets);
    }
    check_mqtt(&format!("{what} mqtt"), &reader.read("mqtt", 2), &d);
    let events = reader.read("bootstrap", d.bootstrap.len());
    check_stream(
        &format!("{what} bootstrap"),
        &events,
        &d.bootstrap,
        &d.secrets,
    );
}

#[test]
fn every_family_reaches_redis_streams() {
    check_sink("redis", servers::redis, Sink::Redis);
}

#[test]
fn every_family_reaches_nats_jetstream() {
    check_sink("nats", servers::nats, Sink::Nats);
}

#[test]
fn every_family_reaches_rabbitmq_streams() {
    check_sink("rabbitmq", servers::rabbitmq, Sink::Rabbitmq);
}
