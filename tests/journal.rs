//! The journal and client telemetry through the binary (issue 16): SuperMQ's
//! `journal.yaml` routes over the outbox copy, who may read them, MQTT telemetry from a
//! real session, retention. Two tenants as in the security suite: D1 administered by
//! user A, D2 by user B.

mod common;
mod platform;

#[path = "security/tenants.rs"]
mod tenants;

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use platform::{device_pub, device_sub, Api};
use tenants::{two_tenants, Tenant, Tenants};

/// How long anything asynchronous may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(20);

/// GET `path` (asserting 200) until `done` holds for the body; the last body.
fn until(api: &Api, path: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let body = api.expect("GET", path, None, 200);
        if done(&body) {
            return body;
        }
        assert!(start.elapsed() < DEADLINE, "{what}: {body}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn operations(page: &Value) -> Vec<&str> {
    page["journals"]
        .as_array()
        .expect("journals")
        .iter()
        .filter_map(|j| j["operation"].as_str())
        .collect()
}

fn client_journal(t: &Tenant, query: &str) -> String {
    format!("/{}/journal/client/{}?{query}", t.domain, t.device.id)
}

/// One MQTT session of the tenant's device: CONNECT, then DISCONNECT.
fn mqtt_session(server: &common::Server, t: &Tenant) {
    let login = Some((t.device.id.as_str(), t.device.secret.as_str()));
    let code = magnetite_testkit::mqtt::connect_and_disconnect(server.mqtt, "sensor-a", login);
    assert_eq!(code, 0, "CONNACK accepted");
}

/// D1's device is created and connected by `two_tenants`; A renames it, changes its
/// secret, and the device connects once. Returns the secrets it had.
fn a_client_life(ts: &Tenants) -> [String; 2] {
    let t = &ts.d1;
    let path = format!("/{}/clients/{}", t.domain, t.device.id);
    t.api
        .expect("PATCH", &path, Some(json!({"name": "renamed"})), 200);
    let new_secret = "a-brand-new-secret-for-the-journal";
    let body = json!({"secret": new_secret});
    t.api
        .expect("PATCH", &format!("{path}/secret"), Some(body), 200);
    let device = platform::Device {
        id: t.device.id.clone(),
        secret: new_secret.to_string(),
    };
    let login = Some((device.id.as_str(), device.secret.as_str()));
    let code = magnetite_testkit::mqtt::connect_and_disconnect(ts.server.mqtt, "sensor-a", login);
    assert_eq!(code, 0, "CONNACK accepted");
    [t.device.secret.clone(), new_secret.to_string()]
}

fn check_life_in_order(t: &Tenant) {
    let all = until(
        &t.api,
        &client_journal(t, "dir=asc&limit=100"),
        "disconnect journalled",
        |p| operations(p).contains(&"mqtt.client_disconnect"),
    );
    let want = [
        "client.create",
        "channel.connect",
        "client.update",
        "client.update_secret",
        "mqtt.client_connect",
        "mqtt.client_disconnect",
    ];
    assert_eq!(operations(&all), want, "{all}");
    assert_eq!(all["total"], 6);
    assert_eq!(
        all["journals"][0]["domain"].as_str(),
        Some(t.domain.as_str())
    );
    assert!(
        all["journals"][0].get("attributes").is_none(),
        "only when asked"
    );
    // Paging, both directions (desc is the default).
    let page = t.api.expect(
        "GET",
        &client_journal(t, "dir=asc&offset=1&limit=2"),
        None,
        200,
    );
    assert_eq!(operations(&page), &want[1..3]);
    assert_eq!(
        (
            page["total"].clone(),
            page["offset"].clone(),
            page["limit"].clone()
        ),
        (json!(6), json!(1), json!(2))
    );
    let newest = t
        .api
        .expect("GET", &client_journal(t, "limit=1"), None, 200);
    assert_eq!(operations(&newest), ["mqtt.client_disconnect"]);
    // Filters: operation, time range, attributes.
    let q = "operation=client.update&with_attributes=true&with_metadata=true";
    let update = t.api.expect("GET", &client_journal(t, q), None, 200);
    assert_eq!(update["total"], 1);
    assert_eq!(update["journals"][0]["attributes"]["name"], "renamed");
    assert!(update["journals"][0]["metadata"].is_object());
    let later = now_secs() + 3600;
    let future = t.api.expect(
        "GET",
        &client_journal(t, &format!("from={later}")),
        None,
        200,
    );
    assert_eq!(
        (future["total"].clone(), future["journals"].clone()),
        (json!(0), json!([]))
    );
    let past = t.api.expect("GET", &client_journal(t, "to=1"), None, 200);
    assert_eq!(past["total"], 0);
    let recent = format!("from={}&to={later}", now_secs() - 3600);
    assert_eq!(
        t.api.expect("GET", &client_journal(t, &recent), None, 200)["total"],
        6
    );
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// Nothing of the journals of D1's device and of user A carries a secret.
fn check_no_secret(ts: &Tenants, secrets: &[String]) {
    let t = &ts.d1;
    let q = "with_attributes=true&with_metadata=true&limit=100";
    let client = t.api.expect("GET", &client_journal(t, q), None, 200);
    let user = t.api.expect(
        "GET",
        &format!("/journal/user/{}?{q}", t.user_id),
        None,
        200,
    );
    assert!(operations(&user).contains(&"user.create"), "{user}");
    for text in [client.to_string(), user.to_string()] {
        for secret in secrets.iter().chain([&t.password]) {
            assert!(
                !text.contains(secret.as_str()),
                "a secret in the journal: {text}"
            );
        }
    }
}

fn journal_lifecycle(extra: &[&str]) {
    let ts = two_tenants(extra);
    let secrets = a_client_life(&ts);
    check_life_in_order(&ts.d1);
    check_no_secret(&ts, &secrets);
}

#[test]
fn a_clients_journal_lists_its_life_in_order_with_paging_and_filters() {
    journal_lifecycle(&[]);
}

#[test]
fn the_journal_works_the_same_on_postgresql() {
    let pg = magnetite_testkit::servers::scratch_postgres();
    let url = pg.url.clone();
    journal_lifecycle(&["--database-url", &url]);
}

#[test]
fn only_the_entitys_readers_get_its_journal() {
    let ts = two_tenants(&[]);
    let (d1, d2) = (&ts.d1, &ts.d2);
    mqtt_session(&ts.server, d1);
    until(&d1.api, &client_journal(d1, ""), "journalled", |p| {
        p["total"].as_u64() > Some(0)
    });
    // B names D1's ids through B's own domain: 404, like missing ids.
    for path in [
        format!("/{}/journal/client/{}", d2.domain, d1.device.id),
        format!("/{}/journal/channel/{}", d2.domain, d1.channel),
        format!("/{}/journal/client/{}/telemetry", d2.domain, d1.device.id),
        format!("/{}/journal/group/{}", d2.domain, d1.channel),
    ] {
        let body = d2.api.expect("GET", &path, None, 404);
        assert!(body["message"].is_string(), "{path}: {body}");
    }
    // Through D1's path: refused exactly as viewing the client is.
    let view = d2.api.call(
        "GET",
        &format!("/{}/clients/{}", d1.domain, d1.device.id),
        None,
    );
    let journal = d2.api.call("GET", &client_journal(d1, ""), None);
    assert_eq!(journal.0, view.0);
    assert!(
        journal.0.is_client_error() && journal.0 != 200,
        "{journal:?}"
    );
    // A user's journal: themself and the platform admin only.
    d2.api
        .expect("GET", &format!("/journal/user/{}", d1.user_id), None, 403);
    d1.api
        .expect("GET", &format!("/journal/user/{}", d1.user_id), None, 200);
    ts.admin
        .expect("GET", &format!("/journal/user/{}", d1.user_id), None, 200);
    ts.admin
        .expect("GET", "/journal/user/no-such-user", None, 404);
    // No token: 401; junk: 400 with a message.
    let anonymous = Api::unauthenticated(&d1.api);
    anonymous.expect("GET", &client_journal(d1, ""), None, 401);
    for junk in [
        client_journal(d1, "usrname=x"),
        client_journal(d1, "limit=1000"),
        client_journal(d1, "dir=sideways"),
        client_journal(d1, "from=yesterday"),
        format!("/{}/journal/thing/{}", d1.domain, d1.device.id),
        format!(
            "/{}/journal/client/{}/telemetry?x=1",
            d1.domain, d1.device.id
        ),
    ] {
        let body = d1.api.expect("GET", &junk, None, 400);
        assert!(body["message"].is_string(), "{junk}: {body}");
    }
}

#[test]
fn telemetry_counts_an_mqtt_sessions_subscriptions_and_messages() {
    let ts = two_tenants(&[]);
    let t = &ts.d1;
    let telemetry = format!("/{}/journal/client/{}/telemetry", t.domain, t.device.id);
    let before = t.api.expect("GET", &telemetry, None, 200);
    assert_eq!(before["inbound_messages"], 0);
    assert_eq!(before["first_seen"], Value::Null, "never connected");

    const N: usize = 5;
    let filter = format!("m/{}/c/{}/#", t.domain, t.channel);
    let count = N.to_string();
    let sub = device_sub(
        &ts.server.port(),
        &t.device,
        &filter,
        &["-C", &count, "-W", "30", "-q", "1"],
    );
    let live = until(&t.api, &telemetry, "the subscription is seen", |b| {
        b["subscriptions"] == 1
    });
    assert_eq!(live["client_id"], t.device.id.as_str());
    assert_eq!(live["domain_id"], t.domain.as_str());
    let topic = format!("m/{}/c/{}/room-1", t.domain, t.channel);
    for i in 0..N {
        let out = device_pub(
            &ts.server.port(),
            &t.device,
            &topic,
            &i.to_string(),
            &["-q", "1"],
        );
        common::assert_success(&out);
    }
    common::assert_success(&common::finish(sub, Duration::from_secs(30)));

    let done = until(
        &t.api,
        &telemetry,
        "the counts of the ended sessions",
        |b| b["inbound_messages"] == N && b["outbound_messages"] == N && b["subscriptions"] == 0,
    );
    let first = done["first_seen"].as_str().expect("first_seen");
    let last = done["last_seen"].as_str().expect("last_seen");
    assert!(first < last, "{done}");
    // A session that only subscribed (nothing published or delivered) takes its
    // subscription with it too.
    let idle = device_sub(
        &ts.server.port(),
        &t.device,
        &filter,
        &["-C", "1", "-W", "2"],
    );
    until(&t.api, &telemetry, "the idle subscription is seen", |b| {
        b["subscriptions"] == 1
    });
    let _ = common::finish(idle, Duration::from_secs(10));
    let ended = until(&t.api, &telemetry, "the idle session ended", |b| {
        b["subscriptions"] == 0
    });
    assert_eq!(ended["outbound_messages"], N, "{ended}");
    // The subscription is in the journals of the client and of the channel.
    let subscribes = |path: String| {
        let page = t.api.expect("GET", &path, None, 200);
        page["journals"][0]["attributes"]["channel_id"].clone()
    };
    let q = "operation=mqtt.client_subscribe&with_attributes=true";
    assert_eq!(subscribes(client_journal(t, q)), t.channel.as_str());
    let channel = format!("/{}/journal/channel/{}?{q}", t.domain, t.channel);
    assert_eq!(subscribes(channel), t.channel.as_str());
}

#[test]
fn entries_older_than_the_retention_are_pruned() {
    let ts = two_tenants(&["--journal-retention", "2s"]);
    let t = &ts.d1;
    let path = client_journal(t, "");
    let kept = t.api.expect("GET", &path, None, 200);
    // The device was created moments ago; by now it may be journalled or already pruned.
    assert!(kept["total"].as_u64() <= Some(2), "{kept}");
    mqtt_session(&ts.server, t);
    until(&t.api, &path, "the session is journalled", |p| {
        operations(p).contains(&"mqtt.client_disconnect")
    });
    until(&t.api, &path, "pruned after 2 s", |p| p["total"] == 0);
    // Telemetry is an aggregate and stays.
    let telemetry = format!("/{}/journal/client/{}/telemetry", t.domain, t.device.id);
    let kept = t.api.expect("GET", &telemetry, None, 200);
    assert!(kept["last_seen"].is_string(), "{kept}");
}
