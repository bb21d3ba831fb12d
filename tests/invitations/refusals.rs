//! What may not touch an invitation: another user, another domain, a stranger, a
//! member without `manage_role`, no token, bad input; and a personal access token,
//! which may list but never accept or reject.

use super::platform::Api;
use super::tenants::two_tenants;
use super::{answer, domain_role, invite, invitees, new_user, refused};
use serde_json::json;

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
