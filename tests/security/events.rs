//! `GET /events` across tenants, and private keys: the log needs a token, a domain admin
//! reads only their domains' events (page after page), the platform admin reads all;
//! no private key reaches the log, a real sink (Redis) or the database file.

use std::time::Duration;

use reqwest::blocking::Client as Http;
use serde_json::{json, Value};

use crate::tenants::{two_tenants, Tenant, Tenants};

/// A device key as a bootstrap config would carry it; its body is what must not leak.
const KEY_BODY: &str = "MC4CAQAwBQYDK2VwBCIEIPRIVATEKEYMATERIAL4711xyz";
const KEY_BODY_2: &str = "MC4CAQAwBQYDK2VwBCIEISECONDKEYMATERIAL4712xyz";

fn pem(body: &str) -> String {
    format!("-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n")
}

fn get_events(t: &Tenants, token: Option<&str>, query: &str) -> (u16, Value) {
    let mut req = Http::new().get(format!("http://{}/events{query}", t.server.http));
    if let Some(tok) = token {
        req = req.bearer_auth(tok);
    }
    let resp = req.send().expect("GET /events");
    let status = resp.status().as_u16();
    (status, resp.json().unwrap_or(Value::Null))
}

/// Every event `token` can read, 5 per page, as JSON text.
pub(crate) fn read_all(t: &Tenants, token: &str) -> Vec<String> {
    let mut after = 0;
    let mut out = Vec::new();
    loop {
        let (status, page) = get_events(t, Some(token), &format!("?after={after}&limit=5"));
        assert_eq!(status, 200, "{page}");
        let events = page["events"].as_array().expect("events").clone();
        if events.is_empty() {
            return out;
        }
        out.extend(events.iter().map(|e| e["event"].to_string()));
        after = page["next"].as_i64().expect("next");
    }
}

/// Activity in both domains: a view, an MQTT session, a bootstrap config with a key.
fn activity(tenant: &Tenant, server: &crate::common::Server) {
    let d = &tenant.domain;
    tenant.api.expect(
        "GET",
        &format!("/{d}/clients/{}", tenant.device.id),
        None,
        200,
    );
    let topic = format!("m/{d}/c/{}", tenant.channel);
    let out = crate::platform::device_pub(&server.port(), &tenant.device, &topic, "x", &[]);
    assert!(out.status.success());
}

#[test]
fn the_event_log_needs_a_token_and_shows_each_tenant_its_own() {
    let t = two_tenants(&[]);
    activity(&t.d1, &t.server);
    activity(&t.d2, &t.server);
    assert_eq!(get_events(&t, None, "").0, 401);
    let (status, body) = get_events(&t, Some("garbage.token.here"), "");
    assert_eq!(status, 401);
    assert!(body["message"].is_string());

    // MQTT events are written by a batching writer: wait until the admin sees both.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let admin = loop {
        let all = read_all(&t, &t.admin.token);
        let both = [&t.d1, &t.d2].iter().all(|d| {
            all.iter()
                .any(|e| e.contains(&d.device.id) && e.contains("disconnect"))
        });
        if both || std::time::Instant::now() > deadline {
            break all;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    for d in [&t.d1, &t.d2] {
        assert!(
            admin.iter().any(|e| e.contains(&d.device.id)),
            "admin misses {}",
            d.domain
        );
        assert!(
            admin.iter().any(|e| e.contains(&d.email)),
            "admin misses user events"
        );
    }

    let b = read_all(&t, &t.d2.api.token);
    assert!(
        b.iter().any(|e| e.contains(&t.d2.device.id)),
        "B sees D2's events"
    );
    assert!(
        b.iter().any(|e| e.contains("\"event_type\":\"connect\"")),
        "B sees D2's MQTT events"
    );
    for e in &b {
        for leak in [
            &t.d1.domain,
            &t.d1.device.id,
            &t.d1.channel,
            &t.d1.email,
            &t.d1.user_id,
            &t.admin_email(),
        ] {
            assert!(!e.contains(leak.as_str()), "B reads {leak} in {e}");
        }
        assert!(!e.contains(&t.d2.email), "user events are admin-only: {e}");
    }
    let a = read_all(&t, &t.d1.api.token);
    assert!(a
        .iter()
        .all(|e| !e.contains(&t.d2.device.id) && !e.contains(&t.d2.domain)));
    assert!(a.iter().any(|e| e.contains(&t.d1.device.id)));
}

trait AdminEmail {
    fn admin_email(&self) -> String;
}
impl AdminEmail for Tenants {
    fn admin_email(&self) -> String {
        crate::common::ADMIN_EMAIL.to_string()
    }
}

#[test]
fn no_private_key_in_the_log_a_sink_or_the_database_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let redis = magnetite_testkit::servers::redis(dir.path());
    let store = format!("redis://127.0.0.1:{}", redis.port);
    let t = two_tenants(&["--event-store", &store]);
    let d = &t.d1.domain;
    let body = json!({"external_id": "keyed-1", "external_key": "ext-key-1", "name": "gw",
                      "channels": [t.d1.channel], "client_cert": "CERT", "client_key": pem(KEY_BODY)});
    let cfg =
        t.d1.api
            .expect("POST", &format!("/{d}/clients/configs"), Some(body), 201);
    let id = cfg["client_id"].as_str().expect("client id");
    let certs = json!({"client_cert": "CERT2", "client_key": pem(KEY_BODY_2), "ca_cert": "CA"});
    t.d1.api.expect(
        "PATCH",
        &format!("/{d}/clients/configs/certs/{id}"),
        Some(certs),
        200,
    );
    // The device still gets its key back at bootstrap (decrypted from the store).
    let boot = Http::new()
        .get(format!(
            "http://{}/clients/bootstrap/keyed-1",
            t.server.http
        ))
        .header("Authorization", "Client ext-key-1")
        .send()
        .expect("bootstrap");
    assert_eq!(boot.status().as_u16(), 200);
    let boot: Value = boot.json().expect("bootstrap JSON");
    assert_eq!(boot["client_key"].as_str(), Some(pem(KEY_BODY_2).as_str()));

    let log = read_all(&t, &t.admin.token).join("\n");
    assert!(
        log.contains("config.create") && log.contains("cert.update"),
        "{log}"
    );
    assert!(log.contains("client_key_sha256"), "{log}");
    let wait = std::time::Instant::now() + Duration::from_secs(10);
    let shipped = loop {
        let rows = magnetite_testkit::sinks::xrange(redis.port, "magistrala.bootstrap");
        let text = format!("{rows:?}");
        if text.contains("cert.update") || std::time::Instant::now() > wait {
            break text;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        shipped.contains("cert.update"),
        "Redis got the bootstrap events: {shipped}"
    );
    let mut db = Vec::new();
    for f in ["magnetite.db", "magnetite.db-wal"] {
        db.extend(std::fs::read(t.server.data_dir.join(f)).unwrap_or_default());
    }
    assert!(db.len() > 4096, "read the database file");
    let db = String::from_utf8_lossy(&db);
    for (what, text) in [
        ("the log", log.as_str()),
        ("Redis", &shipped),
        ("the database file", &db),
    ] {
        for needle in ["-----BEGIN", KEY_BODY, KEY_BODY_2] {
            assert!(!text.contains(needle), "{needle} in {what}");
        }
    }
}
