//! Self-registration (`POST /users` without a token, `--allow-self-register`) and the
//! unauthenticated refusals of the user-account routes around it.

mod common;
mod platform;

use serde_json::{json, Value};

use platform::Api;

/// `POST /users` without a token, as `api` (any token it holds is not sent).
fn register(api: &Api, body: Value) -> (u16, Value) {
    let response = reqwest::blocking::Client::new()
        .post(format!("{}/users", api.base_url()))
        .json(&body)
        .send()
        .expect("HTTP request");
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

fn registrant(name: &str) -> Value {
    json!({"email": format!("{name}@example.com"), "credentials": {"username": name, "secret": "register-me-123"}})
}

#[test]
fn self_registration_is_off_unless_enabled() {
    let server = platform::server(&[]);
    let admin = Api::admin(&server);
    let (status, body) = register(&admin, registrant("eve"));
    assert_eq!(status, 401, "{body}");
    assert!(body["message"].is_string(), "{body}");
    // The admin's path takes SuperMQ's numeric codes: role 1 = admin, status 1 = disabled.
    let coded = json!({"email": "root2@example.com", "role": 1, "status": 1,
        "credentials": {"username": "root2", "secret": "root-two-pass-1"}});
    let made = admin.expect("POST", "/users", Some(coded), 201);
    assert_eq!(
        (made["role"].as_str(), made["status"].as_str()),
        (Some("admin"), Some("disabled"))
    );
    let unknown = json!({"email": "x@example.com", "role": 7,
        "credentials": {"username": "x7", "secret": "x-seven-pass-1"}});
    admin.expect("POST", "/users", Some(unknown), 400);
}

#[test]
fn self_registration_makes_plain_enabled_users_only() {
    let server = platform::server(&["--allow-self-register"]);
    let admin = Api::admin(&server);
    let (status, user) = register(&admin, registrant("ada"));
    assert_eq!(status, 201, "{user}");
    assert_eq!(
        (user["role"].as_str(), user["status"].as_str()),
        (Some("user"), Some("enabled"))
    );
    Api::unauthenticated(&admin).login("ada@example.com", "register-me-123");

    // Nobody registers an admin or a disabled account, by name or by code.
    for (key, value) in [
        ("role", json!("admin")),
        ("role", json!(1)),
        ("status", json!(1)),
    ] {
        let mut body = registrant("mallory");
        body[key] = value;
        let (status, answer) = register(&admin, body);
        assert_eq!(status, 403, "{key}: {answer}");
    }
    // A token that is there but bad is refused, never taken as a registration.
    let mut forged = Api::unauthenticated(&admin);
    forged.token = "not-a-token".into();
    let (status, _) = forged.call("POST", "/users", Some(registrant("trudy")));
    assert_eq!(status.as_u16(), 401);
    // A plain user's token still cannot create users.
    let mut ada = Api::unauthenticated(&admin);
    ada.token = ada.login("ada@example.com", "register-me-123");
    let (status, _) = ada.call("POST", "/users", Some(registrant("oscar")));
    assert_eq!(status.as_u16(), 403);
    // Taken names answer 409 like any duplicate.
    let (status, _) = register(&admin, registrant("ada"));
    assert_eq!(status, 409);
}
