//! The message scenarios: pub, sub, fan-in, fan-out, p2p. Subscribers connect and
//! subscribe first, then publishers start together; after they stop, subscribers get a
//! short drain period before losses are counted.

use std::sync::Arc;
use std::time::{Duration, Instant};

use magnetite_protocol::QoS;
use tokio::sync::watch;

use crate::cli::Common;
use crate::client::{self, Identity};
use crate::progress;
use crate::publisher::{self, PublisherSpec};
use crate::report::Report;
use crate::setup::{self, Connection};
use crate::stats::Stats;
use crate::subscriber;

/// Who publishes where and who listens, for one scenario.
pub struct Plan {
    pub scenario: &'static str,
    pub publish_topics: Vec<String>,
    pub subscribe_filters: Vec<String>,
    /// Subscribers each message reaches.
    pub fanout: u64,
}

pub fn plan(scenario: &'static str, c: &Common) -> Plan {
    let topic = |default: &str| c.topic.clone().unwrap_or_else(|| default.to_string());
    let n = |count: usize, pattern: &str| {
        (0..count)
            .map(|i| setup::topic_for(pattern, i))
            .collect::<Vec<_>>()
    };
    match scenario {
        "pub" => Plan {
            scenario,
            publish_topics: n(c.clients, &topic("lt/pub/%i")),
            subscribe_filters: vec![],
            fanout: 0,
        },
        "sub" => Plan {
            scenario,
            publish_topics: vec![],
            subscribe_filters: n(c.clients, &topic("lt/pub/#")),
            fanout: 0,
        },
        "fan-in" => Plan {
            scenario,
            publish_topics: n(c.pubs, &topic("lt/fanin/%i")),
            subscribe_filters: vec!["lt/fanin/#".to_string()],
            fanout: 1,
        },
        "fan-out" => Plan {
            scenario,
            publish_topics: vec![topic("lt/fanout")],
            subscribe_filters: vec![topic("lt/fanout"); c.subs],
            fanout: c.subs as u64,
        },
        _ => {
            let pattern = topic("lt/p2p/%i");
            Plan {
                scenario,
                publish_topics: n(c.clients, &pattern),
                subscribe_filters: n(c.clients, &pattern),
                fanout: 1,
            }
        }
    }
}

fn identities(
    c: &Common,
    creds: &[Identity],
    role: &str,
    count: usize,
    offset: usize,
) -> Vec<Identity> {
    (0..count)
        .map(|i| setup::identity(c, creds, role, i + offset))
        .collect()
}

pub async fn run(plan: Plan, c: &Common) -> anyhow::Result<Report> {
    let creds = match &c.credentials {
        Some(path) => setup::load_credentials(path)?,
        None => Vec::new(),
    };
    let target = setup::target(c)?;
    let qos = setup::qos(c);
    let stats = Arc::new(Stats::default());
    let (stop_tx, stop_rx) = watch::channel(false);

    let sub_ids = identities(c, &creds, "sub", plan.subscribe_filters.len(), 0);
    let mut sub_target = target.clone();
    sub_target.port = c.sub_port.unwrap_or(c.port);
    let subs = setup::connect_all(&sub_target, sub_ids, c.concurrency, c.ramp_up, &stats).await;
    let mut sub_tasks = Vec::new();
    for (conn, filter) in subs.into_iter().zip(&plan.subscribe_filters) {
        let Some((mut reader, mut writer)) = conn else {
            continue;
        };
        client::subscribe(&mut reader, &mut writer, filter, qos).await?;
        sub_tasks.push(tokio::spawn(subscriber::run(
            reader,
            writer,
            Arc::clone(&stats),
            stop_rx.clone(),
            c.keep_alive,
        )));
    }
    if c.sub_port.is_some() {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
    let pub_ids = identities(
        c,
        &creds,
        "pub",
        plan.publish_topics.len(),
        plan.subscribe_filters.len(),
    );
    let pubs = setup::connect_all(&target, pub_ids, c.concurrency, c.ramp_up, &stats).await;
    let publishers = pubs.iter().filter(|p| p.is_some()).count();
    let probe = crate::probe::start(
        &target,
        c,
        &creds,
        plan.subscribe_filters.len() + plan.publish_topics.len(),
    )
    .await?;

    let started = Instant::now();
    let started_ns = crate::stats::now_ns();
    let deadline = started
        + Duration::from_secs_f64(if c.count.is_some() {
            3600.0
        } else {
            c.duration
        });
    let ticker = progress::spawn(Arc::clone(&stats), c.quiet);
    let pub_tasks = spawn_publishers(pubs, &plan, c, qos, deadline, &stats);
    for task in pub_tasks {
        if let Ok(Err(err)) = task.await {
            eprintln!("publisher: {err:#}");
            Stats::add(&stats.errors, 1);
        }
    }
    let publish_time = started.elapsed();
    let expected = Stats::get(&stats.sent) * plan.fanout;
    drain(&stats, expected).await;
    let elapsed = started.elapsed();
    let _ = stop_tx.send(true);
    for task in sub_tasks {
        let _ = task.await;
    }
    ticker.abort();
    let last_ns = Stats::get(&stats.last_receive_ns);
    let receive_time = Duration::from_nanos(last_ns.saturating_sub(started_ns)).min(elapsed);
    let mut report = report(
        &plan,
        c,
        &stats,
        publishers,
        publish_time,
        receive_time,
        expected,
    );
    if let Some(probe) = probe {
        probe.finish(&mut report).await;
    }
    Ok(report)
}

fn spawn_publishers(
    pubs: Vec<Option<Connection>>,
    plan: &Plan,
    c: &Common,
    qos: QoS,
    deadline: Instant,
    stats: &Arc<Stats>,
) -> Vec<tokio::task::JoinHandle<anyhow::Result<()>>> {
    let mut tasks = Vec::new();
    for (i, (conn, topic)) in pubs.into_iter().zip(&plan.publish_topics).enumerate() {
        let Some((reader, writer)) = conn else {
            continue;
        };
        let spec = PublisherSpec {
            index: i as u32,
            topic: topic.clone(),
            qos,
            payload: c.payload,
            rate: c.rate,
            inflight: c.inflight,
            count: c.count,
            deadline,
            stop: None,
        };
        tasks.push(tokio::spawn(publisher::run(
            spec,
            reader,
            writer,
            Arc::clone(stats),
        )));
    }
    tasks
}

/// Waits until every expected delivery arrived, or nothing arrived for 2 s.
async fn drain(stats: &Stats, expected: u64) {
    let mut last = Stats::get(&stats.received);
    let mut quiet_since = Instant::now();
    while Stats::get(&stats.received) < expected && quiet_since.elapsed() < Duration::from_secs(2) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = Stats::get(&stats.received);
        if now != last {
            last = now;
            quiet_since = Instant::now();
        }
    }
}

fn report(
    plan: &Plan,
    c: &Common,
    stats: &Stats,
    publishers: usize,
    publish_time: Duration,
    receive_time: Duration,
    expected: u64,
) -> Report {
    let (sent, received) = (Stats::get(&stats.sent), Stats::get(&stats.received));
    Report {
        scenario: plan.scenario.to_string(),
        label: c.label.clone(),
        qos: c.qos,
        mqtt_version: c.mqtt_version,
        clients: publishers + plan.subscribe_filters.len(),
        publishers,
        subscribers: plan.subscribe_filters.len(),
        payload_bytes: c.payload.max(crate::stats::HEADER_LEN),
        duration_s: publish_time.as_secs_f64(),
        sent,
        received,
        expected,
        lost: expected.saturating_sub(received),
        duplicates: Stats::get(&stats.duplicates),
        errors: Stats::get(&stats.errors),
        send_rate: sent as f64 / publish_time.as_secs_f64().max(1e-9),
        recv_rate: received as f64 / receive_time.as_secs_f64().max(1e-9),
        latency_us: stats.latency(),
        connect_us: stats.connect_latency(),
        ..Default::default()
    }
}
