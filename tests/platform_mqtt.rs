//! `--auth platform` from a device's side: the README journey with mosquitto_pub /
//! mosquitto_sub, every refusal path with its reason code (paho-mqtt for MQTT 5 codes),
//! and revocation reaching live sessions within a second.

mod common;
mod platform;

use std::time::{Duration, Instant};

use common::{finish, mosquitto, Server};
use platform::{
    device_pub, device_sub, exits_within, fleet, mqtt5_codes as codes, Api, Device, Fleet,
};
use std::process::{Child, Output};

/// A `mosquitto_sub -v` of `dev` on `filter`, once it has had time to subscribe.
fn subscriber(port: &str, dev: &Device, version: &str, filter: &str, extra: &[&str]) -> Child {
    let mut args = vec!["-V", version, "-v"];
    args.extend_from_slice(extra);
    let child = device_sub(port, dev, filter, &args);
    wait_ready();
    child
}

/// A QoS 1 `mosquitto_pub` as `dev`.
fn publish(server: &Server, dev: &Device, version: &str, topic: &str, msg: &str) -> Output {
    device_pub(&server.port(), dev, topic, msg, &["-V", version, "-q", "1"])
}

fn wait_ready() {
    // mosquitto_sub has no "subscribed" signal on stdout; give it time to subscribe.
    std::thread::sleep(Duration::from_millis(700));
}

#[test]
fn readme_journey_publish_and_receive_with_mosquitto_clients() {
    let server = platform::server(&[]);
    let api = Api::admin(&server);
    let Fleet {
        domain, device, ch, ..
    } = fleet(&api, "factory");
    let port = server.port();
    for version in ["mqttv311", "mqttv5"] {
        // Subscribe with ids, publish on the same channel: both topic forms are the platform's.
        let topic = format!("m/{domain}/c/{ch}/room-1");
        let filter = format!("m/{domain}/c/{ch}/#");
        let sub = subscriber(&port, &device, version, &filter, &["-C", "1", "-W", "10"]);
        let out = publish(&server, &device, version, &topic, "21.5");
        assert!(
            out.status.success(),
            "publish: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got = finish(sub, Duration::from_secs(10));
        assert_eq!(
            String::from_utf8_lossy(&got.stdout).trim(),
            format!("{topic} 21.5"),
            "{version}"
        );
    }
    // The legacy form is accepted too, routed by its own topic string.
    let legacy = format!("channels/{ch}/messages/lab");
    let sub = subscriber(
        &port,
        &device,
        "mqttv311",
        &legacy,
        &["-C", "1", "-W", "10"],
    );
    assert!(publish(&server, &device, "mqttv311", &legacy, "ok")
        .status
        .success());
    let got = finish(sub, Duration::from_secs(10));
    assert_eq!(
        String::from_utf8_lossy(&got.stdout).trim(),
        format!("{legacy} ok")
    );
}

#[test]
fn connect_refusals_carry_the_documented_codes() {
    let (server, api, f) = platform::fleet_server("plant");
    let disabled = api.client(&f.domain, "disabled-one");
    api.expect(
        "POST",
        &format!("/{}/clients/{}/disable", f.domain, disabled.id),
        None,
        200,
    );
    let other = api.domain("Other", "other");
    let in_disabled_domain = api.client(&other, "dev");
    api.expect("POST", &format!("/domains/{other}/disable"), None, 200);

    let cases = [
        (
            f.device.id.as_str(),
            "wrong-secret",
            0x86,
            "Bad User Name or Password",
        ),
        (
            "no-such-client",
            "whatever-secret",
            0x86,
            "Bad User Name or Password",
        ),
        (
            disabled.id.as_str(),
            disabled.secret.as_str(),
            0x87,
            "not authorised",
        ),
        (
            in_disabled_domain.id.as_str(),
            in_disabled_domain.secret.as_str(),
            0x87,
            "not authorised",
        ),
    ];
    for (user, password, v5_code, v3_text) in cases {
        let v5 = codes(&server, user, password, &[]);
        assert_eq!(v5["connack"], v5_code, "v5 CONNACK for {user}");
        let args = [
            "-V", "mqttv311", "-u", user, "-P", password, "-t", "x", "-m", "x",
        ];
        let out = mosquitto("mosquitto_pub", &server.port(), &args);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
        assert!(
            err.contains(&v3_text.to_lowercase()),
            "v3.1.1 refusal for {user}: {err}"
        );
    }
    // No password at all.
    let out = mosquitto("mosquitto_pub", &server.port(), &["-t", "x", "-m", "x"]);
    assert!(!out.status.success(), "anonymous connect must be refused");
}

#[test]
fn publish_and_subscribe_only_where_connected() {
    let (server, api, f) = platform::fleet_server("works");
    let pub_only = api.client(&f.domain, "pub-only");
    api.connect(&f.domain, &f.ch, &pub_only.id, &["publish"]);
    let d = &f.domain;
    let ch = &f.ch;
    let ops: Vec<String> = [
        format!("sub:m/{d}/c/{ch}/#"),
        format!("sub:m/works/c/{ch}/+/temp"),
        format!("sub:channels/{ch}/messages/#"),
        format!("sub:m/{d}/c/{}", f.other),
        format!("sub:m/+/c/{ch}"),
        format!("sub:m/{d}/c/+"),
        format!("sub:m/{d}/c/#"),
        format!("sub:m/other-domain/c/{ch}"),
        format!("pub:m/{d}/c/{ch}/room-1"),
        format!("pub:channels/{ch}/messages"),
        format!("pub:m/{d}/c/{}", f.other),
        format!("pub:m/{d}/c/{ch}/a//b"),
        format!("pub:m/{d}/c/{ch}/te*st"),
        "pub:some/random/topic".to_string(),
    ]
    .into();
    let got = codes(&server, &f.device.id, &f.device.secret, &ops);
    assert_eq!(got["connack"], 0);
    let want = [
        1, 1, 1, 0x87, 0x87, 0x87, 0x87, 0x87, 0, 0, 0x87, 0x87, 0x87, 0x87,
    ];
    for (i, op) in got["ops"].as_array().expect("ops").iter().enumerate() {
        assert_eq!(op[2], want[i], "{}", op);
    }
    // (0x10 "no matching subscribers" is a success too.)
    // A publish-only connection may not subscribe.
    let got = codes(
        &server,
        &pub_only.id,
        &pub_only.secret,
        &[format!("sub:m/{d}/c/{ch}"), format!("pub:m/{d}/c/{ch}")],
    );
    assert_eq!(got["ops"][0][2], 0x87);
    assert_eq!(got["ops"][1][2], 0x10, "accepted, nobody subscribed");

    // MQTT 3.1.1: SUBACK 0x80 for a refused filter; an unauthorized PUBLISH closes the connection.
    let other = format!("m/{d}/c/{}", f.other);
    let args = f.device.mosquitto_args(&["-t", &other, "-W", "3"]);
    let out = mosquitto("mosquitto_sub", &server.port(), &args);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("denied"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = publish(
        &server,
        &f.device,
        "mqttv311",
        &format!("m/{d}/c/{}", f.other),
        "x",
    );
    assert!(
        !out.status.success(),
        "3.1.1 unauthorized QoS 1 publish must end the connection"
    );
}

/// Starts a v5 subscriber on `ch` and returns it once subscribed.
fn live_subscriber(server: &Server, f: &Fleet, dev: &Device) -> std::process::Child {
    let port = server.port();
    let filter = format!("m/{}/c/{}/#", f.domain, f.ch);
    subscriber(&port, dev, "mqttv5", &filter, &[])
}

#[test]
fn revocation_ends_live_sessions_within_a_second() {
    let (server, api, f) = platform::fleet_server("revoke");
    let d = f.domain.clone();
    let second = Duration::from_secs(1);

    // Disabled client.
    let sub = live_subscriber(&server, &f, &f.device);
    let t = Instant::now();
    api.expect(
        "POST",
        &format!("/{d}/clients/{}/disable", f.device.id),
        None,
        200,
    );
    let took = exits_within(sub, t, second);
    eprintln!("disable -> session ended in {took:?}");
    api.expect(
        "POST",
        &format!("/{d}/clients/{}/enable", f.device.id),
        None,
        200,
    );

    // Secret changed: the old secret's session ends, the new secret works.
    let sub = live_subscriber(&server, &f, &f.device);
    let t = Instant::now();
    let body = serde_json::json!({"secret": "a-brand-new-secret"});
    let changed = api.expect(
        "PATCH",
        &format!("/{d}/clients/{}/secret", f.device.id),
        Some(body),
        200,
    );
    assert_eq!(changed["credentials"]["secret"], "a-brand-new-secret");
    exits_within(sub, t, second);
    let device = Device {
        id: f.device.id.clone(),
        secret: "a-brand-new-secret".into(),
    };
    assert!(!publish(
        &server,
        &f.device,
        "mqttv5",
        &format!("m/{d}/c/{}", f.ch),
        "old"
    )
    .status
    .success());
    assert!(publish(
        &server,
        &device,
        "mqttv5",
        &format!("m/{d}/c/{}", f.ch),
        "new"
    )
    .status
    .success());

    // Connection removed: the subscriber's session ends and it gets nothing more.
    let sub = live_subscriber(&server, &f, &device);
    let t = Instant::now();
    api.disconnect(&d, &f.ch, &device.id, &["subscribe"]);
    exits_within(sub, t, second);
    let got = codes(
        &server,
        &device.id,
        &device.secret,
        &[
            format!("sub:m/{d}/c/{}", f.ch),
            format!("pub:m/{d}/c/{}", f.ch),
        ],
    );
    assert_eq!(got["ops"][0][2], 0x87, "subscribe connection removed");
    assert_eq!(
        got["ops"][1][2], 0x10,
        "publish connection kept (accepted, no subscriber)"
    );

    // Domain disabled.
    api.connect(&d, &f.ch, &device.id, &["subscribe"]);
    let sub = live_subscriber(&server, &f, &device);
    let t = Instant::now();
    api.expect("POST", &format!("/domains/{d}/disable"), None, 200);
    exits_within(sub, t, second);
    api.expect("POST", &format!("/domains/{d}/enable"), None, 200);

    // Client deleted.
    let sub = live_subscriber(&server, &f, &device);
    let t = Instant::now();
    api.expect("DELETE", &format!("/{d}/clients/{}", device.id), None, 204);
    exits_within(sub, t, second);
    assert_eq!(
        codes(&server, &device.id, &device.secret, &[])["connack"],
        0x86
    );
}

/// `mosquitto_sub` as the persistent session `keeper` (clean session off, QoS 1) for
/// `wait` seconds; returns what it printed.
fn keeper(server: &Server, dev: &Device, filter: &str, wait: &str) -> String {
    let flags = [
        "-V", "mqttv311", "-i", "keeper", "-c", "-q", "1", "-v", "-W", wait,
    ];
    let args = dev.mosquitto_args(&[&["-t", filter][..], &flags].concat());
    String::from_utf8_lossy(&mosquitto("mosquitto_sub", &server.port(), &args).stdout).into_owned()
}

#[test]
fn a_persistent_session_of_a_revoked_client_receives_nothing() {
    let (server, api, f) = platform::fleet_server("persist");
    let d = &f.domain;
    let filter = format!("m/{d}/c/{}/#", f.ch);
    let topic = format!("m/{d}/c/{}/x", f.ch);
    let publisher = api.client(d, "publisher");
    api.connect(d, &f.ch, &publisher.id, &["publish"]);

    // Control: while connected, messages published when it is offline are kept for it.
    keeper(&server, &f.device, &filter, "1");
    assert!(publish(&server, &publisher, "mqttv5", &topic, "queued")
        .status
        .success());
    assert!(
        keeper(&server, &f.device, &filter, "2").contains("queued"),
        "the session must hold messages while offline"
    );

    // Its subscribe connection is removed while it is offline; messages keep coming.
    api.disconnect(d, &f.ch, &f.device.id, &["subscribe"]);
    assert!(
        publish(&server, &publisher, "mqttv5", &topic, "after-revoke")
            .status
            .success()
    );
    let out = keeper(&server, &f.device, &filter, "2");
    assert!(
        !out.contains("after-revoke"),
        "a revoked session must not receive: {out}"
    );
}
