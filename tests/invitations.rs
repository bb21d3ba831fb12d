//! Invitations through the binary (issue 17): a domain's role manager invites a user
//! with one of the domain's roles; the invitee lists, views, accepts (and is a member
//! with that role at once) or rejects; the domain lists, views and deletes. Refusals:
//! inviting a member or re-inviting without `resend` (409), accepting twice (409),
//! someone else's or another domain's invitation (404, never a membership), outsiders
//! (404), members without `manage_role` (403), no token (401), bad input (400/415),
//! and personal access tokens never accept. Every change is an `invitation.*` event;
//! the invitee gets an `invitation_received` notification. Pending invitations go,
//! silently, with the role, the user or the membership (of invitee or inviter) they
//! name, and so leave the domain's cap.

mod common;
mod platform;
#[path = "security/tenants.rs"]
mod tenants;

use platform::Api;
use serde_json::{json, Value};
use tenants::{two_tenants, Tenants};

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

#[test]
fn an_accepted_invitation_makes_the_invitee_a_member_with_the_role() {
    let t = two_tenants(&[]);
    let (owner, d) = (&t.d1.api, &t.d1.domain);
    let (erin, erin_api) = new_user(&t.admin, "erin");
    let operators = domain_role(owner, d, "operators", &["read", "client_read"]);

    let sent = invite(owner, d, &erin, &operators, false, 201);
    assert_eq!(sent["invitee_user_id"], erin.as_str());
    assert_eq!(sent["invited_by"], t.d1.user_id.as_str());
    assert_eq!(sent["domain_id"], d.as_str());
    assert_eq!(sent["role_name"], "operators");
    assert_eq!(sent["domain_name"], "Domain a");
    assert!(sent.get("confirmed_at").is_none(), "{sent}");
    let again = Some(json!({"invitee_user_id": erin, "role_id": operators}));
    let message = refused(
        owner,
        "POST",
        &format!("/domains/{d}/invitations"),
        again,
        409,
    );
    assert!(message.contains("resend"), "{message}");
    invite(owner, d, &erin, &operators, true, 201);

    let listed = owner.expect("GET", &format!("/domains/{d}/invitations"), None, 200);
    assert_eq!(invitees(&listed), [erin.as_str()]);
    assert_eq!(
        (listed["total"].as_u64(), listed["limit"].as_u64()),
        (Some(1), Some(10))
    );
    let path = format!("/domains/{d}/invitations?state=accepted");
    assert_eq!(owner.expect("GET", &path, None, 200)["total"], 0);
    let path = format!("/domains/{d}/invitations?user_id={erin}&state=pending&role_id={operators}");
    assert_eq!(owner.expect("GET", &path, None, 200)["total"], 1);
    let viewed = owner.expect(
        "GET",
        &format!("/domains/{d}/invitations/{erin}"),
        None,
        200,
    );
    assert_eq!(viewed["role_id"], operators.as_str());

    // Before accepting, Erin is no member: the domain is closed, its list hidden.
    refused(&erin_api, "GET", &format!("/domains/{d}"), None, 403);
    refused(
        &erin_api,
        "GET",
        &format!("/domains/{d}/invitations"),
        None,
        404,
    );
    let mine = erin_api.expect("GET", "/invitations", None, 200);
    assert_eq!(invitees(&mine), [erin.as_str()]);
    assert_eq!(mine["invitations"][0]["domain_id"], d.as_str());
    let own = erin_api.expect(
        "GET",
        &format!("/domains/{d}/invitations/{erin}"),
        None,
        200,
    );
    assert_eq!(own["role_name"], "operators");

    // The invitee is told, by a personal notification made from `invitation.send`.
    let told = notification(&erin_api, "invitation_received");
    assert!(
        told["message"].as_str().unwrap_or("").contains("Domain a"),
        "{told}"
    );
    let refs = told["refs"].to_string();
    assert!(
        refs.contains(d.as_str()) && refs.contains(&t.d1.user_id),
        "{told}"
    );

    answer(&erin_api, "accept", d, 204);
    // A member with the role's actions at once, and nothing more.
    assert_eq!(
        erin_api.expect("GET", &format!("/domains/{d}"), None, 200)["id"],
        d.as_str()
    );
    let clients = erin_api.expect("GET", &format!("/{d}/clients"), None, 200);
    assert_eq!(clients["total"], 1);
    refused(
        &erin_api,
        "PATCH",
        &format!("/domains/{d}"),
        Some(json!({"name": "x"})),
        403,
    );
    let members = owner.expect(
        "GET",
        &format!("/domains/{d}/roles/{operators}/members"),
        None,
        200,
    );
    assert_eq!(members["members"], json!([erin]));

    // Accepted once: again, rejecting, re-inviting a member, deleting it are refused.
    let message = refused(
        &erin_api,
        "POST",
        "/invitations/accept",
        Some(json!({"domain_id": d})),
        409,
    );
    assert!(message.contains("accepted"), "{message}");
    answer(&erin_api, "reject", d, 409);
    let message = refused(
        owner,
        "POST",
        &format!("/domains/{d}/invitations"),
        Some(json!({"invitee_user_id": erin, "role_id": operators, "resend": true})),
        409,
    );
    assert!(message.contains("already a member"), "{message}");
    let delete = Some(json!({ "user_id": erin }));
    refused(
        owner,
        "DELETE",
        &format!("/domains/{d}/invitations"),
        delete,
        409,
    );
    let accepted = erin_api.expect("GET", "/invitations?state=accepted", None, 200);
    assert!(
        accepted["invitations"][0]["confirmed_at"].is_string(),
        "{accepted}"
    );

    // Out of the domain again (through roles), she may be invited afresh.
    let remove = Some(json!({ "members": [erin] }));
    owner.expect(
        "POST",
        &format!("/domains/{d}/roles/{operators}/members/delete"),
        remove,
        204,
    );
    refused(&erin_api, "GET", &format!("/domains/{d}"), None, 403);
    invite(owner, d, &erin, &operators, false, 201);
    let pending = erin_api.expect("GET", "/invitations?state=pending", None, 200);
    assert_eq!(invitees(&pending), [erin.as_str()]);

    // The events, SuperMQ's names and fields; never a secret.
    let accept = events(&t, "invitation.accept");
    assert_eq!(accept.len(), 1, "{accept:?}");
    for key in [
        "domain_id",
        "invitee_user_id",
        "invited_by",
        "role_id",
        "role_name",
        "domain_name",
    ] {
        assert!(accept[0][key].is_string(), "{key} in {}", accept[0]);
    }
    assert_eq!(accept[0]["invitee_user_id"], erin.as_str());
    assert_eq!(events(&t, "invitation.send").len(), 3);
    assert_eq!(events(&t, "invitation.list_domain").len(), 3);
    assert!(!events(&t, "invitation.list").is_empty());
    let joined = events(&t, "domain.role.members.add");
    assert!(
        joined
            .iter()
            .any(|e| e["members"].to_string().contains(&erin)),
        "{joined:?}"
    );
    for e in events(&t, "invitation.") {
        let text = e.to_string();
        assert!(
            !text.contains("password") && !text.contains("secret"),
            "{text}"
        );
    }
}

#[test]
fn a_rejected_invitation_can_be_resent_and_a_pending_one_deleted() {
    let t = two_tenants(&[]);
    let (owner, d) = (&t.d1.api, &t.d1.domain);
    let (frank, frank_api) = new_user(&t.admin, "frank");
    let viewers = domain_role(owner, d, "viewers", &["read"]);
    invite(owner, d, &frank, &viewers, false, 201);
    answer(&frank_api, "reject", d, 204);
    answer(&frank_api, "accept", d, 409);
    refused(&frank_api, "GET", &format!("/domains/{d}"), None, 403);
    let rejected = owner.expect(
        "GET",
        &format!("/domains/{d}/invitations?state=rejected"),
        None,
        200,
    );
    assert_eq!(invitees(&rejected), [frank.as_str()]);
    assert!(rejected["invitations"][0]["rejected_at"].is_string());

    let message = refused(
        owner,
        "POST",
        &format!("/domains/{d}/invitations"),
        Some(json!({"invitee_user_id": frank, "role_id": viewers})),
        409,
    );
    assert!(message.contains("rejected"), "{message}");
    let renewed = invite(owner, d, &frank, &viewers, true, 201);
    assert_eq!(renewed["invitee_user_id"], frank.as_str());
    assert!(renewed["updated_at"].is_string(), "{renewed}");
    assert!(
        renewed.get("rejected_at").is_none(),
        "pending again: {renewed}"
    );
    let pending = frank_api.expect("GET", "/invitations?state=pending", None, 200);
    assert_eq!(pending["total"], 1);

    let delete = || Some(json!({ "user_id": frank }));
    owner.expect(
        "DELETE",
        &format!("/domains/{d}/invitations"),
        delete(),
        204,
    );
    refused(
        owner,
        "DELETE",
        &format!("/domains/{d}/invitations"),
        delete(),
        404,
    );
    answer(&frank_api, "accept", d, 404);
    refused(&frank_api, "GET", &format!("/domains/{d}"), None, 403);
    assert_eq!(
        frank_api.expect("GET", "/invitations", None, 200)["total"],
        0
    );

    // A role deleted after the invitation: the pending invitation goes with it, so
    // accepting finds nothing and grants nothing.
    invite(owner, d, &frank, &viewers, false, 201);
    owner.expect(
        "DELETE",
        &format!("/domains/{d}/roles/{viewers}"),
        None,
        204,
    );
    refused(
        &frank_api,
        "POST",
        "/invitations/accept",
        Some(json!({"domain_id": d})),
        404,
    );
    refused(&frank_api, "GET", &format!("/domains/{d}"), None, 403);

    assert_eq!(events(&t, "invitation.reject").len(), 1);
    let deleted = events(&t, "invitation.delete");
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0]["invitee_user_id"], frank.as_str());
}

#[test]
fn other_users_domains_and_strangers_cannot_touch_an_invitation() {
    let t = two_tenants(&[]);
    let (owner, d1, d2) = (&t.d1.api, &t.d1.domain, &t.d2.domain);
    let (outsider, d2_admin) = (&t.d2.user_id, &t.d2.api);
    let (erin, erin_api) = new_user(&t.admin, "erin");
    let (_, mallory) = new_user(&t.admin, "mallory");
    let role = domain_role(owner, d1, "operators", &["read"]);
    invite(owner, d1, &erin, &role, false, 201);

    // The other domain's admin: every domain-side route of d1 is a 404.
    let inv = format!("/domains/{d1}/invitations");
    refused(d2_admin, "GET", &inv, None, 404);
    refused(d2_admin, "GET", &format!("{inv}/{erin}"), None, 404);
    refused(
        d2_admin,
        "DELETE",
        &inv,
        Some(json!({"user_id": erin})),
        404,
    );
    let body = json!({"invitee_user_id": outsider, "role_id": role});
    refused(d2_admin, "POST", &inv, Some(body), 404);
    // ... nor can d1's role be handed out in d2.
    let body = json!({"invitee_user_id": erin, "role_id": role});
    refused(
        d2_admin,
        "POST",
        &format!("/domains/{d2}/invitations"),
        Some(body),
        404,
    );
    // Unknown invitee, role, domain.
    let missing = "00000000-0000-4000-8000-000000000000";
    let body = json!({"invitee_user_id": missing, "role_id": role});
    refused(owner, "POST", &inv, Some(body), 404);
    let body = json!({"invitee_user_id": outsider, "role_id": missing});
    refused(owner, "POST", &inv, Some(body), 404);
    refused(
        owner,
        "GET",
        &format!("/domains/{missing}/invitations"),
        None,
        404,
    );
    refused(owner, "GET", &format!("{inv}/{missing}"), None, 404);

    // Someone else's invitation: no accept, no view, no membership.
    answer(&mallory, "accept", d1, 404);
    answer(&mallory, "reject", d1, 404);
    answer(&erin_api, "accept", d2, 404);
    answer(&erin_api, "accept", missing, 404);
    refused(&mallory, "GET", &format!("{inv}/{erin}"), None, 404);
    assert_eq!(mallory.expect("GET", "/invitations", None, 200)["total"], 0);
    refused(&mallory, "GET", &format!("/domains/{d1}"), None, 403);
    let pending = owner.expect("GET", &format!("{inv}?state=pending"), None, 200);
    assert_eq!(invitees(&pending), [erin.as_str()], "nothing accepted");

    // A member of d1 without manage_role: 403 on the domain side.
    let (gina, gina_api) = new_user(&t.admin, "gina");
    let readers = domain_role(owner, d1, "readers", &["read"]);
    let add = Some(json!({ "members": [gina] }));
    owner.expect(
        "POST",
        &format!("/domains/{d1}/roles/{readers}/members"),
        add,
        200,
    );
    refused(&gina_api, "GET", &inv, None, 403);
    refused(
        &gina_api,
        "POST",
        &inv,
        Some(json!({"invitee_user_id": outsider, "role_id": role})),
        403,
    );
    refused(
        &gina_api,
        "DELETE",
        &inv,
        Some(json!({"user_id": erin})),
        403,
    );

    // No token: 401 everywhere.
    let anonymous = Api::unauthenticated(owner);
    for (method, path, body) in [
        (
            "POST",
            inv.clone(),
            Some(json!({"invitee_user_id": erin, "role_id": role})),
        ),
        ("GET", inv.clone(), None),
        ("DELETE", inv.clone(), Some(json!({"user_id": erin}))),
        ("GET", format!("{inv}/{erin}"), None),
        ("GET", "/invitations".to_string(), None),
        (
            "POST",
            "/invitations/accept".to_string(),
            Some(json!({"domain_id": d1})),
        ),
        (
            "POST",
            "/invitations/reject".to_string(),
            Some(json!({"domain_id": d1})),
        ),
    ] {
        refused(&anonymous, method, &path, body, 401);
    }

    // Junk: 400 with a message, bounded pages.
    for (method, path, body) in [
        ("POST", inv.clone(), Some(json!({"role_id": role}))),
        ("POST", inv.clone(), Some(json!({"invitee_user_id": erin}))),
        (
            "POST",
            inv.clone(),
            Some(json!({"invitee_user_id": 5, "role_id": role})),
        ),
        ("DELETE", inv.clone(), Some(json!({}))),
        ("GET", format!("{inv}?limit=101"), None),
        ("GET", format!("{inv}?state=lost"), None),
        ("GET", format!("{inv}?colour=red"), None),
        ("GET", format!("{inv}?invited_by={}", "x".repeat(65)), None),
        ("POST", "/invitations/accept".to_string(), Some(json!({}))),
        ("POST", "/invitations/reject".to_string(), Some(json!("d"))),
    ] {
        refused(&erin_api, method, &path, body.clone(), 400);
        // The owner, too, for the domain side.
        if path.starts_with("/domains") {
            refused(owner, method, &path, body, 400);
        }
    }
}

#[test]
fn a_personal_access_token_lists_but_never_accepts() {
    let t = two_tenants(&[]);
    let (owner, d) = (&t.d1.api, &t.d1.domain);
    let (erin, erin_api) = new_user(&t.admin, "erin");
    let role = domain_role(owner, d, "operators", &["read"]);
    invite(owner, d, &erin, &role, false, 201);
    let body = json!({"name": "bot", "description": "automation", "duration": "24h"});
    let pat = erin_api.expect("POST", "/pats", Some(body), 201);
    let scopes = json!({"scopes": [
        {"entity_type": "domains", "operation": "list_invitation", "entity_id": "*"},
    ]});
    let pat_path = format!("/pats/{}/scope/add", pat["id"].as_str().expect("pat id"));
    erin_api.expect("PATCH", &pat_path, Some(scopes), 200);
    let mut bot = Api::unauthenticated(owner);
    bot.token = pat["secret"].as_str().expect("secret").to_string();
    assert_eq!(bot.expect("GET", "/invitations", None, 200)["total"], 1);
    refused(
        &bot,
        "POST",
        "/invitations/accept",
        Some(json!({"domain_id": d})),
        403,
    );
    refused(
        &bot,
        "POST",
        "/invitations/reject",
        Some(json!({"domain_id": d})),
        403,
    );
    refused(&erin_api, "GET", &format!("/domains/{d}"), None, 403);
    // The domain side takes a PAT scoped to it.
    let body = json!({"name": "inviter", "description": "automation", "duration": "24h"});
    let pat = owner.expect("POST", "/pats", Some(body), 201);
    let scopes = json!({"scopes": [
        {"entity_type": "domains", "domain_id": d, "operation": "list_domain_invitation", "entity_id": d},
    ]});
    let pat_path = format!("/pats/{}/scope/add", pat["id"].as_str().expect("pat id"));
    owner.expect("PATCH", &pat_path, Some(scopes), 200);
    bot.token = pat["secret"].as_str().expect("secret").to_string();
    let listed = bot.expect("GET", &format!("/domains/{d}/invitations"), None, 200);
    assert_eq!(invitees(&listed), [erin.as_str()]);
    let body = json!({"user_id": erin});
    refused(
        &bot,
        "DELETE",
        &format!("/domains/{d}/invitations"),
        Some(body),
        403,
    );
}

/// The total of domain `d`'s pending invitations (what its cap counts).
fn pending_in(owner: &Api, d: &str) -> u64 {
    let url = format!("/domains/{d}/invitations?state=pending&limit=100");
    owner.expect("GET", &url, None, 200)["total"]
        .as_u64()
        .expect("total")
}

#[test]
fn pending_invitations_go_with_the_role_user_or_membership_they_name() {
    let t = two_tenants(&[]);
    let (owner, d) = (&t.d1.api, &t.d1.domain);
    let (amy, amy_api) = new_user(&t.admin, "amy");
    let (bob, bob_api) = new_user(&t.admin, "bob");
    let (cat, _) = new_user(&t.admin, "cat");
    let (dan, dan_api) = new_user(&t.admin, "dan");
    let (eve, eve_api) = new_user(&t.admin, "eve");
    let (ivy, ivy_api) = new_user(&t.admin, "ivy");
    let temps = domain_role(owner, d, "temps", &["read"]);
    let viewers = domain_role(owner, d, "viewers", &["read"]);
    // Ivy may invite: a domain role with `manage_role`.
    let recruiters = domain_role(owner, d, "recruiters", &["read", "manage_role"]);
    let members = Some(json!({ "members": [ivy] }));
    owner.expect(
        "POST",
        &format!("/domains/{d}/roles/{recruiters}/members"),
        members,
        200,
    );
    invite(owner, d, &amy, &temps, false, 201);
    invite(owner, d, &eve, &temps, false, 201);
    invite(owner, d, &bob, &viewers, false, 201);
    invite(owner, d, &cat, &viewers, false, 201);
    invite(&ivy_api, d, &dan, &viewers, false, 201);
    answer(&eve_api, "reject", d, 204);
    // Another domain's pending invitation, which nothing here may touch.
    invite(
        &t.d2.api,
        &t.d2.domain,
        &amy,
        &format!("{}_member", t.d2.domain),
        false,
        201,
    );
    assert_eq!(pending_in(owner, d), 4);

    // The role deleted: Amy's pending invitation goes; Eve's rejected one is history.
    owner.expect("DELETE", &format!("/domains/{d}/roles/{temps}"), None, 204);
    assert_eq!(pending_in(owner, d), 3);
    answer(&amy_api, "accept", d, 404);
    let rejected = owner.expect(
        "GET",
        &format!("/domains/{d}/invitations?state=rejected"),
        None,
        200,
    );
    assert_eq!(invitees(&rejected), [eve.as_str()]);

    // The invitee deleted: Cat's goes.
    t.admin
        .expect("DELETE", &format!("/users/{cat}"), None, 204);
    assert_eq!(pending_in(owner, d), 2);

    // The inviter out of the domain: what Ivy sent goes with her membership.
    let out = Some(json!({ "member_ids": [ivy] }));
    owner.expect("DELETE", &format!("/domains/{d}/roles"), out, 204);
    assert_eq!(pending_in(owner, d), 1);
    answer(&dan_api, "accept", d, 404);
    refused(&dan_api, "GET", &format!("/domains/{d}"), None, 403);

    // An invitee made a member some other way, then unassigned: no way back in alone.
    let assign = Some(json!({"user_ids": [bob], "relation": "member"}));
    owner.expect("POST", &format!("/domains/{d}/users/assign"), assign, 201);
    let unassign = Some(json!({ "user_ids": [bob] }));
    owner.expect(
        "POST",
        &format!("/domains/{d}/users/unassign"),
        unassign,
        204,
    );
    assert_eq!(pending_in(owner, d), 0);
    answer(&bob_api, "accept", d, 404);
    refused(&bob_api, "GET", &format!("/domains/{d}"), None, 403);

    // The cap counts what is pending: the places are free again.
    invite(owner, d, &amy, &viewers, false, 201);
    assert_eq!(pending_in(owner, d), 1);
    assert_eq!(pending_in(&t.d2.api, &t.d2.domain), 1);
    // Silent, as SuperMQ: no `invitation.delete` for what went with its subject.
    assert_eq!(events(&t, "invitation.delete").len(), 0);
}
