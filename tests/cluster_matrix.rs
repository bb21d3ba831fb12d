//! Three instances of the real binary on one `nats-server -js` and one PostgreSQL behave
//! as one broker: v3.1.1 and v5 clients, QoS 0/1/2 (exactly one copy each), retained
//! messages, wills, no-local, shared subscriptions balanced across instances (each
//! message to one member cluster-wide), and no QoS 1 message lost across a NATS restart
//! or behind a publisher that outruns NATS (it is held back instead).

mod cluster_kit;
mod common;
mod platform;

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use cluster_kit::*;
use common::{drive, Server};
use magnetite_testkit::servers::{self, Server as External};
use rumqttc::v5::mqttbytes::v5::{Filter, Packet as V5Packet};
use rumqttc::v5::mqttbytes::QoS as V5QoS;
use rumqttc::v5::{AsyncClient as V5Client, Event as V5Event, MqttOptions as V5Options};
use rumqttc::{AsyncClient, Event, LastWill, Packet, QoS};
use tokio::sync::mpsc;

/// nats-server -js, PostgreSQL and three `--auth none` instances on them. Fields drop in
/// order: the instances before what they use.
struct Trio {
    instances: Vec<Server>,
    nats: External,
    _pg: External,
}

fn trio() -> Trio {
    let nats = nats();
    let pg = servers::postgres(&scratch_dir("pg"));
    let instances = open_instances_on(&nats, &pg, 3);
    Trio {
        instances,
        nats,
        _pg: pg,
    }
}

/// A v5 client that records what it receives as (payload, QoS) and can publish.
struct V5Peer {
    client: V5Client,
    received: mpsc::UnboundedReceiver<(String, u8)>,
    acks: mpsc::UnboundedReceiver<()>,
}

/// A connected v5 client, subscribed to `filter` at `qos` (no-local per `no_local`).
async fn v5_peer(server: &Server, id: &str, filter: Option<(&str, V5QoS, bool)>) -> V5Peer {
    let mut options = V5Options::new(id, "127.0.0.1", server.mqtt.port());
    options.set_keep_alive(Duration::from_secs(30));
    let (client, mut eventloop) = V5Client::new(options, 1000);
    if let Some((path, qos, no_local)) = filter {
        let mut filter = Filter::new(path, qos);
        filter.nolocal = no_local;
        client.subscribe_many([filter]).await.expect("subscribe");
    }
    let (received_tx, received) = mpsc::unbounded_channel();
    let (acks_tx, acks) = mpsc::unbounded_channel();
    let (subacked_tx, mut subacked) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(event) = eventloop.poll().await {
            let V5Event::Incoming(packet) = event else {
                continue;
            };
            match packet {
                V5Packet::Publish(p) => {
                    let payload = String::from_utf8_lossy(&p.payload).into_owned();
                    let _ = received_tx.send((payload, p.qos as u8));
                }
                V5Packet::SubAck(_) => {
                    let _ = subacked_tx.send(());
                }
                V5Packet::PubAck(_) | V5Packet::PubComp(_) => {
                    let _ = acks_tx.send(());
                }
                _ => {}
            }
        }
    });
    if filter.is_some() {
        let acked = tokio::time::timeout(Duration::from_secs(5), subacked.recv()).await;
        assert!(matches!(acked, Ok(Some(()))), "{id}: no SUBACK");
    }
    V5Peer {
        client,
        received,
        acks,
    }
}

impl V5Peer {
    /// Publishes `payloads` at QoS 1 or 2 and waits for every acknowledgement.
    async fn publish(&mut self, topic: &str, qos: V5QoS, payloads: &[String]) {
        for payload in payloads {
            let bytes = Bytes::from(payload.clone().into_bytes());
            self.client
                .publish(topic, qos, false, bytes)
                .await
                .expect("publish");
        }
        for i in 0..payloads.len() {
            let acked = tokio::time::timeout(Duration::from_secs(10), self.acks.recv()).await;
            assert!(
                matches!(acked, Ok(Some(()))),
                "v5: {i} of {} acknowledged",
                payloads.len()
            );
        }
    }

    /// What arrives until `n` came and then nothing for a moment: payload -> QoS of
    /// each copy.
    async fn received(&mut self, n: usize) -> BTreeMap<String, Vec<u8>> {
        let mut seen: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        while seen.values().map(Vec::len).sum::<usize>() < n {
            match tokio::time::timeout_at(deadline, self.received.recv()).await {
                Ok(Some((payload, qos))) => seen.entry(payload).or_default().push(qos),
                _ => break,
            }
        }
        while let Ok(Some((payload, qos))) =
            tokio::time::timeout(Duration::from_millis(500), self.received.recv()).await
        {
            seen.entry(payload).or_default().push(qos);
        }
        seen
    }
}

/// Each payload of `want` once, at QoS `qos`.
fn once_at(want: &[String], qos: u8) -> BTreeMap<String, Vec<u8>> {
    want.iter().map(|p| (p.clone(), vec![qos])).collect()
}

/// v3.1.1 subscriber's view: payload -> QoS of each copy.
async fn v3_received(
    rx: &mut mpsc::UnboundedReceiver<rumqttc::Publish>,
    n: usize,
) -> BTreeMap<String, Vec<u8>> {
    let mut seen: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let add = |p: rumqttc::Publish, seen: &mut BTreeMap<String, Vec<u8>>| {
        let payload = String::from_utf8_lossy(&p.payload).into_owned();
        seen.entry(payload).or_default().push(p.qos as u8);
    };
    while seen.values().map(Vec::len).sum::<usize>() < n {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(p)) => add(p, &mut seen),
            _ => break,
        }
    }
    while let Ok(Some(p)) = tokio::time::timeout(Duration::from_millis(500), rx.recv()).await {
        add(p, &mut seen);
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v3_and_v5_at_every_qos_across_three_instances_once_each() {
    let trio = trio();
    let [a, b, c] = [&trio.instances[0], &trio.instances[1], &trio.instances[2]];
    // QoS 2 subscriptions: each message arrives at the QoS it was published with.
    let mut v3_on_b = subscriber_at(b, "v3-b", "mx/#", QoS::ExactlyOnce, None).await;
    let mut v5_on_c = v5_peer(c, "v5-c", Some(("mx/#", V5QoS::ExactlyOnce, false))).await;
    wait_for_subscriptions(b, 2).await;
    wait_for_subscriptions(c, 2).await;

    let mut sent = Vec::new();
    for (qos, level) in [
        (QoS::AtMostOnce, 0),
        (QoS::AtLeastOnce, 1),
        (QoS::ExactlyOnce, 2),
    ] {
        let payloads = numbered(&format!("v3-q{level}"), 20);
        publish(a, &format!("v3-pub-{level}"), "mx/v3", qos, &payloads, None).await;
        sent.push((payloads, level));
    }
    let mut v5_on_a = v5_peer(a, "v5-a", None).await;
    for (qos, level) in [(V5QoS::AtLeastOnce, 1), (V5QoS::ExactlyOnce, 2)] {
        let payloads = numbered(&format!("v5-q{level}"), 20);
        v5_on_a.publish("mx/v5", qos, &payloads).await;
        sent.push((payloads, level));
    }
    let mut want = BTreeMap::new();
    for (payloads, level) in &sent {
        want.extend(once_at(payloads, *level));
    }
    let total = want.len();
    assert_eq!(v3_received(&mut v3_on_b, total).await, want, "v3.1.1 on B");
    assert_eq!(v5_on_c.received(total).await, want, "v5 on C");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retained_wills_and_no_local_across_instances() {
    let trio = trio();
    let [a, b, c] = [&trio.instances[0], &trio.instances[1], &trio.instances[2]];

    // Retained on A, seen by a subscriber arriving later on C.
    publish_retained(a, "keeper", "rt/lamp", "on").await;
    wait_for_retained(c, 1).await;
    let mut late = subscriber(c, "late", "rt/#", None).await;
    let got = late.recv().await.expect("the retained message");
    assert_eq!(
        (got.topic.as_str(), &got.payload[..]),
        ("rt/lamp", &b"on"[..])
    );
    assert!(got.retain, "flagged as retained on C");

    // A will published when A's client goes away without DISCONNECT reaches B.
    let mut on_b = subscriber(b, "will-watch", "wills/#", None).await;
    wait_for_subscriptions(b, 2).await;
    let mut options = options("doomed", a, None);
    options.set_last_will(LastWill::new(
        "wills/doomed",
        "gone",
        QoS::AtLeastOnce,
        false,
    ));
    let (doomed, mut doomed_loop) = AsyncClient::new(options, 10);
    let connected = drive(&mut doomed_loop, Duration::from_secs(5), |e| {
        matches!(e, Event::Incoming(Packet::ConnAck(_)))
    });
    assert!(connected.await, "the will's client connected");
    // Abrupt close: the socket goes with the event loop, no DISCONNECT sent.
    drop(doomed_loop);
    drop(doomed);
    let will = tokio::time::timeout(Duration::from_secs(10), on_b.recv()).await;
    let will = will
        .expect("the will within 10 s")
        .expect("subscriber open");
    assert_eq!(
        (will.topic.as_str(), &will.payload[..]),
        ("wills/doomed", &b"gone"[..])
    );

    // No-local concerns the publishing connection only: a v5 client on A with no-local
    // does not get its own message, but gets one published on B; C sees both.
    let mut watcher = subscriber(c, "nl-watch", "nl/#", None).await;
    let mut quiet = v5_peer(a, "nl-self", Some(("nl/#", V5QoS::AtLeastOnce, true))).await;
    wait_for_subscriptions(a, 2).await;
    wait_for_subscriptions(c, 4).await;
    let own = numbered("own", 3);
    quiet.publish("nl/a", V5QoS::AtLeastOnce, &own).await;
    let from_b = numbered("from-b", 3);
    publish(b, "nl-pub", "nl/b", QoS::AtLeastOnce, &from_b, None).await;
    assert_eq!(
        quiet.received(3).await,
        once_at(&from_b, 1),
        "no-local on A"
    );
    let both: Vec<String> = own.iter().chain(&from_b).cloned().collect();
    assert_once_each(&received(&mut watcher, 6).await, &both, "C");
}

async fn publish_retained(server: &Server, id: &str, topic: &str, payload: &str) {
    let (client, mut eventloop) = AsyncClient::new(options(id, server, None), 10);
    client
        .publish(topic, QoS::AtLeastOnce, true, payload.as_bytes().to_vec())
        .await
        .expect("publish");
    expect_packet(&mut eventloop, |p| matches!(p, Packet::PubAck(_))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_group_gets_each_message_once_cluster_wide_spread_over_instances() {
    let trio = trio();
    let members = 3;
    let mut group = Vec::new();
    for (i, server) in trio.instances.iter().enumerate() {
        let id = format!("member-{i}");
        group.push(subscriber(server, &id, "$share/workers/jobs/+", None).await);
    }
    // A second group and a plain subscriber each get every message too.
    let mut other_group =
        subscriber(&trio.instances[2], "other", "$share/audit/jobs/+", None).await;
    let mut plain = subscriber(&trio.instances[1], "plain", "jobs/#", None).await;
    for (server, subjects) in trio.instances.iter().zip([1, 3, 2]) {
        wait_for_subscriptions(server, subjects).await;
    }

    let jobs = numbered("job", 60);
    publish(
        &trio.instances[0],
        "boss",
        "jobs/x",
        QoS::AtLeastOnce,
        &jobs,
        None,
    )
    .await;
    let per_member = drain_all(&mut group, jobs.len()).await;
    let mut total: BTreeMap<String, usize> = BTreeMap::new();
    for got in &per_member {
        for (payload, n) in got {
            *total.entry(payload.clone()).or_insert(0) += n;
        }
    }
    assert_once_each(&total, &jobs, "group `workers` in total");
    let served = per_member.iter().filter(|got| !got.is_empty()).count();
    assert!(
        served > 1,
        "the group's messages all went to one of {members} instances"
    );
    assert_once_each(
        &received(&mut other_group, 60).await,
        &jobs,
        "group `audit`",
    );
    assert_once_each(&received(&mut plain, 60).await, &jobs, "plain subscriber");
    let shared: u64 = {
        let mut sum = 0;
        for server in &trio.instances {
            sum += metric(server, "magnetite_cluster_shared_received_total").await;
        }
        sum
    };
    assert_eq!(shared, 120, "one bus delivery per message and group");
}

/// What the receivers get until `n` arrived in total (at most 15 s) and then nothing
/// more for a moment: per receiver, each payload with how often it arrived.
async fn drain_all(
    receivers: &mut [mpsc::UnboundedReceiver<rumqttc::Publish>],
    n: usize,
) -> Vec<BTreeMap<String, usize>> {
    let mut seen = vec![BTreeMap::new(); receivers.len()];
    let total = |seen: &[BTreeMap<String, usize>]| -> usize {
        seen.iter().flat_map(|got| got.values()).sum()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let mut quiet_until = None;
    loop {
        let mut arrived = false;
        for (rx, got) in receivers.iter_mut().zip(seen.iter_mut()) {
            while let Ok(p) = rx.try_recv() {
                count(got, &p);
                arrived = true;
            }
        }
        let now = tokio::time::Instant::now();
        if total(&seen) >= n && !arrived {
            let until = *quiet_until.get_or_insert(now + Duration::from_millis(500));
            if now >= until {
                return seen;
            }
        } else if arrived {
            quiet_until = None;
        }
        if now >= deadline {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_pubacked_qos1_message_is_lost_across_a_nats_restart() {
    let mut trio = trio();
    let (a, b) = (&trio.instances[0], &trio.instances[1]);
    let mut local = subscriber(a, "local", "nr/#", None).await;
    let mut remote = subscriber(b, "remote", "nr/#", None).await;
    wait_for_subscriptions(b, 2).await;
    // The stream exists and B took a checkpoint of it before the outage.
    let warm = numbered("warm", 5);
    publish(a, "p0", "nr/1", QoS::AtLeastOnce, &warm, None).await;
    wait_for_metric(a, "magnetite_cluster_persisted_total", |n| n >= 5).await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Sent right before NATS dies: some may still wait for JetStream's acknowledgement.
    let before = numbered("before", 50);
    publish(a, "p1", "nr/1", QoS::AtLeastOnce, &before, None).await;
    trio.nats.stop();
    let during = numbered("during", 50);
    publish(a, "p2", "nr/1", QoS::AtLeastOnce, &during, None).await;
    let local_during: Vec<String> = warm.iter().chain(&before).chain(&during).cloned().collect();
    assert_once_each(
        &received(&mut local, local_during.len()).await,
        &local_during,
        "local subscriber on A while NATS is down",
    );
    trio.nats.start();
    let after = numbered("after", 50);
    publish(a, "p3", "nr/1", QoS::AtLeastOnce, &after, None).await;

    let all: Vec<String> = warm
        .iter()
        .chain(&before)
        .chain(&during)
        .chain(&after)
        .cloned()
        .collect();
    let got = received_until(&mut remote, |seen| all.iter().all(|p| seen.contains_key(p))).await;
    let missing: Vec<&String> = all.iter().filter(|p| !got.contains_key(*p)).collect();
    assert!(missing.is_empty(), "lost across the restart: {missing:?}");
    // QoS 1 would permit copies; the duplicate filter (origin + sequence) removes the
    // ones a retry or the catch-up brings, so each arrives exactly once.
    assert_once_each(&got, &all, "remote subscriber on B");
    assert_once_each(&received(&mut local, 50).await, &after, "local after");
    assert_eq!(
        metric(a, "magnetite_cluster_forward_dropped_total").await,
        0
    );
    // B read the stream after its reconnection (what it found there was a copy or new).
    wait_for_metric(b, "magnetite_cluster_catch_ups_total", |n| n >= 1).await;
}

/// More QoS 1 messages than the forward queue holds (65,536 plus what JetStream has
/// unacknowledged).
const FLOOD: usize = 80_000;

/// Publishes `payloads` at QoS 1 on `topic` as fast as the broker takes them (up to
/// 1,000 in flight), counting PUBACKs in `acked`, until all are acknowledged.
async fn flood_qos1(
    mut options: rumqttc::MqttOptions,
    topic: &'static str,
    payloads: Vec<String>,
    acked: std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    options.set_inflight(1000);
    let (client, mut eventloop) = AsyncClient::new(options, 1000);
    let total = payloads.len();
    let sender = tokio::spawn(async move {
        for payload in payloads {
            let sent = client.publish(topic, QoS::AtLeastOnce, false, payload.into_bytes());
            sent.await.expect("publish");
        }
        client
    });
    while acked.load(std::sync::atomic::Ordering::Relaxed) < total {
        let event = eventloop.poll().await.expect("the flooder stays connected");
        if let Event::Incoming(Packet::PubAck(_)) = event {
            acked.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
    let _client = sender.await.expect("sender");
}

/// The `/metrics` lines of `server` that count drops (what a failure should show).
async fn dropped_lines(server: &Server) -> String {
    let url = format!("http://{}/metrics", server.http);
    let text = reqwest::get(url).await.expect("GET /metrics");
    let text = text.text().await.expect("metrics text");
    let lines = text
        .lines()
        .filter(|l| l.contains("dropped") && !l.starts_with('#'));
    lines.collect::<Vec<_>>().join("\n")
}

/// Waits until `acked` stops growing for two seconds (the publisher is held) or reaches
/// `total`; returns it.
async fn until_stalled(acked: &std::sync::atomic::AtomicUsize, total: usize) -> usize {
    let mut last = usize::MAX;
    loop {
        let now = acked.load(std::sync::atomic::Ordering::Relaxed);
        if now == last || now >= total {
            return now;
        }
        last = now;
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_qos1_flood_that_outruns_nats_is_held_back_and_nothing_pubacked_is_lost() {
    // Under a slow disk (right after `cargo test --test bridge`, whose on-disk queues
    // leave seconds of kernel writeback, or with a background `dd` keeping ~5 GB dirty)
    // JetStream stores seconds after it delivers to core subscribers, and B used to lose
    // the first few hundred messages A sent after NATS came back: they were stored after
    // the point B's catch-up stopped at. See `magnetite_cluster::catch_up`'s markers.
    let mut nats = nats();
    let url = nats_url(&nats);
    // B's subscriber may fall behind the catch-up: its session queue must not be what
    // drops (that is a subscriber's limit, the same on one instance).
    let flags = ["--cluster-nats", url.as_str(), "--max-queued", "200000"];
    let (a, b) = (&common::start(&flags), &common::start(&flags));
    let mut remote = subscriber(b, "flood-sub", "fl/#", None).await;
    wait_for_subscriptions(b, 1).await;
    // NATS down: the forward queue only fills, as behind a publisher that outruns it.
    nats.stop();
    let flood = numbered("flood", FLOOD);
    let acked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let flooder = options("flooder", a, None);
    let publisher = tokio::spawn(flood_qos1(flooder, "fl/1", flood.clone(), acked.clone()));
    let held_at = until_stalled(&acked, FLOOD).await;
    assert!(
        held_at < FLOOD,
        "the publisher was held back while the queue to NATS was full"
    );
    nats.start();
    publisher
        .await
        .expect("every message PUBACKed once NATS is back");

    let mut got = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while got.len() < FLOOD {
        match tokio::time::timeout_at(deadline, remote.recv()).await {
            Ok(Some(p)) => count(&mut got, &p),
            _ => break,
        }
    }
    while let Ok(Some(p)) = tokio::time::timeout(Duration::from_millis(500), remote.recv()).await {
        count(&mut got, &p);
    }
    let missing: Vec<&String> = flood.iter().filter(|p| !got.contains_key(*p)).collect();
    if !missing.is_empty() {
        panic!(
            "PUBACKed on A, never arrived at B; B's drops:\n{}\n{}",
            dropped_lines(b).await,
            where_missing(&url, &missing, b).await,
        );
    }
    assert_once_each(&got, &flood, "remote subscriber on B");
    // B had a checkpoint before NATS stopped (the first one is taken before subscribing)
    // and read the stream after reconnecting.
    wait_for_metric(b, "magnetite_cluster_catch_ups_total", |n| n >= 1).await;
    for dropped in [
        "magnetite_cluster_forward_dropped_total",
        "magnetite_cluster_forward_dropped_reliable_total",
    ] {
        assert_eq!(metric(a, dropped).await, 0, "{dropped}");
    }
}
