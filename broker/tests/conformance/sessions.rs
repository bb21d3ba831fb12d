//! Points from the second pass over mosquitto's suite: a delayed will cancelled by any
//! new connection for the client id [MQTT-3.1.2-8], retained messages replayed in a
//! stable order, and MQTT 3.1's DUP flag on a resent PUBREL / SUBSCRIBE / UNSUBSCRIBE.

use std::time::Duration;

use magnetite_broker::protocol::{LastWill, Packet, ProtocolVersion, QoS};
use magnetite_broker::{AllowAll, BrokerConfig};
use tokio::io::AsyncReadExt;

use crate::common::{self, connect_packet, publish, Client};
use crate::{expect_alive, V311, V5};

/// A 5.0 CONNECT keeping its session 30 s, with a will delayed by one second.
fn delayed_will(clean_start: bool) -> magnetite_broker::protocol::Connect {
    let mut connect = connect_packet(V5, "device", clean_start);
    connect.properties.session_expiry_interval = Some(30);
    let mut will = LastWill {
        topic: "will/d".into(),
        payload: bytes::Bytes::from_static(b"offline"),
        qos: QoS::AtMostOnce,
        retain: false,
        properties: Default::default(),
    };
    will.properties.will_delay_interval = Some(1);
    connect.will = Some(will);
    connect
}

/// PUBLISH packets the watcher gets until `quiet` passes without one.
async fn wills_seen(watcher: &mut Client, quiet: Duration) -> usize {
    let mut count = 0;
    while let Some(packet) = watcher.recv_within(quiet).await {
        if let Packet::Publish(p) = packet {
            assert_eq!(&*p.topic, "will/d");
            count += 1;
        }
    }
    count
}

#[tokio::test]
async fn delayed_will_is_cancelled_by_a_reconnect_even_with_clean_start() {
    for (reconnect, expected) in [(None, 1), (Some(false), 0), (Some(true), 0)] {
        let b = common::start(BrokerConfig::default(), AllowAll).await;
        let mut watcher = Client::connect(b.addr, V311, "watcher").await;
        watcher.subscribe("will/#", QoS::AtMostOnce).await;
        let (device, _) = Client::connect_with(b.addr, delayed_will(true)).await;
        drop(device); // lost without DISCONNECT: the will waits for its delay
        let mut back = None;
        if let Some(clean_start) = reconnect {
            let mut connect = delayed_will(clean_start);
            connect.will = None;
            back = Some(Client::connect_with(b.addr, connect).await.0);
        }
        // The delay (1 s) passes well inside the quiet period.
        let seen = wills_seen(&mut watcher, Duration::from_millis(2500)).await;
        assert_eq!(seen, expected, "reconnect {reconnect:?}");
        drop(back);
    }
}

#[tokio::test]
async fn retained_messages_are_replayed_parents_first() {
    let b = common::start(BrokerConfig::default(), AllowAll).await;
    let mut publisher = Client::connect(b.addr, V311, "pub").await;
    let topics = ["1/2/3/4/5/6/7", "1/2/3/4", "1", "0/z", "1/2"];
    for (i, topic) in topics.iter().enumerate() {
        let mut message = publish(topic, b"r", QoS::AtLeastOnce, i as u16 + 1);
        message.retain = true;
        publisher.send(Packet::Publish(message)).await;
        assert!(matches!(publisher.recv().await, Some(Packet::PubAck(_))));
    }
    for _ in 0..3 {
        let mut sub = Client::connect(b.addr, V311, "sub").await;
        sub.subscribe("#", QoS::AtMostOnce).await;
        let mut order = Vec::new();
        for _ in 0..topics.len() {
            let p = sub.next_publish().await.expect("retained message");
            order.push(p.topic.to_string());
        }
        assert_eq!(order, ["0/z", "1", "1/2", "1/2/3/4", "1/2/3/4/5/6/7"]);
    }
}

/// CONNECT in MQTT 3.1 (`MQIsdp`, level 3), clean session.
fn connect_v31(client_id: &str) -> Vec<u8> {
    let mut body = vec![0x00, 0x06];
    body.extend_from_slice(b"MQIsdp");
    body.extend_from_slice(&[3, 0x02, 0x00, 0x3c]);
    body.extend_from_slice(&(client_id.len() as u16).to_be_bytes());
    body.extend_from_slice(client_id.as_bytes());
    let mut packet = vec![0x10, body.len() as u8];
    packet.extend_from_slice(&body);
    packet
}

async fn read_exact<const N: usize>(client: &mut Client) -> [u8; N] {
    let mut bytes = [0u8; N];
    tokio::time::timeout(Duration::from_secs(3), client.stream.read_exact(&mut bytes))
        .await
        .expect("answer in time")
        .expect("answer");
    bytes
}

#[tokio::test]
async fn mqtt31_accepts_dup_on_pubrel_subscribe_and_unsubscribe() {
    let b = common::start(BrokerConfig::default(), AllowAll).await;
    let mut client = Client::open(b.addr, ProtocolVersion::V31).await;
    client.send_raw(&connect_v31("dup31")).await;
    assert_eq!(read_exact::<4>(&mut client).await, [0x20, 0x02, 0x00, 0x00]);
    // SUBSCRIBE with DUP (0x8A), id 1, filter "t", QoS 0.
    client
        .send_raw(&[0x8A, 0x06, 0x00, 0x01, 0x00, 0x01, b't', 0x00])
        .await;
    assert_eq!(
        read_exact::<5>(&mut client).await,
        [0x90, 0x03, 0x00, 0x01, 0x00]
    );
    // QoS 2 PUBLISH id 9, then PUBREL with DUP (0x6A) as a 3.1 client resends it.
    client
        .send_raw(&[0x34, 0x06, 0x00, 0x01, b'x', 0x00, 0x09, b'm'])
        .await;
    assert_eq!(read_exact::<4>(&mut client).await, [0x50, 0x02, 0x00, 0x09]);
    client.send_raw(&[0x6A, 0x02, 0x00, 0x09]).await;
    assert_eq!(read_exact::<4>(&mut client).await, [0x70, 0x02, 0x00, 0x09]);
    // UNSUBSCRIBE with DUP (0xAA), id 2, filter "t".
    client
        .send_raw(&[0xAA, 0x05, 0x00, 0x02, 0x00, 0x01, b't'])
        .await;
    assert_eq!(read_exact::<4>(&mut client).await, [0xB0, 0x02, 0x00, 0x02]);
    expect_alive(&mut client).await;
    // 3.1.1 keeps the fixed flags: the same PUBREL there is malformed.
    let mut newer = Client::connect(b.addr, V311, "dup311").await;
    newer.send_raw(&[0x6A, 0x02, 0x00, 0x09]).await;
    assert!(newer.closed_within(Duration::from_secs(3)).await);
}
