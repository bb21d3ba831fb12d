//! `--max-connections` at the edge (mosquitto's `01-connect-max-connections`): clients
//! that close and reconnect at once all get back in, because a CONNECT that finds every
//! slot taken waits briefly for one to free; one client over the limit is still refused;
//! and the CONNECTs that wait are bounded, the rest refused without waiting.

use std::time::Duration;

use magnetite_broker::protocol::{reason, Packet, ProtocolVersion};
use magnetite_broker::{AllowAll, BrokerConfig};

use crate::common::{self, connect_packet, Client};
use crate::{V311, V5};

/// The refusal at the limit: 5.0 0x89 Server busy, 3.1.1 0x03 Server unavailable.
fn busy_code(version: ProtocolVersion) -> u8 {
    if version.is_v5() {
        reason::SERVER_BUSY
    } else {
        reason::v3::SERVER_UNAVAILABLE
    }
}

fn connack_code(packet: Option<Packet>) -> Option<u8> {
    match packet {
        Some(Packet::ConnAck(a)) => Some(a.code),
        None => None,
        Some(other) => panic!("expected CONNACK, got {other:?}"),
    }
}

/// Opens `ids.len()` sockets and sends every CONNECT, then closes `leaving` (without
/// DISCONNECT) before reading any CONNACK: the new CONNECTs reach the broker before the
/// closes that free their slots, the race mosquitto's script runs into by chance.
/// Returns the new clients with their CONNACK codes.
async fn reconnect_all(
    addr: std::net::SocketAddr,
    version: ProtocolVersion,
    ids: &[String],
    leaving: Vec<(Client, Option<u8>)>,
) -> Vec<(Client, Option<u8>)> {
    let mut clients = Vec::new();
    for id in ids {
        let mut client = Client::open(addr, version).await;
        client
            .send(Packet::Connect(Box::new(connect_packet(version, id, true))))
            .await;
        clients.push(client);
    }
    drop(leaving);
    let mut answered = Vec::new();
    for mut client in clients {
        let code = connack_code(client.recv().await);
        answered.push((client, code));
    }
    answered
}

/// Connects one more client and asserts the broker refuses it and closes.
async fn assert_refused(addr: std::net::SocketAddr, version: ProtocolVersion) {
    let (mut extra, connack) =
        Client::connect_with(addr, connect_packet(version, "one-too-many", true)).await;
    assert_eq!(connack_code(Some(connack)), Some(busy_code(version)));
    assert!(extra.closed_within(Duration::from_secs(3)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_close_and_reconnect_at_once_all_get_back_in() {
    const LIMIT: usize = 10;
    const ROUNDS: usize = 20;
    for version in [V311, V5] {
        let config = BrokerConfig {
            max_connections: LIMIT,
            ..Default::default()
        };
        let b = common::start(config, AllowAll).await;
        let ids: Vec<String> = (0..LIMIT).map(|i| format!("max-conn-{i}")).collect();
        let mut held = reconnect_all(b.addr, version, &ids, Vec::new()).await;
        for round in 0..ROUNDS {
            let codes: Vec<_> = held.iter().map(|(_, code)| *code).collect();
            assert_eq!(codes, vec![Some(0); LIMIT], "{version:?} round {round}");
            if round == 0 || round == ROUNDS - 1 {
                // Refused after the slot wait (1 s by default) runs out.
                assert_refused(b.addr, version).await;
            }
            held = reconnect_all(b.addr, version, &ids, held).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connects_waiting_for_a_slot_are_bounded_by_the_limit() {
    const LIMIT: usize = 2;
    let config = BrokerConfig {
        max_connections: LIMIT,
        // Long enough that a refusal within the 3 s read can only be the waiter cap.
        connect_slot_wait: Duration::from_secs(30),
        ..Default::default()
    };
    let b = common::start(config, AllowAll).await;
    let mut holders = Vec::new();
    for i in 0..LIMIT {
        holders.push(Client::connect(b.addr, V5, &format!("holder-{i}")).await);
    }
    // LIMIT + 1 CONNECTs while full: LIMIT may wait, one is refused at once.
    let mut waiters = Vec::new();
    for i in 0..=LIMIT {
        let mut client = Client::open(b.addr, V5).await;
        let connect = connect_packet(V5, &format!("waiter-{i}"), true);
        client.send(Packet::Connect(Box::new(connect))).await;
        waiters.push(client);
    }
    let [a, b2, c] = &mut waiters[..] else {
        unreachable!("LIMIT + 1 waiters")
    };
    let wait = Duration::from_secs(3);
    let (ra, rb, rc) = tokio::join!(
        a.recv_within(wait),
        b2.recv_within(wait),
        c.recv_within(wait)
    );
    let early: Vec<_> = [ra, rb, rc].into_iter().map(connack_code).collect();
    let refused = early
        .iter()
        .filter(|c| **c == Some(reason::SERVER_BUSY))
        .count();
    assert_eq!(
        refused, 1,
        "one over the waiter cap is refused at once: {early:?}"
    );
    assert_eq!(
        early.iter().filter(|c| c.is_none()).count(),
        LIMIT,
        "{early:?}"
    );
    // The holders leave: each waiting CONNECT gets a freed slot.
    drop(holders);
    let mut accepted = 0;
    for (waiter, code) in waiters.iter_mut().zip(&early) {
        if code.is_none() {
            assert_eq!(connack_code(waiter.recv().await), Some(0));
            accepted += 1;
        }
    }
    assert_eq!(accepted, LIMIT);
}
