//! The load tester against a real, independent broker (Debian's mosquitto): small runs
//! whose every message must be accounted for.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use magnetite_testkit::openssl::{openssl, self_signed_ca};

struct Mosquitto {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Mosquitto {
    fn start() -> Mosquitto {
        Mosquitto::start_with(|_| String::new())
    }

    /// `extra` gets the broker's directory and returns more config lines.
    fn start_with(extra: impl FnOnce(&PathBuf) -> String) -> Mosquitto {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = std::env::temp_dir().join(format!("lt-mosquitto-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let conf = dir.join("m.conf");
        let more = extra(&dir);
        let base = format!("user root\nlistener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 100000\n");
        std::fs::write(&conf, base + &more).unwrap();
        let child = spawn_mosquitto(&conf, port);
        Mosquitto { child, port, dir }
    }

    /// Stops the broker (every connection drops) and returns once it is gone.
    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts it again on the same port and configuration.
    fn start_again(&mut self) {
        self.child = spawn_mosquitto(&self.dir.join("m.conf"), self.port);
    }
}

fn spawn_mosquitto(conf: &std::path::Path, port: u16) -> Child {
    let child = Command::new("mosquitto")
        .arg("-c")
        .arg(conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("mosquitto is required (scripts/test.sh installs it)");
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "mosquitto did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

impl Mosquitto {
    /// Runs `magnetite-loadtest <scenario> --port <port> <flags> --quiet --json <file>`
    /// against this broker; returns the JSON report and the file it was written to.
    fn scenario(&self, scenario: &str, flags: &[&str], file: &str) -> (serde_json::Value, PathBuf) {
        let json = self.dir.join(file);
        let (port, json_arg) = (self.port.to_string(), json.to_string_lossy().to_string());
        let mut args = vec![scenario, "--port", &port];
        args.extend_from_slice(flags);
        args.extend(["--quiet", "--json", &json_arg]);
        loadtest(&args);
        (report(&json), json)
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn loadtest(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_magnetite-loadtest"))
        .args(args)
        .output()
        .expect("run loadtest");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{args:?}\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

fn report(path: &PathBuf) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn qos1_and_qos2_p2p_account_for_every_message() {
    let broker = Mosquitto::start();
    for qos in ["1", "2"] {
        // Paced: mosquitto 2.0.11 loses some QoS 2 messages from a flat-out
        // publisher (seen here even at 2,000 msg/s; magnetite loses none, see
        // BENCHMARKS.md), so for QoS 2 the check is that every message is
        // accounted for, received or reported lost.
        let flags = [
            "--qos",
            qos,
            "--clients",
            "3",
            "--count",
            "1000",
            "--rate",
            "2000",
        ];
        let (r, _) = broker.scenario("p2p", &flags, &format!("p2p-{qos}.json"));
        assert_eq!(r["sent"], 3000, "{r}");
        assert_eq!(r["expected"], 3000, "{r}");
        let (received, lost) = (r["received"].as_u64().unwrap(), r["lost"].as_u64().unwrap());
        assert_eq!(received + lost, 3000, "every message accounted for: {r}");
        if qos == "1" {
            assert_eq!(lost, 0, "{r}");
        } else {
            assert!(received >= 2900, "{r}");
        }
        assert_eq!(r["duplicates"], 0, "{r}");
        for field in [
            "scenario",
            "qos",
            "clients",
            "payload_bytes",
            "duration_s",
            "send_rate",
            "recv_rate",
        ] {
            assert!(!r[field].is_null(), "missing {field}: {r}");
        }
        let latency = &r["latency_us"];
        assert!(
            latency["p50"].as_u64().unwrap() <= latency["p99"].as_u64().unwrap(),
            "{r}"
        );
    }
}

#[test]
fn fan_out_multiplies_deliveries_and_compare_prints_ratios() {
    let broker = Mosquitto::start();
    let flags = ["--qos", "1", "--subs", "5", "--count", "200"];
    let (r, a) = broker.scenario("fan-out", &flags, "a.json");
    let (_, b) = broker.scenario("fan-out", &flags, "b.json");
    assert_eq!(r["sent"], 200, "{r}");
    assert_eq!(r["expected"], 1000, "{r}");
    assert_eq!(r["received"], 1000, "{r}");
    let text = loadtest(&["compare", &a.to_string_lossy(), &b.to_string_lossy()]);
    assert!(text.contains("recv msg/s") && text.contains('x'), "{text}");
}

#[test]
fn connect_storm_counts_every_connection() {
    let broker = Mosquitto::start();
    let csv = broker.dir.join("creds.csv");
    let rows: String = (0..50)
        .map(|i| format!("dev-{i},user-{i},pass-{i}\n"))
        .collect();
    std::fs::write(&csv, rows).unwrap();
    let csv = csv.to_string_lossy();
    let flags = [
        "--clients",
        "300",
        "--concurrency",
        "50",
        "--credentials",
        &csv,
    ];
    let (r, _) = broker.scenario("conn", &flags, "conn.json");
    assert_eq!(r["errors"], 0, "{r}");
    assert!(r["connects_per_s"].as_f64().unwrap() > 0.0, "{r}");
    assert!(r["connect_us"]["max"].as_u64().unwrap() > 0, "{r}");
}

/// A CA and a server certificate for 127.0.0.1, made with the openssl CLI.
fn make_certs(dir: &std::path::Path) {
    self_signed_ca(dir, "lt-test-ca", "ca.key", "ca.pem");
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "1",
            "-extfile",
            "san.ext",
        ],
    );
}

#[test]
fn tls_with_the_broker_ca_delivers_everything_and_a_wrong_ca_is_refused() {
    let broker = Mosquitto::start_with(|dir| {
        make_certs(dir);
        let d = dir.display();
        format!("cafile {d}/ca.pem\ncertfile {d}/server.pem\nkeyfile {d}/server.key\n")
    });
    let ca = broker.dir.join("ca.pem").to_string_lossy().to_string();
    let flags = [
        "--ca",
        &ca,
        "--qos",
        "1",
        "--clients",
        "2",
        "--count",
        "500",
    ];
    let (r, _) = broker.scenario("p2p", &flags, "tls.json");
    assert_eq!(
        (
            r["sent"].as_u64(),
            r["received"].as_u64(),
            r["lost"].as_u64()
        ),
        (Some(1000), Some(1000), Some(0)),
        "{r}"
    );
    // A CA that did not sign the broker's certificate: every connect fails.
    let other = broker.dir.join("other");
    std::fs::create_dir_all(&other).unwrap();
    self_signed_ca(&other, "other", "k", "ca.pem");
    let other_ca = other.join("ca.pem").to_string_lossy().to_string();
    let (r, _) = broker.scenario("conn", &["--ca", &other_ca, "--clients", "3"], "wrong.json");
    assert_eq!(r["errors"], 3);
}

#[test]
fn idle_with_passwords_and_subscriptions_holds_every_connection_and_probes_latency() {
    // One account per connection (dev-<i> / secret-<i>), two more for the probe.
    let broker = Mosquitto::start_with(|dir| {
        let users: String = (0..22).map(|i| format!("dev-{i}:secret-{i}\n")).collect();
        let file = dir.join("passwd");
        std::fs::write(&file, users).unwrap();
        let hashed = Command::new("mosquitto_passwd")
            .arg("-U")
            .arg(&file)
            .status()
            .unwrap();
        assert!(hashed.success());
        format!("allow_anonymous false\npassword_file {}\n", file.display())
    });
    let accounts = ["--username", "dev-%i", "--password", "secret-%i"];
    let mut flags = vec!["--clients", "20", "--topic", "idle/%i", "--qos", "1"];
    flags.extend(["--duration", "1", "--probe-rate", "200"]);
    flags.extend(accounts);
    let (r, _) = broker.scenario("idle", &flags, "idle.json");
    assert_eq!(
        (r["clients"].as_u64(), r["errors"].as_u64()),
        (Some(20), Some(0)),
        "{r}"
    );
    let (sent, received) = (
        r["probe_sent"].as_u64().unwrap(),
        r["probe_received"].as_u64().unwrap(),
    );
    assert!(sent >= 100, "{r}");
    assert_eq!(received, sent, "{r}");
    let l = &r["probe_latency_us"];
    let (p50, p99, p999) = (
        l["p50"].as_u64().unwrap(),
        l["p99"].as_u64().unwrap(),
        l["p999"].as_u64().unwrap(),
    );
    assert!(0 < p50 && p50 <= p99 && p99 <= p999, "{r}");
    // The accounts are checked: a wrong password is refused for every connection.
    let wrong = [
        "--clients",
        "3",
        "--username",
        "dev-%i",
        "--password",
        "nope-%i",
    ];
    let (r, _) = broker.scenario("conn", &wrong, "wrong.json");
    assert_eq!(r["errors"], 3, "{r}");
}

#[test]
fn a_storm_after_a_broker_restart_brings_every_device_back() {
    use std::io::BufRead;
    let mut broker = Mosquitto::start();
    let json = broker.dir.join("storm.json");
    let port = broker.port.to_string();
    let mut tool = Command::new(env!("CARGO_BIN_EXE_magnetite-loadtest"))
        .args([
            "storm",
            "--trigger",
            "restart",
            "--clients",
            "30",
            "--topic",
            "dev/%i",
        ])
        .args([
            "--backoff-min-ms",
            "20",
            "--backoff-max-ms",
            "200",
            "--storm-timeout",
            "30",
        ])
        .args(["--port", &port, "--quiet", "--json"])
        .arg(&json)
        .stderr(Stdio::piped())
        .spawn()
        .expect("run loadtest");
    let mut lines = std::io::BufReader::new(tool.stderr.take().unwrap()).lines();
    let mut wait_for = |needle: &str| {
        for line in lines.by_ref() {
            if line.unwrap().contains(needle) {
                return;
            }
        }
        panic!("the tool ended before printing {needle:?}");
    };
    wait_for("waiting for the broker to drop");
    broker.stop();
    wait_for("the broker dropped a connection");
    // Down long enough for the devices' immediate reconnects to find no listener.
    std::thread::sleep(Duration::from_millis(300));
    broker.start_again();
    let status = tool.wait().unwrap();
    assert!(status.success());
    let r = report(&json);
    let storm = &r["storm"][1];
    assert_eq!(
        (storm["devices"].as_u64(), storm["connected"].as_u64()),
        (Some(30), Some(30)),
        "{r}"
    );
    assert!(storm["connection_refused"].as_u64().unwrap() >= 1, "{r}");
    assert!(storm["retries"].as_u64().unwrap() >= 1, "{r}");
    assert_eq!(storm["gave_up"], 0, "{r}");
    assert!(storm["seconds_to_all_connected"].as_f64().is_some(), "{r}");
}
