//! Kaa endpoint events (`--kaa-events`) against a real nats-server: every event type on
//! its subject, decoded by Python fastavro (`tests/python/kaa_decode.py`, schemas
//! transcribed from the RFC `.avsc` files, independent of the broker's Avro library);
//! the metadata diff rules; a gateway's declared devices (and the ones it may not
//! declare); a NATS outage losing nothing; the startup refusal without NATS.

mod common;
mod platform;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use magnetite_testkit::servers::Server as Sink;
use magnetite_testkit::sinks::wait_for_len;
use platform::{gateway, Api};
use serde_json::{json, Value};

const INSTANCE: &str = "kaa-instance-1";

/// One decoded message: its subject's group and type, and the record.
#[derive(Debug, Clone)]
struct Decoded {
    subject: String,
    group: String,
    kind: String,
    record: Value,
}

struct Setup {
    nats: Sink,
    server: common::Server,
    api: Api,
    _dir: tempfile::TempDir,
}

fn setup(extra: &[&str]) -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let nats = magnetite_testkit::servers::nats(dir.path());
    let url = format!("nats://127.0.0.1:{}", nats.port);
    let mut args = vec![
        "--event-store",
        &url,
        "--kaa-events",
        "--instance-id",
        INSTANCE,
    ];
    args.extend_from_slice(extra);
    let server = platform::server(&args);
    let api = Api::admin(&server);
    Setup {
        nats,
        server,
        api,
        _dir: dir,
    }
}

fn now_ms() -> i64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock");
    since.as_millis() as i64
}

/// Waits until the `kaa-events` JetStream stream holds at least `n` messages (60 s at
/// most), then decodes all of them with fastavro.
fn messages(port: u16, n: usize) -> Vec<Decoded> {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let raw = wait_for_len(Duration::from_secs(60), n, || {
        rt.block_on(magnetite_testkit::sinks::read_raw(port, "kaa-events"))
    });
    decode(&raw)
}

/// Runs the Python decoder on (subject, payload) pairs.
fn decode(raw: &[(String, Vec<u8>)]) -> Vec<Decoded> {
    let input: Vec<Value> = raw
        .iter()
        .map(|(subject, body)| {
            let hex: String = body.iter().map(|b| format!("{b:02x}")).collect();
            json!({"subject": subject, "payload": hex})
        })
        .collect();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/kaa_decode.py");
    let mut child = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 is required (scripts/test.sh installs fastavro)");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(Value::Array(input).to_string().as_bytes())
        .expect("write");
    drop(stdin);
    let out = child.wait_with_output().expect("decoder");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "fastavro decoding failed: {stderr}");
    let decoded: Vec<Value> = serde_json::from_slice(&out.stdout).expect("decoder JSON");
    decoded
        .into_iter()
        .map(|d| {
            let subject = d["subject"].as_str().expect("subject").to_string();
            let parts: Vec<&str> = subject.split('.').collect();
            Decoded {
                group: parts[5].to_string(),
                kind: parts[6].to_string(),
                subject: subject.clone(),
                record: d["record"].clone(),
            }
        })
        .collect()
}

/// The fields every record has, checked for all of `events`.
fn check_common(events: &[Decoded], originator: &str, since_ms: i64) {
    let mut ids = std::collections::HashSet::new();
    for e in events {
        let r = &e.record;
        let prefix = format!("kaa.v1.events.{originator}.endpoint.");
        assert!(e.subject.starts_with(&prefix), "{}", e.subject);
        let id = r["correlationId"].as_str().expect("correlationId");
        assert_eq!(id.len(), 36, "a UUID: {id}");
        assert!(ids.insert(id.to_string()), "correlationId reused: {id}");
        let ts = r["timestamp"].as_i64().expect("timestamp");
        assert!(
            ts >= since_ms && ts <= now_ms(),
            "timestamp {ts} (ms) of {r}"
        );
        assert_eq!(r["timeout"], json!(0));
        assert_eq!(r["originatorReplicaId"], json!(INSTANCE));
    }
}

fn kinds(events: &[Decoded]) -> Vec<String> {
    events
        .iter()
        .map(|e| format!("{}/{}", e.group, e.kind))
        .collect()
}

/// An MQTT 3.1.1 session of `device` that PUBLISHes (QoS 1) each of `declared` to
/// `$magnetite/endpoints/<id>`, waits for every PUBACK, then DISCONNECTs.
fn session(mqtt: std::net::SocketAddr, device: &platform::Device, declared: &[&str]) {
    let topics: Vec<String> = declared.iter().map(|id| gateway::declare(id)).collect();
    gateway::session(mqtt, device, &format!("s-{}", &device.id[..8]), &topics);
}

fn endpoints(e: &Decoded) -> Vec<(String, String)> {
    let map = e.record["endpoints"].as_object().expect("endpoints map");
    let mut v: Vec<(String, String)> = map
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().expect("version").to_string()))
        .collect();
    v.sort();
    v
}

/// `scripts/kaa_sub.py` (the README's example) subscribed with core NATS, exiting after
/// `count` events.
fn subscriber(port: u16, count: usize) -> std::process::Child {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/kaa_sub.py");
    let args = [script, "127.0.0.1", &port.to_string(), &count.to_string()].map(String::from);
    let mut child = common::spawn("python3", &args.each_ref().map(String::as_str));
    let mut stderr = std::io::BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stderr, &mut line).expect("subscriber stderr");
    assert_eq!(line.trim(), "subscribed");
    child
}

#[test]
fn every_event_type_decodes_per_the_rfc_schemas() {
    let s = setup(&[]);
    let since = now_ms();
    let sub = subscriber(s.nats.port, 6);
    let d = s.api.domain("Kaa", "kaa");
    let c = s
        .api
        .client_with(&d, "sensor", json!({"app_version": "1.0", "room": "a"}));
    let new_md = json!({"app_version": "1.1", "room": "a", "cfg": {"x": [1, 2]}, "nil": null});
    let path = format!("/{d}/clients/{}", c.id);
    s.api
        .expect("PUT", &path, Some(json!({"metadata": new_md})), 200);
    let login = Some((c.id.as_str(), c.secret.as_str()));
    assert_eq!(
        magnetite_testkit::mqtt::connect_and_disconnect(s.server.mqtt, "dev", login),
        0
    );
    // MQTT events reach the outbox through the batching writer: wait for the disconnect
    // before deleting, so the order below is the order of the changes.
    assert_eq!(messages(s.nats.port, 5).len(), 5);
    s.api.expect("DELETE", &path, None, 204);

    let events = messages(s.nats.port, 6);
    assert_eq!(
        kinds(&events),
        [
            "lifecycle/registered",
            "metadata/updated",
            "lifecycle/appversion-updated",
            "connectivity/connected",
            "connectivity/disconnected",
            "lifecycle/unregistered",
        ]
    );
    check_common(&events, "magnetite", since);
    let r: Vec<&Value> = events.iter().map(|e| &e.record).collect();
    assert_eq!(r[0]["endpointId"], json!(c.id));
    assert_eq!(r[0]["appVersionName"], json!("1.0"));
    assert_eq!(r[1]["endpointId"], json!(c.id));
    assert_eq!(r[1]["appVersionName"], json!("1.1"));
    assert_eq!(r[1]["added"], json!({"cfg": r#"{"x":[1,2]}"#, "nil": null}));
    assert_eq!(r[1]["removed"], json!({}));
    assert_eq!(
        r[1]["updated"],
        json!({"app_version": {"newValue": "\"1.1\"", "oldValue": "\"1.0\""}})
    );
    assert_eq!(r[2]["endpointId"], json!(c.id));
    assert_eq!(r[2]["appVersionName"], json!("1.1"));
    assert_eq!(r[2]["previousAppVersionName"], json!("1.0"));
    assert_eq!(r[3]["endpoints"], json!({ c.id.clone(): "1.1" }));
    assert_eq!(r[4]["endpoints"], json!({ c.id.clone(): "1.1" }));
    assert_eq!(r[5]["endpointId"], json!(c.id));
    assert_eq!(r[5]["appVersionName"], json!("1.1"));
    // A core NATS subscriber (the README's script) got the same six records.
    let out = common::finish(sub, Duration::from_secs(30));
    let seen: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("JSON line")["record"].clone())
        .collect();
    assert_eq!(seen, r.into_iter().cloned().collect::<Vec<_>>());
}

#[test]
fn metadata_diff_rules_full_partial_and_empty() {
    // A Redis event store beside NATS: it gets the Magistrala events, never Kaa's.
    let redis_dir = tempfile::tempdir().expect("tempdir");
    let redis = magnetite_testkit::servers::redis(redis_dir.path());
    let redis_url = format!("redis://127.0.0.1:{}", redis.port);
    let s = setup(&["--kaa-app-version-key", "fw", "--event-store", &redis_url]);
    let since = now_ms();
    let d = s.api.domain("Diff", "diff");
    let c = s
        .api
        .client_with(&d, "meter", json!({"a": 1, "b": {"n": [1]}, "c": "x"}));
    let path = format!("/{d}/clients/{}", c.id);
    let partial = format!("{path}/metadata");
    // A full replace: `b` is removed, `c` updated.
    s.api.expect(
        "PUT",
        &path,
        Some(json!({"metadata": {"a": 1, "c": "y"}})),
        200,
    );
    // A partial update: only `d` is added; `a` and `c` stay, nothing is removed.
    s.api.expect(
        "PATCH",
        &partial,
        Some(json!({"metadata": {"d": null}})),
        200,
    );
    // Empty diffs emit nothing: no metadata, the same metadata, a key set to its value.
    s.api
        .expect("PATCH", &path, Some(json!({"name": "renamed"})), 200);
    let same = json!({"metadata": {"a": 1, "c": "y", "d": null}});
    s.api.expect("PATCH", &path, Some(same), 200);
    s.api
        .expect("PATCH", &partial, Some(json!({"metadata": {"a": 1}})), 200);
    // Bad partial bodies and foreign ids are refused.
    let (status, body) = s
        .api
        .call("PATCH", &partial, Some(json!({"metadata": [1]})));
    assert_eq!(status.as_u16(), 400, "{body}");
    assert!(body["message"].is_string(), "{body}");
    let other = s.api.domain("Other", "other");
    let foreign = format!("/{other}/clients/{}/metadata", c.id);
    s.api
        .expect("PATCH", &foreign, Some(json!({"metadata": {"z": 1}})), 404);
    // The sentinel: the app version key `fw` appears.
    s.api.expect(
        "PATCH",
        &partial,
        Some(json!({"metadata": {"fw": "2.0"}})),
        200,
    );

    let events = messages(s.nats.port, 5);
    assert_eq!(
        kinds(&events),
        [
            "lifecycle/registered",
            "metadata/updated",
            "metadata/updated",
            "metadata/updated",
            "lifecycle/appversion-updated",
        ]
    );
    check_common(&events, "magnetite", since);
    let r: Vec<&Value> = events.iter().map(|e| &e.record).collect();
    assert_eq!(
        r[0]["appVersionName"],
        json!(""),
        "absent key: empty string"
    );
    assert_eq!(r[1]["removed"], json!({"b": r#"{"n":[1]}"#}));
    assert_eq!(r[1]["added"], json!({}));
    assert_eq!(
        r[1]["updated"],
        json!({"c": {"newValue": "\"y\"", "oldValue": "\"x\""}})
    );
    assert_eq!(
        r[2]["removed"],
        json!({}),
        "a partial update removes nothing"
    );
    assert_eq!(r[2]["added"], json!({"d": null}), "JSON null is Avro null");
    assert_eq!(r[2]["updated"], json!({}));
    assert_eq!(r[3]["added"], json!({"fw": "\"2.0\""}));
    assert_eq!(r[3]["appVersionName"], json!("2.0"));
    assert_eq!(r[4]["previousAppVersionName"], json!(""));
    assert_eq!(r[4]["appVersionName"], json!("2.0"));
    // Once Redis has the 7 client events (create, 6 updates), its cursor has passed
    // every Kaa row written before the last of them.
    let clients = wait_for_len(Duration::from_secs(30), 7, || {
        magnetite_testkit::sinks::xrange(redis.port, "magistrala.clients")
    });
    assert_eq!(
        clients.len(),
        7,
        "Redis ships the clients stream: {clients:?}"
    );
    assert!(magnetite_testkit::sinks::xrange(redis.port, "magistrala.kaa").is_empty());
}

#[test]
fn a_gateway_disconnect_lists_every_device_it_declared_and_nothing_else() {
    let s = setup(&["--kaa-originator", "edge-7", "--kaa-max-endpoints", "5"]);
    let since = now_ms();
    let d = s.api.domain("Site", "site");
    let gw_md = json!({"gateway": true, "app_version": "gw-2"});
    let gw = s.api.client_with(&d, "gateway", gw_md);
    let devs: Vec<platform::Device> = (0..5)
        .map(|i| {
            s.api
                .client_with(&d, &format!("dev{i}"), json!({"app_version": "d-1"}))
        })
        .collect();
    let disabled = s.api.client_with(&d, "off", json!({}));
    let off_path = format!("/{d}/clients/{}/disable", disabled.id);
    s.api.expect("POST", &off_path, None, 200);
    let plain = s.api.client_with(&d, "plain", json!({"gateway": "yes"}));
    // Another tenant: its own user, domain and client.
    let (email, password) = ("other@kaa.example.com", "other-password-1");
    let user =
        json!({"email": email, "credentials": {"username": "other-kaa", "secret": password}});
    s.api.expect("POST", "/users", Some(user), 201);
    let mut other_api = Api::admin(&s.server);
    other_api.token = other_api.login(email, password);
    let other = other_api.domain("Elsewhere", "elsewhere");
    let foreign = other_api.client(&other, "foreign");
    let unknown = "00000000-0000-4000-8000-000000000000";
    let registered = 1 + 5 + 1 + 1 + 1;

    let ids: Vec<&str> = devs.iter().map(|d| d.id.as_str()).collect();
    let order = [
        ids[0],
        ids[1],
        &foreign.id,
        unknown,
        &disabled.id,
        "bad/id",
        ids[0],
        ids[2],
        ids[3],
        ids[4],
    ];
    session(s.server.mqtt, &gw, &order);
    // The gateway's disconnect is written before the next session starts.
    assert_eq!(messages(s.nats.port, registered + 6).len(), registered + 6);
    session(s.server.mqtt, &plain, &[ids[0]]);

    let all = messages(s.nats.port, registered + 8);
    check_common(&all, "edge-7", since);
    let text =
        serde_json::to_string(&all.iter().map(|e| &e.record).collect::<Vec<_>>()).expect("json");
    for never in [foreign.id.as_str(), unknown, disabled.id.as_str(), ids[4]] {
        let in_connectivity = all
            .iter()
            .filter(|e| e.group == "connectivity")
            .any(|e| e.record.to_string().contains(never));
        assert!(
            !in_connectivity,
            "{never} is in a connectivity event: {text}"
        );
    }
    let conn: Vec<&Decoded> = all.iter().filter(|e| e.group == "connectivity").collect();
    let shown: Vec<(String, Vec<(String, String)>)> = conn
        .iter()
        .map(|e| (e.kind.clone(), endpoints(e)))
        .collect();
    let one = |id: &str, v: &str| vec![(id.to_string(), v.to_string())];
    let mut served = vec![(gw.id.clone(), "gw-2".to_string())];
    served.extend(
        ids[..4]
            .iter()
            .map(|id| (id.to_string(), "d-1".to_string())),
    );
    served.sort();
    assert_eq!(
        shown,
        vec![
            ("connected".into(), one(&gw.id, "gw-2")),
            ("connected".into(), one(ids[0], "d-1")),
            ("connected".into(), one(ids[1], "d-1")),
            ("connected".into(), one(ids[2], "d-1")),
            ("connected".into(), one(ids[3], "d-1")),
            ("disconnected".into(), served),
            ("connected".into(), one(&plain.id, "")),
            ("disconnected".into(), one(&plain.id, "")),
        ],
        "a non-gateway's declaration and everything past the limit of 5 are ignored"
    );
    let metrics = reqwest::blocking::get(format!("http://{}/metrics", s.server.http))
        .expect("metrics")
        .text()
        .expect("text");
    assert!(
        metrics.contains("magnetite_kaa_declarations_ignored_total 6"),
        "foreign, unknown, disabled, malformed, over the limit, not a gateway: {metrics}"
    );
    // `GET /events` keeps the domain scoping for Kaa rows: the other tenant reads only
    // its own client's registration.
    let page = other_api.expect("GET", "/events?stream=kaa&limit=1000", None, 200);
    let rows = page["events"].as_array().expect("events");
    assert_eq!(rows.len(), 1, "{page}");
    assert_eq!(rows[0]["event"]["endpoint_id"], json!(foreign.id));
    assert_eq!(rows[0]["event"]["kaa"], json!("lifecycle.registered"));
}

#[test]
fn a_nats_outage_loses_no_kaa_event() {
    let mut s = setup(&[]);
    let d = s.api.domain("Outage", "outage");
    let gw = s.api.client_with(&d, "gw", json!({"gateway": true}));
    let before = messages(s.nats.port, 1);
    assert_eq!(before.len(), 1, "shipping before the outage");
    s.nats.stop_gracefully();

    let devices: Vec<platform::Device> = (0..20)
        .map(|i| {
            s.api
                .client_with(&d, &format!("c{i:02}"), json!({"app_version": "1"}))
        })
        .collect();
    for (i, dev) in devices.iter().enumerate() {
        let body = json!({"metadata": {"app_version": "2", "i": i}});
        s.api
            .expect("PUT", &format!("/{d}/clients/{}", dev.id), Some(body), 200);
    }
    for dev in &devices[..5] {
        let login = Some((dev.id.as_str(), dev.secret.as_str()));
        assert_eq!(
            magnetite_testkit::mqtt::connect_and_disconnect(s.server.mqtt, "x", login),
            0
        );
    }
    session(s.server.mqtt, &gw, &[&devices[5].id, &devices[6].id]);
    s.nats.start();

    let expected = 1 + 20 * 3 + 5 * 2 + 4;
    let shipped = messages(s.nats.port, expected);
    assert_eq!(shipped.len(), expected, "{:?}", kinds(&shipped));
    let shipped_ids: Vec<String> = shipped
        .iter()
        .map(|e| e.record["correlationId"].as_str().expect("id").to_string())
        .collect();
    assert_eq!(
        shipped_ids,
        outbox_kaa(&s.api),
        "every event once, in the outbox's order"
    );
    let gateway_left: Vec<&Decoded> = shipped
        .iter()
        .filter(|e| e.kind == "disconnected" && endpoints(e).len() == 3)
        .collect();
    assert_eq!(
        gateway_left.len(),
        1,
        "the gateway and its two devices, once"
    );
}

/// The correlation ids of the `kaa` rows of the embedded log, in outbox order.
fn outbox_kaa(api: &Api) -> Vec<String> {
    api.event_log("kaa")
        .iter()
        .map(|ev| {
            ev["correlation_id"]
                .as_str()
                .expect("correlation_id")
                .to_string()
        })
        .collect()
}

#[test]
fn kaa_events_are_refused_without_a_nats_event_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_str().expect("utf-8");
    let refused = |extra: &[&str]| {
        let mut args = vec!["serve", "--data-dir", data, "--kaa-events"];
        args.extend_from_slice(extra);
        let out = Command::new(env!("CARGO_BIN_EXE_magnetite"))
            .args(&args)
            .output()
            .expect("run magnetite");
        assert!(!out.status.success(), "started with {extra:?}");
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    let none = refused(&[]);
    assert!(
        none.contains("--kaa-events needs a NATS event store"),
        "{none}"
    );
    let redis = refused(&["--event-store", "redis://127.0.0.1:1"]);
    assert!(
        redis.contains("--kaa-events needs a NATS event store"),
        "{redis}"
    );
    let bad = refused(&[
        "--event-store",
        "nats://127.0.0.1:1",
        "--kaa-originator",
        "a.b",
    ]);
    assert!(bad.contains("one NATS subject token"), "{bad}");
}
