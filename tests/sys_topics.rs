//! `$SYS/broker/...` through the binary: the counters move as clients work; under
//! `--auth none` anyone (or whom the ACL allows) reads them; under `--auth platform`
//! only the platform admin's clients do; nobody publishes there.

mod common;
mod platform;

use std::time::{Duration, Instant};

use common::{mosquitto, Server};
use platform::{mqtt5_codes, Api, Device};
use serde_json::json;

/// SUBACK / PUBACK codes of MQTT 5.0.
const NOT_AUTHORIZED: u64 = 0x87;
const UNSPECIFIED_ERROR: u64 = 0x80;

/// The retained value of a `$SYS` topic (`args` log the client in), or `None` when
/// nothing arrives within 5 s.
fn read(server: &Server, topic: &str, args: &[&str]) -> Option<String> {
    let mut all = vec!["-t", topic, "-C", "1", "-W", "5"];
    all.extend_from_slice(args);
    let out = mosquitto("mosquitto_sub", &server.port(), &all);
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}

fn number(server: &Server, topic: &str, args: &[&str]) -> u64 {
    let text = read(server, topic, args).unwrap_or_else(|| panic!("no value on {topic}"));
    text.parse()
        .unwrap_or_else(|_| panic!("{topic} is not a number: {text}"))
}

/// Reads `topic` until `ok` holds for its number (the tree is published every second
/// here); panics with the last value after 15 s.
fn wait_for(server: &Server, topic: &str, args: &[&str], ok: impl Fn(u64) -> bool) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let value = number(server, topic, args);
        if ok(value) {
            return value;
        }
        assert!(Instant::now() < deadline, "{topic} stayed at {value}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn codes(server: &Server, user: &str, password: &str, ops: &[&str]) -> Vec<u64> {
    let ops: Vec<String> = ops.iter().map(|s| s.to_string()).collect();
    let result = mqtt5_codes(server, user, password, &ops);
    assert_eq!(result["connack"], 0, "{result}");
    result["ops"]
        .as_array()
        .expect("ops")
        .iter()
        .map(|op| op[2].as_u64().expect("a code"))
        .collect()
}

#[test]
fn a_subscriber_sees_the_counters_move() {
    let server = common::start(&["--sys-interval", "1"]);
    let port = server.port();
    let version = read(&server, "$SYS/broker/version", &[]).expect("version");
    assert!(version.starts_with("magnetite version "), "{version}");
    // A subscriber held for the whole test: the readers below come and go between ticks.
    let held = common::spawn_mosquitto("mosquitto_sub", &port, &["-t", "t/#", "-i", "held"]);
    wait_for(&server, "$SYS/broker/clients/connected", &[], |v| v >= 1);
    wait_for(&server, "$SYS/broker/subscriptions/count", &[], |v| v >= 1);
    let received = number(&server, "$SYS/broker/publish/messages/received", &[]);
    let bytes = number(&server, "$SYS/broker/bytes/received", &[]);
    let sent = number(&server, "$SYS/broker/publish/messages/sent", &[]);
    for n in 0..3 {
        let out = mosquitto("mosquitto_pub", &port, &["-t", "t/x", "-m", &n.to_string()]);
        common::assert_success(&out);
    }
    // A persistent session stays counted (clients/disconnected) once its client left.
    let out = mosquitto(
        "mosquitto_pub",
        &port,
        &["-t", "t/x", "-m", "p", "-c", "-i", "keeper", "-q", "1"],
    );
    common::assert_success(&out);
    let topic = "$SYS/broker/publish/messages/received";
    wait_for(&server, topic, &[], |v| v >= received + 4);
    wait_for(&server, "$SYS/broker/bytes/received", &[], |v| v > bytes);
    wait_for(&server, "$SYS/broker/publish/messages/sent", &[], |v| {
        v >= sent + 4
    });
    wait_for(&server, "$SYS/broker/clients/disconnected", &[], |v| v >= 1);
    wait_for(&server, "$SYS/broker/clients/total", &[], |v| v >= 2);
    let uptime = read(&server, "$SYS/broker/uptime", &[]).expect("uptime");
    assert!(uptime.ends_with(" seconds"), "{uptime}");
    let load = read(&server, "$SYS/broker/load/connections/1min", &[]).expect("load");
    assert!(load.parse::<f64>().is_ok(), "{load}");
    common::finish(held, Duration::ZERO);
}

#[test]
fn clients_cannot_publish_to_sys() {
    let server = common::start(&["--sys-interval", "1"]);
    let port = server.port();
    // 3.1.1 under --auth none: acknowledged and dropped, as mosquitto does.
    let forged = ["-t", "$SYS/broker/uptime", "-m", "forged", "-r", "-q", "1"];
    common::assert_success(&mosquitto("mosquitto_pub", &port, &forged));
    let out = mosquitto("mosquitto_pub", &port, &["-t", "$SYS/own", "-m", "x", "-r"]);
    common::assert_success(&out);
    assert_eq!(
        read(&server, "$SYS/own", &[]),
        None,
        "a client's $SYS message was kept"
    );
    let uptime = read(&server, "$SYS/broker/uptime", &[]).expect("uptime");
    assert!(
        uptime.ends_with(" seconds"),
        "the broker's value, not {uptime}"
    );
    // 5.0: PUBACK "not authorized", even with no ACL at all.
    let got = codes(
        &server,
        "anyone",
        "x",
        &["pub:$SYS/broker/uptime", "pub:t/ok"],
    );
    assert_eq!(got[0], NOT_AUTHORIZED, "{got:?}");
    assert!(got[1] < 0x80, "an ordinary topic is accepted: {got:?}");
}

#[test]
fn the_acl_decides_who_reads_sys_under_auth_none() {
    let dir = common::temp_data_dir();
    std::fs::create_dir_all(&dir).expect("a directory for the ACL");
    let acl = dir.join("acl.txt");
    let text = "topic readwrite t/#\nuser ops\ntopic read $SYS/#\n";
    std::fs::write(&acl, text).expect("write ACL");
    let acl = acl.to_string_lossy().to_string();
    let server = common::start(&["--sys-interval", "1", "--acl-file", &acl]);
    assert_eq!(
        codes(&server, "dev", "x", &["sub:$SYS/#"]),
        [UNSPECIFIED_ERROR]
    );
    let granted = codes(&server, "ops", "x", &["sub:$SYS/#"]);
    assert!(granted[0] < 0x80, "ops was refused: {granted:?}");
    let version = read(&server, "$SYS/broker/version", &["-u", "ops"]);
    assert!(version.is_some_and(|v| v.starts_with("magnetite")));
    assert_eq!(read(&server, "$SYS/broker/version", &["-u", "dev"]), None);
}

/// A user who is not a platform admin, with a domain and a device of their own.
fn tenant_device(admin: &Api, server: &Server) -> (String, Device) {
    let body = json!({"email": "eve@example.com", "credentials": {"username": "eve", "secret": "eve-password-1"}});
    let eve = admin.expect("POST", "/users", Some(body), 201);
    let mut api = Api::admin(server);
    api.token = api.login("eve@example.com", "eve-password-1");
    let domain = api.domain("Eve's", "eve");
    let device = api.client(&domain, "sensor");
    (eve["id"].as_str().expect("user id").to_string(), device)
}

#[test]
fn only_the_platform_admins_clients_read_sys() {
    let server = platform::server(&["--sys-interval", "1"]);
    let admin = Api::admin(&server);
    let ops_domain = admin.domain("Operations", "ops");
    let ops = admin.client(&ops_domain, "dashboard");
    let (eve, device) = tenant_device(&admin, &server);

    let refused = codes(
        &server,
        &device.id,
        &device.secret,
        &["sub:$SYS/#", "sub:#"],
    );
    assert_eq!(
        refused,
        [NOT_AUTHORIZED, NOT_AUTHORIZED],
        "a tenant's device"
    );
    let publish = codes(&server, &ops.id, &ops.secret, &["sub:$SYS/#", "pub:$SYS/x"]);
    assert!(
        publish[0] < 0x80,
        "the admin's client was refused: {publish:?}"
    );
    assert_eq!(publish[1], NOT_AUTHORIZED, "nobody publishes to $SYS");
    let login = ops.mosquitto_args(&[]);
    let version = read(&server, "$SYS/broker/version", &login);
    assert!(
        version.is_some_and(|v| v.starts_with("magnetite")),
        "the admin's client reads"
    );
    let login = device.mosquitto_args(&["-V", "mqttv311"]);
    assert_eq!(
        read(&server, "$SYS/broker/version", &login),
        None,
        "3.1.1 SUBACK 0x80"
    );

    // Who reads follows the creator's role at once (the access cache is reloaded).
    let role = Some(json!({"role": "admin"}));
    admin.expect("PATCH", &format!("/users/{eve}/role"), role, 200);
    let granted = codes(&server, &device.id, &device.secret, &["sub:$SYS/#"]);
    assert!(granted[0] < 0x80, "eve is an admin now: {granted:?}");
    let role = Some(json!({"role": "user"}));
    admin.expect("PATCH", &format!("/users/{eve}/role"), role, 200);
    let refused = codes(&server, &device.id, &device.secret, &["sub:$SYS/#"]);
    assert_eq!(refused, [NOT_AUTHORIZED]);
}
