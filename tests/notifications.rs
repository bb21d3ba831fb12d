//! Personal notifications through the binary (issue 14): made from the outbox by the
//! notifications reader and from the certificate sweep, read and acknowledged by their
//! owner only, bounded per user, kept across a restart without duplicates. Two tenants
//! as in the security suite: D1 administered by A, D2 by B.

mod common;
mod platform;

#[path = "security/tenants.rs"]
mod tenants;

#[path = "security/raw.rs"]
mod raw;

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use common::Server;
use platform::Api;
use raw::{metric, metrics};
use tenants::{two_tenants, Tenant};

/// How long anything asynchronous may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(20);

/// The caller's notifications (newest first), all of them.
fn notifications(api: &Api) -> Vec<Value> {
    let page = api.expect("GET", "/notifications?limit=100", None, 200);
    page["notifications"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn variants(list: &[Value]) -> Vec<&str> {
    list.iter().filter_map(|n| n["variant"].as_str()).collect()
}

/// Polls the caller's notifications until `done` holds for them.
fn wait_for(api: &Api, what: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let start = Instant::now();
    loop {
        let list = notifications(api);
        if done(&list) {
            return list;
        }
        assert!(start.elapsed() < DEADLINE, "{what}: got {list:#?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Polls `/metrics` until the sample `name` reaches `at_least`.
fn wait_metric(server: &Server, name: &str, at_least: u64) {
    let start = Instant::now();
    while metric(&metrics(server), name) < at_least {
        assert!(
            start.elapsed() < DEADLINE,
            "{name} never reached {at_least}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn assign(admin: &Tenant, user_id: &str, relation: &str) {
    let body = json!({"user_ids": [user_id], "relation": relation});
    let path = format!("/domains/{}/users/assign", admin.domain);
    admin.api.expect("POST", &path, Some(body), 201);
}

fn unassign(admin: &Tenant, user_id: &str) {
    let body = json!({"user_ids": [user_id]});
    let path = format!("/domains/{}/users/unassign", admin.domain);
    admin.api.expect("POST", &path, Some(body), 204);
}

/// A user created by the platform admin, logged in.
fn plain_user(admin: &Api, name: &str) -> (String, Api) {
    let email = format!("{name}@example.com");
    let password = format!("{name}-password-1");
    let body = json!({"email": email, "credentials": {"username": name, "secret": password}});
    let user = admin.expect("POST", "/users", Some(body), 201);
    let mut api = Api::unauthenticated(admin);
    api.token = api.login(&email, &password);
    (user["id"].as_str().expect("user id").to_string(), api)
}

fn refs_of<'a>(n: &'a Value, ref_type: &str) -> Vec<&'a Value> {
    let refs = n["refs"].as_array().map(Vec::as_slice).unwrap_or_default();
    refs.iter().filter(|r| r["ref_type"] == ref_type).collect()
}

#[test]
fn access_changes_notify_the_user_whose_access_changed() {
    let t = two_tenants(&[]);
    let (a, b) = (&t.d1, &t.d2);
    assign(a, &b.user_id, "member");
    let got = wait_for(&b.api, "granted", |l| variants(l) == ["permission_granted"]);
    let domain = refs_of(&got[0], "domain");
    assert_eq!(domain.len(), 1, "{got:#?}");
    assert_eq!(domain[0]["ref_value"], a.domain.as_str());
    assert_eq!(domain[0]["ref_name"], "Domain a");
    assert!(got[0]["message"].as_str().unwrap_or("").contains("member"));
    assert!(got[0]["id"].is_string() && got[0]["created_at"].is_string());

    // The same relation again changes nothing and notifies nothing.
    assign(a, &b.user_id, "member");
    assign(a, &b.user_id, "admin");
    let got = wait_for(&b.api, "updated", |l| l.len() >= 2);
    assert_eq!(variants(&got), ["permission_updated", "permission_granted"]);
    assert!(got[0]["message"].as_str().unwrap_or("").contains("admin"));

    unassign(a, &b.user_id);
    let got = wait_for(&b.api, "revoked", |l| l.len() >= 3);
    let want = [
        "permission_revoked",
        "permission_updated",
        "permission_granted",
    ];
    assert_eq!(variants(&got), want);
    assert_eq!(
        refs_of(&got[0], "domain")[0]["ref_value"],
        a.domain.as_str()
    );
    // The one who made the changes is not told about them.
    assert!(notifications(&a.api).is_empty());
}

#[test]
fn a_disabled_client_is_told_to_its_domains_admins_only() {
    let t = two_tenants(&[]);
    let (a, b) = (&t.d1, &t.d2);
    let (admin2, admin2_api) = plain_user(&t.admin, "second-admin");
    let (member, member_api) = plain_user(&t.admin, "plain-member");
    assign(a, &admin2, "admin");
    assign(a, &member, "member");
    let path = format!("/{}/clients/{}/disable", a.domain, a.device.id);
    a.api.expect("POST", &path, None, 200);

    let got = wait_for(&a.api, "client disabled", |l| !l.is_empty());
    assert_eq!(variants(&got), ["client_disabled"]);
    let client = refs_of(&got[0], "client");
    assert_eq!(client[0]["ref_value"], a.device.id.as_str());
    assert_eq!(client[0]["ref_name"], "sensor-a");
    assert_eq!(
        refs_of(&got[0], "domain")[0]["ref_value"],
        a.domain.as_str()
    );
    // Every admin's notice is stored in the same transaction: all are there now.
    let second = notifications(&admin2_api);
    assert_eq!(variants(&second), ["client_disabled", "permission_granted"]);
    // A plain member only reads the domain: not told.
    assert_eq!(
        variants(&notifications(&member_api)),
        ["permission_granted"]
    );
    // Another tenant: nothing.
    assert!(notifications(&b.api).is_empty());
    assert!(notifications(&t.admin).is_empty());
}

#[test]
fn acknowledging_is_for_the_owner_and_lists_are_bounded() {
    let t = two_tenants(&["--notifications-max-per-user", "3"]);
    let (a, b) = (&t.d1, &t.d2);
    // Five changes for B: only the newest three are kept.
    assign(a, &b.user_id, "member");
    assign(a, &b.user_id, "admin");
    assign(a, &b.user_id, "member");
    unassign(a, &b.user_id);
    assign(a, &b.user_id, "admin");
    wait_metric(&t.server, "magnetite_notifications_created_total", 5);
    let kept = notifications(&b.api);
    let want = [
        "permission_granted",
        "permission_revoked",
        "permission_updated",
    ];
    assert_eq!(variants(&kept), want);
    let page = b
        .api
        .expect("GET", "/notifications?limit=1&offset=1", None, 200);
    assert_eq!(page["total"], 3);
    assert_eq!(
        variants(page["notifications"].as_array().expect("list")),
        ["permission_revoked"]
    );
    let text = metrics(&t.server);
    assert_eq!(metric(&text, "magnetite_notifications_dropped_total"), 2);

    // One for A, from B's domain.
    assign(b, &a.user_id, "member");
    let a_list = wait_for(&a.api, "A's notice", |l| !l.is_empty());
    let a_id = a_list[0]["id"].as_str().expect("id").to_string();

    // B acknowledges two of its own, A's id and an unknown id: the same answer for all.
    let ids = json!([kept[0]["id"], kept[1]["id"], a_id, "no-such-notification"]);
    let ack = b.api.expect(
        "POST",
        "/notifications/acknowledge",
        Some(json!({"ids": ids})),
        204,
    );
    assert_eq!(ack, Value::Null);
    assert_eq!(variants(&notifications(&b.api)), ["permission_updated"]);
    assert_eq!(
        notifications(&a.api).len(),
        1,
        "A's notification must survive B's ack"
    );

    // A acknowledges its own: gone.
    let body = json!({"ids": [a_id]});
    a.api
        .expect("POST", "/notifications/acknowledge", Some(body), 204);
    assert!(notifications(&a.api).is_empty());
}

#[test]
fn bad_and_unauthenticated_requests_get_a_message() {
    let server = platform::server(&[]);
    let admin = Api::admin(&server);
    let mut anonymous = Api::unauthenticated(&admin);
    anonymous.token = String::new();
    for (method, path, body) in [
        ("GET", "/notifications", None),
        (
            "POST",
            "/notifications/acknowledge",
            Some(json!({"ids": ["x"]})),
        ),
    ] {
        let (status, json) = anonymous.call(method, path, body);
        assert_eq!(status.as_u16(), 401, "{method} {path}");
        assert!(json["message"].is_string(), "{json}");
    }
    let ack = "/notifications/acknowledge";
    for body in [
        json!({"ids": []}),
        json!({"ids": "x"}),
        json!({}),
        json!([1]),
    ] {
        let (status, json) = admin.call("POST", ack, Some(body.clone()));
        assert_eq!(status.as_u16(), 400, "{body}");
        assert!(json["message"].is_string(), "{json}");
    }
    let too_many: Vec<String> = (0..101).map(|i| i.to_string()).collect();
    let (status, _) = admin.call("POST", ack, Some(json!({"ids": too_many})));
    assert_eq!(status.as_u16(), 400);
    for query in ["limit=0", "limit=101", "offset=-1", "limit=x"] {
        let (status, json) = admin.call("GET", &format!("/notifications?{query}"), None);
        assert_eq!(status.as_u16(), 400, "{query}");
        assert!(json["message"].is_string(), "{json}");
    }
}

#[test]
fn an_expiring_certificate_is_noticed_once_to_its_domains_admins() {
    let flags = [
        "--tls-self-signed",
        "--cert-expiry-notice",
        "30d",
        "--cert-expiry-sweep",
        "1s",
    ];
    let t = two_tenants(&flags);
    let a = &t.d1;
    let certs = format!("/{}/certs", a.domain);
    let issue = |client: &str, ttl: &str| {
        let body = json!({"client_id": client, "ttl": ttl});
        let cert = a.api.expect("POST", &certs, Some(body), 201);
        cert["serial_number"].as_str().expect("serial").to_string()
    };
    let expiring = issue(&a.device.id, "10d");
    // Revoked: not noticed. Renewed (a later certificate of the same client): not noticed.
    let revoked_client = a.api.client(&a.domain, "revoked-one");
    let revoked = issue(&revoked_client.id, "10d");
    a.api
        .expect("DELETE", &format!("{certs}/{revoked}"), None, 204);
    let renewed_client = a.api.client(&a.domain, "renewed-one");
    issue(&renewed_client.id, "10d");
    issue(&renewed_client.id, "365d");
    // Far from expiry: not noticed.
    issue(&a.api.client(&a.domain, "fresh-one").id, "90d");

    let got = wait_for(&a.api, "expiry notice", |l| !l.is_empty());
    let before = metric(
        &metrics(&t.server),
        "magnetite_notifications_cert_sweeps_total",
    );
    wait_metric(
        &t.server,
        "magnetite_notifications_cert_sweeps_total",
        before + 2,
    );
    let after = notifications(&a.api);
    assert_eq!(after, got, "later sweeps must not notice again");
    assert_eq!(variants(&after), ["certificate_expiring"]);
    let cert = refs_of(&after[0], "certificate");
    assert_eq!(cert[0]["ref_value"], expiring.as_str());
    assert_eq!(
        refs_of(&after[0], "client")[0]["ref_value"],
        a.device.id.as_str()
    );
    assert!(
        notifications(&t.d2.api).is_empty(),
        "another tenant is not told"
    );
}

#[test]
fn a_restart_keeps_notifications_and_rereading_the_outbox_duplicates_none() {
    let t = two_tenants(&[]);
    let (a, b) = (&t.d1, &t.d2);
    assign(a, &b.user_id, "member");
    assign(a, &b.user_id, "admin");
    let before = wait_for(&b.api, "two notices", |l| l.len() == 2);
    // Acknowledged before the restart: it must not come back when the outbox is re-read.
    let body = json!({"ids": [before[1]["id"]]});
    b.api
        .expect("POST", "/notifications/acknowledge", Some(body), 204);
    let (b_email, b_password) = (b.email.clone(), b.password.clone());
    let (a_email, a_password, d1) = (a.email.clone(), a.password.clone(), a.domain.clone());
    let b_id = b.user_id.clone();
    let dir = t.server.kill9();
    // Make the reader read the whole outbox again on the next start.
    rewind_reader(&dir);
    let server = common::start_in_platform(dir, &[]);
    let mut b_api = Api::admin(&server);
    b_api.token = b_api.login(&b_email, &b_password);
    let mut a_api = Api::unauthenticated(&b_api);
    a_api.token = a_api.login(&a_email, &a_password);
    // A change after the restart shows the reader has gone past the old rows.
    let body = json!({"user_ids": [b_id]});
    a_api.expect(
        "POST",
        &format!("/domains/{d1}/users/unassign"),
        Some(body),
        204,
    );
    let got = wait_for(&b_api, "after restart", |l| l.len() >= 2);
    assert_eq!(variants(&got), ["permission_revoked", "permission_updated"]);
    assert_eq!(got[1], before[0], "kept as it was");
}

/// Sets the notifications reader's cursor back to the start of the outbox, in the
/// stopped server's SQLite database.
fn rewind_reader(dir: &std::path::Path) {
    let url = format!("sqlite://{}/magnetite.db", dir.display());
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let pool = sqlx::SqlitePool::connect(&url)
            .await
            .expect("open the database");
        let done =
            sqlx::query("UPDATE events_cursors SET last_id = 0 WHERE sink = '#notifications'")
                .execute(&pool)
                .await
                .expect("rewind");
        assert_eq!(done.rows_affected(), 1, "the reader's cursor row");
    });
}
