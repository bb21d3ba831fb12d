//! Rows of the routes that decide by an action on the domain: the domain itself, its
//! roles and invitations, its users, and the creates (SuperMQ's `client_create`, ...).
//! In order: an invitation row reads or deletes what the row before it sent, and
//! unassign takes out the user assign put in.

use super::Row;
use serde_json::json;

pub(super) fn rows() -> Vec<Row> {
    let name = || Some(json!({"name": "renamed"}));
    let role = || Some(json!({"role_name": "matrix-made"}));
    let mut rows = vec![
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
    ];
    rows.extend(users_and_creates());
    rows
}

/// The domain's users (`view_role_users`, as its role members) and the creates (a
/// domain action).
fn users_and_creates() -> Vec<Row> {
    let one = || Some(json!({"name": "made"}));
    let bulk = || Some(json!([{"name": "made"}]));
    vec![
        (
            "domain",
            "GET",
            "/domains/{d}/users",
            None,
            "view_role_users",
            200,
        ),
        (
            "domain",
            "POST",
            "/{d}/clients",
            one(),
            "client_create",
            201,
        ),
        (
            "domain",
            "POST",
            "/{d}/clients/bulk",
            bulk(),
            "client_create",
            201,
        ),
        (
            "domain",
            "POST",
            "/{d}/channels",
            one(),
            "channel_create",
            201,
        ),
        (
            "domain",
            "POST",
            "/{d}/channels/bulk",
            bulk(),
            "channel_create",
            201,
        ),
        ("domain", "POST", "/{d}/groups", one(), "group_create", 201),
    ]
}
