//! The HTTP messaging adapter and the message readers against the real binary: an HTTP
//! publish reaches an MQTT subscriber (rumqttc) on every path form; every refusal an
//! MQTT publish would get, with `{"message"}`; tenants cannot cross; stored messages
//! (SenML records and raw payloads) are read back with the readers' filters.

mod common;
mod platform;

use std::time::{Duration, Instant};

use base64::Engine;
use platform::{Api, Device, Fleet};
use reqwest::blocking::Client as Http;
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS};
use serde_json::{json, Value};

const SENML: &str =
    r#"[{"bn":"sensor-1/","bu":"Cel","n":"temp","v":21.5},{"n":"hum","u":"%RH","v":40}]"#;

/// POST `body` to `path` with `authorization` (if any); the status and JSON body.
fn post(api: &Api, path: &str, authorization: Option<&str>, body: Vec<u8>) -> (u16, Value) {
    let mut req = Http::new()
        .post(format!("{}{path}", api.base_url()))
        .header("Content-Type", "application/senml+json")
        .body(body);
    if let Some(a) = authorization {
        req = req.header("Authorization", a);
    }
    let resp = req.send().expect("HTTP request");
    let status = resp.status().as_u16();
    let json = serde_json::from_str(&resp.text().unwrap_or_default()).unwrap_or(Value::Null);
    (status, json)
}

fn client_auth(device: &Device) -> String {
    format!("Client {}", device.secret)
}

fn basic_auth(device: &Device) -> String {
    let pair = format!("{}:{}", device.id, device.secret);
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// Asserts `status` and a non-empty `{"message"}`.
fn refused(result: (u16, Value), status: u16, what: &str) {
    assert_eq!(result.0, status, "{what}: {}", result.1);
    let message = result.1["message"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "{what}: no message in {}", result.1);
}

/// A subscriber of `filter` as `device`, subscribed (SUBACK seen).
async fn subscriber(port: u16, device: &Device, filter: &str) -> (AsyncClient, EventLoop) {
    let mut options = MqttOptions::new("http-listener", "127.0.0.1", port);
    options.set_credentials(device.id.clone(), device.secret.clone());
    let (client, mut eventloop) = AsyncClient::new(options, 10);
    client
        .subscribe(filter, QoS::AtLeastOnce)
        .await
        .expect("subscribe");
    next(&mut eventloop, |p| matches!(p, Packet::SubAck(_))).await;
    (client, eventloop)
}

/// Polls until an incoming packet satisfies `want`; fails after 10 s.
async fn next(eventloop: &mut EventLoop, mut want: impl FnMut(&Packet) -> bool) -> Packet {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, eventloop.poll()).await {
            Ok(Ok(Event::Incoming(p))) if want(&p) => return p,
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("MQTT: {e}"),
            Err(_) => panic!("timed out waiting for a packet"),
        }
    }
}

/// (topic, payload) of the next `n` PUBLISHes.
async fn received(eventloop: &mut EventLoop, n: usize) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    while out.len() < n {
        if let Packet::Publish(p) = next(eventloop, |p| matches!(p, Packet::Publish(_))).await {
            out.push((p.topic.clone(), p.payload.to_vec()));
        }
    }
    out
}

#[test]
fn http_publishes_reach_mqtt_subscribers_on_every_path_form() {
    let (server, api, f) = platform::fleet_server("plant");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let filter = format!("m/{}/c/{}/#", f.domain, f.ch);
    let (_client, mut eventloop) =
        runtime.block_on(subscriber(server.mqtt.port(), &f.device, &filter));
    let sends = [
        // The SDK's Messages.Send: domain id, trailing slash when there is no subtopic.
        (
            format!("/m/{}/c/{}/", f.domain, f.ch),
            client_auth(&f.device),
        ),
        // The domain's route, a subtopic, Basic credentials.
        (format!("/m/plant/c/{}/room/1", f.ch), basic_auth(&f.device)),
        // The legacy form resolves in the client's own domain.
        (
            format!("/channels/{}/messages/legacy", f.ch),
            client_auth(&f.device),
        ),
    ];
    for (i, (path, auth)) in sends.iter().enumerate() {
        let body = format!("{i}:{SENML}").into_bytes();
        let (status, json) = post(&api, path, Some(auth), body);
        assert_eq!(status, 202, "{path}: {json}");
    }
    let got = runtime.block_on(received(&mut eventloop, 3));
    let base = format!("m/{}/c/{}", f.domain, f.ch);
    let want = [
        base.clone(),
        format!("{base}/room/1"),
        format!("{base}/legacy"),
    ];
    for (i, (topic, payload)) in got.iter().enumerate() {
        assert_eq!(topic, &want[i]);
        assert_eq!(payload, &format!("{i}:{SENML}").into_bytes());
    }
}

#[test]
fn http_publish_refusals_match_mqtt() {
    let server = platform::server(&["--max-packet-size", "4096"]);
    let api = Api::admin(&server);
    let f = platform::fleet(&api, "works");
    let body = || SENML.as_bytes().to_vec();
    let own = format!("/m/{}/c/{}", f.domain, f.ch);
    refused(post(&api, &own, None, body()), 401, "no credentials");
    refused(
        post(&api, &own, Some("Client wrong"), body()),
        401,
        "wrong secret",
    );
    let bearer = format!("Bearer {}", api.token);
    refused(post(&api, &own, Some(&bearer), body()), 401, "a user token");
    let not_connected = format!("/m/{}/c/{}", f.domain, f.other);
    refused(
        post(&api, &not_connected, Some(&client_auth(&f.device)), body()),
        403,
        "not connected",
    );
    let missing = format!("/m/{}/c/no-such-channel", f.domain);
    refused(
        post(&api, &missing, Some(&client_auth(&f.device)), body()),
        403,
        "missing channel",
    );
    let wildcard = format!("{own}/a/%2B");
    refused(
        post(&api, &wildcard, Some(&client_auth(&f.device)), body()),
        400,
        "wildcard",
    );
    refused(
        post(&api, &own, Some(&client_auth(&f.device)), vec![b'x'; 5000]),
        413,
        "too large",
    );
    // Subscribe-only is not publish.
    let listener = api.client(&f.domain, "listener");
    api.connect(&f.domain, &f.ch, &listener.id, &["subscribe"]);
    refused(
        post(&api, &own, Some(&client_auth(&listener)), body()),
        403,
        "subscribe only",
    );
    // A disabled client, with its right secret.
    let retired = api.client(&f.domain, "retired");
    api.connect(&f.domain, &f.ch, &retired.id, &["publish"]);
    assert_eq!(
        post(&api, &own, Some(&client_auth(&retired)), body()).0,
        202
    );
    api.expect(
        "POST",
        &format!("/{}/clients/{}/disable", f.domain, retired.id),
        None,
        200,
    );
    refused(
        post(&api, &own, Some(&client_auth(&retired)), body()),
        403,
        "disabled",
    );
    // Another tenant: its secret names nobody in this domain; with its id, the topic
    // names nothing of its own domain.
    let g = platform::fleet(&api, "elsewhere");
    refused(
        post(&api, &own, Some(&client_auth(&g.device)), body()),
        401,
        "foreign secret",
    );
    refused(
        post(&api, &own, Some(&basic_auth(&g.device)), body()),
        403,
        "foreign client",
    );
    let theirs = format!("/m/{}/c/{}", g.domain, g.ch);
    refused(
        post(&api, &theirs, Some(&basic_auth(&f.device)), body()),
        403,
        "their channel",
    );
    // A flood of guessed secrets from one address is throttled like CONNECTs.
    let throttled = (0..40)
        .map(|i| post(&api, &own, Some(&format!("Client guess-{i}")), body()))
        .filter(|(status, _)| *status == 429)
        .count();
    assert!(
        throttled > 0,
        "40 wrong secrets from one address, none throttled"
    );
}

/// Polls the readers until `total` reaches `want` (the writer is asynchronous); the page.
fn read_until(api: &Api, path: &str, want: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let page = api.expect("GET", path, None, 200);
        if page["total"].as_u64() >= Some(want) || Instant::now() > deadline {
            return page;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn stored_messages_are_read_back_with_filters() {
    let server = platform::server(&["--messages-store", "all"]);
    let api = Api::admin(&server);
    let f = platform::fleet(&api, "store");
    let own = format!("/m/{}/c/{}/room", f.domain, f.ch);
    assert_eq!(
        post(&api, &own, Some(&client_auth(&f.device)), SENML.into()).0,
        202
    );
    assert_eq!(
        post(&api, &own, Some(&client_auth(&f.device)), vec![0xff, 0]).0,
        202
    );
    let base = format!("/{}/channels/{}/messages", f.domain, f.ch);
    let page = read_until(&api, &base, 2);
    assert_eq!(
        (
            page["total"].as_u64(),
            page["offset"].as_u64(),
            page["limit"].as_u64()
        ),
        (Some(2), Some(0), Some(10))
    );
    let temp = page["messages"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["name"] == "sensor-1/temp"))
        .cloned()
        .expect("the temp record");
    assert_eq!(temp["unit"], "Cel");
    assert_eq!(temp["value"], 21.5);
    assert_eq!(temp["channel"], f.ch.as_str());
    assert_eq!(temp["publisher"], f.device.id.as_str());
    assert_eq!(temp["protocol"], "http");
    assert_eq!(temp["subtopic"], "room");
    assert!(temp["time"].as_f64().is_some_and(|t| t > 1.6e9), "{temp}");
    let filtered = api.expect("GET", &format!("{base}?v=30&comparator=gt"), None, 200);
    assert_eq!(filtered["total"], 1, "{filtered}");
    assert_eq!(filtered["messages"][0]["name"], "sensor-1/hum");
    let by_name = api.expect(
        "GET",
        &format!("{base}?name=sensor-1/temp&limit=1"),
        None,
        200,
    );
    assert_eq!(
        (by_name["total"].as_u64(), by_name["limit"].as_u64()),
        (Some(1), Some(1))
    );
    let raw = read_until(&api, &format!("{base}?format=raw"), 1);
    assert_eq!(
        raw["messages"][0]["payload"],
        base64::engine::general_purpose::STANDARD.encode([0xff, 0])
    );
    assert_eq!(raw["messages"][0]["payload_encoding"], "base64");
    // Bad queries are 400s with a message.
    for bad in [
        "?usrname=x",
        "?limit=1000",
        "?comparator=like&v=1",
        "?vb=maybe",
    ] {
        let (status, json) = api.call("GET", &format!("{base}{bad}"), None);
        refused((status.as_u16(), json), 400, bad);
    }
    // The writer's counters are on /metrics.
    let metrics = reqwest::blocking::get(format!("{}/metrics", api.base_url()))
        .and_then(|r| r.text())
        .expect("metrics");
    assert!(
        metrics.contains("magnetite_messages_stored_total 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("magnetite_messages_dropped_total 0"),
        "{metrics}"
    );
    // A device reads what it may subscribe to, with its client secret.
    let as_device = get_as(&api, &base, &client_auth(&f.device));
    assert_eq!(
        (as_device.0, as_device.1["total"].as_u64()),
        (200, Some(2)),
        "{}",
        as_device.1
    );
    let other = format!("/{}/channels/{}/messages", f.domain, f.other);
    refused(
        get_as(&api, &other, &client_auth(&f.device)),
        403,
        "a device, not connected",
    );
    refused(get_as(&api, &base, "Client wrong"), 401, "a wrong secret");
    readers_of_other_tenants_are_refused(&server, &api, &f);
}

/// GET `path` with `authorization`; the status and JSON body.
fn get_as(api: &Api, path: &str, authorization: &str) -> (u16, Value) {
    let resp = Http::new()
        .get(format!("{}{path}", api.base_url()))
        .header("Authorization", authorization)
        .send()
        .expect("HTTP request");
    let status = resp.status().as_u16();
    (
        status,
        serde_json::from_str(&resp.text().unwrap_or_default()).unwrap_or(Value::Null),
    )
}

/// A user of another domain reads neither the domain nor, through their own domain,
/// the channel; no token is a 401.
fn readers_of_other_tenants_are_refused(server: &common::Server, admin: &Api, f: &Fleet) {
    let body = json!({"email": "eve@example.com", "credentials": {"username": "eve", "secret": "eve-password-1"}});
    admin.expect("POST", "/users", Some(body), 201);
    let mut eve = Api::admin(server);
    eve.token = eve.login("eve@example.com", "eve-password-1");
    let hers = eve.domain("Eve's", "eve");
    let (status, json) = eve.call(
        "GET",
        &format!("/{}/channels/{}/messages", f.domain, f.ch),
        None,
    );
    refused((status.as_u16(), json), 403, "another domain");
    let (status, json) = eve.call("GET", &format!("/{hers}/channels/{}/messages", f.ch), None);
    refused(
        (status.as_u16(), json),
        404,
        "a foreign channel in her domain",
    );
    let anonymous = Api::unauthenticated(admin);
    let (status, json) = anonymous.call(
        "GET",
        &format!("/{}/channels/{}/messages", f.domain, f.ch),
        None,
    );
    refused((status.as_u16(), json), 401, "no token");
}

#[test]
fn opt_in_stores_only_channels_that_ask() {
    let (server, api, f) = platform::fleet_server("optin");
    let kept = api.expect(
        "POST",
        &format!("/{}/channels", f.domain),
        Some(json!({"name": "kept", "metadata": {"store_messages": true}})),
        201,
    );
    let kept = kept["id"].as_str().expect("channel id").to_string();
    api.connect(&f.domain, &kept, &f.device.id, &["publish"]);
    let auth = client_auth(&f.device);
    // Not opted in: published first, so the writer has seen it by the time `kept`'s is stored.
    assert_eq!(
        post(
            &api,
            &format!("/m/{}/c/{}", f.domain, f.ch),
            Some(&auth),
            SENML.into()
        )
        .0,
        202
    );
    assert_eq!(
        post(
            &api,
            &format!("/m/{}/c/{kept}", f.domain),
            Some(&auth),
            SENML.into()
        )
        .0,
        202
    );
    let page = read_until(&api, &format!("/{}/channels/{kept}/messages", f.domain), 2);
    assert_eq!(page["total"], 2, "{page}");
    let skipped = api.expect(
        "GET",
        &format!("/{}/channels/{}/messages", f.domain, f.ch),
        None,
        200,
    );
    assert_eq!(skipped["total"], 0, "{skipped}");
    drop(server);
}

#[test]
fn messages_are_stored_in_postgresql_with_messages_db() {
    let pg = magnetite_testkit::servers::scratch_postgres();
    let url = pg.url.clone();
    let server = platform::server(&["--messages-store", "all", "--messages-db", &url]);
    let api = Api::admin(&server);
    let f = platform::fleet(&api, "pg");
    let own = format!("/m/{}/c/{}", f.domain, f.ch);
    let auth = client_auth(&f.device);
    assert_eq!(post(&api, &own, Some(&auth), SENML.into()).0, 202);
    assert_eq!(post(&api, &own, Some(&auth), b"plain text".to_vec()).0, 202);
    let base = format!("/{}/channels/{}/messages", f.domain, f.ch);
    let page = read_until(&api, &format!("{base}?v=21.5&comparator=le"), 1);
    assert_eq!(page["total"], 1, "{page}");
    assert_eq!(page["messages"][0]["name"], "sensor-1/temp");
    let raw = read_until(&api, &format!("{base}?format=raw"), 1);
    assert_eq!(raw["messages"][0]["payload"], "plain text", "{raw}");
    let none = api.expect(
        "GET",
        &format!("{base}?vb=false&from=1e9&to=4e9"),
        None,
        200,
    );
    assert_eq!(none["total"], 0, "no record has a bool value: {none}");
    let all = api.expect("GET", &format!("{base}?from=1e9&to=4e9"), None, 200);
    assert_eq!(all["total"], 2, "{all}");
    let counts = api.expect(
        "GET",
        &format!("{base}?aggregation=count&interval=1h&name=sensor-1/hum"),
        None,
        200,
    );
    assert_eq!(counts["total"], 1, "{counts}");
    assert_eq!(counts["messages"][0]["value"], 1.0, "{counts}");
    assert_eq!(counts["messages"][0]["unit"], "%RH", "{counts}");
}
