//! The README's gateway deployment: a central magnetite under `--auth platform` and an
//! edge under `--auth none` whose bridge logs in as a platform client (id + secret from
//! a file) and maps its local topics onto a channel of the central instance.

mod common;
mod platform;

use std::time::{Duration, Instant};

use common::{finish, mosquitto, Server};
use platform::tls::{issue, tls_server};
use platform::{device_pub, device_sub, fleet_server, Api, Device};

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
