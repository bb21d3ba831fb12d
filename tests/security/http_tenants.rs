//! Cross-tenant HTTP: user B, administering D2, names D1's ids through D2's paths. Every
//! such request is a 404 (or 400) and changes nothing of D1's: its device stays
//! connected and keeps receiving, its entities, connections and certificates are as
//! they were. A domain may use an external id another domain uses, and learns nothing
//! of it. Also: usernames can never be confused with e-mails.

use std::time::Duration;

use serde_json::{json, Value};

use crate::common::{assert_success, finish, free_port};
use crate::platform::{device_pub, device_sub};
use crate::tenants::{two_tenants, Tenant, Tenants};

/// `--tls-self-signed` (so the certs service runs) on free TLS ports.
fn tenants_with_certs() -> Tenants {
    let mqtts = format!("127.0.0.1:{}", free_port());
    let wss = format!("127.0.0.1:{}", free_port());
    two_tenants(&[
        "--tls-self-signed",
        "--mqtts-addr",
        &mqtts,
        "--wss-addr",
        &wss,
    ])
}

fn topic(t: &Tenant) -> String {
    format!("m/{}/c/{}", t.domain, t.channel)
}

/// A v5 subscriber of the tenant's device on its channel that exits after one message.
fn subscriber(port: &str, t: &Tenant) -> std::process::Child {
    let filter = format!("{}/#", topic(t));
    let extra = ["-V", "mqttv5", "-v", "-C", "1", "-W", "20"];
    let child = device_sub(port, &t.device, &filter, &extra);
    // mosquitto_sub has no "subscribed" signal; give it time to subscribe.
    std::thread::sleep(Duration::from_millis(700));
    child
}

fn publish(port: &str, t: &Tenant, msg: &str) {
    let topic = format!("{}/live", topic(t));
    let out = device_pub(port, &t.device, &topic, msg, &["-V", "mqttv5", "-q", "1"]);
    assert_success(&out);
}

/// What D1's admin sees of D1: the device, the channel and its clients, the device's
/// certificates. Compared before and after the attacks.
fn snapshot(t: &Tenant) -> Value {
    let d = &t.domain;
    json!({
        "client": t.api.expect("GET", &format!("/{d}/clients/{}", t.device.id), None, 200),
        "channel": t.api.expect("GET", &format!("/{d}/channels/{}", t.channel), None, 200),
        "connected": t.api.expect("GET", &format!("/{d}/channels/{}/clients", t.channel), None, 200),
        "certs": t.api.expect("GET", &format!("/{d}/certs?client_id={}", t.device.id), None, 200),
    })
}

#[test]
fn b_cannot_disconnect_or_revoke_d1s_device_through_d2() {
    let t = tenants_with_certs();
    let (d1, d2) = (&t.d1, &t.d2);
    t.d1.api.expect(
        "POST",
        &format!("/{}/certs", d1.domain),
        Some(json!({"client_id": d1.device.id})),
        201,
    );
    let before = snapshot(d1);
    let port = t.server.port();
    let sub = subscriber(&port, d1);

    let foreign = json!({"channel_ids": [d2.channel], "client_ids": [d1.device.id]});
    let attacks = [
        (
            "POST",
            format!("/{}/channels/disconnect", d2.domain),
            Some(foreign),
        ),
        (
            "POST",
            format!("/{}/channels/{}/disconnect", d2.domain, d2.channel),
            Some(json!({"client_ids": [d1.device.id]})),
        ),
        (
            "DELETE",
            format!("/{}/certs?client_id={}", d2.domain, d1.device.id),
            None,
        ),
    ];
    for (method, path, body) in attacks {
        let (status, reply) = d2.api.call(method, &path, body);
        assert_eq!(status.as_u16(), 404, "{method} {path}: {reply}");
        assert!(reply["message"].is_string(), "{reply}");
    }

    std::thread::sleep(Duration::from_millis(700));
    publish(&port, d1, "still-here");
    let got = finish(sub, Duration::from_secs(20));
    assert_eq!(
        String::from_utf8_lossy(&got.stdout).trim(),
        format!("{}/live still-here", topic(d1)),
        "D1's device was disconnected by D2's admin"
    );
    assert_eq!(snapshot(d1), before, "D1's data changed");
}

/// Every route that takes an id, given one of D1's through D2's path by D2's admin.
#[test]
fn every_route_refuses_another_domains_ids() {
    let t = tenants_with_certs();
    let (d1, d2) = (&t.d1, &t.d2);
    let g1 = d1.api.expect(
        "POST",
        &format!("/{}/groups", d1.domain),
        Some(json!({"name": "g1"})),
        201,
    );
    let g1 = g1["id"].as_str().expect("group id").to_string();
    let g2 = d2.api.expect(
        "POST",
        &format!("/{}/groups", d2.domain),
        Some(json!({"name": "g2"})),
        201,
    );
    let g2 = g2["id"].as_str().expect("group id").to_string();
    d1.api.expect(
        "POST",
        &format!("/{}/certs", d1.domain),
        Some(json!({"client_id": d1.device.id})),
        201,
    );
    let before = snapshot(d1);
    let group_before = d1
        .api
        .expect("GET", &format!("/{}/groups/{g1}", d1.domain), None, 200);

    let (d, c1, ch1, c2, ch2) = (
        &d2.domain,
        &d1.device.id,
        &d1.channel,
        &d2.device.id,
        &d2.channel,
    );
    let table: Vec<(&str, String, Option<Value>)> = vec![
        (
            "POST",
            format!("/{d}/channels/connect"),
            Some(json!({"channel_ids": [ch2], "client_ids": [c1]})),
        ),
        (
            "POST",
            format!("/{d}/channels/connect"),
            Some(json!({"channel_ids": [ch1], "client_ids": [c2]})),
        ),
        (
            "POST",
            format!("/{d}/channels/disconnect"),
            Some(json!({"channel_ids": [ch1], "client_ids": [c2]})),
        ),
        (
            "POST",
            format!("/{d}/channels/{ch1}/connect"),
            Some(json!({"client_ids": [c2]})),
        ),
        (
            "POST",
            format!("/{d}/channels/{ch2}/connect"),
            Some(json!({"client_ids": [c1]})),
        ),
        ("GET", format!("/{d}/clients/{c1}"), None),
        (
            "PATCH",
            format!("/{d}/clients/{c1}"),
            Some(json!({"name": "pwned"})),
        ),
        (
            "PATCH",
            format!("/{d}/clients/{c1}/tags"),
            Some(json!({"tags": ["pwned"]})),
        ),
        (
            "PATCH",
            format!("/{d}/clients/{c1}/metadata"),
            Some(json!({"metadata": {"gateway": true}})),
        ),
        (
            "PATCH",
            format!("/{d}/clients/{c1}/secret"),
            Some(json!({"secret": "pwned-secret-123"})),
        ),
        ("POST", format!("/{d}/clients/{c1}/disable"), None),
        ("DELETE", format!("/{d}/clients/{c1}"), None),
        ("GET", format!("/{d}/channels/{ch1}"), None),
        ("DELETE", format!("/{d}/channels/{ch1}"), None),
        ("GET", format!("/{d}/channels/{ch1}/clients"), None),
        (
            "POST",
            format!("/{d}/clients/{c1}/parent"),
            Some(json!({"parent_id": g2})),
        ),
        (
            "POST",
            format!("/{d}/clients/{c2}/parent"),
            Some(json!({"parent_id": g1})),
        ),
        (
            "POST",
            format!("/{d}/groups/{g2}/children"),
            Some(json!({"children_ids": [g1]})),
        ),
        (
            "DELETE",
            format!("/{d}/groups/{g2}/children"),
            Some(json!({"children_ids": [g1]})),
        ),
        (
            "POST",
            format!("/{d}/groups"),
            Some(json!({"name": "x", "parent_id": g1})),
        ),
        (
            "POST",
            format!("/{d}/clients"),
            Some(json!({"name": "x", "parent_id": g1})),
        ),
        (
            "POST",
            format!("/{d}/clients/configs"),
            Some(
                json!({"external_id": "x-1", "external_key": "k", "client_id": c1, "client_secret": d1.device.secret}),
            ),
        ),
        (
            "POST",
            format!("/{d}/clients/configs"),
            Some(json!({"external_id": "x-2", "external_key": "k", "channels": [ch1]})),
        ),
        (
            "PUT",
            format!("/{d}/clients/state/{c1}"),
            Some(json!({"state": 1})),
        ),
        (
            "PUT",
            format!("/{d}/clients/configs/connections/{c1}"),
            Some(json!({"channels": [ch2]})),
        ),
        (
            "PATCH",
            format!("/{d}/clients/configs/certs/{c1}"),
            Some(json!({"client_cert": "C"})),
        ),
        ("DELETE", format!("/{d}/clients/configs/{c1}"), None),
        (
            "POST",
            format!("/{d}/certs"),
            Some(json!({"client_id": c1})),
        ),
        ("DELETE", format!("/{d}/certs?client_id={c1}"), None),
        ("GET", format!("/{}/clients/{c1}", d1.domain), None),
        // Bulk creation checks every item's ids before creating any.
        (
            "POST",
            format!("/{d}/clients/bulk"),
            Some(json!([{"name": "bulk-ok"}, {"name": "x", "parent_id": g1}])),
        ),
        (
            "POST",
            format!("/{d}/clients/bulk"),
            Some(json!([{"name": "x", "parent_group_id": g1}])),
        ),
        (
            "POST",
            format!("/{d}/channels/bulk"),
            Some(json!([{"name": "bulk-ok"}, {"name": "x", "parent_id": g1}])),
        ),
    ];
    let d2_counts = |what: &str| {
        let page = d2
            .api
            .expect("GET", &format!("/{d}/{what}?limit=100"), None, 200);
        page["total"].clone()
    };
    let d2_before = (d2_counts("clients"), d2_counts("channels"));
    for (method, path, body) in table {
        let (status, reply) = d2.api.call(method, &path, body);
        let code = status.as_u16();
        let own_path_of_d1 = path.starts_with(&format!("/{}/", d1.domain));
        let want = if own_path_of_d1 { 403 } else { 404 };
        assert_eq!(code, want, "{method} {path}: {reply}");
        assert!(reply["message"].is_string(), "{method} {path}: {reply}");
    }
    // D1's certificates are invisible through D2's listing.
    let listed = d2
        .api
        .expect("GET", &format!("/{d}/certs?client_id={c1}"), None, 200);
    assert_eq!(listed["total"], 0, "{listed}");
    // A domain admin cannot manage another domain's members.
    let (status, _) = d2.api.call(
        "POST",
        &format!("/domains/{}/users/assign", d1.domain),
        Some(json!({"user_ids": [d2.user_id], "relation": "admin"})),
    );
    assert_eq!(status.as_u16(), 403);

    assert_eq!(snapshot(d1), before, "D1's data changed");
    assert_eq!(
        (d2_counts("clients"), d2_counts("channels")),
        d2_before,
        "a refused request created nothing in D2"
    );
    let group_after = d1
        .api
        .expect("GET", &format!("/{}/groups/{g1}", d1.domain), None, 200);
    assert_eq!(group_after, group_before, "D1's group changed");
    // And D1's device still works end to end.
    let port = t.server.port();
    let sub = subscriber(&port, d1);
    publish(&port, d1, "ok");
    let got = finish(sub, Duration::from_secs(20));
    assert!(String::from_utf8_lossy(&got.stdout).contains("ok"));
}

#[test]
fn usernames_can_never_be_confused_with_emails() {
    let t = two_tenants(&[]);
    let create = |email: &str, username: &str| {
        let body = json!({"email": email, "credentials": {"username": username, "secret": "some-password-1"}});
        t.admin.call("POST", "/users", Some(body))
    };
    // A username shaped like an e-mail, someone else's e-mail included.
    for username in [t.d1.email.as_str(), "mallory@example.com"] {
        let (status, reply) = create("mallory@evil.example.com", username);
        assert_eq!(status.as_u16(), 400, "{username}: {reply}");
        assert!(
            reply["message"].as_str().unwrap_or("").contains('@'),
            "{reply}"
        );
    }
    // The same through a rename.
    let (status, _) = t.d2.api.call(
        "PATCH",
        &format!("/users/{}/username", t.d2.user_id),
        Some(json!({"username": t.d1.email})),
    );
    assert_eq!(status.as_u16(), 400);
    // Someone else's username as a username: 409; as an e-mail it is not an e-mail.
    let taken = format!("a-{}", t.d1.route);
    assert_eq!(create("new@example.com", &taken).0.as_u16(), 409);
    assert_eq!(create(&taken, "fresh-name").0.as_u16(), 400);
    // A's login by e-mail still reaches A and only A.
    let token = t.d1.api.login(&t.d1.email, &t.d1.password);
    assert!(!token.is_empty());
}

/// `GET /clients/bootstrap/{external_id}` as a device with `key`.
fn bootstrap(t: &Tenants, external_id: &str, key: &str) -> (u16, Value) {
    let resp = reqwest::blocking::Client::new()
        .get(format!(
            "http://{}/clients/bootstrap/{external_id}",
            t.server.http
        ))
        .header("Authorization", format!("Client {key}"))
        .send()
        .expect("bootstrap");
    let status = resp.status().as_u16();
    (status, resp.json().unwrap_or(Value::Null))
}

/// D2 picks the external id D1's device already uses: created (a 409 would say that
/// the id exists), and each device's key still finds its own domain's config. D2
/// learns nothing of D1's config from answers or from its events; only someone who
/// already holds D1's key is told that the same id and key are taken.
#[test]
fn another_domains_external_id_is_free_and_reveals_nothing() {
    let t = two_tenants(&[]);
    let (d1, d2) = (&t.d1, &t.d2);
    let create = |tenant: &Tenant, key: &str, want: u16| {
        let body = json!({"external_id": "gw-0001", "external_key": key,
                          "content": format!("for {}", tenant.domain)});
        let path = format!("/{}/clients/configs", tenant.domain);
        tenant.api.expect("POST", &path, Some(body), want)
    };
    let mine = create(d1, "d1-device-key", 201);
    let mine_id = mine["client_id"].as_str().expect("client id").to_string();
    let view = format!("/{}/clients/configs/{mine_id}", d1.domain);
    let d1_before = d1.api.expect("GET", &view, None, 200);

    let theirs = create(d2, "d2-device-key", 201);
    assert_eq!(theirs["domain_id"], d2.domain.as_str());
    let refused = create(d2, "d1-device-key", 409);
    let text = refused.to_string();
    assert!(
        !text.contains(&d1.domain) && !text.contains(&mine_id),
        "{text}"
    );

    let (status, got) = bootstrap(&t, "gw-0001", "d1-device-key");
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["client_id"], mine_id.as_str());
    assert_eq!(got["content"], format!("for {}", d1.domain));
    let (status, got) = bootstrap(&t, "gw-0001", "d2-device-key");
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["client_id"], theirs["client_id"]);
    // Wrong key and unknown id: the same refusal, as before for a wrong key.
    let wrong = bootstrap(&t, "gw-0001", "guess");
    assert_eq!(wrong.0, 403, "{}", wrong.1);
    assert_eq!(bootstrap(&t, "gw-9999", "guess"), wrong);

    let seen_by_d2 = crate::events::read_all(&t, &d2.api.token).join("\n");
    assert!(seen_by_d2.contains("gw-0001"), "D2 sees its own config");
    for d1_thing in [&d1.domain, &mine_id] {
        assert!(
            !seen_by_d2.contains(d1_thing.as_str()),
            "D2's events show {d1_thing}"
        );
    }
    let listed = d2
        .api
        .expect("GET", &format!("/{}/clients/configs", d2.domain), None, 200);
    assert_eq!(listed["total"], 1, "{listed}");
    assert_eq!(
        d1.api.expect("GET", &view, None, 200),
        d1_before,
        "D1's config changed"
    );
    let (status, got) = bootstrap(&t, "gw-0001", "d1-device-key");
    assert_eq!((status, &got["client_id"]), (200, &json!(mine_id)));
}
