//! The connection scenarios: `conn` (connect storm) and `idle` (memory per idle
//! connection).

use std::sync::Arc;
use std::time::{Duration, Instant};

use magnetite_protocol::{Disconnect, Packet};

use crate::cli::Common;
use crate::progress;
use crate::report::Report;
use crate::setup;
use crate::stats::Stats;

fn base_report(scenario: &str, c: &Common, stats: &Stats, elapsed: Duration) -> Report {
    let connected = Stats::get(&stats.connected);
    Report {
        scenario: scenario.to_string(),
        label: c.label.clone(),
        qos: c.qos,
        mqtt_version: c.mqtt_version,
        clients: c.clients,
        duration_s: elapsed.as_secs_f64(),
        errors: Stats::get(&stats.errors),
        connect_us: stats.connect_latency(),
        connects_per_s: Some(connected as f64 / elapsed.as_secs_f64().max(1e-9)),
        ..Default::default()
    }
}

/// Opens `--clients` connections (`--concurrency` at a time), each closed with
/// DISCONNECT once its CONNACK arrived.
pub async fn conn(c: &Common) -> anyhow::Result<Report> {
    let creds = match &c.credentials {
        Some(path) => setup::load_credentials(path)?,
        None => Vec::new(),
    };
    let target = setup::target(c);
    let stats = Arc::new(Stats::default());
    let ticker = progress::spawn(Arc::clone(&stats), c.quiet);
    let started = Instant::now();
    // In waves of `concurrency`, so memory stays flat however many connects are asked.
    let mut done = 0;
    while done < c.clients {
        let wave = (c.clients - done).min(c.concurrency.max(1) * 4);
        let ids = (done..done + wave)
            .map(|i| setup::identity(c, &creds, "conn", i))
            .collect();
        let conns = setup::connect_all(&target, ids, c.concurrency, 0.0, &stats).await;
        for (_, mut writer) in conns.into_iter().flatten() {
            let _ = writer
                .send(&Packet::Disconnect(Disconnect::default()))
                .await;
        }
        done += wave;
    }
    let elapsed = started.elapsed();
    ticker.abort();
    Ok(base_report("conn", c, &stats, elapsed))
}

/// Holds `--clients` idle connections for `--duration`, measuring the broker's RSS
/// before and after they connected.
pub async fn idle(c: &Common) -> anyhow::Result<Report> {
    let target = setup::target(c);
    let stats = Arc::new(Stats::default());
    let before = c.broker_pid.and_then(setup::rss_kib);
    let ticker = progress::spawn(Arc::clone(&stats), c.quiet);
    let started = Instant::now();
    let ids = (0..c.clients)
        .map(|i| setup::identity(c, &[], "idle", i))
        .collect();
    let conns = setup::connect_all(&target, ids, c.concurrency, c.ramp_up, &stats).await;
    let connect_time = started.elapsed();
    // Let the broker settle (buffers released, allocator steady) before measuring.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = c.broker_pid.and_then(setup::rss_kib);
    tokio::time::sleep(Duration::from_secs_f64(c.duration)).await;
    ticker.abort();
    let held = conns.iter().filter(|x| x.is_some()).count();
    drop(conns);
    let mut report = base_report("idle", c, &stats, connect_time);
    report.broker_rss_before_kib = before;
    report.broker_rss_after_kib = after;
    if let (Some(b), Some(a)) = (before, after) {
        if held > 0 {
            report.rss_kib_per_connection = Some(a.saturating_sub(b) as f64 / held as f64);
        }
    }
    report.clients = held;
    Ok(report)
}
