//! `magnetite`: the broker, the platform services and their HTTP API in one binary.

mod bridges;
mod certs_cmd;
mod cli;
mod config_file;
mod data_dir;
mod endpoint_hooks;
mod event_hooks;
mod http;
mod http_error_heads;
mod http_errors;
mod http_server;
mod message_store;
mod metrics;
mod platform_hooks;
mod secrets;
mod services;
mod session_owners;
mod tls;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use magnetite_broker::acl::{Acl, OpenHooks};
use magnetite_broker::persist::{Persistence, Policy};
use magnetite_broker::{Broker, BrokerConfig, Hooks};
use magnetite_cluster::{Cluster, ClusterConfig, StreamSettings, SubjectScheme};
use magnetite_events::{Events, EventsConfig, MqttWriter};
use tokio::net::TcpListener;

use endpoint_hooks::WithEndpoints;
use event_hooks::WithEvents;
use magnetite_auth::MqttGate;
use magnetite_broker::TlsAcceptorSource;
use platform_hooks::PlatformHooks;

use cli::{AuthMode, Command, LogFormat, PersistenceMode, Settings};

/// jemalloc instead of glibc malloc. A fleet connects at once and then parks: parking
/// frees each connection's task and read buffer in the middle of the heap. glibc keeps
/// most of those pages (one live record pins a page; `malloc_trim` returns only whole
/// free ones); jemalloc's size classes keep the small long-lived records together, and
/// its background thread returns freed pages after a second (`malloc_conf` below), so an
/// idle connection's RSS is its live heap (BENCHMARKS.md, 2026-12-01: 3.5 -> 2.5 KiB
/// anonymous). glibc still serves SQLite and the other C libraries: the parking lot's
/// `malloc_trim` stays on for that heap.
/// mimalloc was measured too and kept more (5.3 KiB: it purges only when a thread
/// allocates again).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read once at its start (the symbol jemalloc looks up, with
/// tikv-jemalloc-sys's `_rjem_` prefix): a background thread purges dirty pages one
/// second after they were freed, straight back to the kernel (no "muzzy" stage, whose
/// lazily freed pages still count in RSS). Without the thread an idle broker would never
/// purge: jemalloc otherwise decays only when the arena is used. The process's
/// `_RJEM_MALLOC_CONF` environment variable still overrides these.
#[allow(non_upper_case_globals)]
#[export_name = "_rjem_malloc_conf"]
pub static malloc_conf: &[u8; 60] =
    b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0\0";

fn main() -> anyhow::Result<()> {
    data_dir::restrict_umask();
    let cli = config_file::parse()?;
    match cli.command {
        Command::Serve(settings) => {
            init_logging(settings.log_format);
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(serve(*settings))
        }
        Command::Certs(args) => {
            init_logging(LogFormat::Text);
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(certs_cmd::run(args))
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

fn broker_config(settings: &Settings) -> anyhow::Result<BrokerConfig> {
    Ok(BrokerConfig {
        max_connections: settings.max_connections,
        max_packet_size: settings.max_packet_size,
        max_connect_packet_size: settings.max_connect_packet_size,
        max_inflight: settings.max_inflight,
        max_queued: settings.max_queued,
        connect_timeout: settings.connect_timeout,
        max_topic_levels: settings.max_topic_levels,
        max_keepalive: settings.max_keepalive,
        overload: settings.overload.broker_config()?,
        park_idle_after: Some(settings.park_idle_after).filter(|after| !after.is_zero()),
        ..BrokerConfig::default()
    })
}

/// Opens the durable store in `<data dir>/persistence` per `--persistence`.
fn persistence(settings: &Settings) -> anyhow::Result<Option<Persistence>> {
    let policy = match settings.persistence {
        PersistenceMode::None => Policy::None,
        PersistenceMode::Batched => Policy::Batched(settings.persistence_flush_interval),
        PersistenceMode::Sync => Policy::Sync,
    };
    let dir = settings.storage.data_dir.join("persistence");
    Persistence::open(&dir, policy).with_context(|| format!("opening {}", dir.display()))
}

/// The instance id: from settings, or generated once and kept in the data dir.
fn instance_id(settings: &Settings) -> anyhow::Result<String> {
    if let Some(id) = &settings.instance_id {
        return Ok(id.clone());
    }
    let path = settings.storage.data_dir.join("instance_id");
    if let Ok(id) = std::fs::read_to_string(&path) {
        let id = id.trim();
        if !id.is_empty() {
            return Ok(id.to_string());
        }
    }
    let id = uuid::Uuid::new_v4().to_string();
    std::fs::write(&path, &id).with_context(|| format!("writing {}", path.display()))?;
    Ok(id)
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let data_dir = &settings.storage.data_dir;
    data_dir::make_private(data_dir)
        .with_context(|| format!("securing data dir {}", data_dir.display()))?;
    let instance_id = instance_id(&settings)?;
    let kaa = settings.kaa(&instance_id).map_err(anyhow::Error::msg)?;
    // Every outbox row this process writes carries its id: other instances apply the
    // access changes of rows that are not their own.
    magnetite_events::outbox::set_writer_instance(&instance_id);
    let events = start_events(&settings, &instance_id).await?;
    let liveness =
        magnetite_events::liveness::start(events.db(), &instance_id, settings.instance_timeout)
            .await
            .context("registering this instance")?;
    let ca = tls::load_ca(&settings)?;
    let tls = tls::acceptor(&settings, ca.as_ref())?;
    let listeners = Listeners { tls };
    let writer_task = match settings.auth {
        AuthMode::None => {
            let (writer, writer_task) =
                MqttWriter::spawn_joinable(events.db().clone(), instance_id.clone());
            tracing::warn!("--auth none: ANY client may connect and use ANY topic allowed by the ACL; use only on a trusted network");
            if kaa.is_some() {
                tracing::warn!("--kaa-events with --auth none: there are no platform clients, so no Kaa endpoint events are made");
            }
            let acl = settings.acl_file.as_deref().map(load_acl).transpose()?;
            let hooks = WithEvents::new(OpenHooks::new(acl), writer);
            let cluster = cluster(&settings, &instance_id, SubjectScheme::Plain).await?;
            let broker = broker(&settings, hooks, cluster.as_ref())?;
            let mut api = http::Api {
                router: events.router(magnetite_events::http::open_access()),
                metrics: Vec::new(),
            };
            api.metrics.extend(start_cluster(cluster, &broker));
            api.metrics.extend(bridges::start(&settings, &broker)?);
            let owners = session_owners::start(&settings, &instance_id, events.db(), &broker);
            api.metrics.extend(owners.await?);
            run(&settings, &instance_id, &broker, &events, api, &listeners).await?;
            broker.hooks().close_events();
            writer_task
        }
        AuthMode::Platform => {
            let origin = kaa.as_ref().map(|k| k.origin.clone());
            let services = services::start(&settings, &events, ca, &instance_id, kaa).await?;
            // MQTT events carry the client's groups, looked up once per written batch.
            let ancestry = Arc::new(services.platform.store.clone());
            let (writer, writer_task) = MqttWriter::spawn_with_ancestry(
                events.db().clone(),
                instance_id.clone(),
                Some(ancestry),
            );
            let gate = MqttGate::new(Arc::clone(&services.platform));
            let platform_hooks = PlatformHooks::new(gate.clone());
            let endpoint_hooks = WithEndpoints::new(platform_hooks, gate, origin, writer.clone());
            let hooks = WithEvents::new(endpoint_hooks, writer);
            let cluster = cluster(&settings, &instance_id, SubjectScheme::Magistrala).await?;
            let broker = broker(&settings, hooks, cluster.as_ref())?;
            services
                .platform
                .set_session_ender(platform_hooks::session_ender(broker.handle()));
            let mut metrics = services.metrics;
            metrics.push(Box::new(broker.hooks().inner().collector()));
            metrics.extend(start_cluster(cluster, &broker));
            metrics.extend(bridges::start(&settings, &broker)?);
            let owners = session_owners::start(&settings, &instance_id, events.db(), &broker);
            metrics.extend(owners.await?);
            let (messages, writer_metrics) =
                message_store::start(&settings, &services.platform, broker.handle()).await?;
            metrics.extend(writer_metrics);
            let api = http::Api {
                router: services.api.merge(messages),
                metrics,
            };
            run(&settings, &instance_id, &broker, &events, api, &listeners).await?;
            broker.hooks().close_events();
            broker.hooks().inner().close_events();
            if let Some(remote) = &services.remote_revocations {
                remote.shutdown().await;
            }
            services.bootstrap.shutdown().await;
            services.consumers.shutdown().await;
            services.notifications.shutdown().await;
            services.journal.shutdown().await;
            writer_task
        }
    };
    // Every MQTT event recorded so far is written before the process exits.
    let _ = tokio::time::timeout(Duration::from_secs(5), writer_task).await;
    if let Some(liveness) = liveness {
        liveness.shutdown().await;
    }
    events.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}

/// The broker of `serve`: its durable store per `--persistence`, its link to other
/// instances per `--cluster-nats`.
fn broker<H: Hooks>(
    settings: &Settings,
    hooks: H,
    cluster: Option<&Cluster>,
) -> anyhow::Result<Broker<H>> {
    let persistence = persistence(settings)?;
    let link = cluster.map(Cluster::link);
    let broker = Broker::assemble(broker_config(settings)?, hooks, persistence, link);
    broker.start_sys_tree(settings.sys_interval, env!("CARGO_PKG_VERSION"));
    Ok(broker)
}

/// The link to the other instances with `--cluster-nats` (NATS may be down: it is
/// retried in the background while local traffic flows).
async fn cluster(
    settings: &Settings,
    instance_id: &str,
    scheme: SubjectScheme,
) -> anyhow::Result<Option<Cluster>> {
    let Some(url) = settings.cluster_nats() else {
        return Ok(None);
    };
    if !settings.storage.database_url().starts_with("postgres") {
        tracing::warn!("--cluster-nats without a postgres:// --database-url: instances must share one PostgreSQL database to share clients and channels");
    }
    let config = ClusterConfig {
        url: url.to_string(),
        instance_id: instance_id.to_string(),
        scheme,
        stream: StreamSettings {
            max_age: settings.cluster_stream_max_age,
            max_bytes: settings.cluster_stream_max_bytes,
            ..StreamSettings::default()
        },
    };
    let cluster = Cluster::connect(config).await.context("--cluster-nats")?;
    tracing::info!("cluster routing over NATS on");
    Ok(Some(cluster))
}

/// Starts routing between instances into `broker`; its `/metrics` families.
fn start_cluster<H: Hooks>(
    cluster: Option<Cluster>,
    broker: &Broker<H>,
) -> Option<http::MetricsSource> {
    let cluster = cluster?;
    let stats = cluster.stats();
    cluster.start(broker.handle());
    Some(Box::new(metrics::ClusterCollector(stats)))
}

/// The event pipeline: the outbox in the platform database and one shipper per
/// `--event-store`. A sink that is down only delays its events.
async fn start_events(settings: &Settings, instance_id: &str) -> anyhow::Result<Arc<Events>> {
    let config = EventsConfig {
        prefix: settings.event_prefix.clone(),
        stores: settings.event_stores(),
        maxlen: settings.event_maxlen,
        instance_id: instance_id.to_string(),
        retention: settings.event_retention,
    };
    let events = Events::start(settings.storage.database_url().as_str(), config)
        .await
        .context("starting the event pipeline (database or --event-store settings)")?;
    Ok(Arc::new(events))
}

fn load_acl(path: &Path) -> anyhow::Result<Acl> {
    Ok(Acl::load(path)?)
}

/// Binds with a deep accept backlog: a connect storm of thousands of devices (a fleet
/// reconnecting after an outage) must not overflow the kernel queue and stall in SYN
/// retries. The kernel caps it at `net.core.somaxconn`.
async fn bind(addr: std::net::SocketAddr, what: &str) -> anyhow::Result<TcpListener> {
    let socket = match addr {
        std::net::SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        std::net::SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket
        .bind(addr)
        .with_context(|| format!("binding {what} on {addr}"))?;
    let listener = socket
        .listen(8192)
        .with_context(|| format!("listening for {what} on {addr}"))?;
    tracing::info!(%addr, "{what} listening");
    Ok(listener)
}

/// Serves MQTT, MQTT over WebSocket and HTTP until SIGINT/SIGTERM, then shuts the
/// broker down (every session's disconnect runs).
async fn run<H: Hooks>(
    settings: &Settings,
    instance_id: &str,
    broker: &Broker<H>,
    events: &Arc<Events>,
    api: http::Api,
    listeners: &Listeners,
) -> anyhow::Result<()> {
    let mqtt = bind(settings.mqtt_addr, "MQTT").await?;
    let ws = bind(settings.ws_addr, "MQTT over WebSocket (/mqtt)").await?;
    let http = bind(settings.http_addr, "HTTP API").await?;
    let http_stats = Arc::new(http_server::HttpStats::default());
    let mut parts: Vec<http::MetricsSource> = vec![
        Box::new(events.collector()),
        Box::new(Arc::clone(&http_stats)),
    ];
    parts.extend(api.metrics);
    let info = Arc::new(http::AppInfo {
        instance_id: instance_id.to_string(),
        metrics: metrics::registry(broker.handle(), parts),
    });
    let app = http_errors::json_errors(http::with_openapi(http::router(info).merge(api.router)));
    let http_limits = http_server::HttpLimits {
        header_read_timeout: settings.http_header_timeout,
        idle_timeout: settings.http_idle_timeout,
        max_connections: settings.max_http_connections,
    };
    tracing::info!(%instance_id, "magnetite started");

    let tcp_task = tokio::spawn({
        let broker = broker.clone();
        async move { broker.serve_tcp(mqtt).await }
    });
    let ws_task = tokio::spawn({
        let broker = broker.clone();
        async move { broker.serve_ws(ws).await }
    });
    let tls_tasks = spawn_tls(settings, broker, listeners).await?;
    let http_task = tokio::spawn(http_server::serve(
        http,
        app,
        http_limits,
        http_stats,
        shutdown_signal(),
    ));

    shutdown_signal().await;
    tracing::info!("shutting down: closing listeners and disconnecting clients");
    broker.shutdown().await;
    let _ = tcp_task.await;
    let _ = ws_task.await;
    for task in tls_tasks {
        let _ = task.await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), http_task).await;
    Ok(())
}

/// Optional listeners of `serve`.
struct Listeners {
    tls: Option<Arc<TlsAcceptorSource>>,
}

/// MQTT over TLS and over secure WebSocket, when a certificate is configured.
async fn spawn_tls<H: Hooks>(
    settings: &Settings,
    broker: &Broker<H>,
    listeners: &Listeners,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    let Some(tls) = &listeners.tls else {
        return Ok(Vec::new());
    };
    let mqtts = bind(settings.tls.mqtts_addr, "MQTT over TLS").await?;
    let wss = bind(settings.tls.wss_addr, "MQTT over secure WebSocket (/mqtt)").await?;
    let tls_task = tokio::spawn({
        let (broker, tls) = (broker.clone(), Arc::clone(tls));
        async move { broker.serve_tls(mqtts, tls).await }
    });
    let wss_task = tokio::spawn({
        let (broker, tls) = (broker.clone(), Arc::clone(tls));
        async move { broker.serve_wss(wss, tls).await }
    });
    Ok(vec![tls_task, wss_task])
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
