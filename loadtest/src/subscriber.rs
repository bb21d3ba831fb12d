//! A subscribing connection: counts deliveries, measures end-to-end latency from the
//! send time in each payload, acknowledges QoS 1/2, and detects duplicates.

use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;
use magnetite_protocol::{Packet, PubResponse, QoS};
use tokio::sync::watch;

use crate::client::{PacketReader, PacketWriter};
use crate::stats::{new_histogram, now_ns, read_header, Seen, Stats};

/// Reads until `stop` turns true (or the connection ends), then merges its histogram.
/// Sends PINGREQ every half `keep_alive` (0: never), so a subscriber that only receives
/// QoS 0 outlives the broker's keep-alive check in long runs.
pub async fn run(
    mut reader: PacketReader,
    mut writer: PacketWriter,
    stats: Arc<Stats>,
    mut stop: watch::Receiver<bool>,
    keep_alive: u16,
) -> anyhow::Result<()> {
    // Allocated at the first delivery: a histogram is ~150 KB, and idle subscribers by
    // the ten thousand may never receive anything.
    let mut latency: Option<Histogram<u64>> = None;
    let mut seen = Seen::default();
    let ping_every = Duration::from_secs(u64::from(keep_alive.max(2)) / 2);
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + ping_every, ping_every);
    let result = async {
        loop {
            let mut any = false;
            while let Some(packet) = reader.try_next()? {
                any |= handle(packet, &mut writer, &stats, &mut latency, &mut seen)?;
            }
            if any {
                stats
                    .last_receive_ns
                    .fetch_max(now_ns(), std::sync::atomic::Ordering::Relaxed);
            }
            writer.flush().await?;
            tokio::select! {
                more = reader.fill() => if !more? { return anyhow::Ok(()) },
                _ = stop.changed() => return Ok(()),
                _ = ping.tick(), if keep_alive > 0 => writer.queue(&Packet::PingReq)?,
            }
        }
    }
    .await;
    if let Some(latency) = &latency {
        stats.merge_latency(latency);
    }
    result
}

fn handle(
    packet: Packet,
    writer: &mut PacketWriter,
    stats: &Stats,
    latency: &mut Option<Histogram<u64>>,
    seen: &mut Seen,
) -> anyhow::Result<bool> {
    let mut delivered = false;
    match packet {
        Packet::Publish(p) => {
            delivered = true;
            match p.qos {
                QoS::AtMostOnce => {}
                QoS::AtLeastOnce => writer.queue(&Packet::PubAck(PubResponse::ok(p.pkid)))?,
                QoS::ExactlyOnce => writer.queue(&Packet::PubRec(PubResponse::ok(p.pkid)))?,
            }
            if let Some((sent_ns, publisher, seq)) = read_header(&p.payload) {
                if seen.insert(publisher, seq) {
                    Stats::add(&stats.received, 1);
                    let micros = now_ns().saturating_sub(sent_ns) / 1000;
                    latency
                        .get_or_insert_with(new_histogram)
                        .saturating_record(micros.max(1));
                } else {
                    Stats::add(&stats.duplicates, 1);
                }
            } else {
                Stats::add(&stats.received, 1);
            }
        }
        Packet::PubRel(rel) => writer.queue(&Packet::PubComp(PubResponse::ok(rel.pkid)))?,
        Packet::Disconnect(_) => anyhow::bail!("broker sent DISCONNECT"),
        _ => {}
    }
    Ok(delivered)
}
