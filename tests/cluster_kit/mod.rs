//! What the cluster tests share: a real `nats-server -js` (and PostgreSQL) from
//! testkit, N instances of the real binary on it, MQTT clients that record what they
//! receive, and `/metrics` readings.

#![allow(dead_code)]

mod backing;
mod stream_probe;
#[allow(unused_imports)]
pub use backing::*;
#[allow(unused_imports)]
pub use stream_probe::where_missing;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use magnetite_testkit::servers::{self, Server as External};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::sync::mpsc;

use crate::common::{self, drive, Server};
use crate::platform;

pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = common::temp_data_dir().with_extension(name);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

pub fn nats() -> External {
    servers::nats(&scratch_dir("nats"))
}

pub fn nats_url(nats: &External) -> String {
    format!("nats://127.0.0.1:{}", nats.port)
}

/// `--auth none` instances sharing one PostgreSQL database.
pub fn open_instances_on(nats: &External, pg: &External, n: usize) -> Vec<Server> {
    let (url, db) = (nats_url(nats), servers::postgres_url(pg));
    let flags = [
        "--cluster-nats",
        url.as_str(),
        "--database-url",
        db.as_str(),
    ];
    (0..n).map(|_| common::start(&flags)).collect()
}

/// `--auth none` instances, each with its own SQLite (they share no platform state).
pub fn open_instances(nats: &External, n: usize) -> Vec<Server> {
    let url = nats_url(nats);
    (0..n)
        .map(|_| common::start(&["--cluster-nats", &url]))
        .collect()
}

pub async fn metric(server: &Server, name: &str) -> u64 {
    let url = format!("http://{}/metrics", server.http);
    let text = reqwest::get(url)
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .map(|value| value.trim().parse::<f64>().expect("a number") as u64)
        .unwrap_or_else(|| panic!("{name} not in /metrics:\n{text}"))
}

/// Waits until the metric `name` of `server` satisfies `want`.
pub async fn wait_for_metric(server: &Server, name: &str, want: impl Fn(u64) -> bool) {
    let reached = magnetite_testkit::poll::eventually(Duration::from_secs(15), || async {
        want(metric(server, name).await).then_some(())
    })
    .await;
    assert!(
        reached.is_some(),
        "{name} on {} never as wanted",
        server.http
    );
}

/// Waits until `server` holds at least `n` NATS subscriptions (confirmed by the server).
pub async fn wait_for_subscriptions(server: &Server, n: u64) {
    wait_for_metric(server, "magnetite_cluster_subscriptions", |held| held >= n).await;
}

/// Waits until the next packet `want` accepts arrives on `eventloop`.
pub async fn expect_packet(eventloop: &mut rumqttc::EventLoop, want: fn(&Packet) -> bool) {
    let arrived = drive(
        eventloop,
        Duration::from_secs(5),
        |e| matches!(e, Event::Incoming(p) if want(p)),
    )
    .await;
    assert!(arrived, "the packet waited for did not arrive");
}

pub fn options(id: &str, server: &Server, login: Option<&platform::Device>) -> MqttOptions {
    let mut o = MqttOptions::new(id, "127.0.0.1", server.mqtt.port());
    o.set_keep_alive(Duration::from_secs(30));
    if let Some(device) = login {
        o.set_credentials(&device.id, &device.secret);
    }
    o
}

/// A QoS 1 subscriber whose SUBACK granted `filter`; what it receives comes out of the
/// queue.
pub async fn subscriber(
    server: &Server,
    id: &str,
    filter: &str,
    login: Option<&platform::Device>,
) -> mpsc::UnboundedReceiver<rumqttc::Publish> {
    subscriber_at(server, id, filter, QoS::AtLeastOnce, login).await
}

/// [`subscriber`] at `qos`.
pub async fn subscriber_at(
    server: &Server,
    id: &str,
    filter: &str,
    qos: QoS,
    login: Option<&platform::Device>,
) -> mpsc::UnboundedReceiver<rumqttc::Publish> {
    let (client, mut eventloop) = AsyncClient::new(options(id, server, login), 100);
    client.subscribe(filter, qos).await.expect("subscribe");
    let mut granted = false;
    let acked = drive(&mut eventloop, Duration::from_secs(5), |e| match e {
        Event::Incoming(Packet::SubAck(ack)) => {
            granted = matches!(
                ack.return_codes[0],
                rumqttc::SubscribeReasonCode::Success(_)
            );
            true
        }
        _ => false,
    })
    .await;
    assert!(
        acked && granted,
        "{id}: SUBACK for {filter} not granted (acked: {acked})\n{}",
        server.log()
    );
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let _client = client;
        while let Ok(event) = eventloop.poll().await {
            if let Event::Incoming(Packet::Publish(p)) = event {
                let _ = tx.send(p);
            }
        }
    });
    rx
}

/// Publishes `payloads` on `topic` with `qos` and waits until all are sent (QoS 1/2:
/// acknowledged).
pub async fn publish(
    server: &Server,
    id: &str,
    topic: &str,
    qos: QoS,
    payloads: &[String],
    login: Option<&platform::Device>,
) {
    let (client, mut eventloop) = AsyncClient::new(options(id, server, login), 1000);
    for payload in payloads {
        client
            .publish(topic, qos, false, payload.clone().into_bytes())
            .await
            .expect("publish");
    }
    let mut done = 0;
    let all = drive(&mut eventloop, Duration::from_secs(10), |e| {
        let counts = match qos {
            QoS::AtMostOnce => matches!(e, Event::Outgoing(rumqttc::Outgoing::Publish(_))),
            QoS::AtLeastOnce => matches!(e, Event::Incoming(Packet::PubAck(_))),
            QoS::ExactlyOnce => matches!(e, Event::Incoming(Packet::PubComp(_))),
        };
        done += usize::from(counts);
        done == payloads.len()
    })
    .await;
    assert!(all, "{id}: {done} of {} publishes went out", payloads.len());
    let _ = client.disconnect().await;
    drive(&mut eventloop, Duration::from_secs(1), |_| false).await;
}

/// What arrives until `n` messages came and then nothing more for a moment: each
/// payload with how often it arrived.
pub async fn received(
    rx: &mut mpsc::UnboundedReceiver<rumqttc::Publish>,
    n: usize,
) -> BTreeMap<String, usize> {
    received_until(rx, |seen| seen.values().sum::<usize>() >= n).await
}

/// What arrives until `done` says so (at most 15 s) and then nothing more for a moment
/// (a duplicate would come right behind): each payload with how often it arrived.
pub async fn received_until(
    rx: &mut mpsc::UnboundedReceiver<rumqttc::Publish>,
    mut done: impl FnMut(&BTreeMap<String, usize>) -> bool,
) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !done(&seen) {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(p)) => count(&mut seen, &p),
            _ => break,
        }
    }
    while let Ok(Some(p)) = tokio::time::timeout(Duration::from_millis(500), rx.recv()).await {
        count(&mut seen, &p);
    }
    seen
}

pub fn count(seen: &mut BTreeMap<String, usize>, publish: &rumqttc::Publish) {
    let payload = String::from_utf8_lossy(&publish.payload).into_owned();
    *seen.entry(payload).or_insert(0) += 1;
}

pub fn numbered(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

pub fn assert_once_each(got: &BTreeMap<String, usize>, want: &[String], who: &str) {
    let expected: BTreeMap<String, usize> = want.iter().map(|p| (p.clone(), 1)).collect();
    assert_eq!(got, &expected, "{who}: every message exactly once");
}

/// Waits until `server` holds `n` retained messages.
pub async fn wait_for_retained(server: &Server, n: u64) {
    wait_for_metric(server, "magnetite_mqtt_retained_messages", |held| held == n).await;
}
