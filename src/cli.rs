//! Command line, environment and config file for `magnetite`.
//!
//! Every setting of `serve` is a flag, an environment variable `MAGNETITE_<NAME>` and a
//! key of the optional TOML file given with `--config`; the flag wins over the variable,
//! the variable over the file, the file over the default.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::Deserialize;

#[derive(Parser, Debug)]
#[command(
    name = "magnetite",
    version,
    about = "MQTT broker and IoT platform core"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the broker and the HTTP API.
    Serve(Box<ServeArgs>),
    /// Operator tools for client certificates (works on the database directly).
    Certs(CertsArgs),
}

#[derive(Args, Debug)]
pub struct CertsArgs {
    #[command(subcommand)]
    pub action: CertsAction,
    /// Data directory holding the CA [default: ./data]
    #[arg(long, env = "MAGNETITE_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// Platform database [default: sqlite://<data dir>/magnetite.db]
    #[arg(long, env = "MAGNETITE_DATABASE_URL", global = true)]
    pub database_url: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum CertsAction {
    /// Issue a certificate for a client and write <client>.crt, <client>.key, ca.crt.
    Issue {
        /// The platform client id.
        #[arg(long)]
        client: String,
        /// Validity: `30d`, `24h`, `3600s` or seconds [default: 90d]
        #[arg(long, default_value = "90d")]
        ttl: String,
        /// Where to write the files [default: .]
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
    /// Revoke one certificate (--serial) or all of a client's (--client).
    Revoke {
        #[arg(long, conflicts_with = "client", required_unless_present = "client")]
        serial: Option<String>,
        #[arg(long)]
        client: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TlsClientAuth {
    /// Client certificates are verified when sent; password logins still work.
    #[default]
    Optional,
    /// The TLS handshake fails without a client certificate.
    Required,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// Devices authenticate against the platform's clients store (the default).
    Platform,
    /// Any client, any topic (optionally filtered by --acl-file). Trusted networks only.
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// The flags of `serve`. All optional here: defaults are applied after merging the
/// config file (see [`Settings::resolve`]).
#[derive(Args, Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ServeArgs {
    /// TOML file with any of these settings (keys as the flag names, without `--`).
    #[arg(long, env = "MAGNETITE_CONFIG")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// MQTT over TCP [default: 0.0.0.0:1883]
    #[arg(long, env = "MAGNETITE_MQTT_ADDR")]
    pub mqtt_addr: Option<SocketAddr>,
    /// MQTT over WebSocket, path /mqtt [default: 0.0.0.0:8083]
    #[arg(long, env = "MAGNETITE_WS_ADDR")]
    pub ws_addr: Option<SocketAddr>,
    /// HTTP API [default: 0.0.0.0:9000]
    #[arg(long, env = "MAGNETITE_HTTP_ADDR")]
    pub http_addr: Option<SocketAddr>,
    /// Data directory [default: ./data]
    #[arg(long, env = "MAGNETITE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// `sqlite://...` or `postgres://...` [default: sqlite://<data dir>/magnetite.db]
    #[arg(long, env = "MAGNETITE_DATABASE_URL")]
    pub database_url: Option<String>,
    /// `platform` (default) or `none`
    #[arg(long, env = "MAGNETITE_AUTH", value_enum)]
    pub auth: Option<AuthMode>,
    /// mosquitto `acl_file` syntax; only with --auth none
    #[arg(long, env = "MAGNETITE_ACL_FILE")]
    pub acl_file: Option<PathBuf>,
    /// Highest keep-alive (seconds): MQTT 5 clients asking for more (or 0) are told this value; 3.1/3.1.1 clients are refused (CONNACK 0x02), as mosquitto does
    #[arg(long, env = "MAGNETITE_MAX_KEEPALIVE")]
    pub max_keepalive: Option<u16>,
    /// Stable id of this instance, stamped on events [default: generated once, kept in the data dir]
    #[arg(long, env = "MAGNETITE_INSTANCE_ID")]
    pub instance_id: Option<String>,
    /// Sockets held at once [default: 1000000]
    #[arg(long, env = "MAGNETITE_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Largest MQTT packet accepted, bytes [default: 1048576]
    #[arg(long, env = "MAGNETITE_MAX_PACKET_SIZE")]
    pub max_packet_size: Option<u32>,
    /// Largest CONNECT accepted, bytes: the cap before authentication [default: 65536]
    #[arg(long, env = "MAGNETITE_MAX_CONNECT_PACKET_SIZE")]
    pub max_connect_packet_size: Option<u32>,
    /// Unacknowledged QoS 1/2 messages per session [default: 1024]
    #[arg(long, env = "MAGNETITE_MAX_INFLIGHT")]
    pub max_inflight: Option<u16>,
    /// Messages queued per session [default: 10000]
    #[arg(long, env = "MAGNETITE_MAX_QUEUED")]
    pub max_queued: Option<usize>,
    /// Seconds a socket may take to send CONNECT [default: 10]
    #[arg(long, env = "MAGNETITE_CONNECT_TIMEOUT")]
    pub connect_timeout: Option<u64>,
    /// Topic levels allowed in a topic or filter [default: 32]
    #[arg(long, env = "MAGNETITE_MAX_TOPIC_LEVELS")]
    pub max_topic_levels: Option<usize>,
    /// Seconds an HTTP request's headers may take to arrive (also ends idle keep-alive
    /// connections) [default: 10]
    #[arg(long, env = "MAGNETITE_HTTP_HEADER_TIMEOUT")]
    pub http_header_timeout: Option<u64>,
    /// Seconds an HTTP connection may move no byte before it is closed [default: 60]
    #[arg(long, env = "MAGNETITE_HTTP_IDLE_TIMEOUT")]
    pub http_idle_timeout: Option<u64>,
    /// HTTP connections held at once; more are answered 503 and closed [default: 1024]
    #[arg(long, env = "MAGNETITE_MAX_HTTP_CONNECTIONS")]
    pub max_http_connections: Option<usize>,
    /// `text` or `json` [default: text]
    #[arg(long, env = "MAGNETITE_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Event sink, repeatable: `redis://host:port`, `nats://host:port`,
    /// `rabbitmq-stream://user:pass@host:port` (the embedded log is always on)
    #[arg(
        long = "event-store",
        env = "MAGNETITE_EVENT_STORE",
        value_delimiter = ','
    )]
    #[serde(default)]
    pub event_store: Vec<String>,
    /// Stream prefix: `magistrala` or `supermq` (SuperMQ naming) [default: magistrala]
    #[arg(long, env = "MAGNETITE_EVENT_PREFIX")]
    pub event_prefix: Option<String>,
    /// Redis Streams `MAXLEN ~` bound [default: 1000000]
    #[arg(long, env = "MAGNETITE_EVENT_MAXLEN")]
    pub event_maxlen: Option<usize>,
    /// Keep shipped outbox events (and the `GET /events` log) this long, e.g. 24h, 7d;
    /// 0 keeps everything. Unshipped events are never pruned [default: 7d]
    #[arg(long, env = "MAGNETITE_EVENT_RETENTION")]
    pub event_retention: Option<String>,
    /// SMTP server for password-reset mail: smtp://[user:pass@]host[:port][?tls=required]
    /// or smtps://...; without it the mail is written to <data dir>/mail
    #[arg(long, env = "MAGNETITE_SMTP_URL")]
    pub smtp_url: Option<String>,
    /// Base URL of links in mail, e.g. https://iot.example.com (reset links are
    /// <public url>/password/reset?token=...) [default: http://<HTTP address>, with
    /// 127.0.0.1 for 0.0.0.0]
    #[arg(long, env = "MAGNETITE_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Sender of password-reset mail [default: Magnetite <noreply@localhost>]
    #[arg(long, env = "MAGNETITE_SMTP_FROM")]
    pub smtp_from: Option<String>,
    /// MQTT over TLS [default: 0.0.0.0:8883, when a certificate is configured]
    #[arg(long, env = "MAGNETITE_MQTTS_ADDR")]
    pub mqtts_addr: Option<SocketAddr>,
    /// MQTT over secure WebSocket, path /mqtt [default: 0.0.0.0:8084, when a certificate is configured]
    #[arg(long, env = "MAGNETITE_WSS_ADDR")]
    pub wss_addr: Option<SocketAddr>,
    /// Server certificate chain (PEM); reloaded when the file changes
    #[arg(long, env = "MAGNETITE_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// Server private key (PEM)
    #[arg(long, env = "MAGNETITE_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Extra CAs (PEM) that may sign client certificates; the platform CA always may
    #[arg(long, env = "MAGNETITE_TLS_CLIENT_CA")]
    pub tls_client_ca: Option<PathBuf>,
    /// `optional` (default) or `required` client certificates
    #[arg(long, env = "MAGNETITE_TLS_CLIENT_AUTH", value_enum)]
    pub tls_client_auth: Option<TlsClientAuth>,
    /// First run: generate a CA and a server certificate in the data dir (once)
    #[arg(long, env = "MAGNETITE_TLS_SELF_SIGNED")]
    #[serde(default)]
    pub tls_self_signed: bool,
}

/// `serve` settings after flag > env > file > default.
#[derive(Debug)]
pub struct Settings {
    pub mqtt_addr: SocketAddr,
    pub ws_addr: SocketAddr,
    pub http_addr: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub auth: AuthMode,
    pub acl_file: Option<PathBuf>,
    pub max_keepalive: Option<u16>,
    pub instance_id: Option<String>,
    pub max_connections: usize,
    pub max_packet_size: u32,
    pub max_connect_packet_size: u32,
    pub max_inflight: u16,
    pub max_queued: usize,
    pub connect_timeout: u64,
    pub max_topic_levels: usize,
    pub http_header_timeout: u64,
    pub http_idle_timeout: u64,
    pub max_http_connections: usize,
    pub log_format: LogFormat,
    pub event_stores: Vec<String>,
    pub event_prefix: String,
    pub event_maxlen: usize,
    pub event_retention: std::time::Duration,
    pub smtp_url: Option<String>,
    pub smtp_from: String,
    pub public_url: String,
    pub mqtts_addr: SocketAddr,
    pub wss_addr: SocketAddr,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub tls_client_ca: Option<PathBuf>,
    pub tls_client_auth: TlsClientAuth,
    pub tls_self_signed: bool,
}

fn addr(s: &str) -> SocketAddr {
    s.parse()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
}

/// `--public-url`: an absolute http(s) URL with a host, kept without a trailing `/`.
fn public_url(url: &str) -> anyhow::Result<String> {
    let url = url.trim().trim_end_matches('/');
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() && !host.contains(char::is_whitespace) => {
            Ok(url.to_string())
        }
        _ => anyhow::bail!(
            "--public-url must be http://host[:port][/path] or https://..., got {url:?}"
        ),
    }
}

/// The HTTP API's own address: a wildcard listen address becomes loopback, which
/// works on the machine itself; anything reachable from elsewhere needs --public-url.
fn default_public_url(http_addr: SocketAddr) -> String {
    let ip = match http_addr.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => std::net::IpAddr::from([127, 0, 0, 1]),
        ip if ip.is_unspecified() => std::net::IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, http_addr.port()))
}

/// A limit where 0 would mean "refuse everything" rather than "no limit": refused.
fn at_least_one<T: PartialOrd + From<u8> + std::fmt::Display>(
    name: &str,
    value: Option<T>,
    default: T,
) -> anyhow::Result<T> {
    let value = value.unwrap_or(default);
    anyhow::ensure!(value >= T::from(1), "--{name} must be at least 1");
    Ok(value)
}

impl Settings {
    pub fn resolve(args: ServeArgs) -> anyhow::Result<Settings> {
        let file = match &args.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                toml::from_str::<ServeArgs>(&text)
                    .with_context(|| format!("parsing {}", path.display()))?
            }
            None => ServeArgs::default(),
        };
        let data_dir = args
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("./data"));
        let http_addr = args
            .http_addr
            .or(file.http_addr)
            .unwrap_or_else(|| addr("0.0.0.0:9000"));
        let public_url = match args.public_url.or(file.public_url) {
            Some(url) => public_url(&url)?,
            None => default_public_url(http_addr),
        };
        let database_url = args
            .database_url
            .or(file.database_url)
            .unwrap_or_else(|| format!("sqlite://{}/magnetite.db", data_dir.display()));
        Ok(Settings {
            mqtt_addr: args
                .mqtt_addr
                .or(file.mqtt_addr)
                .unwrap_or_else(|| addr("0.0.0.0:1883")),
            ws_addr: args
                .ws_addr
                .or(file.ws_addr)
                .unwrap_or_else(|| addr("0.0.0.0:8083")),
            http_addr,
            data_dir,
            database_url,
            auth: args.auth.or(file.auth).unwrap_or(AuthMode::Platform),
            acl_file: args.acl_file.or(file.acl_file),
            max_keepalive: args.max_keepalive.or(file.max_keepalive),
            instance_id: args.instance_id.or(file.instance_id),
            max_connections: args
                .max_connections
                .or(file.max_connections)
                .unwrap_or(1_000_000),
            max_packet_size: args
                .max_packet_size
                .or(file.max_packet_size)
                .unwrap_or(1024 * 1024),
            max_connect_packet_size: args
                .max_connect_packet_size
                .or(file.max_connect_packet_size)
                .unwrap_or(64 * 1024),
            max_inflight: args.max_inflight.or(file.max_inflight).unwrap_or(1024),
            max_queued: args.max_queued.or(file.max_queued).unwrap_or(10_000),
            connect_timeout: args.connect_timeout.or(file.connect_timeout).unwrap_or(10),
            max_topic_levels: args
                .max_topic_levels
                .or(file.max_topic_levels)
                .unwrap_or(32),
            http_header_timeout: at_least_one(
                "http-header-timeout",
                args.http_header_timeout.or(file.http_header_timeout),
                10,
            )?,
            http_idle_timeout: at_least_one(
                "http-idle-timeout",
                args.http_idle_timeout.or(file.http_idle_timeout),
                60,
            )?,
            max_http_connections: at_least_one(
                "max-http-connections",
                args.max_http_connections.or(file.max_http_connections),
                1024,
            )?,
            log_format: args
                .log_format
                .or(file.log_format)
                .unwrap_or(LogFormat::Text),
            event_stores: if args.event_store.is_empty() {
                file.event_store
            } else {
                args.event_store
            },
            event_prefix: args
                .event_prefix
                .or(file.event_prefix)
                .unwrap_or_else(|| "magistrala".to_string()),
            event_maxlen: args.event_maxlen.or(file.event_maxlen).unwrap_or(1_000_000),
            event_retention: match args.event_retention.or(file.event_retention) {
                Some(text) => magnetite_certs::parse_ttl(&text)
                    .map_err(|e| anyhow::anyhow!("--event-retention: {e}"))?,
                None => magnetite_events::DEFAULT_RETENTION,
            },
            smtp_url: args.smtp_url.or(file.smtp_url).filter(|u| !u.is_empty()),
            smtp_from: args
                .smtp_from
                .or(file.smtp_from)
                .unwrap_or_else(|| "Magnetite <noreply@localhost>".to_string()),
            public_url,
            mqtts_addr: args
                .mqtts_addr
                .or(file.mqtts_addr)
                .unwrap_or_else(|| addr("0.0.0.0:8883")),
            wss_addr: args
                .wss_addr
                .or(file.wss_addr)
                .unwrap_or_else(|| addr("0.0.0.0:8084")),
            tls_cert: args.tls_cert.or(file.tls_cert),
            tls_key: args.tls_key.or(file.tls_key),
            tls_client_ca: args.tls_client_ca.or(file.tls_client_ca),
            tls_client_auth: args
                .tls_client_auth
                .or(file.tls_client_auth)
                .unwrap_or_default(),
            tls_self_signed: args.tls_self_signed || file.tls_self_signed,
        })
    }
}
