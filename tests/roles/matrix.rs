//! The authorization matrix: every entity route x (direct role, inherited group role,
//! domain role, no role), generated from one table ([`all_rows`]); `coverage.rs` ties
//! it to the routes the binary serves.

use super::{grant, id_of, new_user, platform, tenant};
use platform::Api;
use serde_json::{json, Value};

/// How a user holds the action a matrix row needs.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Via {
    /// A role on the entity itself.
    Direct,
    /// A role on the group above it (inherited action name).
    Inherited,
    /// A role on the domain (`<kind>_<action>`).
    Domain,
    /// In the domain, without the action.
    Without,
}

/// One route: entity type, method, path (`{d}` domain, `{id}` the entity, `{g2}`
/// another group, `{u}` a user outside the domain), body, the action it needs, its
/// success status.
pub(super) type Row = (
    &'static str,
    &'static str,
    &'static str,
    Option<Value>,
    &'static str,
    u16,
);

/// THE table: every entity route that decides by an action on one entity. A route
/// added without its row is a route nobody proved is enforced.
fn matrix() -> Vec<Row> {
    let name = || Some(json!({"name": "renamed"}));
    let role = || Some(json!({"role_name": "matrix-made"}));
    vec![
        ("domain", "GET", "/domains/{d}", None, "read", 200),
        ("domain", "PATCH", "/domains/{d}", name(), "update", 200),
        ("domain", "POST", "/domains/{d}/enable", None, "enable", 200),
        (
            "domain",
            "POST",
            "/domains/{d}/roles",
            role(),
            "manage_role",
            201,
        ),
        (
            "domain",
            "GET",
            "/domains/{d}/roles",
            None,
            "manage_role",
            200,
        ),
        (
            "domain",
            "GET",
            "/domains/{d}/roles/members",
            None,
            "view_role_users",
            200,
        ),
        (
            "domain",
            "POST",
            "/domains/{d}/invitations",
            Some(json!({"invitee_user_id": "{u}", "role_id": "{d}_member"})),
            "manage_role",
            201,
        ),
        (
            "domain",
            "GET",
            "/domains/{d}/invitations",
            None,
            "manage_role",
            200,
        ),
        (
            "domain",
            "GET",
            "/domains/{d}/invitations/{u}",
            None,
            "manage_role",
            200,
        ),
        (
            "domain",
            "DELETE",
            "/domains/{d}/invitations",
            Some(json!({"user_id": "{u}"})),
            "manage_role",
            204,
        ),
        ("group", "GET", "/{d}/groups/{id}", None, "read", 200),
        ("group", "PATCH", "/{d}/groups/{id}", name(), "update", 200),
        (
            "group",
            "POST",
            "/{d}/groups/{id}/disable",
            None,
            "update",
            200,
        ),
        (
            "group",
            "POST",
            "/{d}/groups/{id}/parent",
            Some(json!({"parent_id": "{g2}"})),
            "set_parent",
            200,
        ),
        (
            "group",
            "DELETE",
            "/{d}/groups/{id}/children/all",
            None,
            "set_child",
            204,
        ),
        (
            "group",
            "POST",
            "/{d}/groups/{id}/roles",
            role(),
            "manage_role",
            201,
        ),
        (
            "group",
            "GET",
            "/{d}/groups/{id}/roles/members",
            None,
            "view_role_users",
            200,
        ),
        ("group", "DELETE", "/{d}/groups/{id}", None, "delete", 204),
        ("channel", "GET", "/{d}/channels/{id}", None, "read", 200),
        (
            "channel",
            "GET",
            "/{d}/channels/{id}/clients",
            None,
            "read",
            200,
        ),
        (
            "channel",
            "PATCH",
            "/{d}/channels/{id}",
            name(),
            "update",
            200,
        ),
        (
            "channel",
            "PATCH",
            "/{d}/channels/{id}/tags",
            Some(json!({"tags": ["t"]})),
            "update",
            200,
        ),
        (
            "channel",
            "POST",
            "/{d}/channels/{id}/disable",
            None,
            "update",
            200,
        ),
        (
            "channel",
            "DELETE",
            "/{d}/channels/{id}/parent",
            None,
            "set_parent_group",
            204,
        ),
        (
            "channel",
            "POST",
            "/{d}/channels/{id}/roles",
            role(),
            "manage_role",
            201,
        ),
        (
            "channel",
            "DELETE",
            "/{d}/channels/{id}",
            None,
            "delete",
            204,
        ),
        ("client", "GET", "/{d}/clients/{id}", None, "read", 200),
        (
            "client",
            "GET",
            "/{d}/clients/{id}/channels",
            None,
            "read",
            200,
        ),
        (
            "client",
            "PATCH",
            "/{d}/clients/{id}",
            name(),
            "update",
            200,
        ),
        (
            "client",
            "PATCH",
            "/{d}/clients/{id}/secret",
            Some(json!({"secret": "secret-of-{id}"})),
            "update",
            200,
        ),
        (
            "client",
            "POST",
            "/{d}/clients/{id}/enable",
            None,
            "update",
            200,
        ),
        (
            "client",
            "POST",
            "/{d}/clients/{id}/parent",
            Some(json!({"parent_group_id": "{g2}"})),
            "set_parent_group",
            200,
        ),
        (
            "client",
            "GET",
            "/{d}/clients/{id}/roles",
            None,
            "manage_role",
            200,
        ),
        ("client", "DELETE", "/{d}/clients/{id}", None, "delete", 204),
        (
            "domain",
            "POST",
            "/domains/{d}/disable",
            None,
            "disable",
            200,
        ),
        (
            "domain",
            "POST",
            "/domains/{d}/users/assign",
            Some(json!({"user_ids": ["{spare}"], "relation": "member"})),
            "add_role_users",
            201,
        ),
        (
            "domain",
            "POST",
            "/domains/{d}/users/unassign",
            Some(json!({"user_ids": ["{spare}"]})),
            "remove_role_users",
            204,
        ),
        ("group", "PUT", "/{d}/groups/{id}", name(), "update", 200),
        (
            "group",
            "POST",
            "/{d}/groups/{id}/enable",
            None,
            "update",
            200,
        ),
        (
            "group",
            "PATCH",
            "/{d}/groups/{id}/metadata",
            Some(json!({"metadata": {"k": 1}})),
            "update",
            200,
        ),
        (
            "group",
            "PATCH",
            "/{d}/groups/{id}/tags",
            Some(json!({"tags": ["t"]})),
            "update",
            200,
        ),
        (
            "group",
            "DELETE",
            "/{d}/groups/{id}/parent",
            None,
            "set_parent",
            204,
        ),
        ("group", "GET", "/{d}/journal/group/{id}", None, "read", 200),
        (
            "channel",
            "PUT",
            "/{d}/channels/{id}",
            name(),
            "update",
            200,
        ),
        (
            "channel",
            "POST",
            "/{d}/channels/{id}/enable",
            None,
            "update",
            200,
        ),
        (
            "channel",
            "PATCH",
            "/{d}/channels/{id}/metadata",
            Some(json!({"metadata": {"k": 1}})),
            "update",
            200,
        ),
        (
            "channel",
            "POST",
            "/{d}/channels/{id}/parent",
            Some(json!({"parent_id": "{g2}"})),
            "set_parent_group",
            200,
        ),
        (
            "channel",
            "GET",
            "/{d}/channels/{id}/messages",
            None,
            "read",
            200,
        ),
        (
            "channel",
            "GET",
            "/{d}/journal/channel/{id}",
            None,
            "read",
            200,
        ),
        ("client", "PUT", "/{d}/clients/{id}", name(), "update", 200),
        (
            "client",
            "POST",
            "/{d}/clients/{id}/disable",
            None,
            "update",
            200,
        ),
        (
            "client",
            "PATCH",
            "/{d}/clients/{id}/metadata",
            Some(json!({"metadata": {"k": 1}})),
            "update",
            200,
        ),
        (
            "client",
            "PATCH",
            "/{d}/clients/{id}/tags",
            Some(json!({"tags": ["t"]})),
            "update",
            200,
        ),
        (
            "client",
            "DELETE",
            "/{d}/clients/{id}/parent",
            None,
            "set_parent_group",
            204,
        ),
        (
            "client",
            "GET",
            "/{d}/journal/client/{id}",
            None,
            "read",
            200,
        ),
        (
            "client",
            "GET",
            "/{d}/journal/client/{id}/telemetry",
            None,
            "read",
            200,
        ),
    ]
}

/// The role routes every entity type has, after `<entity>/roles` (`{role}`: a role
/// made on the entity for the call): method, suffix, body, action, success status.
const ROLE_ROUTES: &[(&str, &str, Option<&str>, &str, u16)] = &[
    (
        "POST",
        "",
        Some(r#"{"role_name": "matrix-made"}"#),
        "manage_role",
        201,
    ),
    ("GET", "", None, "manage_role", 200),
    (
        "DELETE",
        "",
        Some(r#"{"member_ids": ["nobody"]}"#),
        "remove_role_users",
        204,
    ),
    ("GET", "/members", None, "view_role_users", 200),
    ("GET", "/{role}", None, "manage_role", 200),
    (
        "PUT",
        "/{role}",
        Some(r#"{"name": "renamed-role"}"#),
        "manage_role",
        200,
    ),
    ("DELETE", "/{role}", None, "manage_role", 204),
    ("GET", "/{role}/actions", None, "manage_role", 200),
    (
        "POST",
        "/{role}/actions",
        Some(r#"{"actions": ["update"]}"#),
        "manage_role",
        200,
    ),
    (
        "POST",
        "/{role}/actions/delete",
        Some(r#"{"actions": ["read"]}"#),
        "manage_role",
        204,
    ),
    (
        "POST",
        "/{role}/actions/delete-all",
        None,
        "manage_role",
        204,
    ),
    (
        "DELETE",
        "/{role}/actions/delete-all",
        None,
        "manage_role",
        204,
    ),
    ("GET", "/{role}/members", None, "view_role_users", 200),
    (
        "POST",
        "/{role}/members",
        Some(r#"{"members": ["{owner}"]}"#),
        "add_role_users",
        200,
    ),
    (
        "POST",
        "/{role}/members/delete",
        Some(r#"{"members": ["nobody"]}"#),
        "remove_role_users",
        204,
    ),
    (
        "POST",
        "/{role}/members/delete-all",
        None,
        "remove_role_users",
        204,
    ),
    (
        "DELETE",
        "/{role}/members/delete-all",
        None,
        "remove_role_users",
        204,
    ),
];

/// [`matrix`] with a row for each role route of each entity type it lacks.
pub(super) fn all_rows() -> Vec<Row> {
    let mut rows = matrix();
    for kind in ["domain", "group", "channel", "client"] {
        let base = match kind {
            "domain" => "/domains/{d}".to_string(),
            _ => format!("/{{d}}/{kind}s/{{id}}"),
        };
        for (method, suffix, body, action, ok) in ROLE_ROUTES {
            let path = format!("{base}/roles{suffix}");
            if rows.iter().any(|r| r.1 == *method && r.2 == path) {
                continue;
            }
            // Test-only and bounded (one string per generated row).
            let path: &'static str = Box::leak(path.into_boxed_str());
            let body = body.map(|b| serde_json::from_str(b).expect("row body"));
            rows.push((kind, method, path, body, action, *ok));
        }
    }
    rows
}

/// The action name that grants `action` on a `kind` entity through `via`.
fn granted_as(kind: &str, action: &str, via: Via) -> String {
    match (via, kind) {
        (Via::Direct, _) | (_, "domain") => action.to_string(),
        (Via::Inherited, "group") => format!("subgroup_{action}"),
        _ => format!("{kind}_{action}"),
    }
}

#[test]
fn authorization_matrix() {
    let server = platform::server(&["--messages-store", "all"]);
    let admin = Api::admin(&server);
    let t = tenant(&admin, "owner@example.com", "farm");
    let (d, owner) = (&t.d, &t.owner);
    let vias = [Via::Direct, Via::Inherited, Via::Domain, Via::Without];
    let users: Vec<(String, Api)> = vias
        .iter()
        .map(|v| new_user(&admin, &format!("{v:?}@example.com").to_lowercase()))
        .collect();
    let ids: Vec<&str> = users.iter().map(|(id, _)| id.as_str()).collect();
    // All four are in the domain, through a role that holds no action.
    grant(owner, &format!("/domains/{d}"), "everyone", &[], &ids);
    let new_group = |name: &str| {
        id_of(&owner.expect(
            "POST",
            &format!("/{d}/groups"),
            Some(json!({"name": name})),
            201,
        ))
    };
    let (g, g2) = (new_group("parent"), new_group("elsewhere"));
    // Invited (and uninvited) by the invitation rows; never joins.
    let (outsider, _) = new_user(&admin, "outsider@example.com");
    let (spare, _) = new_user(&admin, "spare@example.com");
    for (kind, method, path, body, action, ok) in all_rows() {
        for (i, via) in vias.iter().enumerate() {
            if kind == "domain" && *via != Via::Direct && *via != Via::Without {
                continue; // A domain has no group above it; its own role is "direct".
            }
            let entity = match kind {
                "domain" => d.clone(),
                _ => {
                    let body = json!({"name": format!("{kind}-{i}"), "parent_id": g});
                    id_of(&owner.expect("POST", &format!("/{d}/{kind}s"), Some(body), 201))
                }
            };
            let granted_on = match via {
                Via::Direct if kind == "domain" => Some(format!("/domains/{d}")),
                Via::Direct => Some(format!("/{d}/{kind}s/{entity}")),
                Via::Inherited => Some(format!("/{d}/groups/{g}")),
                Via::Domain => Some(format!("/domains/{d}")),
                Via::Without => None,
            };
            let role = granted_on.as_ref().map(|on| {
                let a = granted_as(kind, action, *via);
                (
                    on.clone(),
                    grant(owner, on, &format!("m-{i}-{a}"), &[a.as_str()], &[ids[i]]),
                )
            });
            let on_entity = match kind {
                "domain" => format!("/domains/{d}"),
                _ => format!("/{d}/{kind}s/{entity}"),
            };
            // `{role}`: a role of the entity's, made for this call.
            let target = path
                .contains("{role}")
                .then(|| grant(owner, &on_entity, &format!("target-{i}"), &["read"], &[]));
            let fill = |text: &str| {
                text.replace("{d}", d)
                    .replace("{id}", &entity)
                    .replace("{g2}", &g2)
                    .replace("{role}", target.as_deref().unwrap_or(""))
                    .replace("{owner}", &t.owner_id)
                    .replace("{spare}", &spare)
                    .replace("{u}", &outsider)
            };
            let path = fill(path);
            let body = body
                .as_ref()
                .map(|b| serde_json::from_str(&fill(&b.to_string())).expect("json"));
            let (status, reply) = users[i].1.call(method, &path, body);
            let want = if *via == Via::Without { 403 } else { ok };
            assert_eq!(
                status.as_u16(),
                want,
                "{via:?} {method} {path} ({action}): {reply}"
            );
            // A deleted entity's roles went with it.
            let deleted = method == "DELETE" && path.ends_with(&entity) && status.as_u16() == ok;
            if let Some((on, role)) = role {
                let gone = deleted && on.ends_with(&entity);
                let want = if gone { 404 } else { 204 };
                owner.expect("DELETE", &format!("{on}/roles/{role}"), None, want);
            }
            if let Some(role) = &target {
                // Gone already when the row deleted it.
                owner.call("DELETE", &format!("{on_entity}/roles/{role}"), None);
            }
            if path.ends_with("/disable") && kind == "domain" && status.as_u16() == ok {
                admin.expect("POST", &format!("/domains/{d}/enable"), None, 200);
            }
            if kind == "domain"
                && method == "POST"
                && path.ends_with("/roles")
                && status.as_u16() == 201
            {
                owner.expect(
                    "DELETE",
                    &format!("/domains/{d}/roles/{}", id_of(&reply)),
                    None,
                    204,
                );
            }
        }
    }
}
