//! Turning flags into connections: target, credentials per client, ramped connects.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use magnetite_protocol::{ProtocolVersion, QoS};
use tokio::sync::Semaphore;

use crate::cli::Common;
use crate::client::{self, Identity, PacketReader, PacketWriter, Target};
use crate::stats::{new_histogram, Stats};

pub fn target(c: &Common) -> anyhow::Result<Target> {
    let tls = match c.tls || c.ca.is_some() || c.insecure {
        true => Some(crate::tls::connector(&crate::tls::TlsOptions {
            ca: c.ca.as_deref(),
            cert: c.cert.as_deref(),
            key: c.key.as_deref(),
            insecure: c.insecure,
        })?),
        false => None,
    };
    Ok(Target {
        host: c.host.clone(),
        port: c.port,
        websocket: c.ws,
        version: if c.mqtt_version == 5 {
            ProtocolVersion::V5
        } else {
            ProtocolVersion::V311
        },
        keep_alive: c.keep_alive,
        abortive_close: false,
        tls,
        persistent: c.persistent_sessions,
        sources: match &c.source_addrs {
            Some(spec) => crate::sources::SourceAddrs::new(
                crate::sources::parse(spec).map_err(|e| anyhow::anyhow!("--source-addrs {e}"))?,
            ),
            None => Default::default(),
        },
    })
}

pub fn qos(c: &Common) -> QoS {
    QoS::from_u8(c.qos).unwrap_or(QoS::AtMostOnce)
}

/// Rows of `client_id,username,password` or `username,password` (client id = username).
pub fn load_credentials(path: &Path) -> anyhow::Result<Vec<Identity>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut rows = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let identity = match fields.as_slice() {
            [id, user, pass] => Identity {
                client_id: (*id).to_string(),
                username: Some((*user).to_string()),
                password: Some((*pass).to_string()),
            },
            [user, pass] => Identity {
                client_id: (*user).to_string(),
                username: Some((*user).to_string()),
                password: Some((*pass).to_string()),
            },
            _ => anyhow::bail!(
                "{}:{}: expected client_id,username,password",
                path.display(),
                n + 1
            ),
        };
        rows.push(identity);
    }
    anyhow::ensure!(!rows.is_empty(), "{} holds no credentials", path.display());
    Ok(rows)
}

/// Identity of connection `index` (`role` keeps publisher and subscriber ids apart):
/// its row of `--credentials` (round robin), else `--username` / `--password` with
/// `%i` replaced by the index (`dev-%i` / `secret-%i`: one account per connection).
pub fn identity(c: &Common, credentials: &[Identity], role: &str, index: usize) -> Identity {
    if let Some(row) = credentials
        .get(index % credentials.len().max(1))
        .filter(|_| !credentials.is_empty())
    {
        return row.clone();
    }
    Identity {
        client_id: format!("{}-{role}-{index}", c.client_prefix),
        username: c.username.as_deref().map(|u| topic_for(u, index)),
        password: c.password.as_deref().map(|p| topic_for(p, index)),
    }
}

pub fn topic_for(pattern: &str, index: usize) -> String {
    pattern.replace("%i", &index.to_string())
}

pub type Connection = (PacketReader, PacketWriter);

/// Opens `ids.len()` connections, `concurrency` at a time, spread over `ramp_up`.
/// Connect latencies go into `stats`; failures are counted and skipped.
pub async fn connect_all(
    target: &Target,
    ids: Vec<Identity>,
    concurrency: usize,
    ramp_up: f64,
    stats: &Arc<Stats>,
) -> Vec<Option<Connection>> {
    let gate = Arc::new(Semaphore::new(concurrency.max(1)));
    let step = if ids.is_empty() {
        0.0
    } else {
        ramp_up / ids.len() as f64
    };
    let mut tasks = Vec::with_capacity(ids.len());
    for (i, id) in ids.into_iter().enumerate() {
        let (gate, target, stats) = (Arc::clone(&gate), target.clone(), Arc::clone(stats));
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs_f64(step * i as f64)).await;
            let _permit = gate.acquire().await.ok()?;
            match client::connect(&target, &id, true).await {
                Ok((reader, writer, took)) => {
                    let mut h = new_histogram();
                    h.saturating_record((took.as_micros() as u64).max(1));
                    stats.merge_connect(&h);
                    Stats::add(&stats.connected, 1);
                    Some((reader, writer))
                }
                Err(err) => {
                    if Stats::get(&stats.errors) < 5 {
                        eprintln!("connect {}: {err:#}", id.client_id);
                    }
                    Stats::add(&stats.errors, 1);
                    None
                }
            }
        }));
    }
    let mut out = Vec::with_capacity(tasks.len());
    for task in tasks {
        out.push(task.await.ok().flatten());
    }
    out
}

/// Raises the open-files limit to its hard maximum (10,000 connections need it).
pub fn raise_fd_limit() {
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            let _ = libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// Resident memory of a process in KiB, from /proc.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// User + system CPU seconds a process has used, from /proc (clock ticks = 100/s).
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}
