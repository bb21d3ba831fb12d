//! The bridge's MQTT exchanges against real upstreams (mosquitto and a second
//! magnetite), with a proxy that cuts the link at a chosen packet: QoS 2 delivered once
//! when the link breaks between PUBREC and PUBCOMP (and the edge is killed meanwhile),
//! an inbound QoS 2 message the upstream sends again published locally once, and MQTT 5
//! properties carried both ways through the store-and-forward queue.

mod bridge_kit;
mod common;

use std::time::{Duration, Instant};

use bridge_kit::proxy::{CutProxy, Toward, PUBCOMP, PUBREC};
use bridge_kit::{drive5, metric, wait_connected, wait_metric};
use common::{drive, Server};
use rumqttc::v5::mqttbytes::QoS as Q5;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::sync::mpsc;

fn options(id: &str, port: u16) -> MqttOptions {
    let mut o = MqttOptions::new(id, "127.0.0.1", port);
    o.set_keep_alive(Duration::from_secs(30));
    o
}

/// The (topic, payload) of everything `rx` receives within `within`.
async fn heard(
    rx: &mut mpsc::UnboundedReceiver<Publish5>,
    within: Duration,
) -> Vec<(String, Vec<u8>)> {
    let deadline = tokio::time::Instant::now() + within;
    let mut all = Vec::new();
    while let Ok(Some(p)) = tokio::time::timeout_at(deadline, rx.recv()).await {
        all.push((
            String::from_utf8_lossy(&p.topic).into_owned(),
            p.payload.to_vec(),
        ));
    }
    all
}

async fn wait_for(what: impl Fn() -> bool, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if what() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// Waits (20 s at most) until bridge `up` of `edge` has nothing queued.
async fn drained(edge: &Server) -> bool {
    let backlog = "magnetite_bridge_backlog_messages";
    wait_metric(edge, backlog, "up", 0, Duration::from_secs(20)).await
}

/// The next message `rx` receives (10 s at most).
async fn next_message(rx: &mut mpsc::UnboundedReceiver<Publish5>) -> Publish5 {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a message arrives")
        .expect("listening")
}

/// Publishes one QoS 2 message at the edge and waits for its PUBCOMP there.
async fn publish_qos2_at(edge: &Server, topic: &str, payload: &str) {
    let (device, mut events) = AsyncClient::new(options("sensor", edge.mqtt.port()), 10);
    device
        .publish(topic, QoS::ExactlyOnce, false, payload)
        .await
        .unwrap();
    assert!(
        drive(&mut events, Duration::from_secs(10), |e| matches!(
            e,
            Event::Incoming(Packet::PubComp(_))
        ))
        .await
    );
}

/// How the QoS 2 cut scenario runs.
struct Cut<'a> {
    upstream_port: u16,
    version: &'a str,
    /// `clean=` of the bridge.
    clean: bool,
    /// `kill -9` the edge while the link is down, and start it again.
    kill_edge: bool,
}

/// A QoS 2 message whose upstream PUBCOMP never reaches the edge (the proxy cuts the
/// link there, after the upstream released it to its subscribers); then the link comes
/// back. Returns what the upstream subscriber heard, once the edge's queue is empty.
async fn qos2_across_a_cut(cut: Cut<'_>) -> Vec<(String, Vec<u8>)> {
    let Cut {
        upstream_port,
        version,
        clean,
        kill_edge,
    } = cut;
    let mut cloud = listener5("cloud-app", upstream_port, "cloud/#", Q5::ExactlyOnce).await;
    let proxy = CutProxy::start(upstream_port).await;
    proxy.cut_at(Toward::Edge, PUBCOMP);
    let bridge = format!(
        "name=up,url=mqtt://127.0.0.1:{},client-id=edge-q2,clean={clean},version={version},\
         out=site/# -> cloud/# qos 2",
        proxy.port
    );
    let edge = common::start(&["--bridge", &bridge]);
    wait_connected(&edge, "up").await;
    publish_qos2_at(&edge, "site/a", "once").await;
    assert!(
        wait_for(|| proxy.cuts() == 1, Duration::from_secs(20)).await,
        "the link was cut at the PUBCOMP\n{}",
        edge.log()
    );
    let edge = if kill_edge {
        let data_dir = edge.kill9();
        proxy.open();
        common::start_in(data_dir, &["--bridge", &bridge])
    } else {
        proxy.open();
        edge
    };
    assert!(
        drained(&edge).await,
        "the exchange completed after the reconnection\n{}",
        edge.log()
    );
    assert!(
        proxy.connections() >= 2,
        "the edge came back through the proxy"
    );
    heard(&mut cloud, Duration::from_secs(3)).await
}

/// With a persistent upstream session the edge resumes with PUBREL: one delivery.
async fn qos2_once_across_a_cut(upstream_port: u16, version: &str, kill_edge: bool) {
    let heard = qos2_across_a_cut(Cut {
        upstream_port,
        version,
        clean: false,
        kill_edge,
    })
    .await;
    assert_eq!(
        heard,
        vec![("cloud/a".to_string(), b"once".to_vec())],
        "delivered upstream exactly once"
    );
}

/// With `clean=true` the upstream forgot the exchange: the message goes again as a new
/// PUBLISH (the documented limit: at least once, here twice), and is not lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qos2_cut_with_a_clean_upstream_session_is_sent_again_not_lost() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = magnetite_testkit::servers::mosquitto(dir.path());
    let heard = qos2_across_a_cut(Cut {
        upstream_port: upstream.port,
        version: "5",
        clean: true,
        kill_edge: false,
    })
    .await;
    let once = ("cloud/a".to_string(), b"once".to_vec());
    assert_eq!(heard, vec![once.clone(), once], "the PUBLISH went again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qos2_cut_between_pubrec_and_pubcomp_arrives_once_at_mosquitto() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = magnetite_testkit::servers::mosquitto(dir.path());
    qos2_once_across_a_cut(upstream.port, "3.1.1", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qos2_cut_between_pubrec_and_pubcomp_and_an_edge_kill9_arrive_once_at_magnetite() {
    let central = common::start(&[]);
    qos2_once_across_a_cut(central.mqtt.port(), "5", true).await;
}

/// The edge's PUBREC for an inbound QoS 2 command is lost with the link: the upstream
/// (keeping the bridge's session) sends the PUBLISH again, which the edge answers
/// without publishing it locally a second time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inbound_qos2_message_sent_again_by_the_upstream_is_published_once() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = magnetite_testkit::servers::mosquitto(dir.path());
    let proxy = CutProxy::start(upstream.port).await;
    let bridge = format!(
        "name=up,url=mqtt://127.0.0.1:{},client-id=edge-in,clean=false,version=5,\
         in=cmd/# -> local/cmd/# qos 2",
        proxy.port
    );
    let edge = common::start(&["--bridge", &bridge]);
    let mut device = listener5("lamp", edge.mqtt.port(), "local/cmd/#", Q5::ExactlyOnce).await;
    wait_connected(&edge, "up").await;
    let (app, mut app_events) = AsyncClient::new(options("cloud-app", upstream.port), 10);
    tokio::spawn(async move { drive(&mut app_events, Duration::from_secs(120), |_| false).await });
    // The bridge's upstream subscription lands just after the link comes up.
    let mut probed = false;
    for _ in 0..50 {
        app.publish("cmd/probe", QoS::AtMostOnce, false, "p")
            .await
            .unwrap();
        if !heard(&mut device, Duration::from_millis(300))
            .await
            .is_empty()
        {
            probed = true;
            break;
        }
    }
    assert!(probed, "{}", edge.log());
    heard(&mut device, Duration::from_millis(500)).await;

    proxy.cut_at(Toward::Upstream, PUBREC);
    app.publish("cmd/lamp", QoS::ExactlyOnce, false, "on")
        .await
        .unwrap();
    assert!(
        wait_for(|| proxy.cuts() == 1, Duration::from_secs(20)).await,
        "the link was cut at the edge's PUBREC"
    );
    proxy.open();
    assert!(
        wait_metric(
            &edge,
            "magnetite_bridge_connects_total",
            "up",
            2,
            Duration::from_secs(20)
        )
        .await,
        "{}",
        edge.log()
    );
    assert_eq!(
        heard(&mut device, Duration::from_secs(3)).await,
        vec![("local/cmd/lamp".to_string(), b"on".to_vec())],
        "published locally once"
    );
}

/// A v5 client on `port`; its event loop.
fn client5(id: &str, port: u16) -> (rumqttc::v5::AsyncClient, rumqttc::v5::EventLoop) {
    let mut o = rumqttc::v5::MqttOptions::new(id, "127.0.0.1", port);
    o.set_keep_alive(Duration::from_secs(30));
    rumqttc::v5::AsyncClient::new(o, 10)
}

type Publish5 = rumqttc::v5::mqttbytes::v5::Publish;

/// A v5 client subscribed to `filter` whose received PUBLISHes come on the channel.
async fn listener5(
    id: &str,
    port: u16,
    filter: &str,
    qos: Q5,
) -> mpsc::UnboundedReceiver<Publish5> {
    use rumqttc::v5::mqttbytes::v5::Packet as P5;
    use rumqttc::v5::Event as E5;
    let (client, mut events) = client5(id, port);
    client.subscribe(filter, qos).await.unwrap();
    assert!(
        drive5(&mut events, Duration::from_secs(10), |e| matches!(
            e,
            E5::Incoming(P5::SubAck(_))
        ))
        .await
    );
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let _client = client;
        drive5(&mut events, Duration::from_secs(120), |e| {
            if let E5::Incoming(P5::Publish(p)) = e {
                let _ = tx.send(p.clone());
            }
            false
        })
        .await
    });
    rx
}

fn properties(
    expiry: u32,
    correlation: &'static [u8],
) -> rumqttc::v5::mqttbytes::v5::PublishProperties {
    rumqttc::v5::mqttbytes::v5::PublishProperties {
        payload_format_indicator: Some(1),
        message_expiry_interval: Some(expiry),
        content_type: Some("application/json".into()),
        response_topic: Some("reply/here".into()),
        correlation_data: Some(bytes::Bytes::from_static(correlation)),
        user_properties: vec![("k".into(), "v".into())],
        ..Default::default()
    }
}

/// The properties `properties(expiry_sent, correlation)` arrived with, the expiry
/// counted down (by at least `waited_at_least`) and the bridge's mark added.
fn assert_properties_kept(
    p: &Publish5,
    expiry_sent: u32,
    waited_at_least: u32,
    correlation: &[u8],
) {
    let got = p.properties.as_ref().expect("properties arrive");
    assert_eq!(got.payload_format_indicator, Some(1));
    assert_eq!(got.content_type.as_deref(), Some("application/json"));
    assert_eq!(got.response_topic.as_deref(), Some("reply/here"));
    assert_eq!(got.correlation_data.as_deref(), Some(correlation));
    assert!(
        got.user_properties.contains(&("k".into(), "v".into())),
        "{got:?}"
    );
    assert!(
        got.user_properties
            .contains(&("magnetite-bridged".into(), "up".into())),
        "{got:?}"
    );
    let expiry = got
        .message_expiry_interval
        .expect("the expiry is forwarded");
    assert!(
        expiry <= expiry_sent - waited_at_least && expiry + 60 > expiry_sent,
        "expiry {expiry} of {expiry_sent}, waited {waited_at_least}+ s"
    );
}

/// A message published at the edge while the link is down waits in the queue and
/// reaches the central with its properties (the expiry counted down by the wait); one
/// whose expiry ran out meanwhile is dropped and counted; a command from the central
/// reaches a local device with its properties.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v5_properties_cross_the_queue_both_ways_and_expired_messages_are_dropped() {
    let central = common::start(&[]);
    let proxy = CutProxy::start(central.mqtt.port()).await;
    proxy.refuse();
    let bridge = format!(
        "name=up,url=mqtt://127.0.0.1:{},version=5,out=site/# -> cloud/# qos 1,\
         in=cmd/# -> local/cmd/# qos 1",
        proxy.port
    );
    let edge = common::start(&["--bridge", &bridge]);
    let mut cloud = listener5("cloud-app", central.mqtt.port(), "cloud/#", Q5::AtLeastOnce).await;
    let (sensor, mut sensor_events) = client5("sensor", edge.mqtt.port());
    sensor
        .publish_with_properties(
            "site/long",
            Q5::AtLeastOnce,
            false,
            "{}",
            properties(3600, b"c-1"),
        )
        .await
        .unwrap();
    let short = rumqttc::v5::mqttbytes::v5::PublishProperties {
        message_expiry_interval: Some(1),
        ..Default::default()
    };
    sensor
        .publish_with_properties("site/short", Q5::AtLeastOnce, false, "x", short)
        .await
        .unwrap();
    let mut acks = 0;
    assert!(
        drive5(&mut sensor_events, Duration::from_secs(10), |e| {
            use rumqttc::v5::mqttbytes::v5::Packet as P5;
            acks += usize::from(matches!(e, rumqttc::v5::Event::Incoming(P5::PubAck(_))));
            acks == 2
        })
        .await
    );
    assert_eq!(
        metric(&edge, "magnetite_bridge_backlog_messages", "up").await,
        Some(2)
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    proxy.open();
    wait_connected(&edge, "up").await;
    assert!(drained(&edge).await, "{}", edge.log());
    assert_eq!(
        metric(&edge, "magnetite_bridge_dropped_expired_total", "up").await,
        Some(1)
    );
    let message = next_message(&mut cloud).await;
    assert_eq!(&message.topic[..], b"cloud/long");
    assert_properties_kept(&message, 3600, 2, b"c-1");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        cloud.try_recv().is_err(),
        "the expired message never arrives"
    );

    let mut device = listener5("lamp", edge.mqtt.port(), "local/cmd/#", Q5::AtLeastOnce).await;
    let (app, mut app_events) = client5("cloud-cmd", central.mqtt.port());
    tokio::spawn(async move { drive5(&mut app_events, Duration::from_secs(60), |_| false).await });
    let mut command = None;
    for _ in 0..50 {
        app.publish_with_properties(
            "cmd/lamp",
            Q5::AtLeastOnce,
            false,
            "on",
            properties(600, b"c-2"),
        )
        .await
        .unwrap();
        if let Ok(Some(p)) = tokio::time::timeout(Duration::from_millis(300), device.recv()).await {
            command = Some(p);
            break;
        }
    }
    let command = command.expect("the command reaches the local device");
    assert_eq!(&command.topic[..], b"local/cmd/lamp");
    assert_properties_kept(&command, 600, 0, b"c-2");
}

/// MQTT 3.1.1 upstream: the message arrives, its properties silently left behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_3_1_1_upstream_gets_the_message_without_its_properties() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = magnetite_testkit::servers::mosquitto(dir.path());
    let bridge = format!(
        "name=up,url=mqtt://127.0.0.1:{},version=3.1.1,out=site/# -> cloud/# qos 1",
        upstream.port
    );
    let edge = common::start(&["--bridge", &bridge]);
    let mut cloud = listener5("cloud-app", upstream.port, "cloud/#", Q5::AtLeastOnce).await;
    wait_connected(&edge, "up").await;
    let (sensor, mut sensor_events) = client5("sensor", edge.mqtt.port());
    sensor
        .publish_with_properties(
            "site/t",
            Q5::AtLeastOnce,
            false,
            "21.5",
            properties(60, b"c"),
        )
        .await
        .unwrap();
    tokio::spawn(
        async move { drive5(&mut sensor_events, Duration::from_secs(30), |_| false).await },
    );
    let message = next_message(&mut cloud).await;
    assert_eq!(
        (&message.topic[..], &message.payload[..]),
        (&b"cloud/t"[..], &b"21.5"[..])
    );
    let properties = message.properties.unwrap_or_default();
    assert!(
        properties.user_properties.is_empty()
            && properties.content_type.is_none()
            && properties.correlation_data.is_none()
            && properties.message_expiry_interval.is_none(),
        "{properties:?}"
    );
}
