//! Revocation across instances: two `magnetite serve` processes share one PostgreSQL
//! (each with its own data dir and ports); a change made through instance A's API
//! reaches the devices connected to instance B through the shared outbox. And an
//! instance killed with -9: the survivors write its devices' disconnect events, once.

mod cluster_kit;
mod common;
mod platform;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use magnetite_testkit::mqtt::{connect_and_disconnect, connect_packet};
use magnetite_testkit::servers::{postgres, postgres_url, Server as Postgres};
use serde_json::{json, Value};

use cluster_kit::{instance, mqtt_events};
use common::Server;
use platform::{Api, Device};

/// How long a test waits for a change to reach the other instance: a deadline for the
/// wait loops, not a measurement (the setting under test is 200 ms).
const DEADLINE: Duration = Duration::from_secs(10);
/// CONNACK return codes (MQTT 3.1.1).
const BAD_CREDENTIALS: u8 = 0x04;
const NOT_AUTHORIZED: u8 = 0x05;

/// Two instances on one PostgreSQL, and the admin's API on each. Fields drop in order:
/// the instances before the database they use.
struct Cluster {
    a: Server,
    b: Server,
    api_a: Api,
    api_b: Api,
    url: String,
    _pg: Postgres,
    _dir: tempfile::TempDir,
}

fn cluster() -> Cluster {
    cluster_with(&[])
}

fn cluster_with(extra: &[&str]) -> Cluster {
    let dir = tempfile::tempdir().expect("temp dir");
    let pg = postgres(dir.path());
    let url = postgres_url(&pg);
    // One after the other: the first creates the schema.
    let a = instance(&url, "instance-a", extra);
    let b = instance(&url, "instance-b", extra);
    let (api_a, api_b) = (Api::admin(&a), Api::admin(&b));
    Cluster {
        a,
        b,
        api_a,
        api_b,
        url,
        _pg: pg,
        _dir: dir,
    }
}

/// A domain with one device connected to one channel for publish and subscribe.
struct Tenant {
    domain: String,
    device: Device,
    ch: String,
}

fn tenant(api: &Api, route: &str) -> Tenant {
    let domain = api.domain(route, route);
    let device = api.client(&domain, "sensor-1");
    let ch = api.channel(&domain, "temperature");
    api.connect(&domain, &ch, &device.id, &["publish", "subscribe"]);
    Tenant { domain, device, ch }
}

/// A raw MQTT 3.1.1 connection of a device that stays open.
struct LiveDevice(TcpStream);

impl LiveDevice {
    /// Connects as `dev` under the MQTT client id `mqtt_id`; asserts it is accepted.
    fn connect(addr: SocketAddr, dev: &Device, mqtt_id: &str) -> LiveDevice {
        let mut stream = TcpStream::connect(addr).expect("TCP connect");
        let login = Some((dev.id.as_str(), dev.secret.as_str()));
        stream
            .write_all(&connect_packet(mqtt_id, login, false))
            .expect("CONNECT");
        let mut connack = [0u8; 4];
        stream.read_exact(&mut connack).expect("CONNACK");
        assert_eq!(connack, [0x20, 0x02, 0x00, 0x00], "the device is accepted");
        stream
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("read timeout");
        LiveDevice(stream)
    }

    /// Whether the broker closes the connection before `DEADLINE`.
    fn closed_by_broker(&mut self) -> bool {
        let deadline = Instant::now() + DEADLINE;
        let mut buf = [0u8; 64];
        while Instant::now() < deadline {
            match self.0.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => return true,
            }
        }
        false
    }

    /// Whether the connection still answers a PINGREQ.
    fn alive(&mut self) -> bool {
        if self.0.write_all(&[0xC0, 0x00]).is_err() {
            return false;
        }
        let _ = self.0.set_read_timeout(Some(Duration::from_secs(5)));
        let mut pong = [0u8; 2];
        self.0.read_exact(&mut pong).is_ok() && pong == [0xD0, 0x00]
    }
}

/// Waits until `done` holds, up to `DEADLINE`.
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while Instant::now() < deadline {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("not within {DEADLINE:?}: {what}");
}

/// The CONNACK code `dev` gets from `server` with `secret`.
fn connack(server: &Server, dev: &Device, secret: &str) -> u8 {
    connect_and_disconnect(server.mqtt, "probe", Some((&dev.id, secret)))
}

/// The access changes `server` applied, by origin (`local` / `remote`), from `/metrics`.
fn applied(server: &Server, origin: &str) -> u64 {
    let text = reqwest::blocking::get(format!("http://{}/metrics", server.http))
        .and_then(|r| r.text())
        .expect("GET /metrics");
    let series = format!("magnetite_access_changes_applied_total{{origin=\"{origin}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&series))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in /metrics:\n{text}"))
}

/// The MQTT 5 reason codes paho-mqtt gets on `server` for `ops` (`sub:F`, `pub:T`).
fn codes(server: &Server, dev: &Device, ops: &[String]) -> Value {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/platform_codes.py"
    );
    let port = server.port();
    let mut args = vec![script, "127.0.0.1", &port, &dev.id, &dev.secret];
    args.extend(ops.iter().map(String::as_str));
    let out = common::run("python3", &args);
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn a_client_or_domain_disabled_on_a_is_kicked_from_b_and_only_that_tenant() {
    let c = cluster();
    let t1 = tenant(&c.api_a, "plant-1");
    let t2 = tenant(&c.api_a, "plant-2");
    // Both devices call themselves sensor-1: sessions are namespaced by identity.
    let mut d1 = LiveDevice::connect(c.b.mqtt, &t1.device, "sensor-1");
    let mut d2 = LiveDevice::connect(c.b.mqtt, &t2.device, "sensor-1");

    let disable = format!("/{}/clients/{}/disable", t1.domain, t1.device.id);
    c.api_a.expect("POST", &disable, None, 200);

    assert!(
        d1.closed_by_broker(),
        "B ends the disabled client's session"
    );
    assert_eq!(connack(&c.b, &t1.device, &t1.device.secret), NOT_AUTHORIZED);
    assert!(d2.alive(), "the other domain's device stays connected");
    assert_eq!(connack(&c.b, &t2.device, &t2.device.secret), 0);

    // A whole domain disabled on A: its devices on B go too.
    c.api_a.expect(
        "POST",
        &format!("/domains/{}/disable", t2.domain),
        None,
        200,
    );
    assert!(
        d2.closed_by_broker(),
        "B ends the disabled domain's session"
    );
    assert_eq!(connack(&c.b, &t2.device, &t2.device.secret), NOT_AUTHORIZED);
}

#[test]
fn each_instance_applies_every_change_once() {
    let c = cluster();
    let t = tenant(&c.api_a, "plant");
    let other = c.api_a.channel(&t.domain, "humidity");
    let disable = format!("/{}/clients/{}/disable", t.domain, t.device.id);
    c.api_a.expect("POST", &disable, None, 200);
    // Two changes on A (connect, disable), one on B (a connect); B reading A's rows
    // and A reading B's row (written after A's) show each reader is past them all.
    eventually("B applies A's two changes", || applied(&c.b, "remote") == 2);
    c.api_b
        .connect(&t.domain, &other, &t.device.id, &["subscribe"]);
    eventually("A applies B's change", || applied(&c.a, "remote") == 1);
    assert_eq!(applied(&c.a, "local"), 2, "A: its own changes, once");
    assert_eq!(applied(&c.a, "remote"), 1, "A: never its own rows again");
    assert_eq!(applied(&c.b, "local"), 1);
    eventually("B: A's changes once each", || applied(&c.b, "remote") == 2);
}

#[test]
fn a_secret_changed_on_a_is_required_on_b() {
    let c = cluster();
    let t = tenant(&c.api_a, "plant");
    let mut live = LiveDevice::connect(c.b.mqtt, &t.device, "sensor-1");
    // B now caches the client's access with the old secret.
    assert_eq!(connack(&c.b, &t.device, &t.device.secret), 0);

    let path = format!("/{}/clients/{}/secret", t.domain, t.device.id);
    let body = json!({"secret": "a-brand-new-secret"});
    c.api_a.expect("PATCH", &path, Some(body), 200);

    assert!(
        live.closed_by_broker(),
        "B ends the session of the old secret"
    );
    eventually("B refuses the old secret", || {
        connack(&c.b, &t.device, &t.device.secret) == BAD_CREDENTIALS
    });
    assert_eq!(connack(&c.b, &t.device, "a-brand-new-secret"), 0);
}

#[test]
fn a_channel_disconnected_on_a_is_closed_to_the_device_on_b() {
    let c = cluster();
    let t = tenant(&c.api_a, "plant");
    let ops = [
        format!("sub:m/{}/c/{}", t.domain, t.ch),
        format!("pub:m/{}/c/{}", t.domain, t.ch),
    ];
    // Allowed on B (and B caches it): the granted QoS, PUBACK success.
    let before = codes(&c.b, &t.device, &ops);
    assert_eq!(before["ops"][0][2], 1, "{before}");
    assert_eq!(before["ops"][1][2], 0, "{before}");
    let mut live = LiveDevice::connect(c.b.mqtt, &t.device, "sensor-1");

    c.api_a
        .disconnect(&t.domain, &t.ch, &t.device.id, &["publish", "subscribe"]);

    assert!(
        live.closed_by_broker(),
        "B ends the session that had access"
    );
    let after = codes(&c.b, &t.device, &ops);
    assert_eq!(after["connack"], 0, "{after}");
    assert_eq!(after["ops"][0][2], 0x87, "subscribe refused on B: {after}");
    assert_eq!(after["ops"][1][2], 0x87, "publish refused on B: {after}");
}

/// The heartbeat (ms) `id` last wrote in the `instances` table.
fn heartbeat(url: &str, id: &str) -> i64 {
    let sql = format!("SELECT heartbeat_at FROM instances WHERE id = '{id}'");
    let out = common::run("psql", &[url, "-tAc", &sql]);
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim()
        .parse()
        .unwrap_or_else(|_| panic!("heartbeat of {id}: {text}"))
}

#[test]
fn survivors_write_a_killed_instances_disconnect_events_once() {
    let timeout = ["--instance-timeout", "2s"];
    let c = cluster_with(&timeout);
    let doomed = instance(&c.url, "instance-c", &timeout);
    let t = tenant(&c.api_a, "plant");
    let _live = LiveDevice::connect(doomed.mqtt, &t.device, "sensor-1");
    let id = t.device.id.as_str();
    eventually("C's connect event is in the outbox", || {
        mqtt_events(&c.api_a, id, "connect", "instance-c") == 1
    });

    doomed.kill9();

    let deadline_ms = DEADLINE.as_millis() as u64;
    let deadline = Instant::now() + Duration::from_millis(deadline_ms * 2);
    while mqtt_events(&c.api_a, id, "disconnect", "instance-c") == 0 {
        assert!(
            Instant::now() < deadline,
            "no survivor wrote C's disconnect"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Both survivors beat twice more, so both have looked at C since: still one.
    let (a0, b0) = (
        heartbeat(&c.url, "instance-a"),
        heartbeat(&c.url, "instance-b"),
    );
    eventually("A and B beat twice more", || {
        heartbeat(&c.url, "instance-a") > a0 + 1000 && heartbeat(&c.url, "instance-b") > b0 + 1000
    });
    assert_eq!(mqtt_events(&c.api_a, id, "disconnect", "instance-c"), 1);
    assert_eq!(mqtt_events(&c.api_b, id, "disconnect", "instance-c"), 1);
}
