//! The platform HTTP API through the binary: status codes and bodies for users,
//! tokens, password reset, domains and roles, clients/channels/groups, paging.

mod common;
mod platform;

use platform::Api;
use serde_json::{json, Value};

fn user(api: &Api, email: &str, password: &str) -> String {
    let body = json!({"email": email, "credentials": {"username": email.split('@').next(), "secret": password}});
    let u = api.expect("POST", "/users", Some(body), 201);
    u["id"].as_str().expect("user id").to_string()
}

fn as_user(api: &Api, server: &common::Server, email: &str, password: &str) -> Api {
    let mut other = Api::admin(server);
    other.token = api.login(email, password);
    other
}

#[test]
fn users_tokens_and_errors() {
    let server = platform::server(&[]);
    let admin = Api::admin(&server);
    let bob = user(&admin, "bob@example.com", "bob-password");
    // Duplicate, bad body, wrong content type, no token.
    let dup = json!({"email": "bob@example.com", "credentials": {"username": "bob2", "secret": "bob-password"}});
    let err = admin.expect("POST", "/users", Some(dup), 409);
    assert!(err["message"].is_string());
    admin.expect(
        "POST",
        "/users",
        Some(json!({"email": "not-an-email", "credentials": {"secret": "longenough"}})),
        400,
    );
    admin.expect(
        "POST",
        "/users",
        Some(json!({"email": "c@example.com", "credentials": {"secret": "short"}})),
        400,
    );
    let (status, body) = admin.call("POST", "/users", Some(json!([1, 2])));
    assert_eq!(status.as_u16(), 400, "{body}");
    assert!(body["message"].is_string());
    let mut anonymous = Api::admin(&server);
    anonymous.token.clear();
    assert_eq!(anonymous.call("GET", "/users", None).0.as_u16(), 401);
    anonymous.token = "garbage.token.here".into();
    assert_eq!(
        anonymous.call("GET", "/users/profile", None).0.as_u16(),
        401
    );

    // Bob sees himself, not others; he cannot list users or change roles.
    let bob_api = as_user(&admin, &server, "bob@example.com", "bob-password");
    let me = bob_api.expect("GET", "/users/profile", None, 200);
    assert_eq!(me["id"], bob.as_str());
    assert_eq!(me["role"], "user");
    assert!(
        me.get("secret").is_none() && me["credentials"].get("secret").is_none(),
        "no secret in a user view"
    );
    bob_api.expect("GET", "/users", None, 403);
    let admin_id = admin.expect("GET", "/users/profile", None, 200)["id"]
        .as_str()
        .unwrap()
        .to_string();
    bob_api.expect("GET", &format!("/users/{admin_id}"), None, 403);
    bob_api.expect(
        "PATCH",
        &format!("/users/{bob}/role"),
        Some(json!({"role": "admin"})),
        403,
    );
    let updated = bob_api.expect(
        "PATCH",
        &format!("/users/{bob}"),
        Some(json!({"first_name": "Bob", "metadata": {"desk": 4}})),
        200,
    );
    assert_eq!(updated["first_name"], "Bob");
    assert_eq!(updated["updated_by"], bob.as_str());
    bob_api.expect(
        "PATCH",
        &format!("/users/{bob}/tags"),
        Some(json!({"tags": ["ops"]})),
        200,
    );
    bob_api.expect(
        "PATCH",
        &format!("/users/{bob}/email"),
        Some(json!({"email": "robert@example.com"})),
        200,
    );

    // Own secret change: the old password stops working.
    bob_api.expect(
        "PATCH",
        "/users/secret",
        Some(json!({"old_secret": "wrong", "new_secret": "new-password-1"})),
        401,
    );
    bob_api.expect(
        "PATCH",
        "/users/secret",
        Some(json!({"old_secret": "bob-password", "new_secret": "new-password-1"})),
        200,
    );
    admin.expect(
        "POST",
        "/users/tokens/issue",
        Some(json!({"username": "robert@example.com", "password": "bob-password"})),
        401,
    );
    let tokens = admin.expect(
        "POST",
        "/users/tokens/issue",
        Some(json!({"email": "robert@example.com", "password": "new-password-1"})),
        201,
    );
    assert_eq!(tokens["access_type"], "Bearer");

    // Refresh takes the refresh token only.
    let mut refresh = Api::admin(&server);
    refresh.token = tokens["refresh_token"].as_str().unwrap().to_string();
    let again = refresh.expect("POST", "/users/tokens/refresh", None, 201);
    assert!(again["access_token"].is_string());
    refresh.token = tokens["access_token"].as_str().unwrap().to_string();
    refresh.expect("POST", "/users/tokens/refresh", None, 401);

    // Admin disables Bob: his tokens stop working, he cannot log in; enable restores.
    admin.expect("POST", &format!("/users/{bob}/disable"), None, 200);
    assert_eq!(bob_api.call("GET", "/users/profile", None).0.as_u16(), 401);
    admin.expect(
        "POST",
        "/users/tokens/issue",
        Some(json!({"username": "robert@example.com", "password": "new-password-1"})),
        401,
    );
    admin.expect("POST", &format!("/users/{bob}/enable"), None, 200);
    let list = admin.expect("GET", "/users?limit=1&offset=0&order=name", None, 200);
    assert_eq!(
        (
            list["total"].as_u64(),
            list["users"].as_array().map(Vec::len)
        ),
        (Some(2), Some(1))
    );
    admin.expect("GET", "/users?limit=101", None, 400);
    admin.expect("DELETE", &format!("/users/{bob}"), None, 204);
    admin.expect("GET", &format!("/users/{bob}"), None, 404);
}

#[test]
fn password_reset_goes_to_the_mail_dir_not_the_log() {
    let server = platform::server(&[]);
    let admin = Api::admin(&server);
    user(&admin, "carol@example.com", "carol-password");
    let mut anonymous = Api::admin(&server);
    anonymous.token.clear();
    let body = json!({"email": "carol@example.com", "host": "https://iot.example.com"});
    anonymous.expect("POST", "/password/reset-request", Some(body), 201);
    // Unknown e-mails get the same answer (no account enumeration).
    anonymous.expect(
        "POST",
        "/password/reset-request",
        Some(json!({"email": "nobody@example.com"})),
        201,
    );
    let mail_dir = server.data_dir.join("mail");
    let mails: Vec<_> = std::fs::read_dir(&mail_dir)
        .expect("mail dir")
        .flatten()
        .collect();
    assert_eq!(mails.len(), 1, "one mail, for the known user");
    let mail = std::fs::read_to_string(mails[0].path()).unwrap();
    assert!(mail.contains("To: carol@example.com"));
    let token = mail
        .split("token=")
        .nth(1)
        .expect("link with token")
        .trim()
        .to_string();
    assert!(
        !server.log().contains(&token),
        "the reset token must not be logged"
    );
    let reset =
        json!({"token": token, "password": "carol-new-pass", "confirm_password": "carol-new-pass"});
    anonymous.expect("PUT", "/password/reset", Some(reset), 201);
    anonymous.login("carol@example.com", "carol-new-pass");
    // An access token is not a reset token.
    let forged = json!({"token": admin.token, "password": "hijacked-pass", "confirm_password": "hijacked-pass"});
    anonymous.expect("PUT", "/password/reset", Some(forged), 401);
}

#[test]
fn domains_roles_and_members() {
    let server = platform::server(&[]);
    let admin = Api::admin(&server);
    let dave = user(&admin, "dave@example.com", "dave-password");
    let erin = user(&admin, "erin@example.com", "erin-password");
    let dave_api = as_user(&admin, &server, "dave@example.com", "dave-password");
    let erin_api = as_user(&admin, &server, "erin@example.com", "erin-password");

    let d = dave_api.domain("Dave's farm", "farm");
    dave_api.expect(
        "POST",
        "/domains",
        Some(json!({"name": "again", "route": "farm"})),
        409,
    );
    dave_api.expect(
        "POST",
        "/domains",
        Some(json!({"name": "bad", "route": "a/b"})),
        400,
    );
    let reserved = json!({"name": "bad", "route": "users"});
    dave_api.expect("POST", "/domains", Some(reserved), 400);
    let client = dave_api.client(&d, "tractor");
    // Erin is not in the domain: 403 everywhere in it.
    erin_api.expect("GET", &format!("/domains/{d}"), None, 403);
    erin_api.expect("GET", &format!("/{d}/clients"), None, 403);
    assert_eq!(erin_api.expect("GET", "/domains", None, 200)["total"], 0);
    // As a member she reads but does not write; as an admin she writes.
    dave_api.expect(
        "POST",
        &format!("/domains/{d}/users/assign"),
        Some(json!({"user_ids": [erin], "relation": "member"})),
        201,
    );
    let list = erin_api.expect("GET", &format!("/{d}/clients"), None, 200);
    assert_eq!(list["clients"][0]["id"], client.id.as_str());
    assert!(
        list["clients"][0]["credentials"].get("secret").is_none(),
        "secrets are shown once, at creation"
    );
    erin_api.expect(
        "POST",
        &format!("/{d}/clients"),
        Some(json!({"name": "x"})),
        403,
    );
    erin_api.expect("POST", &format!("/domains/{d}/disable"), None, 403);
    dave_api.expect(
        "POST",
        &format!("/domains/{d}/users/assign"),
        Some(json!({"user_ids": [erin], "relation": "admin"})),
        201,
    );
    erin_api.expect(
        "POST",
        &format!("/{d}/clients"),
        Some(json!({"name": "x"})),
        201,
    );
    dave_api.expect(
        "POST",
        &format!("/domains/{d}/users/unassign"),
        Some(json!({"user_ids": [dave]})),
        400,
    );
    dave_api.expect(
        "POST",
        &format!("/domains/{d}/users/unassign"),
        Some(json!({"user_ids": [erin]})),
        204,
    );
    erin_api.expect("GET", &format!("/{d}/clients"), None, 403);
    // The platform admin sees every domain; the route names the domain in paths too.
    assert_eq!(admin.expect("GET", "/domains", None, 200)["total"], 1);
    admin.expect("GET", "/farm/clients", None, 200);
    admin.expect("GET", "/domains/nope", None, 404);
}

#[test]
fn clients_channels_groups_paging_and_conflicts() {
    let server = platform::server(&[]);
    let admin = Api::admin(&server);
    let d = admin.domain("Plant", "plant");
    let bulk: Vec<Value> = (0..25)
        .map(|i| json!({"name": format!("meter-{i:02}"), "tags": ["meter"]}))
        .collect();
    let created = admin.expect(
        "POST",
        &format!("/{d}/clients/bulk"),
        Some(Value::Array(bulk)),
        201,
    );
    assert_eq!(created["clients"].as_array().map(Vec::len), Some(25));
    let secrets: std::collections::HashSet<&str> = created["clients"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["credentials"]["secret"].as_str())
        .collect();
    assert_eq!(secrets.len(), 25, "every generated secret differs");
    let page = admin.expect(
        "GET",
        &format!("/{d}/clients?offset=20&limit=10&order=name"),
        None,
        200,
    );
    assert_eq!(page["total"], 25);
    assert_eq!(page["clients"][0]["name"], "meter-20");
    assert_eq!(page["clients"].as_array().map(Vec::len), Some(5));
    assert_eq!(
        admin.expect("GET", &format!("/{d}/clients?name=METER-1"), None, 200)["total"],
        10
    );
    assert_eq!(
        admin.expect(
            "GET",
            &format!("/{d}/clients?tags=meter&limit=1"),
            None,
            200
        )["total"],
        25
    );
    admin.expect("GET", &format!("/{d}/clients?offset=-1"), None, 400);
    admin.expect("GET", &format!("/{d}/clients?status=bogus"), None, 400);
    // A client secret of our own choosing, unique in the domain.
    let mine = json!({"name": "own", "credentials": {"secret": "my-own-secret-123"}});
    admin.expect("POST", &format!("/{d}/clients"), Some(mine.clone()), 201);
    admin.expect("POST", &format!("/{d}/clients"), Some(mine), 409);
    admin.expect(
        "POST",
        &format!("/{d}/clients"),
        Some(json!({"name": ""})),
        400,
    );
    admin.expect(
        "POST",
        &format!("/{d}/clients"),
        Some(json!({"name": "m", "metadata": [1]})),
        400,
    );
    // Channels with routes; a route is unique in its domain.
    admin.expect(
        "POST",
        &format!("/{d}/channels"),
        Some(json!({"name": "a", "route": "line-1"})),
        201,
    );
    admin.expect(
        "POST",
        &format!("/{d}/channels"),
        Some(json!({"name": "b", "route": "line-1"})),
        409,
    );
    let ch = admin.expect("GET", &format!("/{d}/channels/line-1"), None, 200);
    assert_eq!(ch["route"], "line-1");
    admin.expect("GET", &format!("/{d}/channels/unknown"), None, 404);
    // Groups: a hierarchy without cycles.
    let g = |name: &str| {
        admin.expect(
            "POST",
            &format!("/{d}/groups"),
            Some(json!({"name": name})),
            201,
        )["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (top, mid, leaf) = (g("top"), g("mid"), g("leaf"));
    admin.expect(
        "POST",
        &format!("/{d}/groups/{top}/children"),
        Some(json!({"children_ids": [mid]})),
        201,
    );
    admin.expect(
        "POST",
        &format!("/{d}/groups/{leaf}/parent"),
        Some(json!({"parent_id": mid})),
        200,
    );
    admin.expect(
        "POST",
        &format!("/{d}/groups/{top}/parent"),
        Some(json!({"parent_id": leaf})),
        409,
    );
    let children = admin.expect("GET", &format!("/{d}/groups/{top}/children"), None, 200);
    assert_eq!(children["groups"][0]["id"], mid.as_str());
    let client = created["clients"][0]["id"].as_str().unwrap();
    let moved = admin.expect(
        "POST",
        &format!("/{d}/clients/{client}/parent"),
        Some(json!({"parent_group_id": leaf})),
        200,
    );
    assert_eq!(moved["parent_group_id"], leaf.as_str());
    admin.expect("DELETE", &format!("/{d}/groups/{leaf}"), None, 204);
    let view = admin.expect("GET", &format!("/{d}/clients/{client}"), None, 200);
    assert_eq!(
        view["parent_group_id"],
        Value::Null,
        "children lose a deleted parent"
    );
    // Connections validate ids and types.
    let cid = ch["id"].as_str().unwrap();
    admin.expect(
        "POST",
        &format!("/{d}/channels/connect"),
        Some(json!({"channel_ids": [cid], "client_ids": ["nope"], "types": ["publish"]})),
        404,
    );
    admin.expect(
        "POST",
        &format!("/{d}/channels/connect"),
        Some(json!({"channel_ids": [cid], "client_ids": [client], "types": ["read"]})),
        400,
    );
    admin.expect(
        "POST",
        &format!("/{d}/channels/{cid}/connect"),
        Some(json!({"client_ids": [client], "types": ["publish"]})),
        201,
    );
    let connected = admin.expect("GET", &format!("/{d}/channels/{cid}/clients"), None, 200);
    assert_eq!(connected["total"], 1);
    assert_eq!(
        admin.expect("GET", &format!("/{d}/clients/{client}/channels"), None, 200)["total"],
        1
    );
}

/// One login attempt without a token: status, `Retry-After`, body.
fn try_login(base: &str, login: &str, password: &str) -> (u16, Option<String>, Value) {
    let resp = reqwest::blocking::Client::new()
        .post(format!("{base}/users/tokens/issue"))
        .json(&json!({"username": login, "password": password}))
        .send()
        .expect("login request");
    let status = resp.status().as_u16();
    let retry = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (status, retry, resp.json().unwrap_or(Value::Null))
}

#[test]
fn repeated_wrong_passwords_throttle_that_login_only() {
    let server = platform::server(&[]);
    let admin = Api::admin(&server);
    user(&admin, "carol@example.com", "carol-password");
    let base = admin.base_url().to_string();
    for _ in 0..5 {
        let (status, retry, _) = try_login(&base, "carol@example.com", "guess");
        assert_eq!((status, retry), (401, None));
    }
    // Even the right password waits now; the answer says for how long.
    let (status, retry, body) = try_login(&base, "carol@example.com", "carol-password");
    assert_eq!(status, 429, "{body}");
    assert_eq!(retry.as_deref(), Some("1"));
    assert!(
        body["message"].as_str().unwrap_or("").contains("retry in"),
        "{body}"
    );
    // Unknown accounts are throttled alike, and other logins are untouched.
    assert_eq!(try_login(&base, "nobody@example.com", "x").0, 401);
    admin.login(common::ADMIN_EMAIL, common::ADMIN_PASSWORD);

    std::thread::sleep(std::time::Duration::from_millis(1_100));
    let (status, _, body) = try_login(&base, "carol@example.com", "carol-password");
    assert_eq!(status, 201, "{body}");
    // A success starts the count again.
    assert_eq!(try_login(&base, "carol@example.com", "guess").0, 401);
    assert_eq!(
        try_login(&base, "carol@example.com", "carol-password").0,
        201
    );
}
