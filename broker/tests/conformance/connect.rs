//! CONNECT-time points: the will after a normal DISCONNECT and a quick reconnect, MQTT
//! 3.1's CONNACK, `--max-keepalive` for every version, and a CONNACK that must fit the
//! client's Maximum Packet Size.

use std::time::Duration;

use magnetite_broker::protocol::{reason, LastWill, Packet, ProtocolVersion, QoS};
use magnetite_broker::{AllowAll, BrokerConfig};
use tokio::io::AsyncReadExt;

use crate::common::{self, connect_packet, Client};
use crate::{V311, V5};

fn with_will(version: ProtocolVersion, client_id: &str) -> magnetite_broker::protocol::Connect {
    let mut connect = connect_packet(version, client_id, true);
    connect.will = Some(LastWill {
        topic: "will/w".into(),
        payload: bytes::Bytes::from_static(b"offline"),
        qos: QoS::AtMostOnce,
        retain: false,
        properties: Default::default(),
    });
    connect
}

/// Wills the watcher receives until 500 ms pass without one.
async fn count_wills(watcher: &mut Client) -> usize {
    let mut count = 0;
    while let Some(packet) = watcher.recv_within(Duration::from_millis(500)).await {
        if let Packet::Publish(p) = packet {
            assert_eq!(&*p.topic, "will/w");
            count += 1;
        }
    }
    count
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn will_is_discarded_after_disconnect_and_an_immediate_reconnect() {
    const ROUNDS: usize = 20;
    for version in [V311, V5] {
        let b = common::start(BrokerConfig::default(), AllowAll).await;
        let mut watcher = Client::connect(b.addr, V311, "watcher").await;
        watcher.subscribe("will/#", QoS::AtMostOnce).await;
        let (mut device, _) = Client::connect_with(b.addr, with_will(version, "w")).await;
        for _ in 0..ROUNDS {
            // DISCONNECT 0x00, close, and reconnect with the same id at once.
            device.send(Packet::Disconnect(Default::default())).await;
            drop(device);
            let (next, connack) = Client::connect_with(b.addr, with_will(version, "w")).await;
            assert!(
                matches!(connack, Packet::ConnAck(ref a) if a.code == 0),
                "{connack:?}"
            );
            device = next;
        }
        assert_eq!(
            count_wills(&mut watcher).await,
            0,
            "{version:?}: will after DISCONNECT"
        );
        // Control: the same client lost without DISCONNECT does publish its will.
        drop(device);
        assert_eq!(
            count_wills(&mut watcher).await,
            1,
            "{version:?}: will on loss"
        );
    }
}

/// CONNECT in MQTT 3.1 (`MQIsdp`, level 3), keep-alive `keep_alive`.
fn connect_v31(client_id: &str, clean: bool, keep_alive: u16) -> Vec<u8> {
    let mut body = vec![0x00, 0x06];
    body.extend_from_slice(b"MQIsdp");
    body.push(3);
    body.push(if clean { 0x02 } else { 0x00 });
    body.extend_from_slice(&keep_alive.to_be_bytes());
    body.extend_from_slice(&(client_id.len() as u16).to_be_bytes());
    body.extend_from_slice(client_id.as_bytes());
    let mut packet = vec![0x10, body.len() as u8];
    packet.extend_from_slice(&body);
    packet
}

async fn raw_connack(addr: std::net::SocketAddr, connect: &[u8]) -> (Client, [u8; 4]) {
    let mut client = Client::open(addr, ProtocolVersion::V311).await;
    client.send_raw(connect).await;
    let mut connack = [0u8; 4];
    tokio::time::timeout(
        Duration::from_secs(3),
        client.stream.read_exact(&mut connack),
    )
    .await
    .expect("CONNACK in time")
    .expect("CONNACK");
    (client, connack)
}

#[tokio::test]
async fn mqtt31_connack_has_no_session_present_and_needs_a_client_id() {
    let b = common::start(BrokerConfig::default(), AllowAll).await;
    for _ in 0..2 {
        let (client, connack) = raw_connack(b.addr, &connect_v31("old", false, 60)).await;
        // The second time the session exists, but 3.1 reserves the flags byte.
        assert_eq!(connack, [0x20, 0x02, 0x00, 0x00]);
        client.disconnect().await;
    }
    let (mut client, connack) = raw_connack(b.addr, &connect_v31("", true, 60)).await;
    assert_eq!(connack, [0x20, 0x02, 0x00, 0x02], "identifier rejected");
    assert!(client.closed_within(Duration::from_secs(3)).await);
}

#[tokio::test]
async fn max_keepalive_refuses_older_versions_and_tells_v5() {
    let config = BrokerConfig {
        max_keepalive: Some(100),
        ..Default::default()
    };
    let b = common::start(config, AllowAll).await;
    for keep_alive in [101, 0] {
        let (mut client, connack) =
            raw_connack(b.addr, &connect_v31("k31", true, keep_alive)).await;
        assert_eq!(
            connack,
            [0x20, 0x02, 0x00, 0x02],
            "3.1 keep-alive {keep_alive}"
        );
        assert!(client.closed_within(Duration::from_secs(3)).await);
        let mut connect = connect_packet(V311, "k311", true);
        connect.keep_alive = keep_alive;
        let (mut client, connack) = Client::connect_with(b.addr, connect).await;
        match connack {
            Packet::ConnAck(a) => assert_eq!((a.code, a.session_present), (2, false)),
            other => panic!("expected CONNACK, got {other:?}"),
        }
        assert!(client.closed_within(Duration::from_secs(3)).await);
        let mut connect = connect_packet(V5, "k5", true);
        connect.keep_alive = keep_alive;
        let (client, connack) = Client::connect_with(b.addr, connect).await;
        match connack {
            Packet::ConnAck(a) => {
                assert_eq!(a.code, 0);
                assert_eq!(a.properties.server_keep_alive, Some(100));
            }
            other => panic!("expected CONNACK, got {other:?}"),
        }
        client.disconnect().await;
    }
    let mut connect = connect_packet(V311, "k311", true);
    connect.keep_alive = 100;
    let (_client, connack) = Client::connect_with(b.addr, connect).await;
    assert!(matches!(connack, Packet::ConnAck(a) if a.code == 0));
}

#[tokio::test]
async fn connack_fits_the_client_maximum_packet_size() {
    let b = common::start(BrokerConfig::default(), AllowAll).await;
    // 2 bytes: not even a CONNACK without properties fits; nothing is sent.
    let mut connect = connect_packet(V5, "tiny", true);
    connect.properties.maximum_packet_size = Some(2);
    let mut client = Client::open(b.addr, V5).await;
    client.send(Packet::Connect(Box::new(connect))).await;
    assert_eq!(client.recv().await, None);
    assert!(client.closed_within(Duration::from_secs(3)).await);
    // 5 bytes: the minimal CONNACK, byte for byte.
    let mut connect = connect_packet(V5, "five", true);
    connect.properties.maximum_packet_size = Some(5);
    let mut client = Client::open(b.addr, V5).await;
    client.send(Packet::Connect(Box::new(connect))).await;
    let mut connack = [0u8; 5];
    client
        .stream
        .read_exact(&mut connack)
        .await
        .expect("CONNACK");
    assert_eq!(connack, [0x20, 0x03, 0x00, 0x00, 0x00]);
    // 20 bytes: the full CONNACK fits; a DISCONNECT loses its reason string to fit.
    let mut connect = connect_packet(V5, "twenty", true);
    connect.properties.maximum_packet_size = Some(20);
    let (mut client, connack) = Client::connect_with(b.addr, connect).await;
    match connack {
        Packet::ConnAck(a) => assert!(a.properties.receive_maximum.is_some(), "{a:?}"),
        other => panic!("expected CONNACK, got {other:?}"),
    }
    client
        .send(Packet::Connect(Box::new(connect_packet(V5, "again", true))))
        .await;
    match client.recv().await {
        Some(Packet::Disconnect(d)) => {
            assert_eq!(
                (d.code, d.properties.reason_string),
                (reason::PROTOCOL_ERROR, None)
            )
        }
        other => panic!("expected DISCONNECT 0x82, got {other:?}"),
    }
    assert!(client.closed_within(Duration::from_secs(3)).await);
}
