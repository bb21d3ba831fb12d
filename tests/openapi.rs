//! `GET /openapi.json`: served without auth, generated at start from the route registry
//! every crate builds its routes with (httpkit's `Routes`), so it lists exactly what is
//! served: every documented operation answers from a route (never the "no such route"
//! fallback, never 405), and the routes of every crate are in it with their path and
//! query parameters. (The other direction, a served route missing from the document,
//! is checked on real traffic by `sdk_official.rs`.)

mod common;
mod platform;

use serde_json::{json, Value};

use platform::openapi::{documented, operations};
use platform::Api;

/// The platform with every optional service on.
fn server() -> common::Server {
    platform::server_with_certs(&[])
}

fn document(server: &common::Server) -> (Api, Value) {
    let admin = Api::admin(server);
    let anonymous = Api::unauthenticated(&admin);
    let doc = anonymous.expect("GET", "/openapi.json", None, 200);
    (anonymous, doc)
}

/// The `in: where` parameter names of `METHOD template`.
fn parameters(doc: &Value, method: &str, template: &str, place: &str) -> Vec<String> {
    let op = &doc["paths"][template][method.to_lowercase()];
    op["parameters"]
        .as_array()
        .map(|params| {
            params
                .iter()
                .filter(|p| p["in"] == place)
                .filter_map(|p| p["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn the_document_lists_every_crates_routes_with_their_parameters() {
    let server = server();
    let (_, doc) = document(&server);
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "{}",
        doc["openapi"]
    );
    let ops = operations(&doc);
    for (method, path) in [
        ("GET", "/health"),
        ("GET", "/metrics"),
        ("GET", "/openapi.json"),
        ("POST", "/users/tokens/issue"),
        ("GET", "/users/u1/domains"),
        ("PUT", "/password/reset"),
        ("PATCH", "/domains/d1"),
        ("POST", "/d1/clients/bulk"),
        ("DELETE", "/d1/clients/c1"),
        ("POST", "/d1/channels/connect"),
        ("DELETE", "/d1/groups/g1/children/all"),
        ("GET", "/certs/ca"),
        ("GET", "/d1/serials/c1"),
        ("PUT", "/d1/clients/state/c1"),
        ("GET", "/clients/bootstrap/secure/e1"),
        ("GET", "/events"),
        ("GET", "/consumers/k1/batch"),
        ("POST", "/notifications/acknowledge"),
    ] {
        assert!(documented(&ops, method, path), "{method} {path} missing");
    }
    assert!(ops.len() > 100, "{} operations", ops.len());

    let view = parameters(&doc, "GET", "/{domain}/clients/{id}", "path");
    assert_eq!(view, ["domain", "id"]);
    let users = parameters(&doc, "GET", "/users", "query");
    for name in ["offset", "limit", "username", "email", "status"] {
        assert!(users.iter().any(|q| q == name), "{name}: {users:?}");
    }
    let create = &doc["paths"]["/{domain}/clients"]["post"];
    assert!(
        create["requestBody"]["content"]["application/json"].is_object(),
        "{create}"
    );
    assert_eq!(create["security"], json!([{ "bearer": [] }]));
    let batch = &doc["paths"]["/consumers/{id}/batch"]["get"];
    assert_eq!(batch["security"], json!([{ "bearer": [] }]), "{batch}");
    assert_eq!(
        parameters(&doc, "GET", "/consumers/{id}/batch", "query"),
        ["size"]
    );
    let login = &doc["paths"]["/users/tokens/issue"]["post"];
    assert!(login["security"].is_null(), "login needs no token: {login}");
}

/// `template` with every `{param}` replaced by an id that exists nowhere.
fn concrete(template: &str) -> String {
    template
        .split('/')
        .map(|s| {
            if s.starts_with('{') {
                "00000000-0000-4000-8000-000000000000"
            } else {
                s
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[test]
fn every_documented_operation_is_served() {
    let server = server();
    let (anonymous, doc) = document(&server);
    let ops = operations(&doc);
    let mut unserved = Vec::new();
    for (method, template) in &ops {
        let body = (method != "GET" && method != "DELETE").then(|| json!({}));
        let (status, answer) = anonymous.call(method, &concrete(template), body);
        let fallback = status.as_u16() == 404 && answer["message"] == "no such route";
        if fallback || status.as_u16() == 405 {
            unserved.push(format!("{method} {template}: {status} {answer}"));
        }
    }
    assert!(
        unserved.is_empty(),
        "documented, not served:\n{}",
        unserved.join("\n")
    );
}
