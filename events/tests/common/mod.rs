//! Shared test fixtures: real servers on free loopback ports (a test FAILS if its server
//! cannot start), a SQLite file outbox, one sample event per operation, and polling.

#![allow(dead_code)]

use magnetite_events::model::bootstrap::{self as b, Config};
use magnetite_events::model::clients as c;
use magnetite_events::model::users::{self as u, Policy};
use magnetite_events::{mqtt_event, Db, Event, MqttEventType, Page, Record, Service};
use serde_json::json;
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free loopback port (bound then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port")
}

fn wait_port(port: u16, within: Duration, what: &str) {
    let t = Instant::now();
    while t.elapsed() < within {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what} did not start on port {port} within {within:?}");
}

/// A server process we started, in its own process group; killed on drop.
pub struct Server {
    child: Option<Child>,
    cmd: Box<dyn Fn() -> Command + Send + Sync>,
    /// Port the readiness check waits on.
    pub port: u16,
    ready_within: Duration,
    name: String,
    /// Marker in the command line of children that escape the process group.
    marker: Option<String>,
}

impl Server {
    fn launch(&mut self) {
        let mut cmd = (self.cmd)();
        cmd.process_group(0).stdin(Stdio::null());
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.name));
        self.child = Some(child);
        wait_port(self.port, self.ready_within, &self.name);
    }

    /// Starts (again) on the same port and data directory.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "{} already running", self.name);
        self.launch();
    }

    /// Stops it (SIGKILL to its process group, plus marked strays) and waits.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pgid = child.id() as i32;
            if pgid > 1 {
                // SAFETY: plain syscall; negative pid = the process group we created.
                unsafe { libc::kill(-pgid, libc::SIGKILL) };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(marker) = &self.marker {
            kill_marked(marker);
        }
        let t = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).is_ok()
            && t.elapsed() < Duration::from_secs(10)
        {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Kills the processes we started whose environment carries `marker` (a unique temp
/// path of ours): `su` puts the RabbitMQ node in a session of its own, out of reach of
/// the process-group kill, and its command line does not name the path.
fn kill_marked(marker: &str) {
    let me = std::process::id() as i32;
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return;
    };
    for entry in dir.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(env) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if pid > 1 && pid != me && String::from_utf8_lossy(&env).contains(marker) {
            // SAFETY: plain syscall on a pid we started (it carries our marker).
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

/// `redis-server` on a free port, no persistence.
pub fn redis(dir: &Path) -> Server {
    redis_with(dir, false)
}

/// `redis-server` with an fsync-always append-only file, so data survives its restart.
pub fn redis_persistent(dir: &Path) -> Server {
    redis_with(dir, true)
}

fn redis_with(dir: &Path, aof: bool) -> Server {
    let port = free_port();
    let dir = dir.to_path_buf();
    let mut s = Server {
        child: None,
        cmd: Box::new(move || {
            let mut c = Command::new("redis-server");
            c.args([
                "--port",
                &port.to_string(),
                "--save",
                "",
                "--appendfsync",
                "always",
                "--appendonly",
                if aof { "yes" } else { "no" },
                "--bind",
                "127.0.0.1",
            ])
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null());
            c
        }),
        port,
        ready_within: Duration::from_secs(10),
        name: "redis-server".into(),
        marker: None,
    };
    s.launch();
    s
}

/// `nats-server -js` on a free port with its store in `dir`.
pub fn nats(dir: &Path) -> Server {
    let port = free_port();
    let dir = dir.to_path_buf();
    let mut s = Server {
        child: None,
        cmd: Box::new(move || {
            let mut c = Command::new("nats-server");
            c.args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
                .arg(&dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            c
        }),
        port,
        ready_within: Duration::from_secs(10),
        name: "nats-server".into(),
        marker: None,
    };
    s.launch();
    // JetStream needs a moment after the port opens.
    std::thread::sleep(Duration::from_millis(300));
    s
}

/// `rabbitmq-server` with the stream plugin; `port` is the stream port.
pub fn rabbitmq(dir: &Path) -> Server {
    let (amqp, stream, dist) = (free_port(), free_port(), free_port());
    let r: PathBuf = dir.join("rabbit");
    std::fs::create_dir_all(r.join("mnesia")).unwrap();
    std::fs::create_dir_all(r.join("log")).unwrap();
    std::fs::write(r.join("enabled_plugins"), "[rabbitmq_stream].\n").unwrap();
    std::fs::write(
        r.join("rabbitmq.conf"),
        format!("listeners.tcp.default = {amqp}\nstream.listeners.tcp.1 = {stream}\nstream.advertised_host = 127.0.0.1\nstream.advertised_port = {stream}\nloopback_users = none\n"),
    )
    .unwrap();
    // The server drops to the rabbitmq user: its tree must belong to it (and be reachable).
    let _ = Command::new("chmod").args(["755"]).arg(dir).status();
    let st = Command::new("chown")
        .args(["-R", "rabbitmq:rabbitmq"])
        .arg(&r)
        .status()
        .unwrap();
    assert!(st.success(), "chown rabbitmq failed");
    let node = format!("magnetite{stream}@localhost");
    let marker = format!("RABBITMQ_MNESIA_BASE={}", r.join("mnesia").display());
    let mut s = Server {
        child: None,
        cmd: Box::new(move || {
            let mut c = Command::new("rabbitmq-server");
            c.env("RABBITMQ_NODENAME", &node)
                .env("RABBITMQ_MNESIA_BASE", r.join("mnesia"))
                .env("RABBITMQ_LOG_BASE", r.join("log"))
                .env("RABBITMQ_ENABLED_PLUGINS_FILE", r.join("enabled_plugins"))
                .env("RABBITMQ_CONFIG_FILE", r.join("rabbitmq"))
                .env("RABBITMQ_DIST_PORT", dist.to_string())
                .env("RABBITMQ_FEATURE_FLAGS_FILE", r.join("feature_flags"))
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            c
        }),
        port: stream,
        ready_within: Duration::from_secs(90),
        name: "rabbitmq-server".into(),
        marker: Some(marker),
    };
    s.launch();
    s
}

/// A SQLite file outbox in `dir`.
pub async fn sqlite_db(dir: &Path) -> (Db, String) {
    let url = format!("sqlite://{}", dir.join("outbox.db").display());
    let db = Db::open(&url).await.expect("open sqlite");
    db.ensure_schema().await.expect("schema");
    (db, url)
}

fn rec(id: &str) -> Record {
    Record {
        id: id.into(),
        name: Some(format!("name-{id}")),
        identity: None,
        owner: Some("fe2e5de0-9900-4ac5-b364-eae0c35777fb".into()),
        metadata: Some(json!({"Update": "rough-leaf"})),
        tags: None,
        status: Some("enabled".into()),
        created_at: Some("2023-08-29T11:06:12.032254Z".into()),
        updated_at: Some("2023-08-29T11:06:12.294444Z".into()),
        updated_by: Some("e1b982d8-a332-4bc2-aaff-4bbaa86880fc".into()),
    }
}

fn page() -> Page {
    Page {
        total: 3,
        offset: 0,
        limit: 10,
        status: Some("enabled".into()),
    }
}

/// One event of every operation family of the reference (users, groups, policies,
/// clients, channels, connections, bootstrap, mqtt).
pub fn every_operation() -> Vec<Event> {
    let usr = Record {
        identity: Some("-small-flower@email.com".into()),
        owner: None,
        ..rec("u1")
    };
    let tagged = Record {
        tags: Some(vec!["patient-thunder".into(), "x".into()]),
        ..usr.clone()
    };
    let pol = Policy {
        owner_id: Some("o1".into()),
        subject: "s1".into(),
        object: "ob1".into(),
        actions: vec!["m_write".into(), "m_read".into()],
        created_at: Some("2023-08-29T12:17:50.715541Z".into()),
        updated_at: Some("2023-08-29T12:35:00.095028Z".into()),
    };
    let cfg = Config {
        client_id: "dc82d6bf".into(),
        owner: Some("64fd20bf".into()),
        name: Some("demo".into()),
        external_id: Some("FF-41-EF-BC-90-BC".into()),
        channels: Some(vec!["ch1".into(), "ch2".into()]),
        content: Some(r#"{"device_id": "12345"}"#.into()),
        client_cert: Some("CERT".into()),
        client_key: Some("KEY".into()),
        ca_cert: Some("CA".into()),
        state: Some(0),
    };
    let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    vec![
        u::user_create(&usr),
        u::user_view(&usr),
        u::user_view_profile(&usr),
        u::user_update(&usr),
        u::user_update_identity(&usr),
        u::user_update_tags(&tagged),
        u::user_update_secret(&usr),
        u::user_remove(&usr),
        u::user_list(&page()),
        u::user_list_by_group(&page(), "g1"),
        u::user_identify("u1"),
        u::user_generate_reset_token("a@b.c", "http://localhost"),
        u::user_issue_token("a@b.c"),
        u::user_refresh_token(),
        u::user_reset_secret(),
        u::user_send_password_reset("http://localhost", "a@b.c", "rodney"),
        u::group_create(&rec("g1")),
        u::group_update(&rec("g1")),
        u::group_view(&rec("g1")),
        u::group_list(&page()),
        u::group_list_by_user(&page(), "u1"),
        u::group_remove(&rec("g1")),
        u::policy_authorize(Service::Users, "client", "clients", "c_list"),
        u::policy_add(Service::Users, &pol),
        u::policy_update(Service::Users, &pol),
        u::policy_delete(Service::Users, &pol),
        u::policy_list(Service::Users, 0, 0, 10),
        c::client_create(&rec("c1")),
        c::client_update(&rec("c1")),
        c::client_update_secret(&rec("c1")),
        c::client_update_tags(&Record {
            tags: Some(ids(&["morning-pine"])),
            ..rec("c1")
        }),
        c::client_remove(&rec("c1")),
        c::client_view(&rec("c1")),
        c::client_list(&page()),
        c::client_list_by_channel(&page(), "ch1"),
        c::client_identify("c1"),
        c::channel_create(&rec("ch1")),
        c::channel_update(&rec("ch1")),
        c::channel_remove(&rec("ch1")),
        c::channel_view(&rec("ch1")),
        c::channel_list(&page()),
        c::channel_list_by_client(&page(), "c1"),
        c::channel_connect(
            &ids(&["ch1"]),
            &ids(&["c1", "c2"]),
            &ids(&["publish", "subscribe"]),
        ),
        c::channel_disconnect(&ids(&["ch1"]), &ids(&["c1"]), &ids(&["publish"])),
        u::policy_add(Service::Clients, &pol),
        u::policy_list(Service::Clients, 0, 0, 10),
        b::config_create(&cfg),
        b::config_update(&cfg),
        b::cert_update("dc82d6bf", "CERT", "KEY", "CA"),
        b::config_list(0, 10),
        b::config_view(&cfg),
        b::config_remove("dc82d6bf"),
        b::config_remove_handler("cfg1"),
        b::client_bootstrap(&cfg, true),
        b::client_change_state("dc82d6bf", 1),
        b::client_update_connections("dc82d6bf", &ids(&["ch1", "ch2"])),
        b::channel_update_handler("ch1", "dry-sky", &json!({"log": "info"})),
        b::channel_remove_handler("ch1"),
        mqtt_event("c1", MqttEventType::Connect, "node-a"),
        mqtt_event("c1", MqttEventType::Disconnect, "node-a"),
    ]
}

/// Writes events into the outbox, each in its own transaction (as HTTP operations do).
pub async fn write_all(db: &Db, evs: &[Event]) {
    for e in evs {
        db.append(e).await.expect("append");
    }
}

/// Numbered MQTT connect events (`client_id` = `dev-<n>`) for order checks.
pub fn numbered(n: usize, from: usize) -> Vec<Event> {
    (from..from + n)
        .map(|i| mqtt_event(&format!("dev-{i}"), MqttEventType::Connect, "node-a"))
        .collect()
}

/// Polls `f` until it returns `Some` or `within` passes.
pub async fn eventually<T, F, Fut>(within: Duration, mut f: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let t = Instant::now();
    loop {
        if let Some(v) = f().await {
            return Some(v);
        }
        if t.elapsed() > within {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The reference's expectations that do not depend on our encoder: operation names of
/// the prefix, `occurred_at` a decimal of Unix ns, `metadata` JSON text, lists `[a,b]`.
pub fn assert_reference_shape_redis(fields: &std::collections::BTreeMap<String, String>) {
    if let Some(t) = fields.get("occurred_at") {
        let ns: i64 = t.parse().expect("occurred_at is a decimal");
        assert!(ns > 1_600_000_000_000_000_000, "occurred_at in ns: {t}");
    }
    if let Some(m) = fields.get("metadata") {
        assert!(
            serde_json::from_str::<serde_json::Value>(m)
                .map(|v| v.is_object())
                .unwrap_or(false),
            "metadata JSON text: {m}"
        );
    }
    for k in [
        "tags",
        "channels",
        "actions",
        "channel_ids",
        "client_ids",
        "types",
    ] {
        if let Some(v) = fields.get(k) {
            assert!(
                v.starts_with('[') && v.ends_with(']') && !v.contains('"'),
                "{k} Go list: {v}"
            );
        }
    }
}

/// PostgreSQL 15 on a free port (`initdb` in `dir`, run as the `postgres` user);
/// the URL is `postgres://postgres@127.0.0.1:<port>/postgres`.
pub fn postgres(dir: &Path) -> Server {
    let port = free_port();
    let pg = dir.join("pg");
    std::fs::create_dir_all(&pg).unwrap();
    let _ = Command::new("chmod").arg("755").arg(dir).status();
    let st = Command::new("chown")
        .args(["-R", "postgres"])
        .arg(&pg)
        .status()
        .unwrap();
    assert!(st.success(), "chown postgres failed");
    let bin = "/usr/lib/postgresql/15/bin";
    let init = format!(
        "{bin}/initdb -D {}/data -A trust -U postgres >/dev/null",
        pg.display()
    );
    let st = Command::new("su")
        .args(["postgres", "-c", &init])
        .status()
        .unwrap();
    assert!(st.success(), "initdb failed");
    let marker = format!("MAGNETITE_TEST_PG={}", pg.display());
    let run = format!(
        "exec {bin}/postgres -D {p}/data -p {port} -k {p} -c listen_addresses=127.0.0.1 -c fsync=off",
        p = pg.display()
    );
    let mut s = Server {
        child: None,
        cmd: Box::new(move || {
            let mut c = Command::new("su");
            c.args(["postgres", "-c", &run])
                .env("MAGNETITE_TEST_PG", pg.display().to_string())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            c
        }),
        port,
        ready_within: Duration::from_secs(30),
        name: "postgres".into(),
        marker: Some(marker),
    };
    s.launch();
    std::thread::sleep(Duration::from_millis(300));
    s
}
