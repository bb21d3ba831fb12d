//! Command line, environment and config file for `magnetite`.
//!
//! Every setting of `serve` is written once, as a field of [`Settings`] or of a group
//! it flattens (the [`Storage`] group, which `certs` shares; a file each for overload
//! protection, event consumers, mail and TLS; the bridges' in `crate::bridges`): its
//! flag, its environment variable `MAGNETITE_<NAME>`, its default and its parser. Clap layers
//! flag > variable > default; [`crate::config_file`] slots the optional TOML file
//! (`--config`, keys as the flag names) between the variable and the default, parsing its
//! values with the same parsers, so a value means the same wherever it is written.
//! Two fields are not settings: `config` (the file itself, refused as a key inside it)
//! and `secrets`: keys and the admin password come from the environment only
//! ([`Secrets`]). URLs that may carry a password (`--smtp-url`, `--event-store`) are
//! settings whose values are kept as `SecretString` and never shown.

mod consumers;
mod mail;
mod overload;
mod parsers;
#[cfg(test)]
mod tests;
mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use secrecy::{ExposeSecret, SecretString};

use crate::secrets::{parse_secret, Secrets};
pub use consumers::ConsumerSettings;
pub use mail::MailSettings;
pub use overload::OverloadSettings;
use parsers::{at_least_a_millisecond, at_least_a_second, at_least_one, certificate_ttl, duration};
pub use tls::{TlsClientAuth, TlsSettings};

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
    Serve(Box<Settings>),
    /// Operator tools for client certificates (works on the database directly).
    Certs(CertsArgs),
}

/// Where the platform keeps its state; shared by `serve` and `certs`.
#[derive(Args, Debug)]
pub struct Storage {
    /// Data directory (keys, CA, instance id, mail)
    #[arg(
        long,
        env = "MAGNETITE_DATA_DIR",
        default_value = "./data",
        global = true
    )]
    pub data_dir: PathBuf,
    /// `sqlite://...` or `postgres://...` [default: sqlite://<data dir>/magnetite.db]
    #[arg(long, env = "MAGNETITE_DATABASE_URL", global = true, hide_env_values = true, value_parser = parse_secret)]
    pub database_url: Option<SecretString>,
}

impl Storage {
    /// The database URL (it may carry a password: only for opening the pool).
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.expose_secret().to_string(),
            None => format!("sqlite://{}/magnetite.db", self.data_dir.display()),
        }
    }
}

#[derive(Args, Debug)]
pub struct CertsArgs {
    #[command(subcommand)]
    pub action: CertsAction,
    #[command(flatten)]
    pub storage: Storage,
    #[arg(skip = Secrets::from_env())]
    pub secrets: Secrets,
}

#[derive(Subcommand, Debug)]
pub enum CertsAction {
    /// Issue a certificate for a client and write <client>.crt, <client>.key, ca.crt.
    Issue {
        /// The platform client id.
        #[arg(long)]
        client: String,
        /// Validity: `30d`, `24h`, `3600s`, `1y` or seconds (as the HTTP API's `ttl`)
        #[arg(long, default_value = "90d", value_parser = certificate_ttl)]
        ttl: Duration,
        /// Where to write the files
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthMode {
    /// Devices authenticate against the platform's clients store (the default).
    Platform,
    /// Any client, any topic (optionally filtered by --acl-file). Trusted networks only.
    None,
}

/// What survives a restart (see README "Persistence").
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PersistenceMode {
    /// Nothing: retained messages, sessions and wills live in memory only.
    None,
    /// Written at once (survives kill -9), fsynced every --persistence-flush-interval.
    Batched,
    /// QoS 1/2 acknowledged only once fsynced (group commit).
    Sync,
}

/// Which channel messages the writer stores (see README "HTTP publishing and message
/// storage").
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MessagesStoreMode {
    /// Channels (or every channel of a domain) whose metadata has "store_messages": true.
    OptIn,
    All,
    /// No writer; the readers answer 404.
    Off,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// The settings of `serve`, each written once (see the module comment).
#[derive(Args, Debug)]
pub struct Settings {
    /// TOML file with any of these settings (keys as the flag names, without `--`)
    #[arg(long, env = "MAGNETITE_CONFIG")]
    pub config: Option<PathBuf>,
    /// MQTT over TCP
    #[arg(long, env = "MAGNETITE_MQTT_ADDR", default_value = "0.0.0.0:1883")]
    pub mqtt_addr: SocketAddr,
    /// MQTT over WebSocket, path /mqtt
    #[arg(long, env = "MAGNETITE_WS_ADDR", default_value = "0.0.0.0:8083")]
    pub ws_addr: SocketAddr,
    /// HTTP API
    #[arg(long, env = "MAGNETITE_HTTP_ADDR", default_value = "0.0.0.0:9000")]
    pub http_addr: SocketAddr,
    #[command(flatten)]
    pub storage: Storage,
    #[command(flatten)]
    pub overload: OverloadSettings,
    /// Who may connect
    #[arg(long, env = "MAGNETITE_AUTH", value_enum, default_value_t = AuthMode::Platform)]
    pub auth: AuthMode,
    /// mosquitto `acl_file` syntax; only with --auth none
    #[arg(long, env = "MAGNETITE_ACL_FILE")]
    pub acl_file: Option<PathBuf>,
    /// Highest keep-alive (seconds): MQTT 5 clients asking for more (or 0) are told this value; 3.1/3.1.1 clients are refused (CONNACK 0x02), as mosquitto does
    #[arg(long, env = "MAGNETITE_MAX_KEEPALIVE")]
    pub max_keepalive: Option<u16>,
    /// NATS server linking this instance with the others that share its PostgreSQL
    /// database: a message published on one reaches subscribers on all (off when unset)
    #[arg(long, env = "MAGNETITE_CLUSTER_NATS", hide_env_values = true, value_parser = parse_secret)]
    pub cluster_nats: Option<SecretString>,
    #[command(flatten)]
    pub bridge: crate::bridges::BridgeSettings,
    /// With --cluster-nats: QoS 1/2 messages stay this long in the JetStream stream
    /// `magnetite_messages` (e.g. 1h): the longest NATS outage or instance disconnection
    /// after which an instance still catches up on them
    #[arg(long, env = "MAGNETITE_CLUSTER_STREAM_MAX_AGE", default_value = "1h", value_parser = at_least_a_millisecond)]
    pub cluster_stream_max_age: Duration,
    /// With --cluster-nats: the stream's size bound in bytes (the oldest messages leave first)
    #[arg(long, env = "MAGNETITE_CLUSTER_STREAM_MAX_BYTES", default_value_t = 1 << 30, value_parser = clap::value_parser!(i64).range(1..))]
    pub cluster_stream_max_bytes: i64,
    /// Stable id of this instance, stamped on events [default: generated once, kept in the data dir]
    #[arg(long, env = "MAGNETITE_INSTANCE_ID")]
    pub instance_id: Option<String>,
    /// Sockets held at once
    #[arg(long, env = "MAGNETITE_MAX_CONNECTIONS", default_value_t = 1_000_000)]
    pub max_connections: usize,
    /// Largest MQTT packet accepted, bytes
    #[arg(long, env = "MAGNETITE_MAX_PACKET_SIZE", default_value_t = 1024 * 1024)]
    pub max_packet_size: u32,
    /// Largest CONNECT accepted, bytes: the cap before authentication
    #[arg(long, env = "MAGNETITE_MAX_CONNECT_PACKET_SIZE", default_value_t = 64 * 1024)]
    pub max_connect_packet_size: u32,
    /// Unacknowledged QoS 1/2 messages per session
    #[arg(long, env = "MAGNETITE_MAX_INFLIGHT", default_value_t = 1024)]
    pub max_inflight: u16,
    /// Messages queued per session
    #[arg(long, env = "MAGNETITE_MAX_QUEUED", default_value_t = 10_000)]
    pub max_queued: usize,
    /// Time a socket may take to send CONNECT (seconds, or e.g. 500ms, 1m)
    #[arg(long, env = "MAGNETITE_CONNECT_TIMEOUT", default_value = "10", value_parser = duration)]
    pub connect_timeout: Duration,
    /// Topic levels allowed in a topic or filter
    #[arg(long, env = "MAGNETITE_MAX_TOPIC_LEVELS", default_value_t = 32)]
    pub max_topic_levels: usize,
    /// How often the retained `$SYS/broker/...` counters are published (0: never)
    #[arg(long, env = "MAGNETITE_SYS_INTERVAL", default_value = "10", value_parser = duration)]
    pub sys_interval: Duration,
    /// An MQTT-over-TCP connection idle this long gives up its task until something
    /// needs it (saves ~1.3 KB per idle connection); 0 never parks
    #[arg(long, env = "MAGNETITE_PARK_IDLE_AFTER", default_value = "2", value_parser = duration)]
    pub park_idle_after: Duration,
    /// Retained messages, persistent sessions and pending wills kept in <data dir>/persistence
    #[arg(long, env = "MAGNETITE_PERSISTENCE", value_enum, default_value_t = PersistenceMode::Batched)]
    pub persistence: PersistenceMode,
    /// With --persistence batched: longest time between fsyncs (what a power loss may
    /// lose), e.g. 100ms, 1s
    #[arg(long, env = "MAGNETITE_PERSISTENCE_FLUSH_INTERVAL", default_value = "100ms", value_parser = at_least_a_millisecond)]
    pub persistence_flush_interval: Duration,
    /// How often this instance reads the shared outbox for access changes (revocations)
    /// made on other instances: the main part of how late they reach its devices,
    /// e.g. 200ms, 1s (see README "Running several instances")
    #[arg(long, env = "MAGNETITE_REVOCATION_POLL", default_value = "200ms", value_parser = at_least_a_millisecond)]
    pub revocation_poll: Duration,
    /// On a shared PostgreSQL: silence after which another instance counts as dead and
    /// a survivor writes its devices' disconnect events, at least 1s (e.g. 10s, 1m)
    #[arg(long, env = "MAGNETITE_INSTANCE_TIMEOUT", default_value = "10s", value_parser = at_least_a_second)]
    pub instance_timeout: Duration,
    /// Time an HTTP request's headers may take to arrive, at least 1s (also ends idle
    /// keep-alive connections) (seconds, or e.g. 30s, 1m)
    #[arg(long, env = "MAGNETITE_HTTP_HEADER_TIMEOUT", default_value = "10", value_parser = at_least_a_second)]
    pub http_header_timeout: Duration,
    /// Time an HTTP connection may move no byte before it is closed, at least 1s
    /// (seconds, or e.g. 30s, 1m)
    #[arg(long, env = "MAGNETITE_HTTP_IDLE_TIMEOUT", default_value = "60", value_parser = at_least_a_second)]
    pub http_idle_timeout: Duration,
    /// HTTP connections held at once (at least 1); more are answered 503 and closed
    #[arg(long, env = "MAGNETITE_MAX_HTTP_CONNECTIONS", default_value = "1024", value_parser = at_least_one)]
    pub max_http_connections: usize,
    /// Log line format
    #[arg(long, env = "MAGNETITE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Event sink, repeatable: `redis://host:port`, `nats://host:port`,
    /// `rabbitmq-stream://user:pass@host:port` (the embedded log is always on)
    #[arg(
        long = "event-store",
        env = "MAGNETITE_EVENT_STORE",
        value_delimiter = ',',
        hide_env_values = true,
        value_parser = parse_secret
    )]
    pub event_stores: Vec<SecretString>,
    /// Stream prefix: `magistrala` or `supermq` (SuperMQ naming)
    #[arg(long, env = "MAGNETITE_EVENT_PREFIX", default_value = "magistrala")]
    pub event_prefix: String,
    /// Redis Streams `MAXLEN ~` bound
    #[arg(long, env = "MAGNETITE_EVENT_MAXLEN", default_value_t = 1_000_000)]
    pub event_maxlen: usize,
    /// Keep shipped outbox events (and the `GET /events` log) this long, e.g. 24h, 7d;
    /// 0 keeps everything. Unshipped events are never pruned
    #[arg(long, env = "MAGNETITE_EVENT_RETENTION", default_value = "7d", value_parser = duration)]
    pub event_retention: Duration,
    /// Keep journal entries (`GET /{domain}/journal/...`) this long, e.g. 30d, 24h; 0
    /// keeps everything. Client telemetry is kept regardless
    #[arg(long, env = "MAGNETITE_JOURNAL_RETENTION", default_value = "30d", value_parser = duration)]
    pub journal_retention: Duration,
    /// Which channel messages are stored for the readers: opt-in (channels or domains
    /// whose metadata has "store_messages": true), all, or off
    #[arg(long, env = "MAGNETITE_MESSAGES_STORE", value_enum, default_value_t = MessagesStoreMode::OptIn)]
    pub messages_store: MessagesStoreMode,
    /// Message store: sqlite://... or postgres://... (may be the --database-url)
    /// [default: sqlite://<data dir>/messages.db, its own file]
    #[arg(long, env = "MAGNETITE_MESSAGES_DB", hide_env_values = true, value_parser = parse_secret)]
    pub messages_db: Option<SecretString>,
    /// Stored messages are deleted this long after they arrived, e.g. 24h, 30d; 0 keeps
    /// them
    #[arg(long, env = "MAGNETITE_MESSAGES_RETENTION", default_value = "30d", value_parser = duration)]
    pub messages_retention: Duration,
    /// Kaa endpoint events (RFC 9/ELCE, 15/EME) as Avro on NATS subjects
    /// kaa.v1.events.<originator>.endpoint.<group>.<type>; needs a nats:// --event-store
    #[arg(long, env = "MAGNETITE_KAA_EVENTS")]
    pub kaa_events: bool,
    /// The originator token of Kaa subjects
    #[arg(long, env = "MAGNETITE_KAA_ORIGINATOR", default_value = "magnetite")]
    pub kaa_originator: String,
    /// Client metadata key holding a Kaa endpoint's app version (absent: empty string)
    #[arg(long, env = "MAGNETITE_KAA_APP_VERSION_KEY", default_value = magnetite_auth::kaa::DEFAULT_APP_VERSION_KEY)]
    pub kaa_app_version_key: String,
    /// Most endpoints one MQTT connection serves (a gateway and the devices it
    /// declares; for Kaa events and the journal), at least 1
    #[arg(long, env = "MAGNETITE_KAA_MAX_ENDPOINTS", default_value = "1000", value_parser = at_least_one)]
    pub kaa_max_endpoints: usize,
    #[command(flatten)]
    pub consumers: ConsumerSettings,
    #[command(flatten)]
    pub mail: MailSettings,
    /// POST /users without a token creates a plain, enabled user (SuperMQ's
    /// MG_USERS_ALLOW_SELF_REGISTER; off by default)
    #[arg(long, env = "MAGNETITE_ALLOW_SELF_REGISTER")]
    pub allow_self_register: bool,
    #[command(flatten)]
    pub tls: TlsSettings,
    /// Unacknowledged personal notifications kept per user (at least 1); more drop
    /// that user's oldest (counted as magnetite_notifications_dropped_total)
    #[arg(long, env = "MAGNETITE_NOTIFICATIONS_MAX_PER_USER", default_value = "1000", value_parser = clap::value_parser!(u32).range(1..))]
    pub notifications_max_per_user: u32,
    /// Domain admins are notified of a client certificate this long before it expires
    /// (seconds, or e.g. 7d, 24h)
    #[arg(long, env = "MAGNETITE_CERT_EXPIRY_NOTICE", default_value = "7d", value_parser = duration)]
    pub cert_expiry_notice: Duration,
    /// How often certificates are checked for the expiry notice, at least 1s (seconds,
    /// or e.g. 1h, 10m)
    #[arg(long, env = "MAGNETITE_CERT_EXPIRY_SWEEP", default_value = "1h", value_parser = at_least_a_second)]
    pub cert_expiry_sweep: Duration,
    #[arg(skip = Secrets::from_env())]
    pub secrets: Secrets,
}

impl Settings {
    /// Base URL of links in mail: `--public-url`, else the HTTP API's own address.
    pub fn public_url(&self) -> String {
        self.mail.public_url_or(self.http_addr)
    }

    /// The cluster's NATS URL (it may carry a password: only for connecting).
    pub fn cluster_nats(&self) -> Option<&str> {
        self.cluster_nats.as_ref().map(|url| url.expose_secret())
    }

    /// The event sinks' URLs (they may carry passwords: only for connecting).
    pub fn event_stores(&self) -> Vec<String> {
        let urls = self.event_stores.iter();
        urls.map(|url| url.expose_secret().to_string()).collect()
    }

    /// The Kaa event settings when `--kaa-events` is on: refused without a NATS
    /// `--event-store` (Kaa events are only published to NATS) or with an originator
    /// that is not one subject token.
    pub fn kaa(
        &self,
        instance_id: &str,
    ) -> Result<Option<magnetite_auth::kaa::KaaSettings>, String> {
        if !self.kaa_events {
            return Ok(None);
        }
        if !self
            .event_stores()
            .iter()
            .any(|url| url.starts_with("nats://"))
        {
            return Err("--kaa-events needs a NATS event store (--event-store nats://host:port): Kaa events are published only to NATS".into());
        }
        let origin = magnetite_events::kaa::KaaOrigin::new(&self.kaa_originator, instance_id)
            .map_err(|e| e.to_string())?;
        Ok(Some(magnetite_auth::kaa::KaaSettings {
            origin,
            app_version_key: self.kaa_app_version_key.clone(),
        }))
    }

    /// The message store's URL (it may carry a password: only for opening the pool).
    pub fn messages_db_url(&self) -> String {
        match &self.messages_db {
            Some(url) => url.expose_secret().to_string(),
            None => format!("sqlite://{}/messages.db", self.storage.data_dir.display()),
        }
    }
}
