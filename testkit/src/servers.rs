//! Test support shared by every crate's integration tests: real servers (Redis, NATS
//! JetStream, RabbitMQ Streams, PostgreSQL) on free loopback ports, started from the
//! Debian packages `scripts/test.sh` installs. A test FAILS when its server cannot start:
//! a missing server is a broken environment, never a reason to skip.

use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free loopback port for a server a test is about to start.
///
/// Not from the kernel's ephemeral range (`bind(0)` hands those out, and so does every
/// outgoing connection: a test opening thousands of client sockets could take the port
/// before the server binds it). Ports are picked at random below that range, each one
/// bound once to see that it is free, and never handed out twice by one process.
pub fn free_port() -> u16 {
    use std::collections::HashSet;
    use std::sync::Mutex;
    static GIVEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    let given = given.get_or_insert_with(HashSet::new);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let seed = u64::from(std::process::id()) ^ nanos;
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(given.len() as u64 + 1);
    for _ in 0..10_000 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let port = 20_000 + ((x >> 33) % 12_000) as u16;
        if !given.contains(&port) && TcpListener::bind(("127.0.0.1", port)).is_ok() {
            given.insert(port);
            return port;
        }
    }
    panic!("no free port between 20000 and 32000")
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

/// What [`Server::launched`] needs besides the command: the server's name, the port it
/// is ready on and how long it may take, the marker of children that escape its group.
struct Kind {
    name: &'static str,
    port: u16,
    ready_within: Duration,
    marker: Option<String>,
}

impl Server {
    /// Builds and launches a server of `kind` that `cmd` runs.
    fn launched(kind: Kind, cmd: impl Fn() -> Command + Send + Sync + 'static) -> Server {
        let mut s = Server {
            child: None,
            cmd: Box::new(cmd),
            port: kind.port,
            ready_within: kind.ready_within,
            name: kind.name.into(),
            marker: kind.marker,
        };
        s.launch();
        s
    }

    pub fn launch(&mut self) {
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

    /// Stops it the way an operator would (SIGTERM to its process group), waiting up to
    /// 30 s for it to exit before [`Server::stop`] kills what is left.
    pub fn stop_gracefully(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let pgid = child.id() as i32;
            if pgid > 1 {
                // SAFETY: plain syscall; negative pid = the process group we created.
                unsafe { libc::kill(-pgid, libc::SIGTERM) };
            }
            let t = Instant::now();
            while t.elapsed() < Duration::from_secs(30) {
                let gone = matches!(child.try_wait(), Ok(Some(_)))
                    && TcpStream::connect(("127.0.0.1", self.port)).is_err();
                if gone {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        self.stop();
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
    let kind = Kind {
        name: "redis-server",
        port,
        ready_within: Duration::from_secs(10),
        marker: None,
    };
    Server::launched(kind, move || {
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
    })
}

/// A `mosquitto` broker on a free loopback port (anonymous, nothing kept across a
/// restart), its config in `dir`: an upstream for the gateway bridge's tests.
pub fn mosquitto(dir: &Path) -> Server {
    mosquitto_with(dir, false)
}

/// [`mosquitto`] keeping persistent sessions and their queued messages across a
/// graceful restart ([`Server::stop_gracefully`] saves them).
pub fn mosquitto_persistent(dir: &Path) -> Server {
    mosquitto_with(dir, true)
}

fn mosquitto_with(dir: &Path, persistent: bool) -> Server {
    let port = free_port();
    let store = dir.join(format!("mosquitto-{port}"));
    std::fs::create_dir_all(&store).expect("creating the mosquitto store dir");
    let conf = store.join("mosquitto.conf");
    let mut text = format!(
        "listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 1000000\nmax_inflight_messages 0\n"
    );
    if persistent {
        // `user root`: started as root, mosquitto would otherwise switch to the
        // `mosquitto` user, who may not write our temp dir (no effect when not root).
        text.push_str(&format!(
            "persistence true\npersistence_location {}/\nuser root\n",
            store.display()
        ));
    }
    std::fs::write(&conf, text).expect("writing the mosquitto config");
    let kind = Kind {
        name: "mosquitto",
        port,
        ready_within: Duration::from_secs(10),
        marker: None,
    };
    Server::launched(kind, move || {
        let mut c = Command::new("mosquitto");
        c.arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    })
}

/// `nats-server -js` on a free port with its store in `dir`.
pub fn nats(dir: &Path) -> Server {
    let port = free_port();
    let dir = dir.to_path_buf();
    let kind = Kind {
        name: "nats-server",
        port,
        ready_within: Duration::from_secs(10),
        marker: None,
    };
    let s = Server::launched(kind, move || {
        let mut c = Command::new("nats-server");
        c.args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    });
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
    let kind = Kind {
        name: "rabbitmq-server",
        port: stream,
        ready_within: Duration::from_secs(90),
        marker: Some(marker),
    };
    let s = Server::launched(kind, move || {
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
    });
    s
}

/// The connection URL of a server started by [`postgres`].
pub fn postgres_url(server: &Server) -> String {
    format!("postgres://postgres@127.0.0.1:{}/postgres", server.port)
}

/// PostgreSQL in a temporary directory of its own, for a test that wants one database
/// and nothing else of the directory: the server stops, then the directory goes, when
/// this is dropped (fields drop in order).
pub struct ScratchPostgres {
    pub server: Server,
    /// [`postgres_url`] of the server.
    pub url: String,
    _dir: tempfile::TempDir,
}

/// A [`ScratchPostgres`]: [`postgres`] in a new temporary directory.
pub fn scratch_postgres() -> ScratchPostgres {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = postgres(dir.path());
    let url = postgres_url(&server);
    ScratchPostgres {
        server,
        url,
        _dir: dir,
    }
}

/// PostgreSQL 15 on a free port (`initdb` in `dir`, run as the `postgres` user);
/// the URL is [`postgres_url`].
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
    let kind = Kind {
        name: "postgres",
        port,
        ready_within: Duration::from_secs(30),
        marker: Some(marker),
    };
    let s = Server::launched(kind, move || {
        let mut c = Command::new("su");
        c.args(["postgres", "-c", &run])
            .env("MAGNETITE_TEST_PG", pg.display().to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    });
    std::thread::sleep(Duration::from_millis(300));
    s
}
