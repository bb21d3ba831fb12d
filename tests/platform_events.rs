//! Every operation family of the platform, driven through the HTTP API and MQTT clients
//! of the binary, read back from each real sink (Redis `XRANGE`, a JetStream consumer, a
//! RabbitMQ stream consumer) and compared with the reference: the operation names in the
//! order they happened, once each, and each event's fields within the reference's set
//! for that operation (with the ones every such event has), never a secret.

mod common;
mod platform;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::{run, Server};
use platform::Api;
use serde_json::json;

/// Fields of an event: name -> value as text (flat in Redis, JSON values elsewhere).
type Fields = BTreeMap<String, String>;

const REC: &[&str] = &["id", "name", "metadata", "tags", "status", "created_at"];
const UPD: &[&str] = &["updated_at", "updated_by"];
const LIST: &[&str] = &["total", "offset", "limit", "status"];
/// A bootstrap config as the reference's `config.*` / `client.bootstrap` events carry it.
const BOOT: &[&str] = &[
    "client_id",
    "owner",
    "name",
    "external_id",
    "channels",
    "content",
    "client_cert",
    "client_key_sha256",
    "ca_cert",
    "state",
];

/// The reference's field set for `op` (`operation` and `occurred_at` implied) and the
/// fields every such event must carry.
fn reference(op: &str) -> (Vec<&'static str>, Vec<&'static str>) {
    let with = |base: &[&'static str], extra: &[&'static str]| {
        base.iter().chain(extra).copied().collect::<Vec<_>>()
    };
    let user = with(REC, &["identity"]);
    let owned = with(REC, &["owner"]);
    match op {
        "user.create" | "user.view" | "user.view_profile" => {
            (user, vec!["id", "name", "identity", "status", "created_at"])
        }
        "user.update" | "user.update_tags" | "user.update_identity" | "user.update_secret" => (
            with(&user, UPD),
            vec!["id", "identity", "updated_at", "updated_by"],
        ),
        "user.update_role" => (with(&with(&user, UPD), &["role"]), vec!["id", "role"]),
        "user.remove" | "group.remove" | "client.remove" | "channel.remove" => (
            with(&["id", "status"], UPD),
            vec!["id", "status", "updated_at", "updated_by"],
        ),
        "user.list" | "group.list" | "client.list" | "channel.list" => {
            (LIST.to_vec(), vec!["total", "offset", "limit"])
        }
        "client.list_by_channel" => (with(LIST, &["channel_id"]), vec!["total", "channel_id"]),
        "channel.list_by_client" => (with(LIST, &["client_id"]), vec!["total", "client_id"]),
        "user.issue_token" => (vec!["identity"], vec!["identity"]),
        "user.refresh_token" | "user.reset_secret" => (vec![], vec![]),
        "user.generate_reset_token" => (vec!["email", "host"], vec!["email", "host"]),
        "user.send_password_reset" => {
            (vec!["email", "host", "user"], vec!["email", "host", "user"])
        }
        "group.create" | "group.view" | "client.create" | "client.view" | "channel.create"
        | "channel.view" => (owned, vec!["id", "name", "owner", "status", "created_at"]),
        "group.update"
        | "client.update"
        | "client.update_tags"
        | "client.update_secret"
        | "channel.update" => (with(&owned, UPD), vec!["id", "updated_at", "updated_by"]),
        "channel.connect" | "channel.disconnect" => (
            vec!["channel_ids", "client_ids", "types"],
            vec!["channel_ids", "client_ids", "types"],
        ),
        "config.create" | "config.view" => (
            BOOT.to_vec(),
            vec![
                "client_id",
                "external_id",
                "name",
                "owner",
                "channels",
                "state",
            ],
        ),
        "config.update" => (
            vec!["client_id", "name", "content", "state"],
            vec!["client_id"],
        ),
        "cert.update" => (
            vec!["client_id", "client_cert", "client_key_sha256", "ca_cert"],
            vec!["client_id"],
        ),
        "config.list" => (
            vec!["offset", "limit", "total", "state", "name"],
            vec!["offset", "limit"],
        ),
        "config.remove" => (vec!["client_id"], vec!["client_id"]),
        "client.bootstrap" => (
            BOOT.iter().copied().chain(["success"]).collect(),
            vec!["external_id", "success"],
        ),
        "client.change_state" => (vec!["client_id", "state"], vec!["client_id", "state"]),
        "client.update_connections" => {
            (vec!["client_id", "channels"], vec!["client_id", "channels"])
        }
        other => panic!("no reference entry for {other}"),
    }
}

/// What the drive did: the operations per stream in order, and the secrets that must
/// never appear in any event.
struct Drive {
    users: Vec<&'static str>,
    clients: Vec<&'static str>,
    bootstrap: Vec<&'static str>,
    mqtt_client: String,
    secrets: Vec<String>,
}

/// Runs every operation family once (and some twice) through the API, then a device's
/// MQTT connect and disconnect.
fn drive(server: &Server) -> Drive {
    let admin = Api::admin(server);
    // The first start created the admin; every `Api::admin` logs in.
    let mut users = vec!["user.create", "user.issue_token"];
    let u = admin.expect("POST", "/users", Some(json!({"email": "fay@example.com", "credentials": {"username": "fay", "secret": "fay-password"}, "tags": ["ops"]})), 201);
    let uid = u["id"].as_str().unwrap().to_string();
    let fay = {
        let mut a = Api::admin(server);
        a.token = admin.login("fay@example.com", "fay-password");
        a
    };
    admin.expect("GET", &format!("/users/{uid}"), None, 200);
    fay.expect("GET", "/users/profile", None, 200);
    admin.expect("GET", "/users", None, 200);
    admin.expect(
        "PATCH",
        &format!("/users/{uid}"),
        Some(json!({"first_name": "Fay"})),
        200,
    );
    admin.expect(
        "PATCH",
        &format!("/users/{uid}/tags"),
        Some(json!({"tags": ["ops", "night"]})),
        200,
    );
    admin.expect(
        "PATCH",
        &format!("/users/{uid}/email"),
        Some(json!({"email": "fay2@example.com"})),
        200,
    );
    admin.expect(
        "PATCH",
        &format!("/users/{uid}/role"),
        Some(json!({"role": "admin"})),
        200,
    );
    fay.expect(
        "PATCH",
        "/users/secret",
        Some(json!({"old_secret": "fay-password", "new_secret": "fay-password-2"})),
        200,
    );
    admin.expect("POST", &format!("/users/{uid}/disable"), None, 200);
    let mut anonymous = Api::admin(server);
    anonymous.token.clear();
    anonymous.expect(
        "POST",
        "/password/reset-request",
        Some(json!({"email": "admin@example.com", "host": "https://h"})),
        201,
    );
    users.extend([
        "user.create",
        "user.issue_token",
        "user.issue_token",
        "user.view",
        "user.view_profile",
        "user.list",
        "user.update",
        "user.update_tags",
        "user.update_identity",
        "user.update_role",
        "user.update_secret",
        "user.remove",
        "user.issue_token",
        "user.generate_reset_token",
        "user.send_password_reset",
    ]);

    let d = admin.domain("Events", "factory");
    let g = admin.expect(
        "POST",
        &format!("/{d}/groups"),
        Some(json!({"name": "hall"})),
        201,
    )["id"]
        .as_str()
        .unwrap()
        .to_string();
    admin.expect(
        "PATCH",
        &format!("/{d}/groups/{g}"),
        Some(json!({"name": "hall-2"})),
        200,
    );
    admin.expect("GET", &format!("/{d}/groups/{g}"), None, 200);
    admin.expect("GET", &format!("/{d}/groups"), None, 200);
    admin.expect("POST", &format!("/{d}/groups/{g}/disable"), None, 200);
    users.extend([
        "group.create",
        "group.update",
        "group.view",
        "group.list",
        "group.remove",
    ]);

    let device = admin.client(&d, "meter");
    let ch = admin.channel(&d, "power");
    admin.expect(
        "PATCH",
        &format!("/{d}/clients/{}", device.id),
        Some(json!({"name": "meter-2", "metadata": {"k": 1}})),
        200,
    );
    admin.expect(
        "PATCH",
        &format!("/{d}/clients/{}/tags", device.id),
        Some(json!({"tags": ["a"]})),
        200,
    );
    let changed = admin.expect(
        "PATCH",
        &format!("/{d}/clients/{}/secret", device.id),
        Some(json!({"secret": "meter-secret-2"})),
        200,
    );
    assert_eq!(changed["credentials"]["secret"], "meter-secret-2");
    admin.expect("GET", &format!("/{d}/clients/{}", device.id), None, 200);
    admin.expect("GET", &format!("/{d}/clients"), None, 200);
    admin.expect(
        "PATCH",
        &format!("/{d}/channels/{ch}"),
        Some(json!({"name": "power-2"})),
        200,
    );
    admin.expect("GET", &format!("/{d}/channels/{ch}"), None, 200);
    admin.expect("GET", &format!("/{d}/channels"), None, 200);
    admin.connect(&d, &ch, &device.id, &["publish", "subscribe"]);
    admin.expect("GET", &format!("/{d}/channels/{ch}/clients"), None, 200);
    admin.expect(
        "GET",
        &format!("/{d}/clients/{}/channels", device.id),
        None,
        200,
    );
    // The device connects over MQTT with its (new) secret, publishes, disconnects.
    let port = server.port();
    let out = run(
        "mosquitto_pub",
        &[
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-i",
            "any-mqtt-id",
            "-u",
            &device.id,
            "-P",
            "meter-secret-2",
            "-t",
            &format!("m/{d}/c/{ch}"),
            "-m",
            "7",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    admin.disconnect(&d, &ch, &device.id, &["publish"]);
    admin.expect("POST", &format!("/{d}/channels/{ch}/disable"), None, 200);
    admin.expect("DELETE", &format!("/{d}/clients/{}", device.id), None, 204);
    let mut clients = vec![
        "client.create",
        "channel.create",
        "client.update",
        "client.update_tags",
        "client.update_secret",
        "client.view",
        "client.list",
        "channel.update",
        "channel.view",
        "channel.list",
        "channel.connect",
        "client.list_by_channel",
        "channel.list_by_client",
        "channel.disconnect",
        "channel.remove",
        "client.remove",
    ];
    let (bootstrap, more_clients) = drive_bootstrap(&admin, &d);
    clients.extend(more_clients);
    let secrets = vec![
        "fay-password".into(),
        "fay-password-2".into(),
        device.secret,
        "meter-secret-2".into(),
        BOOT_KEY.into(),
        DEVICE_KEY.into(),
        "-----BEGIN".into(),
    ];
    Drive {
        users,
        clients,
        bootstrap,
        mqtt_client: device.id,
        secrets,
    }
}

const BOOT_KEY: &str = "factory-key-4711";
/// The device private key given to `cert.update`: events carry only its SHA-256.
const DEVICE_KEY: &str =
    "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIDEVICEKEY4711\n-----END PRIVATE KEY-----\n";

/// Every bootstrap operation once; returns the bootstrap stream's expected operations
/// and what it adds to the clients stream.
fn drive_bootstrap(admin: &Api, d: &str) -> (Vec<&'static str>, Vec<&'static str>) {
    let ch = admin.channel(d, "boot-channel");
    let body = json!({"external_id": "ext-1", "external_key": BOOT_KEY, "name": "gateway", "content": "{}", "channels": [ch]});
    let cfg = admin.expect("POST", &format!("/{d}/clients/configs"), Some(body), 201);
    let id = cfg["client_id"]
        .as_str()
        .expect("config client id")
        .to_string();
    admin.expect("GET", &format!("/{d}/clients/configs/{id}"), None, 200);
    admin.expect("GET", &format!("/{d}/clients/configs"), None, 200);
    admin.expect(
        "PUT",
        &format!("/{d}/clients/configs/{id}"),
        Some(json!({"name": "gateway-2", "content": "{\"a\":1}"})),
        200,
    );
    admin.expect(
        "PATCH",
        &format!("/{d}/clients/configs/certs/{id}"),
        Some(json!({"client_cert": "CERT", "client_key": DEVICE_KEY, "ca_cert": "CA"})),
        200,
    );
    admin.expect(
        "PUT",
        &format!("/{d}/clients/configs/connections/{id}"),
        Some(json!({"channels": [ch]})),
        200,
    );
    let http = reqwest::blocking::Client::new();
    let base = admin.base_url();
    let ok = http
        .get(format!("{base}/clients/bootstrap/ext-1"))
        .header("Authorization", format!("Client {BOOT_KEY}"))
        .send()
        .expect("bootstrap");
    assert_eq!(ok.status().as_u16(), 200);
    let bad = http
        .get(format!("{base}/clients/bootstrap/ext-1"))
        .header("Authorization", "Client wrong-key")
        .send()
        .expect("bootstrap");
    assert!(bad.status().is_client_error());
    admin.expect(
        "PUT",
        &format!("/{d}/clients/state/{id}"),
        Some(json!({"state": 1})),
        200,
    );
    admin.expect("DELETE", &format!("/{d}/clients/configs/{id}"), None, 204);
    let boot = vec![
        "config.create",
        "config.view",
        "config.list",
        "config.update",
        "cert.update",
        "client.update_connections",
        "client.bootstrap",
        "client.bootstrap",
        "client.change_state",
        "config.remove",
    ];
    (
        boot,
        vec!["channel.create", "client.create", "channel.connect"],
    )
}

/// Checks one stream's events against what the drive did.
fn check_stream(what: &str, events: &[Fields], expected_ops: &[&str], secrets: &[String]) {
    let ops: Vec<&str> = events
        .iter()
        .map(|e| e.get("operation").map(String::as_str).unwrap_or(""))
        .collect();
    assert_eq!(ops, expected_ops, "{what}: operations in order, once each");
    for e in events {
        let op = e["operation"].as_str();
        let (allowed, required) = reference(op);
        let allowed: BTreeSet<&str> = allowed
            .into_iter()
            .chain(["operation", "occurred_at"])
            .collect();
        let have: BTreeSet<&str> = e.keys().map(String::as_str).collect();
        let extra: Vec<_> = have.difference(&allowed).collect();
        assert!(
            extra.is_empty(),
            "{what} {op}: fields outside the reference: {extra:?} in {e:?}"
        );
        for r in required.iter().chain(&["occurred_at"]) {
            assert!(have.contains(r), "{what} {op}: missing {r} in {e:?}");
        }
        let ns: i64 = e["occurred_at"]
            .trim_matches('"')
            .parse()
            .expect("occurred_at integer");
        assert!(
            ns > 1_600_000_000_000_000_000,
            "{what} {op}: occurred_at in Unix ns"
        );
        for s in secrets {
            assert!(
                e.values().all(|v| !v.contains(s.as_str())),
                "{what} {op}: a secret leaked: {e:?}"
            );
        }
    }
}

fn check_mqtt(what: &str, events: &[Fields], drive: &Drive) {
    let mine: Vec<&Fields> = events
        .iter()
        .filter(|e| {
            e.get("client_id").map(|c| c.trim_matches('"')) == Some(drive.mqtt_client.as_str())
        })
        .collect();
    let kinds: Vec<&str> = mine
        .iter()
        .map(|e| e["event_type"].trim_matches('"'))
        .collect();
    assert_eq!(
        kinds,
        ["connect", "disconnect"],
        "{what}: the device's MQTT events, by its platform id (not its MQTT id)"
    );
    for e in mine {
        let keys: BTreeSet<&str> = e.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            BTreeSet::from(["client_id", "event_type", "instance", "occurred_at"]),
            "{what}"
        );
        assert_eq!(e["instance"].trim_matches('"'), "node-7");
    }
}

/// Waits until `read` returns at least `n` events (or 30 s), then returns them.
fn wait_for<F: FnMut() -> Vec<Fields>>(n: usize, mut read: F) -> Vec<Fields> {
    let t = Instant::now();
    loop {
        let v = read();
        if v.len() >= n || t.elapsed() > Duration::from_secs(30) {
            return v;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn json_fields(v: Vec<serde_json::Map<String, serde_json::Value>>) -> Vec<Fields> {
    v.into_iter()
        .map(|m| {
            m.into_iter()
                .map(|(k, v)| {
                    (
                        k,
                        match v {
                            serde_json::Value::String(s) => s,
                            other => other.to_string(),
                        },
                    )
                })
                .collect()
        })
        .collect()
}

fn start(store: &str) -> Server {
    platform::server(&["--event-store", store, "--instance-id", "node-7"])
}

#[test]
fn every_family_reaches_redis_streams() {
    let dir = tempfile::tempdir().unwrap();
    let redis = magnetite_testkit::servers::redis(dir.path());
    let server = start(&format!("redis://127.0.0.1:{}", redis.port));
    let d = drive(&server);
    let read =
        |key: &str, n: usize| wait_for(n, || magnetite_testkit::sinks::xrange(redis.port, key));
    check_stream(
        "redis users",
        &read("magistrala.users", d.users.len()),
        &d.users,
        &d.secrets,
    );
    check_stream(
        "redis clients",
        &read("magistrala.clients", d.clients.len()),
        &d.clients,
        &d.secrets,
    );
    check_mqtt("redis mqtt", &read("magistrala.mqtt", 2), &d);
    check_stream(
        "redis bootstrap",
        &read("magistrala.bootstrap", d.bootstrap.len()),
        &d.bootstrap,
        &d.secrets,
    );
}

#[test]
fn every_family_reaches_nats_jetstream() {
    let dir = tempfile::tempdir().unwrap();
    let nats = magnetite_testkit::servers::nats(dir.path());
    let server = start(&format!("nats://127.0.0.1:{}", nats.port));
    let d = drive(&server);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let read = |subject: &str, n: usize| {
        wait_for(n, || {
            json_fields(rt.block_on(magnetite_testkit::sinks::read_subject(nats.port, subject)))
        })
    };
    check_stream(
        "nats users",
        &read("events.magistrala.users", d.users.len()),
        &d.users,
        &d.secrets,
    );
    check_stream(
        "nats clients",
        &read("events.magistrala.clients", d.clients.len()),
        &d.clients,
        &d.secrets,
    );
    check_mqtt("nats mqtt", &read("events.magistrala.mqtt", 2), &d);
    check_stream(
        "nats bootstrap",
        &read("events.magistrala.bootstrap", d.bootstrap.len()),
        &d.bootstrap,
        &d.secrets,
    );
}

#[test]
fn every_family_reaches_rabbitmq_streams() {
    let dir = tempfile::tempdir().unwrap();
    let rabbit = magnetite_testkit::servers::rabbitmq(dir.path());
    let server = start(&format!(
        "rabbitmq-stream://guest:guest@127.0.0.1:{}",
        rabbit.port
    ));
    let d = drive(&server);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let read = |stream: &str, n: usize| {
        json_fields(rt.block_on(magnetite_testkit::sinks::read_stream(
            rabbit.port,
            stream,
            n,
        )))
    };
    check_stream(
        "rabbitmq users",
        &read("magistrala.users", d.users.len()),
        &d.users,
        &d.secrets,
    );
    check_stream(
        "rabbitmq clients",
        &read("magistrala.clients", d.clients.len()),
        &d.clients,
        &d.secrets,
    );
    check_mqtt("rabbitmq mqtt", &read("magistrala.mqtt", 2), &d);
    check_stream(
        "rabbitmq bootstrap",
        &read("magistrala.bootstrap", d.bootstrap.len()),
        &d.bootstrap,
        &d.secrets,
    );
}
