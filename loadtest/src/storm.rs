//! `storm`: a fleet that loses its connections all at once and comes back. Every
//! device is a task: connect (and subscribe to `--topic` when given), hold the
//! connection (answering deliveries, pinging), and when it is lost reconnect at once,
//! then after each refusal wait by jittered exponential backoff, as a well-behaved
//! device does. A wave is one such return of the whole fleet (wave 0: the first
//! connect); each reports the time until every device was back, the refusals by reason
//! and the retries.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBuilder};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::cli::{StormArgs, Trigger};
use crate::client::{self, Identity, Refused, Target};
use crate::report::Report;
use crate::setup::{self, Connection};
use crate::stats::{now_ns, Stats};
use crate::{probe, progress, subscriber};

/// Why one connect attempt failed, and whether the device tries again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// CONNACK with a "later" reason (see [`retryable`]): retried.
    Refused(u8),
    /// No listener (the broker is restarting): retried.
    ConnectionRefused,
    /// Reset, closed before CONNACK, timed out: retried.
    Other,
    /// CONNACK with a reason that will not change (bad credentials, banned): the
    /// device gives up.
    Fatal(u8),
}

/// CONNACK reasons that mean "not now": 3.1.1 0x03 server unavailable; 5.0 0x88 server
/// unavailable, 0x89 server busy, 0x97 quota exceeded, 0x9F connection rate exceeded.
pub fn retryable(code: u8) -> bool {
    matches!(code, 0x03 | 0x88 | 0x89 | 0x97 | 0x9F)
}

pub fn classify(err: &anyhow::Error) -> Failure {
    if let Some(Refused(code)) = err.downcast_ref::<Refused>() {
        return match retryable(*code) {
            true => Failure::Refused(*code),
            false => Failure::Fatal(*code),
        };
    }
    match err.downcast_ref::<std::io::Error>() {
        Some(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            Failure::ConnectionRefused
        }
        _ => Failure::Other,
    }
}

/// One wave's figures, as reported.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Wave {
    /// 0: the first connect; 1..: the storms.
    pub wave: u32,
    /// Devices still trying when the wave began.
    pub devices: u64,
    pub connected: u64,
    /// From the wave's start (the run's start, the drop command, or the first
    /// connection the broker dropped) to the last device's CONNACK; none when some
    /// device never came back.
    pub seconds_to_all_connected: Option<f64>,
    /// CONNACK refusals by reason code (`0x9f`: n).
    pub refused: BTreeMap<String, u64>,
    pub connection_refused: u64,
    pub other_failures: u64,
    pub retries: u64,
    pub gave_up: u64,
}

impl Wave {
    pub fn row(&self) -> String {
        let took = self
            .seconds_to_all_connected
            .map_or("not all".to_string(), |s| format!("all in {s:.2} s"));
        format!(
            "wave {:<9} {}/{} connected, {took}; refused {:?}, connection refused {}, other {}, retries {}, gave up {}\n",
            self.wave,
            self.connected,
            self.devices,
            self.refused,
            self.connection_refused,
            self.other_failures,
            self.retries,
            self.gave_up
        )
    }
}

/// A wave's counters while it runs, shared by every device.
#[derive(Default)]
struct WaveCounters {
    connected: AtomicU64,
    /// Connections lost to the broker (trigger restart): the first one starts the wave.
    dropped: AtomicU64,
    started_ns: AtomicU64,
    last_connect_ns: AtomicU64,
    refused: Mutex<BTreeMap<u8, u64>>,
    connection_refused: AtomicU64,
    other_failures: AtomicU64,
    retries: AtomicU64,
    gave_up: AtomicU64,
}

impl WaveCounters {
    fn record(&self, failure: Failure) {
        match failure {
            Failure::Refused(code) | Failure::Fatal(code) => {
                if let Ok(mut map) = self.refused.lock() {
                    *map.entry(code).or_default() += 1;
                }
            }
            Failure::ConnectionRefused => Stats::add(&self.connection_refused, 1),
            Failure::Other => Stats::add(&self.other_failures, 1),
        }
    }

    fn report(&self, wave: u32, devices: u64) -> Wave {
        let connected = Stats::get(&self.connected);
        let (start, last) = (
            Stats::get(&self.started_ns),
            Stats::get(&self.last_connect_ns),
        );
        let refused = self.refused.lock().map(|m| m.clone()).unwrap_or_default();
        Wave {
            wave,
            devices,
            connected,
            seconds_to_all_connected: (connected >= devices && devices > 0)
                .then(|| last.saturating_sub(start) as f64 / 1e9),
            refused: refused
                .into_iter()
                .map(|(code, n)| (format!("{code:#04x}"), n))
                .collect(),
            connection_refused: Stats::get(&self.connection_refused),
            other_failures: Stats::get(&self.other_failures),
            retries: Stats::get(&self.retries),
            gave_up: Stats::get(&self.gave_up),
        }
    }
}

/// What every device shares: the waves, how many devices still try, the policy.
struct Fleet {
    waves: Vec<WaveCounters>,
    alive: AtomicU64,
    policy: ExponentialBuilder,
    connect_timeout: Duration,
    give_up_after: Duration,
    topic: Option<String>,
    qos: magnetite_protocol::QoS,
    keep_alive: u16,
    stats: Arc<Stats>,
    /// Turns true when the run ends: devices stop retrying and holding.
    end: watch::Receiver<bool>,
}

pub async fn run(a: &StormArgs) -> anyhow::Result<Report> {
    let c = &a.common;
    let creds = match &c.credentials {
        Some(path) => setup::load_credentials(path)?,
        None => Vec::new(),
    };
    let target = Target {
        abortive_close: true,
        ..setup::target(c)?
    };
    let (drops, drop_signals): (Vec<_>, Vec<_>) =
        (0..a.storms).map(|_| watch::channel(false)).unzip();
    let (end, end_signal) = watch::channel(false);
    let fleet = Arc::new(Fleet {
        waves: (0..=a.storms).map(|_| WaveCounters::default()).collect(),
        alive: AtomicU64::new(c.clients as u64),
        policy: ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(a.backoff_min_ms.max(1)))
            .with_max_delay(Duration::from_millis(
                a.backoff_max_ms.max(a.backoff_min_ms),
            ))
            .with_factor(2.0)
            .with_jitter()
            .without_max_times(),
        connect_timeout: Duration::from_secs_f64(a.connect_timeout.max(0.001)),
        give_up_after: Duration::from_secs_f64(a.storm_timeout.max(0.001)),
        topic: c.topic.clone(),
        qos: setup::qos(c),
        keep_alive: c.keep_alive,
        stats: Arc::new(Stats::default()),
        end: end_signal.clone(),
    });
    let ticker = progress::spawn(Arc::clone(&fleet.stats), c.quiet);
    let started = Instant::now();
    fleet.waves[0].started_ns.store(now_ns(), Ordering::Relaxed);
    let devices: Vec<_> = (0..c.clients)
        .map(|i| {
            let holds = drop_signals
                .iter()
                .cloned()
                .chain([end_signal.clone()])
                .collect();
            let id = setup::identity(c, &creds, "storm", i);
            tokio::spawn(device(i, id, target.clone(), Arc::clone(&fleet), holds))
        })
        .collect();
    let probe = probe::start(&target, c, &creds, c.clients).await?;
    let mut waves = Vec::new();
    for (w, counters) in fleet.waves.iter().enumerate() {
        if w > 0 && !begin_storm(a, counters, &drops[w - 1], &fleet).await {
            eprintln!("storm {w}: the broker dropped no connection within --storm-timeout");
            break;
        }
        let devices = fleet.alive.load(Ordering::Relaxed);
        wait_for_wave(counters, &fleet, a.storm_timeout + a.connect_timeout).await;
        let wave = counters.report(w as u32, devices);
        eprintln!("storm: {}", wave.row().trim_end());
        waves.push(wave);
    }
    let elapsed = started.elapsed();
    let mut report = Report {
        scenario: "storm".into(),
        label: c.label.clone(),
        qos: c.qos,
        mqtt_version: c.mqtt_version,
        clients: c.clients,
        duration_s: elapsed.as_secs_f64(),
        received: Stats::get(&fleet.stats.received),
        errors: c.clients as u64 - fleet.alive.load(Ordering::Relaxed),
        storm: Some(waves),
        ..Default::default()
    };
    if let Some(probe) = probe {
        probe.finish(&mut report).await;
    }
    let _ = end.send(true);
    // Closing the drop channels ends the holds of devices still waiting for a storm
    // that will not come.
    drop(drops);
    for device in devices {
        let _ = device.await;
    }
    ticker.abort();
    Ok(report)
}

/// Starts storm `counters`: drops every connection (trigger command, after
/// `--duration`) or waits for the broker to drop one (trigger restart). False when the
/// broker dropped none in time.
async fn begin_storm(
    a: &StormArgs,
    counters: &WaveCounters,
    drop: &watch::Sender<bool>,
    fleet: &Fleet,
) -> bool {
    match a.trigger {
        Trigger::Command => {
            tokio::time::sleep(Duration::from_secs_f64(a.common.duration)).await;
            counters.started_ns.store(now_ns(), Ordering::Relaxed);
            let _ = drop.send(true);
            true
        }
        Trigger::Restart => {
            eprintln!("storm: waiting for the broker to drop the connections (restart it)");
            let deadline = Instant::now() + fleet.give_up_after;
            while Stats::get(&counters.dropped) == 0 {
                if Instant::now() >= deadline {
                    return false;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            eprintln!("storm: the broker dropped a connection");
            true
        }
    }
}

/// Waits until every device still trying is connected in this wave, or `limit` s.
async fn wait_for_wave(counters: &WaveCounters, fleet: &Fleet, limit: f64) {
    let deadline = Instant::now() + Duration::from_secs_f64(limit);
    while Stats::get(&counters.connected) < fleet.alive.load(Ordering::Relaxed)
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// One device through every wave. `holds[w]` ends its connection of wave `w` (the
/// drop command of the next storm; the last one ends the run).
async fn device(
    index: usize,
    id: Identity,
    target: Target,
    fleet: Arc<Fleet>,
    holds: Vec<watch::Receiver<bool>>,
) {
    for (w, counters) in fleet.waves.iter().enumerate() {
        let Some((reader, writer)) =
            connect_with_backoff(index, &id, &target, &fleet, counters).await
        else {
            fleet.alive.fetch_sub(1, Ordering::Relaxed);
            return;
        };
        Stats::add(&counters.connected, 1);
        counters
            .last_connect_ns
            .fetch_max(now_ns(), Ordering::Relaxed);
        Stats::add(&fleet.stats.connected, 1);
        let stop = holds[w].clone();
        let _ = subscriber::run(
            reader,
            writer,
            Arc::clone(&fleet.stats),
            stop,
            fleet.keep_alive,
        )
        .await;
        let Some(next) = fleet.waves.get(w + 1) else {
            return;
        };
        if *fleet.end.borrow() {
            return;
        }
        if !*holds[w].borrow() {
            // Not our command: the broker dropped it; the first one starts the storm.
            if next.dropped.fetch_add(1, Ordering::Relaxed) == 0 {
                next.started_ns.store(now_ns(), Ordering::Relaxed);
            }
        }
    }
}

/// Connect attempts until one succeeds: the first at once, then after each retryable
/// failure a jittered, doubling delay. `None` after a fatal refusal or `--storm-timeout`.
async fn connect_with_backoff(
    index: usize,
    id: &Identity,
    target: &Target,
    fleet: &Fleet,
    counters: &WaveCounters,
) -> Option<Connection> {
    let give_up = Instant::now() + fleet.give_up_after;
    let mut delays = fleet.policy.build();
    loop {
        let err =
            match tokio::time::timeout(fleet.connect_timeout, attempt(index, id, target, fleet))
                .await
            {
                Ok(Ok(conn)) => return Some(conn),
                Ok(Err(err)) => err,
                Err(_) => anyhow::anyhow!("no CONNACK within --connect-timeout"),
            };
        let failure = classify(&err);
        counters.record(failure);
        Stats::add(&fleet.stats.errors, 1);
        let delay = delays.next().unwrap_or(fleet.give_up_after);
        let hopeless = matches!(failure, Failure::Fatal(_)) || *fleet.end.borrow();
        if hopeless || Instant::now() + delay >= give_up {
            eprintln!("storm: {} gives up: {err:#}", id.client_id);
            Stats::add(&counters.gave_up, 1);
            return None;
        }
        Stats::add(&counters.retries, 1);
        tokio::time::sleep(delay).await;
    }
}

/// Connect, and subscribe to the device's topic when `--topic` is given.
async fn attempt(
    index: usize,
    id: &Identity,
    target: &Target,
    fleet: &Fleet,
) -> anyhow::Result<Connection> {
    let (mut reader, mut writer, _) = client::connect(target, id, true).await?;
    if let Some(pattern) = &fleet.topic {
        let filter = setup::topic_for(pattern, index);
        client::subscribe(&mut reader, &mut writer, &filter, fleet.qos).await?;
    }
    Ok((reader, writer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_reasons_are_retried_and_others_are_not() {
        for code in [0x03, 0x88, 0x89, 0x97, 0x9F] {
            assert_eq!(classify(&Refused(code).into()), Failure::Refused(code));
        }
        for code in [0x04, 0x05, 0x86, 0x87, 0x8A, 0x9C] {
            assert_eq!(classify(&Refused(code).into()), Failure::Fatal(code));
        }
    }

    #[test]
    fn no_listener_and_io_trouble_are_told_apart() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let err = anyhow::Error::from(refused).context("connecting to 127.0.0.1:1");
        assert_eq!(classify(&err), Failure::ConnectionRefused);
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert_eq!(classify(&reset.into()), Failure::Other);
        assert_eq!(classify(&anyhow::anyhow!("timed out")), Failure::Other);
    }

    #[test]
    fn a_wave_counts_refusals_by_code_and_is_complete_only_when_all_are_in() {
        let w = WaveCounters::default();
        w.record(Failure::Refused(0x9F));
        w.record(Failure::Refused(0x9F));
        w.record(Failure::ConnectionRefused);
        w.started_ns.store(1_000_000_000, Ordering::Relaxed);
        w.last_connect_ns.store(3_500_000_000, Ordering::Relaxed);
        w.connected.store(2, Ordering::Relaxed);
        let partial = w.report(1, 3);
        assert_eq!(partial.refused.get("0x9f"), Some(&2));
        assert_eq!(partial.connection_refused, 1);
        assert_eq!(partial.seconds_to_all_connected, None);
        w.connected.store(3, Ordering::Relaxed);
        assert_eq!(w.report(1, 3).seconds_to_all_connected, Some(2.5));
    }
}
