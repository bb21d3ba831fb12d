//! Invitations through the binary (issue 17): a domain's role manager invites a user
//! with one of the domain's roles; the invitee lists, views, accepts (and is a member
//! with that role at once) or rejects; the domain lists, views and deletes. Refusals:
//! inviting a member or re-inviting without `resend` (409), accepting twice (409),
//! someone else's or another domain's invitation (404, never a membership), outsiders
//! (404), members without `manage_role` (403), no token (401), bad input (400/415),
//! and personal access tokens never accept. Every change is an `invitation.*` event;
//! the invitee gets an `invitation_received` notification. Pending invitations go,
//! silently, with the role, the user or the membership (of invitee or inviter) they
//! name, and so leave the domain's cap. One file per flow: the invitee's answers
//! (`answers.rs`), the refusals (`refusals.rs`), what goes with its subject
//! (`cleanup.rs`); the helpers they share are here.

mod common;
mod platform;
#[path = "security/tenants.rs"]
mod tenants;

#[path = "invitations/answers.rs"]
mod answers;
#[path = "invitations/cleanup.rs"]
mod cleanup;
#[path = "invitations/refusals.rs"]
mod refusals;

use platform::Api;
use serde_json::{json, Value};
use tenants::Tenants;

/// A new user and a client logged in as them.
fn new_user(admin: &Api, name: &str) -> (String, Api) {
    let password = format!("{name}-password-0");
    let body = json!({"email": format!("{name}@example.com"), "credentials": {"username": name, "secret": password}});
    let user = admin.expect("POST", "/users", Some(body), 201);
    let mut api = Api::unauthenticated(admin);
    api.token = admin.login(name, &password);
    (user["id"].as_str().expect("user id").to_string(), api)
}

/// `status` with a non-empty `{"message"}`; the message.
fn refused(api: &Api, method: &str, path: &str, body: Option<Value>, status: u16) -> String {
    let answer = api.expect(method, path, body, status);
    let message = answer["message"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "{method} {path}: {answer}");
    message.to_string()
}

/// A role on domain `d` with `actions`, no members; its id.
fn domain_role(owner: &Api, d: &str, name: &str, actions: &[&str]) -> String {
    let body = json!({"role_name": name, "optional_actions": actions});
    let role = owner.expect("POST", &format!("/domains/{d}/roles"), Some(body), 201);
    role["id"].as_str().expect("role id").to_string()
}

fn invite(api: &Api, d: &str, user: &str, role: &str, resend: bool, status: u16) -> Value {
    let body = json!({"invitee_user_id": user, "role_id": role, "resend": resend});
    api.expect(
        "POST",
        &format!("/domains/{d}/invitations"),
        Some(body),
        status,
    )
}

fn answer(api: &Api, verb: &str, d: &str, status: u16) -> Value {
    let body = Some(json!({ "domain_id": d }));
    api.expect("POST", &format!("/invitations/{verb}"), body, status)
}

/// The invitee ids of a page.
fn invitees(page: &Value) -> Vec<String> {
    page["invitations"]
        .as_array()
        .expect("invitations")
        .iter()
        .map(|i| i["invitee_user_id"].as_str().expect("invitee").to_string())
        .collect()
}

/// The `users` events whose operation starts with `prefix`.
fn events(t: &Tenants, prefix: &str) -> Vec<Value> {
    t.admin
        .event_log("users")
        .into_iter()
        .filter(|e| e["operation"].as_str().unwrap_or("").starts_with(prefix))
        .collect()
}

/// The caller's first notification of `variant`, waiting for the notifications reader
/// (it follows the outbox) for up to 15 s.
fn notification(api: &Api, variant: &str) -> Value {
    for _ in 0..150 {
        let page = api.expect("GET", "/notifications?limit=100", None, 200);
        let found = page["notifications"]
            .as_array()
            .and_then(|all| all.iter().find(|n| n["variant"] == variant).cloned());
        if let Some(n) = found {
            return n;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("no {variant} notification");
}
