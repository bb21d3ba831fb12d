//! The connection scenarios: `conn` (connect storm) and `idle` (memory per idle
//! connection).

use std::sync::Arc;
use std::time::{Duration, Instant};

use magnetite_protocol::{Disconnect, Packet};

use crate::cli::Common;
use crate::client;
use crate::probe;
use crate::progress;
use crate::report::Report;
use crate::setup;
use crate::stats::{new_histogram, Stats};
use crate::subscriber;
use tokio::sync::{watch, Semaphore};

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
/// DISCONNECT (and a reset, see `Target::abortive_close`) once its CONNACK arrived.
pub async fn conn(c: &Common) -> anyhow::Result<Report> {
    let creds = match &c.credentials {
        Some(path) => setup::load_credentials(path)?,
        None => Vec::new(),
    };
    let target = client::Target {
        abortive_close: true,
        ..setup::target(c)?
    };
    let stats = Arc::new(Stats::default());
    let ticker = progress::spawn(Arc::clone(&stats), c.quiet);
    let started = Instant::now();
    let gate = Arc::new(Semaphore::new(c.concurrency.max(1)));
    let mut tasks = Vec::with_capacity(c.clients);
    for i in 0..c.clients {
        let (gate, target, stats) = (Arc::clone(&gate), target.clone(), Arc::clone(&stats));
        let id = setup::identity(c, &creds, "conn", i);
        tasks.push(tokio::spawn(async move {
            let Ok(_permit) = gate.acquire().await else {
                return;
            };
            connect_once(&target, &id, &stats).await;
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let elapsed = started.elapsed();
    ticker.abort();
    Ok(base_report("conn", c, &stats, elapsed))
}

/// One connect, CONNACK, DISCONNECT, close; latency and failures go into `stats`.
async fn connect_once(target: &client::Target, id: &client::Identity, stats: &Stats) {
    match client::connect(target, id, true).await {
        Ok((_reader, mut writer, took)) => {
            let mut h = new_histogram();
            h.saturating_record((took.as_micros() as u64).max(1));
            stats.merge_connect(&h);
            Stats::add(&stats.connected, 1);
            let _ = writer
                .send(&Packet::Disconnect(Disconnect::default()))
                .await;
        }
        Err(err) => {
            if Stats::get(&stats.errors) < 5 {
                eprintln!("connect {}: {err:#}", id.client_id);
            }
            Stats::add(&stats.errors, 1);
        }
    }
}

/// Holds `--clients` idle connections for `--duration`, measuring the broker's RSS
/// before they connected and `--settle` seconds after the last one subscribed. With `--topic`, each subscribes to its own topic
/// (`%i` = its index) first; every connection answers deliveries and pings within its
/// keep-alive, so the hold may last longer than the broker's keep-alive check.
pub async fn idle(c: &Common) -> anyhow::Result<Report> {
    let creds = match &c.credentials {
        Some(path) => setup::load_credentials(path)?,
        None => Vec::new(),
    };
    let target = setup::target(c)?;
    let stats = Arc::new(Stats::default());
    let before = c.broker_pid.and_then(setup::rss_kib);
    let ticker = progress::spawn(Arc::clone(&stats), c.quiet);
    let started = Instant::now();
    let ids = (0..c.clients)
        .map(|i| setup::identity(c, &creds, "idle", i))
        .collect();
    let conns = setup::connect_all(&target, ids, c.concurrency, c.ramp_up, &stats).await;
    let (stop, stopped) = watch::channel(false);
    let holders = hold_all(conns, c, &stats, &stopped).await;
    let connect_time = started.elapsed();
    let ready = Instant::now();
    let probe = probe::start(&target, c, &creds, c.clients).await?;
    // Let the broker settle (connections parked, buffers released, free pages returned)
    // before measuring.
    tokio::time::sleep(Duration::from_secs_f64(c.settle)).await;
    let after = c.broker_pid.and_then(setup::rss_kib);
    let read_after = ready.elapsed();
    tokio::time::sleep(Duration::from_secs_f64(c.duration)).await;
    let mut report = base_report("idle", c, &stats, connect_time);
    if let Some(probe) = probe {
        probe.finish(&mut report).await;
    }
    let _ = stop.send(true);
    // Connections the broker closed during the hold count as errors.
    let mut held = 0;
    for holder in holders {
        match holder.await {
            Ok(Ok(())) => held += 1,
            _ => Stats::add(&stats.errors, 1),
        }
    }
    ticker.abort();
    report.errors = Stats::get(&stats.errors);
    report.received = Stats::get(&stats.received);
    report.broker_rss_before_kib = before;
    report.broker_rss_after_kib = after;
    report.rss_read_after_s = after.map(|_| read_after.as_secs_f64());
    if let (Some(b), Some(a)) = (before, after) {
        if held > 0 {
            report.rss_kib_per_connection = Some(a.saturating_sub(b) as f64 / held as f64);
        }
    }
    report.clients = held;
    Ok(report)
}

/// Subscribes each connection to its `--topic` (when given) and spawns its holder.
async fn hold_all(
    conns: Vec<Option<setup::Connection>>,
    c: &Common,
    stats: &Arc<Stats>,
    stopped: &watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<anyhow::Result<()>>> {
    let qos = setup::qos(c);
    let mut holders = Vec::with_capacity(conns.len());
    for (i, conn) in conns.into_iter().enumerate() {
        let Some((mut reader, mut writer)) = conn else {
            continue;
        };
        if let Some(pattern) = &c.topic {
            let filter = setup::topic_for(pattern, i);
            if let Err(err) = client::subscribe(&mut reader, &mut writer, &filter, qos).await {
                if Stats::get(&stats.errors) < 5 {
                    eprintln!("subscribe {filter}: {err:#}");
                }
                Stats::add(&stats.errors, 1);
                continue;
            }
        }
        let (stats, stopped, keep_alive) = (Arc::clone(stats), stopped.clone(), c.keep_alive);
        holders.push(tokio::spawn(async move {
            subscriber::run(reader, writer, stats, stopped.clone(), keep_alive).await?;
            anyhow::ensure!(*stopped.borrow(), "the broker closed the connection");
            Ok(())
        }));
    }
    holders
}
