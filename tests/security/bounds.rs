//! Resource bounds for callers without credentials: junk floods cost bounded memory,
//! disk and sockets, and the victim's own traffic goes on.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::raw::{self, connack_from, metric, metrics};
use super::tenants;
use crate::common::{self, Server};
use crate::platform::{self, Api};

/// `/metrics` of the platform: failed-login table size.
const LOGIN_ENTRIES: &str = "magnetite_login_throttle_entries";

fn login(api: &Api, username: &str, password: &str) -> u16 {
    let body = json!({"username": username, "password": password});
    api.call("POST", "/users/tokens/issue", Some(body))
        .0
        .as_u16()
}

#[test]
fn overlong_logins_are_refused_before_any_work_and_the_table_counts_keys_not_bytes() {
    let server = platform::server(&[]);
    let admin = Api::admin(&server);
    let mut anonymous = Api::admin(&server);
    anonymous.token = String::new();
    let before = metric(&metrics(&server), LOGIN_ENTRIES);
    for i in 0..20 {
        let huge = format!("{i}-{}", "u".repeat(1 << 20));
        let (status, body) = anonymous.call(
            "POST",
            "/users/tokens/issue",
            Some(json!({"username": huge, "password": "whatever-123"})),
        );
        assert_eq!(status.as_u16(), 400, "{body}");
        assert!(body["message"].is_string(), "{body}");
    }
    assert_eq!(
        metric(&metrics(&server), LOGIN_ENTRIES),
        before,
        "refused before the throttle"
    );
    // In-range unique logins: one fixed-size entry each.
    for i in 0..30 {
        let name = format!("{i:03}{}", "n".repeat(250));
        assert_eq!(login(&anonymous, &name, "wrong-password"), 401);
    }
    let entries = metric(&metrics(&server), LOGIN_ENTRIES);
    assert_eq!(entries, before + 30);
    assert!(entries <= 100_000, "the cap");
    // The admin was never slowed down.
    admin.expect("GET", "/users/profile", None, 200);
    assert_eq!(
        login(&anonymous, common::ADMIN_EMAIL, common::ADMIN_PASSWORD),
        201
    );
}

#[test]
fn concurrent_wrong_passwords_are_counted_as_they_start() {
    let t = tenants::two_tenants(&[]);
    let base = t.d1.api.base_url().to_string();
    let email = t.d1.email.clone();
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(40));
    let guesses: Vec<_> = (0..40)
        .map(|i| {
            let (base, email, barrier) = (base.clone(), email.clone(), barrier.clone());
            std::thread::spawn(move || {
                let http = reqwest::blocking::Client::new();
                let body = json!({"username": email, "password": format!("guess-{i}-xx")});
                barrier.wait();
                http.post(format!("{base}/users/tokens/issue"))
                    .json(&body)
                    .send()
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0)
            })
        })
        .collect();
    let statuses: Vec<u16> = guesses.into_iter().map(|g| g.join().unwrap()).collect();
    let throttled = statuses.iter().filter(|s| **s == 429).count();
    let checked = statuses.iter().filter(|s| **s == 401).count();
    // The guarantee: at most FREE_FAILURES (5) guesses reach the password check.
    assert_eq!(checked, 5, "{statuses:?}");
    assert_eq!(throttled, 35, "{statuses:?}");
    // The victim's session is untouched; the other tenant logs in as always.
    t.d1.api.expect("GET", "/users/profile", None, 200);
    assert_eq!(login(&t.admin, &t.d2.email, &t.d2.password), 201);
}

/// Every outbox row, counted through the embedded log.
fn outbox_rows(api: &Api) -> usize {
    let (mut after, mut count) = (0u64, 0usize);
    loop {
        let page = api.expect(
            "GET",
            &format!("/events?after={after}&limit=1000"),
            None,
            200,
        );
        let events = page["events"].as_array().cloned().unwrap_or_default();
        if events.is_empty() {
            return count;
        }
        count += events.len();
        after = page["next"].as_u64().expect("next");
    }
}

#[test]
fn a_bootstrap_junk_flood_grows_no_outbox() {
    let server = platform::server(&[]);
    let admin = Api::admin(&server);
    let http = reqwest::blocking::Client::new();
    let device = |id: &str| {
        http.get(format!("http://{}/clients/bootstrap/{id}", server.http))
            .header("Authorization", "Client some-key")
            .send()
            .expect("bootstrap request")
    };
    let rows = outbox_rows(&admin);
    for i in 0..200 {
        assert_eq!(
            device(&format!("junk-{i}")).status().as_u16(),
            403,
            "an unknown id is answered like a wrong key"
        );
    }
    for i in 0..20 {
        let resp = device(&format!("{i}{}", "x".repeat(15_000)));
        assert_eq!(resp.status().as_u16(), 400);
        let v: Value = resp.json().expect("JSON error");
        assert!(v["message"].is_string(), "{v}");
    }
    assert_eq!(outbox_rows(&admin), rows, "junk ids record no event");
    let text = metrics(&server);
    assert_eq!(metric(&text, "magnetite_bootstrap_unknown_id_total"), 200);
    assert!(metric(&text, "magnetite_bootstrap_throttle_entries") <= 200);
}

/// Wrong secrets for the victim's client id from 127.0.0.2 until 8 have been checked
/// (then that id waits 8 s). Returns how many were refused unchecked (0x9F).
fn flood_until_eight_failures(server: &Server, victim: &str) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut failures, mut throttled) = (0, 0);
    while failures < 8 {
        assert!(Instant::now() < deadline, "flood did not get 8 failures");
        match connack_from("127.0.0.2", server.mqtt, victim, (victim, "wrong"), true) {
            Some(0x86) => failures += 1,
            Some(0x9F) => throttled += 1,
            other => panic!("unexpected answer to a wrong secret: {other:?}"),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    throttled
}

#[test]
fn a_wrong_secret_flood_throttles_that_client_id_but_not_its_device() {
    let t = tenants::two_tenants(&[]);
    let server = &t.server;
    let (victim, other) = (&t.d1.device, &t.d2.device);
    let login = (victim.id.as_str(), victim.secret.as_str());
    // The device logs in from its usual address, and keeps a subscription open.
    assert_eq!(
        connack_from("127.0.0.1", server.mqtt, &victim.id, login, true),
        Some(0)
    );
    let topic = format!("m/{}/c/{}", t.d1.domain, t.d1.channel);
    let port = server.port();
    let extra = ["-i", "victim-sub", "-C", "1", "-W", "60"];
    let sub = platform::device_sub(&port, victim, &topic, &extra);
    std::thread::sleep(Duration::from_millis(500));

    let throttled = flood_until_eight_failures(server, &victim.id);
    assert!(
        throttled >= 20,
        "refused unchecked while throttled: {throttled}"
    );
    // During the wait: the right secret from elsewhere is refused unchecked ...
    let elsewhere = connack_from("127.0.0.3", server.mqtt, &victim.id, login, true);
    assert_eq!(elsewhere, Some(0x9F), "5.0: connection rate exceeded");
    let v3 = connack_from("127.0.0.3", server.mqtt, &victim.id, login, false);
    assert_eq!(v3, Some(0x05), "3.1.1: not authorized");
    // ... the device's own address still gets in, and its traffic flows.
    let extra = ["-i", "victim-pub", "-q", "1"];
    let publish = platform::device_pub(&port, victim, &topic, "still-here", &extra);
    assert!(publish.status.success(), "{publish:?}");
    let received = common::finish(sub, Duration::from_secs(30));
    assert_eq!(
        String::from_utf8_lossy(&received.stdout).trim(),
        "still-here"
    );
    // Another tenant's device on the attacker's own address is not affected.
    let other_login = (other.id.as_str(), other.secret.as_str());
    assert_eq!(
        connack_from("127.0.0.2", server.mqtt, &other.id, other_login, true),
        Some(0)
    );

    let text = metrics(server);
    let counted = metric(
        &text,
        "magnetite_mqtt_connect_throttled_total{by=\"client_id\"}",
    );
    assert_eq!(counted, throttled + 2, "every unchecked refusal is counted");
    assert_eq!(metric(&text, "magnetite_mqtt_connect_failures_total"), 8);
    // After the wait, the right secret works from anywhere again.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match connack_from("127.0.0.3", server.mqtt, &victim.id, login, true) {
            Some(0) => break,
            Some(0x9F) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(500))
            }
            other => panic!("after the throttle window: {other:?}"),
        }
    }
}

#[test]
fn an_address_spraying_client_ids_is_throttled_alone() {
    let t = tenants::two_tenants(&[]);
    let server = &t.server;
    // Unknown client ids from 127.0.0.4 until 33 have been checked (then the address
    // waits 8 s): the first 30 are free, each later one waits for the doubling delay.
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut codes, mut i) = (Vec::new(), 0);
    while codes.iter().filter(|c| **c == Some(0x86)).count() < 33 {
        assert!(Instant::now() < deadline, "{codes:?}");
        let id = format!("no-such-client-{i}");
        i += 1;
        codes.push(connack_from(
            "127.0.0.4",
            server.mqtt,
            &id,
            (&id, "guess"),
            true,
        ));
        if codes.len() > 30 {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    assert!(codes[..30].iter().all(|c| *c == Some(0x86)), "{codes:?}");
    let throttled = codes.iter().filter(|c| **c == Some(0x9F)).count() as u64;
    assert_eq!(throttled as usize + 33, codes.len(), "{codes:?}");
    // Even a right secret from that address waits now; other addresses do not.
    let d = &t.d1.device;
    let login = (d.id.as_str(), d.secret.as_str());
    assert_eq!(
        connack_from("127.0.0.4", server.mqtt, &d.id, login, true),
        Some(0x9F)
    );
    assert_eq!(
        connack_from("127.0.0.5", server.mqtt, &d.id, login, true),
        Some(0)
    );
    let text = metrics(server);
    let by_address = "magnetite_mqtt_connect_throttled_total{by=\"address\"}";
    assert_eq!(metric(&text, by_address), throttled + 1);
}

#[test]
fn unauthenticated_sockets_cannot_reserve_the_size_they_declare() {
    // Held sockets stay open for the whole measurement.
    let server = platform::server(&["--connect-timeout", "300"]);
    let (rss_before, vm_before) = raw::memory_kb(&server);
    // 1,000 sockets each announcing a 1 MB CONNECT: refused at the header.
    let mut refused_v5 = 0;
    for _ in 0..1000 {
        let mut s = raw::tcp_from("127.0.0.1", server.mqtt);
        s.write_all(&raw::connect_header(1 << 20, true))
            .expect("header");
        if raw::read_connack(&mut s) == Some(0x95) {
            refused_v5 += 1;
        }
    }
    assert_eq!(refused_v5, 1000, "5.0: CONNACK 0x95 packet too large");
    let mut s = raw::tcp_from("127.0.0.1", server.mqtt);
    s.write_all(&raw::connect_header(1 << 20, false))
        .expect("header");
    assert_eq!(raw::read_connack(&mut s), None, "3.1.1: closed");
    // 1,000 sockets each announcing a CONNECT just under the cap and sending a few
    // bytes, held open: they cost what they sent, not what they announced.
    let held: Vec<TcpStream> = (0..1000)
        .map(|_| {
            let mut s = raw::tcp_from("127.0.0.1", server.mqtt);
            s.write_all(&raw::connect_header(60 * 1024, true))
                .expect("header");
            s
        })
        .collect();
    // A normal client still connects while they are held.
    let d = Api::admin(&server);
    let fleet = platform::fleet(&d, "bounds");
    let login = (fleet.device.id.as_str(), fleet.device.secret.as_str());
    assert_eq!(
        connack_from("127.0.0.1", server.mqtt, &fleet.device.id, login, true),
        Some(0)
    );
    let (rss_after, vm_after) = raw::memory_kb(&server);
    let rss_growth = rss_after.saturating_sub(rss_before);
    let vm_growth = vm_after.saturating_sub(vm_before);
    eprintln!("1,000 held pre-auth sockets: RSS +{rss_growth} kB, address space +{vm_growth} kB");
    assert!(rss_growth < 100 * 1024, "RSS grew {rss_growth} kB");
    assert!(vm_growth < 512 * 1024, "address space grew {vm_growth} kB");
    drop(held);
}

/// Reads until the server closes the connection; `true` if it did within `limit`.
fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    stream.set_read_timeout(Some(limit)).expect("timeout");
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

#[test]
fn half_sent_http_requests_are_closed_after_the_header_timeout() {
    let server = platform::server(&["--http-header-timeout", "1"]);
    let mut half_sent: Vec<TcpStream> = (0..300)
        .map(|_| {
            let mut s = TcpStream::connect(server.http).expect("connect");
            s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
                .expect("half a request");
            s
        })
        .collect();
    let closed = half_sent
        .iter_mut()
        .map(|s| closed_within(s, Duration::from_secs(20)))
        .filter(|closed| *closed)
        .count();
    assert_eq!(closed, 300, "every half-sent request was closed");
    let text = metrics(&server);
    assert_eq!(
        metric(&text, "magnetite_http_connections"),
        1,
        "only this request"
    );
}

#[test]
fn http_connections_beyond_the_cap_are_refused_until_some_close() {
    let id = format!("http-cap-{}", std::process::id());
    let server = platform::server(&[
        "--max-http-connections",
        "20",
        "--http-header-timeout",
        "60",
        "--instance-id",
        &id,
    ]);
    // Connections of the start-up (readiness probe, the admin's login) must be gone
    // first: the cap counts every open connection, and one closing during the loop
    // below would free a slot for an extra.
    let deadline = Instant::now() + Duration::from_secs(30);
    while metric(&metrics(&server), "magnetite_http_connections") != 1 {
        assert!(
            Instant::now() < deadline,
            "start-up connections never closed"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(200));
    let holders: Vec<TcpStream> = (0..20)
        .map(|_| TcpStream::connect(server.http).expect("connect"))
        .collect();
    let mut refused = 0;
    for _ in 0..10 {
        let mut extra = TcpStream::connect(server.http).expect("connect");
        let _ = extra.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
        extra
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        let mut answer = String::new();
        let _ = extra.read_to_string(&mut answer);
        if answer.is_empty() || answer.starts_with("HTTP/1.1 503") {
            refused += 1;
        } else {
            eprintln!("extra answered: {answer:?}");
        }
    }
    drop(holders);
    let deadline = Instant::now() + Duration::from_secs(20);
    let text = loop {
        match reqwest::blocking::get(format!("http://{}/metrics", server.http)) {
            Ok(r) if r.status().is_success() => break r.text().expect("metrics"),
            _ if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            other => panic!("no normal request after the holders left: {other:?}"),
        }
    };
    let health: Value = reqwest::blocking::get(format!("http://{}/health", server.http))
        .and_then(|r| r.json())
        .expect("health");
    assert_eq!(health["instance_id"], id.as_str(), "this test's own server");
    assert_eq!(refused, 10);
    assert_eq!(
        metric(&text, "magnetite_http_connections_refused_total"),
        10
    );
}
