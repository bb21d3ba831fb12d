//! A publishing connection: writes batches of PUBLISH as fast as the socket (or the
//! rate) allows, keeping at most `inflight` QoS 1/2 messages unacknowledged.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use magnetite_protocol::{Packet, PubResponse, QoS};
use tokio::sync::{mpsc, watch, Semaphore};

use crate::client::{PacketReader, PacketWriter};
use crate::stats::{write_header, Stats, HEADER_LEN};

/// Messages written per flush when running flat out.
const BATCH: usize = 64;

pub struct PublisherSpec {
    pub index: u32,
    pub topic: String,
    pub qos: QoS,
    pub payload: usize,
    pub rate: f64,
    pub inflight: usize,
    pub count: Option<u64>,
    pub deadline: Instant,
    /// Stops publishing when it turns true (a probe runs as long as the load, which
    /// has no deadline known in advance).
    pub stop: Option<watch::Receiver<bool>>,
}

/// Runs until the deadline or the count, then waits (bounded) for outstanding acks.
pub async fn run(
    spec: PublisherSpec,
    reader: PacketReader,
    mut writer: PacketWriter,
    stats: Arc<Stats>,
) -> anyhow::Result<()> {
    let window = Arc::new(Semaphore::new(spec.inflight.max(1)));
    let (rel_tx, mut rel_rx) = mpsc::unbounded_channel::<u16>();
    let acks = tokio::spawn(read_acks(reader, Arc::clone(&window), rel_tx));
    let topic = spec.topic.clone();
    let mut body = BytesMut::zeroed(spec.payload.max(HEADER_LEN));
    let started = Instant::now();
    let mut seq: u64 = 0;
    let mut pkid: u16 = 0;
    loop {
        let remaining = spec.count.map_or(u64::MAX, |c| c.saturating_sub(seq));
        let stopped = spec.stop.as_ref().is_some_and(|s| *s.borrow());
        if remaining == 0 || stopped || Instant::now() >= spec.deadline {
            break;
        }
        let mut allowed = (BATCH as u64).min(remaining);
        if spec.rate > 0.0 {
            let due = (started.elapsed().as_secs_f64() * spec.rate) as u64 + 1;
            if due <= seq {
                tokio::time::sleep(Duration::from_secs_f64(1.0 / spec.rate)).await;
                continue;
            }
            allowed = allowed.min(due - seq);
        }
        while let Ok(id) = rel_rx.try_recv() {
            writer.queue(&Packet::PubRel(PubResponse::ok(id)))?;
        }
        let batch = take_window(&spec, &window, allowed, &mut rel_rx, &mut writer).await?;
        for _ in 0..batch {
            write_header(&mut body, spec.index, seq as u32);
            let id = if spec.qos == QoS::AtMostOnce {
                0
            } else {
                next_pkid(&mut pkid)
            };
            writer.queue_raw_publish(&topic, spec.qos, id, &body);
            seq += 1;
        }
        writer.flush().await?;
        Stats::add(&stats.sent, batch);
    }
    if spec.qos != QoS::AtMostOnce {
        drain_acks(&spec, &window, &mut rel_rx, &mut writer).await;
    }
    acks.abort();
    Ok(())
}

fn next_pkid(pkid: &mut u16) -> u16 {
    *pkid = pkid.wrapping_add(1).max(1);
    *pkid
}

/// How many messages the in-flight window lets us send now (at least one, waiting for
/// it), while still answering PUBRECs with PUBRELs.
async fn take_window(
    spec: &PublisherSpec,
    window: &Semaphore,
    allowed: u64,
    rel_rx: &mut mpsc::UnboundedReceiver<u16>,
    writer: &mut PacketWriter,
) -> anyhow::Result<u64> {
    if spec.qos == QoS::AtMostOnce {
        return Ok(allowed);
    }
    loop {
        tokio::select! {
            permit = window.acquire() => {
                permit?.forget();
                break;
            }
            Some(id) = rel_rx.recv() => {
                writer.queue(&Packet::PubRel(PubResponse::ok(id)))?;
                writer.flush().await?;
            }
        }
    }
    let mut n = 1;
    while n < allowed {
        match window.try_acquire() {
            Ok(permit) => {
                permit.forget();
                n += 1;
            }
            Err(_) => break,
        }
    }
    Ok(n)
}

/// After the last publish, keep answering PUBRECs until every message is acknowledged
/// (or 10 s pass).
async fn drain_acks(
    spec: &PublisherSpec,
    window: &Semaphore,
    rel_rx: &mut mpsc::UnboundedReceiver<u16>,
    writer: &mut PacketWriter,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while window.available_permits() < spec.inflight.max(1) {
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => return,
            _ = tokio::time::sleep(Duration::from_millis(10)) => {}
            Some(id) = rel_rx.recv() => {
                if writer.queue(&Packet::PubRel(PubResponse::ok(id))).is_err() || writer.flush().await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Frees a window slot per PUBACK / PUBCOMP; asks the writer for a PUBREL per PUBREC.
async fn read_acks(
    mut reader: PacketReader,
    window: Arc<Semaphore>,
    rel_tx: mpsc::UnboundedSender<u16>,
) {
    while let Ok(Some(packet)) = reader.next().await {
        match packet {
            Packet::PubAck(_) | Packet::PubComp(_) => window.add_permits(1),
            Packet::PubRec(rec) => {
                if rec.code >= 0x80 {
                    window.add_permits(1);
                } else if rel_tx.send(rec.pkid).is_err() {
                    return;
                }
            }
            _ => {}
        }
    }
}
