//! Command line of `magnetite-loadtest`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "magnetite-loadtest",
    version,
    about = "MQTT benchmark for any broker"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// N publishers, no subscribers: how fast the broker takes messages in.
    Pub(Common),
    /// N subscribers counting what arrives (publish from elsewhere).
    Sub(Common),
    /// Many publishers -> one subscriber (`--pubs`).
    FanIn(Common),
    /// One publisher -> many subscribers (`--subs`).
    FanOut(Common),
    /// N publisher/subscriber pairs, one topic each (`--clients` pairs).
    P2p(Common),
    /// Connect storm: `--clients` connects, `--concurrency` at a time; connects/s.
    Conn(Common),
    /// Hold `--clients` idle connections (each subscribed to `--topic`, `%i` = index,
    /// when given); with `--broker-pid`, broker memory per connection.
    Idle(Common),
    /// Reconnect storm: `--clients` devices connect, then all lose their connection at
    /// once (the tool drops them after `--duration`, or the broker restarts) and come
    /// back with jittered exponential backoff; time until all are in, refusals, retries.
    Storm(StormArgs),
    /// Print two JSON reports side by side with ratios (b / a).
    Compare { a: PathBuf, b: PathBuf },
}

#[derive(Args, Debug, Clone)]
pub struct Common {
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    #[arg(long, default_value_t = 1883)]
    pub port: u16,
    /// Subscribers connect to this port instead (another instance of a cluster: the
    /// messages then cross between instances); publishing starts 1 s after the last
    /// SUBACK, for the instance to follow the subscription on its bus.
    #[arg(long)]
    pub sub_port: Option<u16>,
    /// MQTT over WebSocket (ws://host:port/mqtt; wss with --tls).
    #[arg(long)]
    pub ws: bool,
    /// TLS (mqtts, or wss with --ws).
    #[arg(long)]
    pub tls: bool,
    /// CA certificate (PEM) that signed the broker's certificate; implies --tls.
    #[arg(long)]
    pub ca: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS.
    #[arg(long, requires = "key")]
    pub cert: Option<PathBuf>,
    /// Client private key (PEM) for mutual TLS.
    #[arg(long, requires = "cert")]
    pub key: Option<PathBuf>,
    /// Accept any broker certificate (self-signed test brokers only); implies --tls.
    #[arg(long)]
    pub insecure: bool,
    /// 3 (MQTT 3.1.1) or 5.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u8).range(3..=5))]
    pub mqtt_version: u8,
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=2))]
    pub qos: u8,
    /// Payload size in bytes (at least 16: send time and sequence travel in it).
    #[arg(long, default_value_t = 64)]
    pub payload: usize,
    /// Seconds to publish for.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Messages per publisher instead of a duration.
    #[arg(long)]
    pub count: Option<u64>,
    /// Pairs (p2p), connections (conn, idle) or clients (pub, sub).
    #[arg(long, default_value_t = 1)]
    pub clients: usize,
    /// Publishers (fan-in).
    #[arg(long, default_value_t = 100)]
    pub pubs: usize,
    /// Subscribers (fan-out).
    #[arg(long, default_value_t = 100)]
    pub subs: usize,
    /// Messages per second per publisher; 0 = as fast as possible.
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,
    /// Unacknowledged QoS 1/2 messages per publisher.
    #[arg(long, default_value_t = 64)]
    pub inflight: usize,
    /// Topic; `%i` is replaced by the client index. Default depends on the scenario.
    #[arg(long)]
    pub topic: Option<String>,
    #[arg(long)]
    pub username: Option<String>,
    #[arg(long)]
    pub password: Option<String>,
    /// CSV of `client_id,username,password` (or `username,password`) per connection.
    #[arg(long)]
    pub credentials: Option<PathBuf>,
    /// Client id prefix.
    #[arg(long, default_value = "lt")]
    pub client_prefix: String,
    /// Seconds over which connections are opened.
    #[arg(long, default_value_t = 0.0)]
    pub ramp_up: f64,
    /// Local addresses to bind before connecting, taken in turn: `127.0.0.1-127.0.0.50`,
    /// a count (`50`: 127.0.0.1 up) or a list `a,b,c`. Gets past one address's
    /// ephemeral port range.
    #[arg(long)]
    pub source_addrs: Option<String>,
    /// Probe publisher messages per second (0 = no probe): one more publisher and
    /// subscriber pair on `--probe-topic` whose pub->sub latency is reported apart
    /// from the load's (idle, storm and the message scenarios).
    #[arg(long, default_value_t = 0.0)]
    pub probe_rate: f64,
    /// The probe's topic (default `lt/probe/<process id>`).
    #[arg(long)]
    pub probe_topic: Option<String>,
    /// Connections opened at once (conn, idle, and setup of other scenarios).
    #[arg(long, default_value_t = 200)]
    pub concurrency: usize,
    #[arg(long, default_value_t = 60)]
    pub keep_alive: u16,
    /// Persistent sessions (clean start off; 5.0: 1 h expiry): QoS 1/2 deliveries then
    /// go through the broker's durable store (`--persistence`, mosquitto's
    /// `persistence true`). Default: clean sessions, which never touch it.
    #[arg(long)]
    pub persistent_sessions: bool,
    /// idle: seconds to wait after the last connection subscribed before reading the
    /// broker's RSS. Longer than Magnetite's `--park-idle-after` (2 s by default) plus
    /// one sweep of its parking lot (1 s), so the figure is of parked connections with
    /// their freed pages returned, not of the connect-time peak.
    #[arg(long, default_value_t = 4.0)]
    pub settle: f64,
    /// PID of the broker, to report its RSS (idle) and CPU time.
    #[arg(long)]
    pub broker_pid: Option<u32>,
    /// Write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// A name for the broker under test, kept in the report.
    #[arg(long)]
    pub label: Option<String>,
    /// No live progress line.
    #[arg(long)]
    pub quiet: bool,
}

/// When the devices of a storm lose their connections.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// The tool drops every connection at once after `--duration` seconds connected.
    Command,
    /// The broker drops them (restart it): the storm starts at the first lost connection.
    Restart,
}

#[derive(Args, Debug, Clone)]
pub struct StormArgs {
    #[command(flatten)]
    pub common: Common,
    #[arg(long, value_enum, default_value_t = Trigger::Command)]
    pub trigger: Trigger,
    /// Storms to run one after the other.
    #[arg(long, default_value_t = 1)]
    pub storms: u32,
    /// First retry delay in milliseconds; it doubles up to `--backoff-max-ms`, and
    /// jitter adds up to as much again.
    #[arg(long, default_value_t = 100)]
    pub backoff_min_ms: u64,
    #[arg(long, default_value_t = 10_000)]
    pub backoff_max_ms: u64,
    /// Seconds one connect attempt (TCP + CONNACK) may take before it counts as failed.
    #[arg(long, default_value_t = 10.0)]
    pub connect_timeout: f64,
    /// Seconds a device keeps retrying in one storm (and, with `--trigger restart`,
    /// the tool waits for the broker to drop the connections) before giving up.
    #[arg(long, default_value_t = 300.0)]
    pub storm_timeout: f64,
}
