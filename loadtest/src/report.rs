//! The result of a run: a table for people, JSON for machines, and a side-by-side
//! comparison of two JSON reports.

use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::stats::Latency;

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Report {
    pub scenario: String,
    #[serde(default)]
    pub label: Option<String>,
    pub qos: u8,
    pub mqtt_version: u8,
    pub clients: usize,
    pub publishers: usize,
    pub subscribers: usize,
    pub payload_bytes: usize,
    pub duration_s: f64,
    pub sent: u64,
    pub received: u64,
    /// Deliveries the subscribers should have seen (sent x matching subscribers).
    pub expected: u64,
    pub lost: u64,
    pub duplicates: u64,
    pub errors: u64,
    pub send_rate: f64,
    pub recv_rate: f64,
    pub latency_us: Option<Latency>,
    pub connect_us: Option<Latency>,
    pub connects_per_s: Option<f64>,
    pub broker_rss_before_kib: Option<u64>,
    pub broker_rss_after_kib: Option<u64>,
    pub rss_kib_per_connection: Option<f64>,
    /// idle: seconds from the last connection subscribed to the broker's RSS reading
    /// (`--settle`).
    #[serde(default)]
    pub rss_read_after_s: Option<f64>,
    /// Broker CPU seconds used during the run (user + system), when its PID was given.
    pub broker_cpu_s: Option<f64>,
    /// Broker CPU microseconds per delivered message.
    pub broker_cpu_us_per_msg: Option<f64>,
    /// The probe's messages (`--probe-rate`), apart from the load's.
    #[serde(default)]
    pub probe_sent: Option<u64>,
    #[serde(default)]
    pub probe_received: Option<u64>,
    #[serde(default)]
    pub probe_latency_us: Option<Latency>,
    /// One entry per connection wave of `storm` (the first connect, then each storm).
    #[serde(default)]
    pub storm: Option<Vec<crate::storm::Wave>>,
}

fn latency_row(name: &str, l: &Option<Latency>) -> String {
    match l {
        Some(l) => format!(
            "{name:<14} p50 {:>8}  p90 {:>8}  p99 {:>8}  p99.9 {:>8}  max {:>8}  (us)\n",
            l.p50, l.p90, l.p99, l.p999, l.max
        ),
        None => String::new(),
    }
}

impl Report {
    pub fn table(&self) -> String {
        let mut out = format!(
            "scenario {}  qos {}  mqtt {}  payload {} B  pubs {}  subs {}  clients {}  duration {:.1} s\n",
            self.scenario,
            self.qos,
            self.mqtt_version,
            self.payload_bytes,
            self.publishers,
            self.subscribers,
            self.clients,
            self.duration_s
        );
        out.push_str(&format!(
            "sent           {:>12}  {:>12.0} msg/s\n",
            self.sent, self.send_rate
        ));
        out.push_str(&format!(
            "received       {:>12}  {:>12.0} msg/s\n",
            self.received, self.recv_rate
        ));
        out.push_str(&format!(
            "lost           {:>12}  duplicates {}  errors {}\n",
            self.lost, self.duplicates, self.errors
        ));
        out.push_str(&latency_row("latency", &self.latency_us));
        out.push_str(&latency_row("connect", &self.connect_us));
        if let (Some(sent), Some(received)) = (self.probe_sent, self.probe_received) {
            out.push_str(&format!(
                "probe          {sent:>12} sent  {received} received\n"
            ));
            out.push_str(&latency_row("probe latency", &self.probe_latency_us));
        }
        for wave in self.storm.iter().flatten() {
            out.push_str(&wave.row());
        }
        if let Some(rate) = self.connects_per_s {
            out.push_str(&format!("connects/s     {rate:>12.0}\n"));
        }
        if let Some(per) = self.rss_kib_per_connection {
            out.push_str(&format!("broker RSS     {per:>12.2} KiB per connection\n"));
        }
        if let Some(cpu) = self.broker_cpu_us_per_msg {
            out.push_str(&format!(
                "broker CPU     {cpu:>12.2} us per delivered message\n"
            ));
        }
        out
    }

    pub fn write_json(&self, path: &Path) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(self)?;
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
    }

    pub fn read_json(path: &Path) -> anyhow::Result<Report> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }
}

fn ratio(a: f64, b: f64) -> String {
    if a > 0.0 {
        format!("{:.2}x", b / a)
    } else {
        "-".to_string()
    }
}

/// Rows of `name, a, b, b/a` for the numbers both reports have.
pub fn compare(a: &Report, b: &Report) -> String {
    let name = |r: &Report, fallback: &str| r.label.clone().unwrap_or_else(|| fallback.to_string());
    let (na, nb) = (name(a, "a"), name(b, "b"));
    let mut rows: Vec<(String, f64, f64)> = vec![
        ("send msg/s".into(), a.send_rate, b.send_rate),
        ("recv msg/s".into(), a.recv_rate, b.recv_rate),
        ("lost".into(), a.lost as f64, b.lost as f64),
    ];
    let lat = |r: &Report| r.latency_us.clone();
    if let (Some(la), Some(lb)) = (lat(a), lat(b)) {
        rows.push(("p50 us".into(), la.p50 as f64, lb.p50 as f64));
        rows.push(("p99 us".into(), la.p99 as f64, lb.p99 as f64));
        rows.push(("max us".into(), la.max as f64, lb.max as f64));
    }
    if let (Some(ca), Some(cb)) = (a.connects_per_s, b.connects_per_s) {
        rows.push(("connects/s".into(), ca, cb));
    }
    if let (Some(ra), Some(rb)) = (a.rss_kib_per_connection, b.rss_kib_per_connection) {
        rows.push(("KiB/conn".into(), ra, rb));
    }
    if let (Some(ca), Some(cb)) = (a.broker_cpu_us_per_msg, b.broker_cpu_us_per_msg) {
        rows.push(("CPU us/msg".into(), ca, cb));
    }
    let mut out = format!("{:<14} {:>14} {:>14} {:>8}\n", a.scenario, na, nb, "ratio");
    for (label, va, vb) in rows {
        out.push_str(&format!(
            "{label:<14} {va:>14.1} {vb:>14.1} {:>8}\n",
            ratio(va, vb)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compare_prints_ratios() {
        let a = Report {
            scenario: "p2p".into(),
            recv_rate: 100.0,
            send_rate: 100.0,
            ..Default::default()
        };
        let b = Report {
            scenario: "p2p".into(),
            recv_rate: 250.0,
            send_rate: 200.0,
            ..Default::default()
        };
        let text = compare(&a, &b);
        assert!(text.contains("2.50x"), "{text}");
        assert!(text.contains("2.00x"), "{text}");
    }

    #[test]
    fn json_round_trip_keeps_the_documented_fields() {
        let r = Report {
            scenario: "fan-in".into(),
            sent: 10,
            received: 9,
            lost: 1,
            ..Default::default()
        };
        let value = serde_json::to_value(&r).unwrap();
        for field in [
            "scenario",
            "qos",
            "clients",
            "payload_bytes",
            "duration_s",
            "sent",
            "received",
            "send_rate",
            "recv_rate",
            "lost",
            "latency_us",
        ] {
            assert!(value.get(field).is_some(), "missing {field}");
        }
        let back: Report = serde_json::from_value(value).unwrap();
        assert_eq!(back.lost, 1);
    }
}
