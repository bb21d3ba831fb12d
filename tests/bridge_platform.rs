//! The README's gateway deployment: a central magnetite under `--auth platform` and an
//! edge under `--auth none` whose bridge logs in as a platform client (id + secret from
//! a file) and maps its local topics onto a channel of the central instance; with
//! `declare=true` the devices connected at the edge are served by the gateway in the
//! central's Kaa connectivity events (declared again after the link comes back) and
//! journals, and undeclared when they leave the edge; a gateway on a plain MQTT client
//! does the same with the two endpoint topics.

mod common;
mod platform;

use std::time::{Duration, Instant};

use common::{finish, mosquitto, Server};
use platform::gateway::{self, declare, undeclare};
use platform::tls::{issue, tls_server};
use platform::{device_pub, device_sub, fleet_server, Api, Device};
use serde_json::{json, Value};

/// `magnetite_bridge_connected{bridge="cloud"}` reads 1 within 20 s.
fn wait_connected(edge: &Server) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    let series = "magnetite_bridge_connected{bridge=\"cloud\"} 1";
    while Instant::now() < deadline {
        let text = reqwest::blocking::get(format!("http://{}/metrics", edge.http))
            .and_then(|r| r.text())
            .unwrap_or_default();
        if text.lines().any(|line| line == series) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// A local device publishes `sensors/<sensor>` at the edge; `app` hears it on `channel`
/// of the central instance.
fn assert_telemetry_arrives(
    central: &Server,
    app: &Device,
    channel: &str,
    edge: &Server,
    sensor: &str,
    value: &str,
) {
    let filter = format!("{channel}/sensors/#");
    let telemetry = device_sub(
        &central.port(),
        app,
        &filter,
        &["-C", "1", "-W", "20", "-v", "-q", "1"],
    );
    std::thread::sleep(Duration::from_millis(500));
    let topic = format!("sensors/{sensor}");
    let sent = mosquitto(
        "mosquitto_pub",
        &edge.port(),
        &["-t", &topic, "-m", value, "-q", "1"],
    );
    common::assert_success(&sent);
    let heard = finish(telemetry, Duration::from_secs(25));
    assert_eq!(
        String::from_utf8_lossy(&heard.stdout).trim(),
        format!("{channel}/{topic} {value}")
    );
}

#[test]
fn an_edge_forwards_telemetry_to_a_platform_channel_and_takes_commands_from_it() {
    let (central, api, fleet) = fleet_server("factory");
    let app = api.client(&fleet.domain, "cloud-app");
    api.connect(&fleet.domain, &fleet.ch, &app.id, &["publish", "subscribe"]);
    let gateway = &fleet.device;
    let secret_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(secret_file.path(), format!("{}\n", gateway.secret)).unwrap();
    let channel = format!("m/{}/c/{}", fleet.domain, fleet.ch);
    let bridge = format!(
        "name=cloud,url=mqtt://127.0.0.1:{},client-id=edge-1,username={},password-file={},\
         out=sensors/# -> {channel}/sensors/# qos 1,in={channel}/cmd/# -> cmd/# qos 1",
        central.mqtt.port(),
        gateway.id,
        secret_file.path().display()
    );
    let edge = common::start(&["--bridge", &bridge]);
    assert!(wait_connected(&edge), "{}", edge.log());

    // Telemetry: a local device publishes; the cloud application hears it on the channel.
    assert_telemetry_arrives(&central, &app, &channel, &edge, "temp", "21.5");

    // Commands: the cloud application publishes; a local device hears it unprefixed.
    // The upstream subscription lands just after the link comes up: send until heard.
    let mut device = common::spawn_mosquitto(
        "mosquitto_sub",
        &edge.port(),
        &["-t", "cmd/#", "-C", "1", "-W", "20", "-v"],
    );
    std::thread::sleep(Duration::from_millis(500));
    for _ in 0..50 {
        let sent = device_pub(
            &central.port(),
            &app,
            &format!("{channel}/cmd/lamp"),
            "on",
            &["-q", "1"],
        );
        common::assert_success(&sent);
        std::thread::sleep(Duration::from_millis(300));
        if matches!(device.try_wait(), Ok(Some(_))) {
            break;
        }
    }
    let heard = finish(device, Duration::from_secs(1));
    assert_eq!(String::from_utf8_lossy(&heard.stdout).trim(), "cmd/lamp on");
}

#[test]
fn an_edge_logs_in_upstream_with_a_certificate_from_the_central_certs_service() {
    let dir = tempfile::tempdir().unwrap();
    let central = tls_server(&["--tls-self-signed"]);
    let ca = central.server.data_dir.join("ca").join("ca.crt");
    let api = Api::admin(&central.server);
    let fleet = platform::fleet(&api, "tls-edge");
    let app = api.client(&fleet.domain, "cloud-app");
    api.connect(&fleet.domain, &fleet.ch, &app.id, &["subscribe"]);
    let (crt, key, _) = issue(
        &api,
        &fleet.domain,
        &fleet.device.id,
        "1h",
        dir.path(),
        "gateway",
    );
    let channel = format!("m/{}/c/{}", fleet.domain, fleet.ch);
    // No username or password: the certificate is the identity (mutual TLS).
    let bridge = format!(
        "name=cloud,url=mqtts://localhost:{},ca={},cert={},key={},out=sensors/# -> {channel}/sensors/#",
        central.mqtts.port(),
        ca.display(),
        crt.display(),
        key.display()
    );
    let edge = common::start(&["--bridge", &bridge]);
    assert!(wait_connected(&edge), "{}", edge.log());
    assert_telemetry_arrives(&central.server, &app, &channel, &edge, "hum", "40");
}

/// The central's Kaa connectivity events in order (`GET /events?stream=kaa`), each as
/// its kind (`connected`/`disconnected`) and its endpoint ids sorted (the row keeps
/// the endpoints map as JSON text).
fn connectivity(api: &Api) -> Vec<(String, Vec<String>)> {
    api.event_log("kaa")
        .iter()
        .filter_map(|e| {
            let kind = e["kaa"].as_str()?.strip_prefix("connectivity.")?;
            let endpoints: Value = serde_json::from_str(e["endpoints"].as_str()?).ok()?;
            let ids = endpoints.as_object()?.keys().cloned().collect();
            Some((kind.to_string(), ids))
        })
        .collect()
}

/// Polls [`connectivity`] (30 s at most) until `done` holds; the events.
fn wait_connectivity(
    api: &Api,
    what: &str,
    done: impl Fn(&[(String, Vec<String>)]) -> bool,
) -> Vec<(String, Vec<String>)> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let events = connectivity(api);
        if done(&events) {
            return events;
        }
        assert!(Instant::now() < deadline, "{what}: {events:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn count(events: &[(String, Vec<String>)], kind: &str, endpoints: &[&str]) -> usize {
    let mut want: Vec<String> = endpoints.iter().map(|s| s.to_string()).collect();
    want.sort();
    events
        .iter()
        .filter(|(k, e)| k == kind && *e == want)
        .count()
}

/// An edge whose bridge `cloud` logs in upstream as `gw` (secret in a file under
/// `dir`), MQTT client id `edge-1`, with `declare=true`.
fn edge_declaring(central: &Server, gw: &Device, dir: &std::path::Path) -> Server {
    let secret_file = dir.join("secret");
    std::fs::write(&secret_file, &gw.secret).unwrap();
    let bridge = format!(
        "name=cloud,url=mqtt://127.0.0.1:{},client-id=edge-1,username={},password-file={},declare=true",
        central.mqtt.port(),
        gw.id,
        secret_file.display()
    );
    common::start(&["--bridge", &bridge])
}

/// A local device at the edge (`--auth none`: its MQTT client id names it), left
/// connected.
fn local_device(edge: &Server, id: &str) -> std::process::Child {
    common::spawn_mosquitto("mosquitto_sub", &edge.port(), &["-i", id, "-t", "local/x"])
}

/// A central with Kaa events on (a real nats-server), a domain `site` with a gateway
/// client and a device `lamp`.
struct KaaSite {
    dir: tempfile::TempDir,
    _nats: magnetite_testkit::servers::Server,
    central: Server,
    api: Api,
    site: String,
    gw: Device,
    dev: Device,
}

fn kaa_site() -> KaaSite {
    let dir = tempfile::tempdir().unwrap();
    let nats = magnetite_testkit::servers::nats(dir.path());
    let nats_url = format!("nats://127.0.0.1:{}", nats.port);
    let central = platform::server(&["--event-store", &nats_url, "--kaa-events"]);
    let api = Api::admin(&central);
    let site = api.domain("Site", "site");
    let gw = api.client_with(&site, "gateway", json!({"gateway": true}));
    let dev = api.client_with(&site, "lamp", json!({}));
    KaaSite {
        dir,
        _nats: nats,
        central,
        api,
        site,
        gw,
        dev,
    }
}

#[test]
fn an_edge_declares_its_connected_devices_to_the_central_and_again_after_a_reconnection() {
    let KaaSite {
        dir,
        _nats,
        central,
        api,
        site: _,
        gw,
        dev,
    } = kaa_site();
    // A client of another domain: the edge cannot make the gateway serve it.
    let elsewhere = api.domain("Elsewhere", "elsewhere");
    let foreign = api.client(&elsewhere, "foreign");
    let edge = edge_declaring(&central, &gw, dir.path());
    assert!(wait_connected(&edge), "{}", edge.log());

    // Local devices (`--auth none` at the edge: the MQTT client id names the device).
    let local = |id: &str| local_device(&edge, id);
    let mut sessions = vec![local(&dev.id), local(&foreign.id)];
    wait_connectivity(&api, "the edge's device is declared", |e| {
        count(e, "connected", &[&dev.id]) == 1
    });

    // Cut the link: a session taking over the bridge's MQTT client id upstream. The
    // gateway's disconnect lists its device; the bridge reconnects and declares again.
    let taker = mosquitto(
        "mosquitto_pub",
        &central.port(),
        &[
            "-i", "edge-1", "-u", &gw.id, "-P", &gw.secret, "-t", "x", "-n",
        ],
    );
    common::assert_success(&taker);
    wait_connectivity(&api, "the device is declared again", |e| {
        count(e, "connected", &[&dev.id]) == 2
    });

    edge.stop();
    let events = wait_connectivity(&api, "the edge's stop lists the device", |e| {
        count(e, "disconnected", &[&gw.id, &dev.id]) == 2
    });
    let shown = format!("{events:?}");
    assert!(
        !shown.contains(&foreign.id),
        "another domain's client: {shown}"
    );
    assert_eq!(
        events.last().map(|(kind, _)| kind.as_str()),
        Some("disconnected"),
        "{shown}"
    );
    for session in &mut sessions {
        let _ = session.kill();
        let _ = session.wait();
    }
}

/// The entries of operation `op` in the journal of client `id` (attributes included,
/// oldest first), once there are at least `n` (30 s at most).
fn journal(api: &Api, domain: &str, id: &str, op: &str, n: usize) -> Vec<Value> {
    let path = format!(
        "/{domain}/journal/client/{id}?operation={op}&with_attributes=true&dir=asc&limit=100"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let page = api.expect("GET", &path, None, 200);
        let entries = page["journals"].as_array().cloned().unwrap_or_default();
        if entries.len() >= n {
            return entries;
        }
        assert!(Instant::now() < deadline, "{n} x {op} for {id}: {page}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `(client_id, gateway_id, reason)` of an endpoint journal entry.
fn served(entry: &Value) -> (String, String, String) {
    let text = |k: &str| entry["attributes"][k].as_str().unwrap_or("").to_string();
    (text("client_id"), text("gateway_id"), text("reason"))
}

fn ignored_requests(server: &Server) -> String {
    let text = reqwest::blocking::get(format!("http://{}/metrics", server.http))
        .and_then(|r| r.text())
        .unwrap_or_default();
    let series = text
        .lines()
        .find(|l| l.starts_with("magnetite_kaa_declarations_ignored_total "));
    series.unwrap_or("").to_string()
}

/// One plain MQTT session of `client` at `server` publishing (QoS 1, no payload) `topic`.
fn publish_once(server: &Server, client: &Device, topic: &str) {
    let args = client.mosquitto_args(&["-t", topic, "-n", "-q", "1"]);
    common::assert_success(&mosquitto("mosquitto_pub", &server.port(), &args));
}

#[test]
fn a_device_leaving_the_edge_is_undeclared_and_both_journals_list_what_the_gateway_served() {
    let KaaSite {
        dir,
        _nats,
        central,
        api,
        site,
        gw,
        dev,
    } = kaa_site();
    let edge = edge_declaring(&central, &gw, dir.path());
    assert!(wait_connected(&edge), "{}", edge.log());

    let mut lamp = local_device(&edge, &dev.id);
    wait_connectivity(&api, "the lamp is declared", |e| {
        count(e, "connected", &[&dev.id]) == 1
    });
    let declared = journal(&api, &site, &dev.id, "mqtt.endpoint_declare", 1);
    let want = (dev.id.clone(), gw.id.clone(), String::new());
    assert_eq!(served(&declared[0]), want, "{declared:?}");
    assert_eq!(declared[0]["attributes"]["subscriber_id"], json!("edge-1"));
    assert!(declared[0]["attributes"]["instance"]
        .as_str()
        .is_some_and(|i| !i.is_empty()));
    let in_gateway = journal(&api, &site, &gw.id, "mqtt.endpoint_declare", 1);
    assert_eq!(served(&in_gateway[0]), want);

    // Nobody else can end it: another gateway of the domain, a gateway of another
    // domain (nor declare it), the domain's plain client.
    let gw2 = api.client_with(&site, "gateway-2", json!({"gateway": true}));
    let elsewhere = api.domain("Elsewhere", "elsewhere");
    let foreign_gw = api.client_with(&elsewhere, "their-gateway", json!({"gateway": true}));
    let plain = api.client(&site, "plain");
    publish_once(&central, &gw2, &undeclare(&dev.id));
    publish_once(&central, &foreign_gw, &declare(&dev.id));
    publish_once(&central, &foreign_gw, &undeclare(&dev.id));
    publish_once(&central, &plain, &undeclare(&dev.id));
    assert_eq!(
        ignored_requests(&central),
        "magnetite_kaa_declarations_ignored_total 4"
    );

    // The lamp leaves the edge: the gateway no longer serves it (Kaa: the lamp's
    // disconnected), both journals say so.
    let _ = lamp.kill();
    let _ = lamp.wait();
    let events = wait_connectivity(&api, "the lamp is undeclared", |e| {
        count(e, "disconnected", &[&dev.id]) == 1
    });
    assert_eq!(count(&events, "connected", &[&dev.id]), 1, "{events:?}");
    let gone = journal(&api, &site, &dev.id, "mqtt.endpoint_undeclare", 1);
    let want_gone = (dev.id.clone(), gw.id.clone(), "undeclared".to_string());
    assert_eq!(served(&gone[0]), want_gone);
    assert_eq!(
        served(&journal(&api, &site, &gw.id, "mqtt.endpoint_undeclare", 1)[0]),
        want_gone
    );
    let declared = journal(&api, &site, &dev.id, "mqtt.endpoint_declare", 1);
    assert_eq!(
        declared.len(),
        1,
        "the other gateway declared nothing: {declared:?}"
    );
    assert_eq!(gone.len(), 1, "nobody else undeclared it: {gone:?}");

    // Back at the edge, then the edge stops: the gateway's disconnect lists the lamp.
    let mut lamp = local_device(&edge, &dev.id);
    wait_connectivity(&api, "the lamp is declared again", |e| {
        count(e, "connected", &[&dev.id]) == 2
    });
    edge.stop();
    wait_connectivity(&api, "the edge's stop lists the lamp", |e| {
        count(e, "disconnected", &[&gw.id, &dev.id]) == 1
    });
    let gone = journal(&api, &site, &dev.id, "mqtt.endpoint_undeclare", 2);
    let with_gateway = (dev.id.clone(), gw.id.clone(), "gateway_disconnected".into());
    assert_eq!(served(&gone[1]), with_gateway);
    let everything = api.expect(
        "GET",
        &format!(
            "/{site}/journal/client/{}?with_attributes=true&limit=100",
            gw.id
        ),
        None,
        200,
    );
    assert!(!everything.to_string().contains(&gw.secret), "{everything}");
    let _ = lamp.kill();
    let _ = lamp.wait();
}

#[test]
fn a_plain_mqtt_gateway_declares_and_undeclares_its_devices_without_kaa_events() {
    let central = platform::server(&[]);
    let api = Api::admin(&central);
    let site = api.domain("Site", "site");
    let gw = api.client_with(&site, "gateway", json!({"gateway": true}));
    let (lamp, fan) = (api.client(&site, "lamp"), api.client(&site, "fan"));
    let topics = [
        declare(&lamp.id),
        declare(&fan.id),
        undeclare(&lamp.id),
        undeclare(&gw.id), // its own client: ignored
    ];
    gateway::session(central.mqtt, &gw, "plain-gw", &topics);
    // A second session undeclaring what the first declared: ignored.
    publish_once(&central, &gw, &undeclare(&fan.id));

    let fan_gone = journal(&api, &site, &fan.id, "mqtt.endpoint_undeclare", 1);
    let reason = (fan.id.clone(), gw.id.clone(), "gateway_disconnected".into());
    assert_eq!(
        served(&fan_gone[0]),
        reason,
        "served until the session ended"
    );
    let lamp_gone = journal(&api, &site, &lamp.id, "mqtt.endpoint_undeclare", 1);
    let reason = (lamp.id.clone(), gw.id.clone(), "undeclared".into());
    assert_eq!(served(&lamp_gone[0]), reason);
    let lamp_declared = journal(&api, &site, &lamp.id, "mqtt.endpoint_declare", 1);
    assert_eq!(lamp_declared.len(), 1);
    assert_eq!(
        lamp_declared[0]["attributes"]["subscriber_id"],
        json!("plain-gw")
    );
    let in_gateway = journal(&api, &site, &gw.id, "mqtt.endpoint_undeclare", 2);
    assert_eq!(in_gateway.len(), 2, "{in_gateway:?}");
    assert_eq!(
        ignored_requests(&central),
        "magnetite_kaa_declarations_ignored_total 2"
    );
    // Serving a device is no sign of life of the device.
    let telemetry = api.expect(
        "GET",
        &format!("/{site}/journal/client/{}/telemetry", lamp.id),
        None,
        200,
    );
    assert_eq!(telemetry["first_seen"], Value::Null, "{telemetry}");
}
