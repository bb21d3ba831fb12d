//! The probe: one publisher at `--probe-rate` and one subscriber on their own topic,
//! running beside a scenario's load, whose pub->sub latency is reported apart from the
//! load's. It reuses the scenarios' publisher and subscriber with a `Stats` of its own.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::cli::Common;
use crate::client::{self, Identity, Target};
use crate::publisher::{self, PublisherSpec};
use crate::report::Report;
use crate::setup;
use crate::stats::Stats;
use crate::subscriber;

/// A running probe; `finish` stops it and adds its figures to a report.
pub struct Probe {
    stats: Arc<Stats>,
    stop_publishing: watch::Sender<bool>,
    stop_listening: watch::Sender<bool>,
    publisher: JoinHandle<anyhow::Result<()>>,
    subscriber: JoinHandle<anyhow::Result<()>>,
}

/// Publisher index of the probe in payload headers: apart from any load publisher.
const PROBE_INDEX: u32 = 0;

/// Starts the probe when `--probe-rate` is set. Its two connections use the identities
/// of connections `first` and `first + 1`, the two after the scenario's own (with
/// `--credentials`, give two rows more; with `%i` in `--username` / `--password`, two
/// more accounts).
pub async fn start(
    target: &Target,
    c: &Common,
    creds: &[Identity],
    first: usize,
) -> anyhow::Result<Option<Probe>> {
    if c.probe_rate <= 0.0 {
        return Ok(None);
    }
    let topic = c
        .probe_topic
        .clone()
        .unwrap_or_else(|| format!("lt/probe/{}", std::process::id()));
    let qos = setup::qos(c);
    let identity = |k: usize| {
        let mut id = setup::identity(c, creds, "probe", first + k);
        if creds.is_empty() {
            id.client_id = format!("{}-probe-{k}-{}", c.client_prefix, std::process::id());
        }
        id
    };
    let stats = Arc::new(Stats::default());
    let (stop_publishing, publishing) = watch::channel(false);
    let (stop_listening, listening) = watch::channel(false);
    let (mut reader, mut writer, _) = client::connect(target, &identity(0), true).await?;
    client::subscribe(&mut reader, &mut writer, &topic, qos).await?;
    let subscriber = tokio::spawn(subscriber::run(
        reader,
        writer,
        Arc::clone(&stats),
        listening,
        c.keep_alive,
    ));
    let (reader, writer, _) = client::connect(target, &identity(1), true).await?;
    let spec = PublisherSpec {
        index: PROBE_INDEX,
        topic,
        qos,
        payload: c.payload,
        rate: c.probe_rate,
        inflight: c.inflight,
        count: None,
        deadline: Instant::now() + Duration::from_secs(365 * 24 * 3600),
        stop: Some(publishing),
    };
    let publisher = tokio::spawn(publisher::run(spec, reader, writer, Arc::clone(&stats)));
    Ok(Some(Probe {
        stats,
        stop_publishing,
        stop_listening,
        publisher,
        subscriber,
    }))
}

impl Probe {
    /// Stops publishing, lets the last messages arrive (up to 2 s), stops the
    /// subscriber and writes `probe_*` into the report.
    pub async fn finish(self, report: &mut Report) {
        let _ = self.stop_publishing.send(true);
        if let Ok(Err(err)) = self.publisher.await {
            eprintln!("probe publisher: {err:#}");
        }
        let sent = Stats::get(&self.stats.sent);
        let deadline = Instant::now() + Duration::from_secs(2);
        while Stats::get(&self.stats.received) < sent && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = self.stop_listening.send(true);
        let _ = self.subscriber.await;
        report.probe_sent = Some(sent);
        report.probe_received = Some(Stats::get(&self.stats.received));
        report.probe_latency_us = self.stats.latency();
    }
}
