//! Magistrala SDK parity (issue 16, second slice), against SuperMQ's OpenAPI
//! (`apidocs/openapi/{users,groups,domains}.yaml`) and the SDK's requests: unknown query
//! parameters are a 400 on every remaining route family, the consumer routes check the
//! token before the input, `PATCH /users/{id}/picture`, e-mail verification through a
//! real SMTP server, `GET /{d}/groups/{id}/hierarchy`, `POST /domains/{id}/freeze`.

mod common;
mod platform;
#[path = "security/tenants.rs"]
mod tenants;

use std::time::{Duration, Instant};

use platform::mail::{link_token, mailed_server, wait_for_files};
use platform::{device_pub, device_sub, exits_within, mqtt5_codes, Api};
use serde_json::{json, Value};

fn id_of(v: &Value) -> String {
    v["id"].as_str().expect("id").to_string()
}

/// `status` with a body `{"message": <non-empty>}`; the message.
fn refused(api: &Api, method: &str, path: &str, body: Option<Value>, status: u16) -> String {
    let answer = api.expect(method, path, body, status);
    let message = answer["message"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "{method} {path}: {answer}");
    message.to_string()
}

#[test]
fn every_route_family_refuses_an_unknown_query_parameter() {
    let server = platform::server(&[]);
    let api = Api::admin(&server);
    let d = api.domain("Params", "params");
    let group = id_of(&api.expect(
        "POST",
        &format!("/{d}/groups"),
        Some(json!({"name": "g"})),
        201,
    ));
    let body = Some(json!({"target": "domain", "id": d, "start": "new"}));
    let consumer = id_of(&api.expect("POST", "/consumers", body, 201));
    // (family, a query the route takes, the same with one misspelt name)
    let routes = [
        (
            "bootstrap",
            format!("/{d}/clients/configs?limit=5"),
            format!("/{d}/clients/configs?limit=5&stat=1"),
        ),
        (
            "events",
            "/events?limit=1".to_string(),
            "/events?limit=1&strem=users".to_string(),
        ),
        (
            "notifications",
            "/notifications?limit=5".to_string(),
            "/notifications?limit=5&ofset=1".to_string(),
        ),
        (
            "consumers",
            format!("/consumers/{consumer}/batch?size=1"),
            format!("/consumers/{consumer}/batch?sise=1"),
        ),
        (
            "hierarchy",
            format!("/{d}/groups/{group}/hierarchy?level=1"),
            format!("/{d}/groups/{group}/hierarchy?levl=1"),
        ),
        (
            "invitations",
            "/invitations?state=pending".to_string(),
            "/invitations?stat=pending".to_string(),
        ),
        (
            "domain invitations",
            format!("/domains/{d}/invitations?state=all"),
            format!("/domains/{d}/invitations?state=all&invitee=x"),
        ),
        (
            "verify-email",
            "/verify-email?token=x".to_string(),
            "/verify-email?token=x&tokn=y".to_string(),
        ),
    ];
    for (family, good, bad) in &routes {
        let (status, body) = api.call("GET", good, None);
        assert_ne!(
            status.as_u16(),
            400,
            "{family}: {good} is a query it takes: {body}"
        );
        let message = refused(&api, "GET", bad, None, 400);
        assert!(
            message.starts_with("unknown query parameter"),
            "{family}: {message}"
        );
    }
}

#[test]
fn consumer_and_event_routes_check_the_token_before_the_input() {
    let server = platform::server(&[]);
    let api = Api::admin(&server);
    let anonymous = Api::unauthenticated(&api);
    let junk = Some(json!({"target": 5}));
    // (method, path, body): each is a 400 with a token and a 401 without one.
    let cases = [
        ("POST", "/consumers", junk),
        ("GET", "/consumers/x/batch?size=abc", None),
        ("GET", "/consumers/x/batch?bogus=1", None),
        (
            "POST",
            "/consumers/acknowledge",
            Some(json!({"replies": "not a list"})),
        ),
        ("GET", "/events?bogus=1", None),
        ("GET", "/notifications?limit=abc", None),
    ];
    for (method, path, body) in cases {
        refused(&anonymous, method, path, body.clone(), 401);
        refused(&api, method, path, body, 400);
    }
}

#[test]
fn a_profile_picture_is_an_http_url_shown_on_the_user() {
    let t = tenants::two_tenants(&[]);
    let me = &t.d1;
    let path = format!("/users/{}/picture", me.user_id);
    let url = "https://cdn.example.com/avatars/a.png";
    let user = me
        .api
        .expect("PATCH", &path, Some(json!({"profile_picture": url})), 200);
    assert_eq!(user["profile_picture"], url);
    assert_eq!(
        me.api.expect("GET", "/users/profile", None, 200)["profile_picture"],
        url
    );
    let long = format!("https://x.example/{}", "a".repeat(3000));
    for bad in [
        json!("javascript:alert(1)"),
        json!("/a.png"),
        json!("ftp://x.example/a"),
        json!(long),
        json!(5),
    ] {
        refused(
            &me.api,
            "PATCH",
            &path,
            Some(json!({"profile_picture": bad})),
            400,
        );
    }
    refused(&me.api, "PATCH", &path, Some(json!({})), 400);
    // Another user's picture: theirs to change (or a platform admin's), not mine.
    let theirs = format!("/users/{}/picture", t.d2.user_id);
    refused(
        &me.api,
        "PATCH",
        &theirs,
        Some(json!({"profile_picture": url})),
        403,
    );
    let admin_set = t
        .admin
        .expect("PATCH", &theirs, Some(json!({"profile_picture": url})), 200);
    assert_eq!(admin_set["profile_picture"], url);
    let events = t.admin.event_log("users");
    assert!(events
        .iter()
        .any(|e| e["operation"] == "user.update_profile_picture"));
}

#[test]
fn email_verification_goes_through_smtp_and_its_link_works_once() {
    let mailed = mailed_server(&[]);
    let (server, maildir) = (&mailed.server, &mailed.maildir);
    let admin = Api::admin(server);
    let body = json!({"email": "vera@example.com", "credentials": {"username": "vera", "secret": "vera-password"}});
    admin.expect("POST", "/users", Some(body), 201);
    let mut vera = Api::unauthenticated(&admin);
    refused(&vera, "POST", "/users/send-verification", None, 401);
    vera.token = vera.login("vera", "vera-password");
    assert_eq!(
        vera.expect("GET", "/users/profile", None, 200)["verified_at"],
        Value::Null
    );

    vera.expect("POST", "/users/send-verification", None, 200);
    let mail = wait_for_files(&maildir.join("new"), 1).remove(0);
    assert!(mail.contains("vera@example.com"), "{mail}");
    let token = link_token(&mail, "https://portal.example.com/verify-email?token=");
    assert!(!server.log().contains(&token), "the token is never logged");
    let anonymous = Api::unauthenticated(&admin);
    refused(&anonymous, "GET", "/verify-email", None, 400);
    refused(
        &anonymous,
        "GET",
        "/verify-email?token=0123456789abcdef",
        None,
        401,
    );
    anonymous.expect("GET", &format!("/verify-email?token={token}"), None, 200);
    let verified_at = vera.expect("GET", "/users/profile", None, 200)["verified_at"].clone();
    assert!(
        verified_at.as_str().is_some_and(|t| t.contains('T')),
        "{verified_at}"
    );
    // Single use; a verified address gets no more mail.
    refused(
        &anonymous,
        "GET",
        &format!("/verify-email?token={token}"),
        None,
        401,
    );
    refused(&vera, "POST", "/users/send-verification", None, 409);
    // A new address is not verified.
    let me = format!(
        "/users/{}/email",
        id_of(&vera.expect("GET", "/users/profile", None, 200))
    );
    let changed = vera.expect(
        "PATCH",
        &me,
        Some(json!({"email": "vera2@example.com"})),
        200,
    );
    assert_eq!(changed["verified_at"], Value::Null);
    let events = admin.event_log("users");
    for op in ["user.send_verification", "user.verify_email"] {
        assert!(events.iter().any(|e| e["operation"] == op), "{op}");
    }
    // Throttled like reset requests: 5 mails per address per window, then 429.
    for _ in 0..5 {
        vera.expect("POST", "/users/send-verification", None, 200);
    }
    refused(&vera, "POST", "/users/send-verification", None, 429);
}

/// `POST /{d}/groups` named `name` under `parent`; its id.
fn group(api: &Api, d: &str, name: &str, parent: Option<&str>) -> String {
    let body = json!({"name": name, "parent_id": parent});
    id_of(&api.expect("POST", &format!("/{d}/groups"), Some(body), 201))
}

/// The ids of a hierarchy answer's `groups`, in order.
fn ids(groups: &Value) -> Vec<String> {
    groups
        .as_array()
        .expect("groups")
        .iter()
        .map(id_of)
        .collect()
}

#[test]
fn a_group_hierarchy_goes_up_down_and_as_a_tree() {
    let t = tenants::two_tenants(&[]);
    let (api, d) = (&t.d1.api, &t.d1.domain);
    let root = group(api, d, "root", None);
    let a = group(api, d, "a", Some(&root));
    let b = group(api, d, "b", Some(&root));
    let a1 = group(api, d, "a1", Some(&a));
    let a2 = group(api, d, "a2", Some(&a1));
    let at = |id: &str, query: &str| {
        api.expect(
            "GET",
            &format!("/{d}/groups/{id}/hierarchy?{query}"),
            None,
            200,
        )
    };

    let up = at(&a1, "direction=up");
    assert_eq!(
        (up["level"].clone(), up["direction"].clone()),
        (json!(10), json!(1))
    );
    assert_eq!(ids(&up["groups"]), [a1.as_str(), a.as_str(), root.as_str()]);
    assert_eq!(
        ids(&at(&a1, "direction=1&level=1")["groups"]),
        [a1.as_str(), a.as_str()]
    );
    let down = at(&root, "level=2");
    assert_eq!(down["direction"], -1, "SuperMQ's default: descendants");
    assert_eq!(
        ids(&down["groups"]),
        [root.as_str(), a.as_str(), b.as_str(), a1.as_str()]
    );
    assert_eq!(
        ids(&at(&root, "direction=down")["groups"]).len(),
        5,
        "all levels by default"
    );

    let tree = at(&root, "tree=true");
    assert_eq!(ids(&tree["groups"]), [root.as_str()]);
    let top = &tree["groups"][0];
    assert_eq!(ids(&top["children"]), [a.as_str(), b.as_str()]);
    assert_eq!(ids(&top["children"][0]["children"]), [a1.as_str()]);
    assert_eq!(
        ids(&top["children"][0]["children"][0]["children"]),
        [a2.as_str()]
    );
    let up_tree = at(&a1, "tree=true&direction=up");
    assert_eq!(
        ids(&up_tree["groups"]),
        [root.as_str()],
        "up: the farthest ancestor on top"
    );

    // Bounded, and another tenant's ids are missing ones.
    for bad in ["level=0", "level=11", "direction=left", "tree=maybe"] {
        refused(
            api,
            "GET",
            &format!("/{d}/groups/{root}/hierarchy?{bad}"),
            None,
            400,
        );
    }
    let foreign = group(&t.d2.api, &t.d2.domain, "theirs", None);
    refused(
        api,
        "GET",
        &format!("/{d}/groups/{foreign}/hierarchy"),
        None,
        404,
    );
    refused(
        &t.d2.api,
        "GET",
        &format!("/{d}/groups/{root}/hierarchy"),
        None,
        403,
    );
    let theirs = t.d2.api.expect(
        "GET",
        &format!("/{}/groups/{foreign}/hierarchy", t.d2.domain),
        None,
        200,
    );
    assert_eq!(ids(&theirs["groups"]), [foreign]);
}

#[test]
fn a_frozen_domain_refuses_its_users_and_devices() {
    let t = tenants::two_tenants(&[]);
    let (d1, d2) = (&t.d1, &t.d2);
    let freeze = format!("/domains/{}/freeze", d1.domain);
    // Only a platform admin freezes: not even the domain's own admin.
    refused(&d1.api, "POST", &freeze, None, 403);
    let filter = format!("m/{}/c/{}/#", d1.domain, d1.channel);
    let sub = device_sub(&t.server.port(), &d1.device, &filter, &["-V", "mqttv5"]);
    std::thread::sleep(Duration::from_millis(700)); // time to connect and subscribe
    let since = Instant::now();
    let frozen = t.admin.expect("POST", &freeze, None, 200);
    assert_eq!(frozen["status"], "freezed");
    exits_within(sub, since, Duration::from_secs(1));
    let connack = |dev: &platform::Device| {
        mqtt5_codes(&t.server, &dev.id, &dev.secret, &[])["connack"].clone()
    };
    assert_eq!(connack(&d1.device), 0x87, "not authorized");
    let pubs = device_pub(
        &t.server.port(),
        &d1.device,
        &format!("m/{}/c/{}", d1.domain, d1.channel),
        "x",
        &[],
    );
    assert!(!pubs.status.success(), "refused at CONNECT");

    // Its users cannot act in it; its own admin cannot unfreeze it.
    for (method, path) in [
        ("GET", format!("/{}/clients", d1.domain)),
        ("GET", format!("/domains/{}", d1.domain)),
        ("POST", format!("/domains/{}/enable", d1.domain)),
    ] {
        refused(&d1.api, method, &path, None, 403);
    }
    let listed = t.admin.expect("GET", "/domains?status=freezed", None, 200);
    assert_eq!(ids(&listed["domains"]), [d1.domain.as_str()]);
    let events = t.admin.event_log("users");
    let ev = events
        .iter()
        .find(|e| e["operation"] == "domain.freeze")
        .expect("domain.freeze");
    assert_eq!(
        (ev["id"].clone(), ev["status"].clone()),
        (json!(d1.domain), json!("freezed"))
    );

    // The other tenant goes on; unfreezing (a platform admin's enable) gives it all back.
    d2.api
        .expect("GET", &format!("/{}/clients", d2.domain), None, 200);
    assert_eq!(connack(&d2.device), 0);
    t.admin
        .expect("POST", &format!("/domains/{}/enable", d1.domain), None, 200);
    assert_eq!(connack(&d1.device), 0);
    d1.api
        .expect("GET", &format!("/{}/clients", d1.domain), None, 200);
}
