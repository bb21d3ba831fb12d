//! Several instances of the real binary linked by `--cluster-nats` (a real
//! `nats-server -js`; PostgreSQL shared by the platform instances): messages cross
//! instances once, only where someone subscribed, with MQTT semantics, in the
//! Magistrala message encoding, and traffic resumes after a NATS restart.

mod cluster_kit;
mod common;
mod platform;

use std::time::Duration;

use cluster_kit::*;
use common::drive;
use futures_util::StreamExt;
use magnetite_testkit::servers;
use rumqttc::{AsyncClient, Event, Packet, QoS};

/// Magistrala's `Message`, declared here from the spec (fields 1-7 only) rather than
/// taken from the product, so the test reads the bus as a Magistrala consumer would.
#[derive(Clone, PartialEq, prost::Message)]
struct MagistralaMessage {
    #[prost(string, tag = "1")]
    channel: String,
    #[prost(string, tag = "2")]
    domain: String,
    #[prost(string, tag = "3")]
    subtopic: String,
    #[prost(string, tag = "4")]
    publisher: String,
    #[prost(string, tag = "5")]
    protocol: String,
    #[prost(bytes = "vec", tag = "6")]
    payload: Vec<u8>,
    #[prost(int64, tag = "7")]
    created: i64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_cross_instances_once_and_only_where_subscribed() {
    let nats = nats();
    let instances = open_instances(&nats, 3);
    let (a, b, c) = (&instances[0], &instances[1], &instances[2]);
    let mut on_a = subscriber(a, "sub-a", "s/#", None).await;
    let mut on_b = subscriber(b, "sub-b", "s/#", None).await;
    // Overlaps `s/#` on the same instance: NATS delivers twice to B, B routes once.
    let mut on_b_exact = subscriber(b, "sub-b-exact", "s/x", None).await;
    let mut on_c_other = subscriber(c, "sub-c", "other/#", None).await;
    wait_for_subscriptions(b, 3).await; // s.>, s, s.x
    wait_for_subscriptions(c, 2).await;

    let qos1 = numbered("q1", 50);
    publish(a, "pub-a", "s/x", QoS::AtLeastOnce, &qos1, None).await;
    let qos0 = numbered("q0", 50);
    publish(a, "pub-a0", "s/x", QoS::AtMostOnce, &qos0, None).await;
    let qos2 = numbered("q2", 20);
    publish(a, "pub-a2", "s/x", QoS::ExactlyOnce, &qos2, None).await;
    let all: Vec<String> = qos1.iter().chain(&qos0).chain(&qos2).cloned().collect();
    assert_once_each(&received(&mut on_a, 120).await, &all, "local subscriber");
    assert_once_each(&received(&mut on_b, 120).await, &all, "remote s/#");
    assert_once_each(&received(&mut on_b_exact, 120).await, &all, "remote s/x");
    assert!(metric(b, "magnetite_cluster_duplicates_total").await >= 120);

    // Interest-based: C subscribed to nothing that matched, so NATS sent it nothing.
    assert_eq!(metric(c, "magnetite_cluster_received_total").await, 0);
    assert!(received(&mut on_c_other, 0).await.is_empty());

    // No loops: with subscribers on all three, a message published once on B arrives
    // once everywhere and is forwarded once.
    let mut on_c = subscriber(c, "sub-c2", "s/+", None).await;
    wait_for_subscriptions(c, 3).await;
    let forwarded_before = metric(b, "magnetite_cluster_forwarded_total").await;
    let from_b = numbered("from-b", 20);
    publish(b, "pub-b", "s/y", QoS::AtLeastOnce, &from_b, None).await;
    assert_once_each(&received(&mut on_a, 20).await, &from_b, "A");
    assert_once_each(&received(&mut on_b, 20).await, &from_b, "B");
    assert_once_each(&received(&mut on_c, 20).await, &from_b, "C");
    assert!(
        received(&mut on_b_exact, 0).await.is_empty(),
        "s/x does not match s/y"
    );
    let forwarded = metric(b, "magnetite_cluster_forwarded_total").await - forwarded_before;
    assert_eq!(forwarded, 20, "each publish crosses NATS once");
    for server in [a, c] {
        assert_eq!(metric(server, "magnetite_cluster_own_total").await, 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsubscribing_the_last_local_subscriber_leaves_the_subject() {
    let nats = nats();
    let instances = open_instances(&nats, 2);
    let (a, b) = (&instances[0], &instances[1]);
    let (client, mut eventloop) = AsyncClient::new(options("leaver", b, None), 10);
    client
        .subscribe("u/+", QoS::AtMostOnce)
        .await
        .expect("subscribe");
    expect_packet(&mut eventloop, |p| matches!(p, Packet::SubAck(_))).await;
    wait_for_subscriptions(b, 1).await;
    client.unsubscribe("u/+").await.expect("unsubscribe");
    expect_packet(&mut eventloop, |p| matches!(p, Packet::UnsubAck(_))).await;
    // The NATS subscription does not outlive its last subscriber.
    wait_for_metric(b, "magnetite_cluster_subscriptions", |held| held == 0).await;
    publish(a, "pub", "u/1", QoS::AtLeastOnce, &numbered("u", 5), None).await;
    assert_eq!(metric(a, "magnetite_cluster_forwarded_total").await, 5);
    assert_eq!(metric(b, "magnetite_cluster_received_total").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v5_properties_survive_the_hop() {
    let nats = nats();
    let instances = open_instances(&nats, 2);
    let (a, b) = (&instances[0], &instances[1]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/cluster_v5.py");
    let metrics = format!("http://{}/metrics", b.http);
    let (sub_port, pub_port) = (b.port(), a.port());
    let out = tokio::task::spawn_blocking(move || {
        common::run("python3", &[script, &sub_port, &pub_port, &metrics])
    })
    .await
    .expect("python");
    assert!(
        out.status.success(),
        "cluster_v5.py (paho-mqtt; scripts/test.sh installs it)\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_topics_cross_on_escaped_mqtt_subjects_as_magistrala_messages() {
    let nats = nats();
    let instances = open_instances(&nats, 1);
    let bus = async_nats::connect(nats_url(&nats)).await.expect("NATS");
    let mut tap = bus.subscribe("mqtt.>").await.expect("tap");
    bus.flush().await.expect("flush");
    let payloads = vec!["hello".to_string()];
    let topic = "t/a.b c//x";
    publish(
        &instances[0],
        "dev-7",
        topic,
        QoS::AtLeastOnce,
        &payloads,
        None,
    )
    .await;
    let msg = tokio::time::timeout(Duration::from_secs(10), tap.next())
        .await
        .expect("a message on the bus")
        .expect("tap open");
    assert_eq!(msg.subject.as_str(), "mqtt.t.a%2Eb%20c.%.x");
    let decoded = <MagistralaMessage as prost::Message>::decode(msg.payload).expect("protobuf");
    assert_eq!(decoded.publisher, "dev-7");
    assert_eq!(decoded.protocol, "mqtt");
    assert_eq!(decoded.payload, b"hello");
    assert!(
        decoded.created > 1_600_000_000_000_000_000,
        "Unix nanoseconds"
    );
    assert_eq!(
        (decoded.domain.as_str(), decoded.channel.as_str()),
        ("", "")
    );
}

/// Two platform instances on one PostgreSQL: a channel message crosses to the other
/// instance in the subscriber's own topic form, on the Magistrala subject, and never to
/// a device of another domain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn platform_messages_cross_on_magistrala_subjects_within_their_domain() {
    let pg = servers::postgres(&scratch_dir("pg"));
    let nats = nats();
    let (db, bus_url) = (servers::postgres_url(&pg), nats_url(&nats));
    let flags = [
        "--database-url",
        db.as_str(),
        "--cluster-nats",
        bus_url.as_str(),
    ];
    let a = platform::server(&flags);
    // Instances must share the auth key (README: MAGNETITE_AUTH_KEY) to check each
    // other's client secrets and tokens; here B starts with A's key file.
    let b_dir = common::temp_data_dir();
    std::fs::create_dir_all(&b_dir).expect("data dir");
    std::fs::copy(a.data_dir.join("auth.key"), b_dir.join("auth.key")).expect("auth key");
    let b = common::start_in_platform(b_dir, &flags);
    // The HTTP helper is blocking: off the async workers.
    let (d1, d2, listener) = tokio::task::block_in_place(|| {
        let api = platform::Api::admin(&a);
        let d1 = platform::fleet(&api, "plant-one");
        let d2 = platform::fleet(&api, "plant-two");
        let listener = api.client(&d1.domain, "listener");
        api.connect(&d1.domain, &d1.ch, &listener.id, &["subscribe"]);
        (d1, d2, listener)
    });
    let bus = async_nats::connect(bus_url.clone()).await.expect("NATS");
    let mut tap = bus.subscribe("m.>").await.expect("tap");
    bus.flush().await.expect("flush");

    // On B: D1's listener by the domain's route (shown that way), D2's device on its
    // own channel with the same subtopics.
    let by_route = format!("m/plant-one/c/{}/#", d1.ch);
    let mut listener_rx = subscriber(&b, "listener", &by_route, Some(&listener)).await;
    let d2_filter = format!("m/{}/c/{}/#", d2.domain, d2.ch);
    let mut d2_rx = subscriber(&b, "sensor-1", &d2_filter, Some(&d2.device)).await;
    wait_for_subscriptions(&b, 4).await;

    let topic = format!("m/{}/c/{}/room/temp", d1.domain, d1.ch);
    let payloads = numbered("t", 10);
    publish(
        &a,
        "sensor-1",
        &topic,
        QoS::AtLeastOnce,
        &payloads,
        Some(&d1.device),
    )
    .await;
    assert_once_each(
        &received(&mut listener_rx, 10).await,
        &payloads,
        "D1 listener on B",
    );
    assert!(
        received(&mut d2_rx, 0).await.is_empty(),
        "D2 got D1's messages"
    );

    let msg = tokio::time::timeout(Duration::from_secs(10), tap.next())
        .await
        .expect("a message on the bus")
        .expect("tap open");
    let subject = format!("m.{}.c.{}.room.temp", d1.domain, d1.ch);
    assert_eq!(msg.subject.as_str(), subject);
    let decoded = <MagistralaMessage as prost::Message>::decode(msg.payload).expect("protobuf");
    assert_eq!(decoded.domain, d1.domain);
    assert_eq!(decoded.channel, d1.ch);
    assert_eq!(decoded.subtopic, "room.temp");
    assert_eq!(decoded.publisher, d1.device.id);
    assert_eq!(decoded.payload, b"t-0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_resumes_after_a_nats_restart() {
    let mut nats = nats();
    let instances = open_instances(&nats, 2);
    let (a, b) = (&instances[0], &instances[1]);
    let mut local = subscriber(a, "local", "r/#", None).await;
    let mut remote = subscriber(b, "remote", "r/#", None).await;
    wait_for_subscriptions(b, 2).await;
    let before = numbered("before", 3);
    publish(a, "p1", "r/1", QoS::AtLeastOnce, &before, None).await;
    assert_once_each(&received(&mut remote, 3).await, &before, "remote before");
    assert_once_each(&received(&mut local, 3).await, &before, "local before");

    nats.stop();
    let during = numbered("during", 3);
    publish(a, "p2", "r/1", QoS::AtLeastOnce, &during, None).await;
    assert_once_each(
        &received(&mut local, 3).await,
        &during,
        "local while NATS is down",
    );

    nats.start();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut resumed = false;
    while !resumed && tokio::time::Instant::now() < deadline {
        publish(
            a,
            "p3",
            "r/1",
            QoS::AtMostOnce,
            &["after".to_string()],
            None,
        )
        .await;
        let got = tokio::time::timeout(Duration::from_millis(400), remote.recv()).await;
        resumed = matches!(got, Ok(Some(p)) if p.payload.as_ref() == b"after");
    }
    assert!(resumed, "cross-instance traffic did not resume");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_start_while_nats_is_down_and_link_up_when_it_comes() {
    let mut nats = nats();
    nats.stop();
    let instances = open_instances(&nats, 2);
    let (a, b) = (&instances[0], &instances[1]);
    let mut local = subscriber(a, "local", "w/#", None).await;
    let mut remote = subscriber(b, "remote", "w/#", None).await;
    let alone = numbered("alone", 3);
    publish(a, "p1", "w/1", QoS::AtLeastOnce, &alone, None).await;
    assert_once_each(&received(&mut local, 3).await, &alone, "local without NATS");

    nats.start();
    wait_for_subscriptions(b, 2).await;
    let linked = numbered("linked", 3);
    publish(a, "p2", "w/1", QoS::AtLeastOnce, &linked, None).await;
    // What waited for NATS may arrive too (at most once); what followed must.
    let got = received_until(&mut remote, |seen| {
        linked.iter().all(|p| seen.contains_key(p))
    })
    .await;
    assert!(got.values().all(|&n| n == 1), "once each: {got:?}");
    assert!(linked.iter().all(|p| got.contains_key(p)), "{got:?}");
    assert!(got
        .keys()
        .all(|p| p.starts_with("linked") || p.starts_with("alone")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retained_messages_are_cluster_wide() {
    let nats = nats();
    let instances = open_instances(&nats, 2);
    let (a, b) = (&instances[0], &instances[1]);
    let (client, mut eventloop) = AsyncClient::new(options("keeper", a, None), 10);
    client
        .publish("state/lamp", QoS::AtLeastOnce, true, "on")
        .await
        .expect("publish");
    expect_packet(&mut eventloop, |p| matches!(p, Packet::PubAck(_))).await;
    wait_for_retained(b, 1).await;

    // A subscriber arriving on B gets it at once, flagged as retained.
    let (late, mut late_loop) = AsyncClient::new(options("late", b, None), 10);
    late.subscribe("state/#", QoS::AtLeastOnce)
        .await
        .expect("subscribe");
    let mut got = None;
    let arrived = drive(&mut late_loop, Duration::from_secs(5), |e| match e {
        Event::Incoming(Packet::Publish(p)) => {
            got = Some(p.clone());
            true
        }
        _ => false,
    });
    assert!(arrived.await, "no retained message on B");
    let got = got.expect("publish");
    assert_eq!(
        (got.topic.as_str(), &got.payload[..]),
        ("state/lamp", &b"on"[..])
    );
    assert!(got.retain, "delivered as retained");

    // An empty retained payload clears it everywhere.
    client
        .publish("state/lamp", QoS::AtLeastOnce, true, Vec::<u8>::new())
        .await
        .expect("publish");
    expect_packet(&mut eventloop, |p| matches!(p, Packet::PubAck(_))).await;
    wait_for_retained(b, 0).await;
    wait_for_retained(a, 0).await;
}

/// A stream left by an earlier version (message subjects only) gains the catch-up
/// markers' subjects at start, each instance's markers land in it, and messages still
/// cross once each to a subscriber of `#`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_stream_gains_the_marker_subjects() {
    use async_nats::jetstream::{self, stream};
    let nats = nats();
    let bus = async_nats::connect(nats_url(&nats)).await.expect("NATS");
    let js = jetstream::new(bus);
    let older = stream::Config {
        name: "magnetite_messages".into(),
        subjects: vec!["mqtt.>".into()],
        storage: stream::StorageType::File,
        ..Default::default()
    };
    js.create_stream(older).await.expect("the older stream");
    let instances = open_instances(&nats, 2);
    let (a, b) = (&instances[0], &instances[1]);
    let mut everything = subscriber(b, "all", "#", None).await;
    wait_for_subscriptions(b, 1).await;
    let markers = "%markers.magnetite_messages.>";
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let mut stream = js.get_stream("magnetite_messages").await.expect("stream");
        let info = stream.info().await.expect("stream info");
        let (subjects, stored) = (&info.config.subjects, info.state.messages);
        // Nothing was published yet: whatever the stream holds is markers.
        if subjects.iter().any(|s| s == markers) && stored >= 4 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no markers stored: subjects {subjects:?}, {stored} messages"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let payloads = numbered("m", 3);
    publish(a, "p", "x/y", QoS::AtLeastOnce, &payloads, None).await;
    assert_once_each(
        &received(&mut everything, 3).await,
        &payloads,
        "`#` on the other instance",
    );
}
