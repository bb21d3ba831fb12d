//! The gateway bridge (`--bridge`) against real upstreams: mosquitto and a second
//! magnetite. Store-and-forward across an upstream outage and a `kill -9` of the edge,
//! inbound commands to a local device, no loops between two instances bridging each
//! other.

mod bridge_kit;
mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use bridge_kit::upstream::{self, Upstream};
use bridge_kit::{metric, wait_connected, wait_metric};
use common::{drive, free_port, Server};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

const BIN: &str = env!("CARGO_BIN_EXE_magnetite");

fn options(id: &str, port: u16) -> MqttOptions {
    let mut o = MqttOptions::new(id, "127.0.0.1", port);
    o.set_keep_alive(Duration::from_secs(30));
    o.set_inflight(200);
    o
}

/// Publishes `range` as QoS 1 messages round-robin on `topics` topics under `prefix`
/// (payload: the index, big endian) and waits for every PUBACK.
async fn publish_acked(
    port: u16,
    id: &str,
    prefix: &str,
    topics: u32,
    range: std::ops::Range<u32>,
) {
    let (client, mut events) = AsyncClient::new(options(id, port), 1000);
    let count = range.len();
    let prefix = prefix.to_string();
    let sender = tokio::spawn(async move {
        for i in range {
            let topic = format!("{prefix}/t{}", i % topics);
            client
                .publish(topic, QoS::AtLeastOnce, false, i.to_be_bytes().to_vec())
                .await
                .expect("publish");
        }
        client
    });
    let mut acked = 0;
    let all = drive(&mut events, Duration::from_secs(120), |e| {
        acked += usize::from(matches!(e, Event::Incoming(Packet::PubAck(_))));
        acked == count
    })
    .await;
    assert!(all, "{acked} of {count} publishes acknowledged at the edge");
    let _ = sender.await;
}

/// The `event_type`s of the MQTT events naming `client_id` in the edge's event log.
async fn link_events(server: &Server, client_id: &str) -> Vec<String> {
    let url = format!("http://{}/events?stream=mqtt&limit=500", server.http);
    let Ok(response) = reqwest::get(url).await else {
        return Vec::new();
    };
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    let mut kinds = Vec::new();
    collect_events(&body, client_id, &mut kinds);
    kinds
}

/// Every object below `value` whose `client_id` is `client_id`: its `event_type`.
fn collect_events(value: &serde_json::Value, client_id: &str, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            if map.get("client_id").and_then(|v| v.as_str()) == Some(client_id) {
                if let Some(kind) = map.get("event_type").and_then(|v| v.as_str()) {
                    out.push(kind.to_string());
                }
            }
            map.values().for_each(|v| collect_events(v, client_id, out));
        }
        serde_json::Value::Array(items) => {
            items.iter().for_each(|v| collect_events(v, client_id, out))
        }
        _ => {}
    }
}

fn index(payload: &[u8]) -> u32 {
    let mut n = [0u8; 4];
    n.copy_from_slice(&payload[..4]);
    u32::from_be_bytes(n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_backlog_survives_kill9_and_arrives_once_in_order_per_topic() {
    outage_backlog_arrives_once_in_order(&mut upstream::Mosquitto::start()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_backlog_survives_kill9_and_arrives_once_in_order_at_a_magnetite_upstream() {
    outage_backlog_arrives_once_in_order(&mut upstream::Magnetite::start()).await;
}

/// The store-and-forward scenario against `upstream`: the link cut by stopping
/// the upstream, 10,000 QoS 1 messages published at the edge, the edge `kill -9`ed and
/// restarted during the outage, the upstream restored: every message PUBACKed at the
/// edge arrives at a persistent subscriber upstream once, in order per topic.
async fn outage_backlog_arrives_once_in_order(upstream: &mut impl Upstream) {
    const TOTAL: u32 = 10_000;
    let bridge = format!(
        "name=up,url=mqtt://127.0.0.1:{},client-id=edge-1,out=site/# -> cloud/site-1/# qos 1",
        upstream.port()
    );
    // A persistent subscriber upstream: the upstream keeps what arrives while it is away.
    let (cloud, mut cloud_events) = AsyncClient::new(cloud_options(upstream.port()), 100);
    cloud
        .subscribe("cloud/site-1/#", QoS::AtLeastOnce)
        .await
        .unwrap();
    assert!(
        drive(&mut cloud_events, Duration::from_secs(10), |e| matches!(
            e,
            Event::Incoming(Packet::SubAck(_))
        ))
        .await
    );
    cloud.disconnect().await.unwrap();
    let _ = drive(&mut cloud_events, Duration::from_secs(2), |_| false).await;

    let edge = common::start(&["--bridge", &bridge]);
    wait_connected(&edge, "up").await;
    upstream.stop();
    assert!(
        wait_metric(
            &edge,
            "magnetite_bridge_connected",
            "up",
            0,
            Duration::from_secs(20)
        )
        .await
    );

    publish_acked(edge.mqtt.port(), "sensor-a", "site", 4, 0..TOTAL / 2).await;
    assert_eq!(
        metric(&edge, "magnetite_bridge_backlog_messages", "up").await,
        Some(u64::from(TOTAL / 2))
    );
    let data_dir = edge.kill9();
    let edge = common::start_in(data_dir, &["--bridge", &bridge]);
    assert_eq!(
        metric(&edge, "magnetite_bridge_backlog_messages", "up").await,
        Some(u64::from(TOTAL / 2)),
        "the backlog survived kill -9"
    );
    publish_acked(edge.mqtt.port(), "sensor-b", "site", 4, TOTAL / 2..TOTAL).await;

    upstream.start();
    assert!(
        wait_metric(
            &edge,
            "magnetite_bridge_backlog_messages",
            "up",
            0,
            Duration::from_secs(120)
        )
        .await,
        "{}",
        edge.log()
    );
    assert_eq!(
        metric(&edge, "magnetite_bridge_forwarded_out_total", "up").await,
        Some(u64::from(TOTAL))
    );
    // The link's own ups and downs are MQTT events of `$bridge/<name>`.
    let mut bridge_events = Vec::new();
    for _ in 0..100 {
        bridge_events = link_events(&edge, "$bridge/up").await;
        if bridge_events.iter().any(|e| e == "connect")
            && bridge_events.iter().any(|e| e == "disconnect")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        bridge_events.iter().any(|e| e == "disconnect"),
        "{bridge_events:?}"
    );
    assert!(
        bridge_events.iter().any(|e| e == "connect"),
        "{bridge_events:?}"
    );

    let (_cloud, mut cloud_events) = AsyncClient::new(cloud_options(upstream.port()), 100);
    let mut per_topic: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    let mut received = 0;
    drive(&mut cloud_events, Duration::from_secs(60), |e| {
        if let Event::Incoming(Packet::Publish(p)) = e {
            per_topic
                .entry(p.topic.clone())
                .or_default()
                .push(index(&p.payload));
            received += 1;
        }
        received == TOTAL
    })
    .await;
    // A little longer: nothing may come twice.
    drive(&mut cloud_events, Duration::from_secs(1), |e| {
        received += u32::from(matches!(e, Event::Incoming(Packet::Publish(_))));
        false
    })
    .await;
    assert_eq!(
        received, TOTAL,
        "every PUBACKed message arrives upstream once"
    );
    assert_eq!(per_topic.len(), 4);
    for (topic, indices) in &per_topic {
        let t: u32 = topic.trim_start_matches("cloud/site-1/t").parse().unwrap();
        let expected: Vec<u32> = (0..TOTAL).filter(|i| i % 4 == t).collect();
        assert_eq!(indices, &expected, "{topic}: in publishing order");
    }
}

fn cloud_options(port: u16) -> MqttOptions {
    let mut o = options("cloud-app", port);
    o.set_clean_session(false);
    o
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inbound_mapping_delivers_a_cloud_command_to_a_local_device() {
    let central = common::start(&[]);
    let bridge = format!(
        "name=cloud,url=mqtt://127.0.0.1:{},version=5,in=cmd/site-1/# -> cmd/# qos 1",
        central.mqtt.port()
    );
    let edge = common::start(&["--bridge", &bridge]);
    let (device, mut device_events) = AsyncClient::new(options("lamp", edge.mqtt.port()), 10);
    device.subscribe("cmd/#", QoS::AtLeastOnce).await.unwrap();
    assert!(
        drive(&mut device_events, Duration::from_secs(10), |e| matches!(
            e,
            Event::Incoming(Packet::SubAck(_))
        ))
        .await
    );
    wait_connected(&edge, "cloud").await;

    let (app, mut app_events) = AsyncClient::new(options("cloud-app", central.mqtt.port()), 10);
    tokio::spawn(async move { drive(&mut app_events, Duration::from_secs(60), |_| false).await });
    // The upstream subscription lands just after the link comes up: send until heard.
    let mut heard = None;
    for _ in 0..50 {
        app.publish("cmd/site-1/lamp/on", QoS::AtLeastOnce, false, "1")
            .await
            .unwrap();
        drive(&mut device_events, Duration::from_millis(300), |e| {
            if let Event::Incoming(Packet::Publish(p)) = e {
                heard = Some((p.topic.clone(), p.payload.to_vec()));
            }
            heard.is_some()
        })
        .await;
        if heard.is_some() {
            break;
        }
    }
    assert_eq!(heard, Some(("cmd/lamp/on".to_string(), b"1".to_vec())));
    assert!(
        metric(&edge, "magnetite_bridge_forwarded_in_total", "cloud")
            .await
            .unwrap_or(0)
            >= 1
    );
}

/// Two instances started knowing each other's MQTT port, each with a bridge `peer` to
/// the other made of `mappings`.
async fn pair(mappings: &str) -> (Server, Server) {
    let (port_a, port_b) = (free_port(), free_port());
    let to = |port: u16| format!("name=peer,url=mqtt://127.0.0.1:{port},version=5,{mappings}");
    let a = Server::start_on(
        BIN,
        common::temp_data_dir(),
        port_a,
        &["--auth", "none", "--bridge", &to(port_b)],
    );
    let b = Server::start_on(
        BIN,
        common::temp_data_dir(),
        port_b,
        &["--auth", "none", "--bridge", &to(port_a)],
    );
    for server in [&a, &b] {
        wait_connected(server, "peer").await;
    }
    (a, b)
}

/// Publishes one message on each side and counts what a subscriber on each side hears
/// within a few seconds: one copy of each message, never more.
async fn assert_no_loop(a: &Server, b: &Server) {
    let mut listeners = Vec::new();
    for (name, server) in [("on-a", a), ("on-b", b)] {
        let (client, mut events) = AsyncClient::new(options(name, server.mqtt.port()), 10);
        client.subscribe("x/#", QoS::AtLeastOnce).await.unwrap();
        assert!(
            drive(&mut events, Duration::from_secs(10), |e| matches!(
                e,
                Event::Incoming(Packet::SubAck(_))
            ))
            .await
        );
        listeners.push((client, events));
    }
    // Both links are up; give their upstream subscriptions a moment to land.
    tokio::time::sleep(Duration::from_secs(1)).await;
    for (name, server) in [("pub-a", a), ("pub-b", b)] {
        let (publisher, mut events) = AsyncClient::new(options(name, server.mqtt.port()), 10);
        publisher
            .publish(format!("x/{name}"), QoS::AtLeastOnce, false, "once")
            .await
            .unwrap();
        assert!(
            drive(&mut events, Duration::from_secs(10), |e| matches!(
                e,
                Event::Incoming(Packet::PubAck(_))
            ))
            .await
        );
    }
    for (_, events) in &mut listeners {
        let mut heard = BTreeMap::<String, usize>::new();
        drive(events, Duration::from_secs(3), |e| {
            if let Event::Incoming(Packet::Publish(p)) = e {
                *heard.entry(p.topic.clone()).or_default() += 1;
            }
            false
        })
        .await;
        let expected = BTreeMap::from([("x/pub-a".to_string(), 1), ("x/pub-b".to_string(), 1)]);
        assert_eq!(heard, expected, "one copy of each message on each side");
    }
}

/// Each side's bridge moved exactly one message through `counter`.
async fn assert_one_each(a: &Server, b: &Server, counter: &str) {
    for server in [a, b] {
        assert_eq!(metric(server, counter, "peer").await, Some(1), "{counter}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_pushing_to_each_other_do_not_loop() {
    let (a, b) = pair("out=x/#").await;
    assert_no_loop(&a, &b).await;
    assert_one_each(&a, &b, "magnetite_bridge_forwarded_out_total").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_pulling_from_each_other_do_not_loop() {
    let (a, b) = pair("in=x/#").await;
    assert_no_loop(&a, &b).await;
    assert_one_each(&a, &b, "magnetite_bridge_forwarded_in_total").await;
}
