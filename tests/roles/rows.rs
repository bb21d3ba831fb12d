//! The authorization matrix's rows: one table of every entity route that decides by an
//! action on one entity ([`matrix`]) plus the role routes of the four entity types
//! ([`ROLE_ROUTES`]), joined by [`all_rows`]; `matrix.rs` runs them, `coverage.rs` ties
//! them to the served routes.

use serde_json::{json, Value};

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
pub(super) fn matrix() -> Vec<Row> {
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
        // Bootstrap configs and certificates: a client's, decided by the client's
        // actions. `{secret}`, `{config}`, `{serial}`: see `matrix::client_fixtures`.
        (
            "client",
            "POST",
            "/{d}/clients/configs",
            Some(
                json!({"external_id": "new-{id}", "external_key": "k", "client_id": "{id}",
                "client_secret": "{secret}"}),
            ),
            "update",
            201,
        ),
        (
            "client",
            "GET",
            "/{d}/clients/configs/{config}",
            None,
            "read",
            200,
        ),
        (
            "client",
            "PUT",
            "/{d}/clients/configs/{config}",
            Some(json!({"name": "renamed", "content": "c"})),
            "update",
            200,
        ),
        (
            "client",
            "PATCH",
            "/{d}/clients/configs/certs/{config}",
            Some(json!({"client_cert": "", "client_key": "", "ca_cert": ""})),
            "update",
            200,
        ),
        (
            "client",
            "PUT",
            "/{d}/clients/configs/connections/{config}",
            Some(json!({"channels": []})),
            "update",
            200,
        ),
        (
            "client",
            "PUT",
            "/{d}/clients/state/{config}",
            Some(json!({"state": 1})),
            "update",
            200,
        ),
        (
            "client",
            "DELETE",
            "/{d}/clients/configs/{config}",
            None,
            "delete",
            204,
        ),
        (
            "client",
            "POST",
            "/{d}/certs",
            Some(json!({"client_id": "{id}"})),
            "update",
            201,
        ),
        ("client", "GET", "/{d}/serials/{id}", None, "read", 200),
        ("client", "GET", "/{d}/certs/{serial}", None, "read", 200),
        (
            "client",
            "DELETE",
            "/{d}/certs/{serial}",
            None,
            "update",
            204,
        ),
        (
            "client",
            "DELETE",
            "/{d}/certs?client_id={id}",
            None,
            "update",
            204,
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
    rows.extend(creates_and_group_reads());
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

// ---- Creates, the domain's users, the group hierarchy; routes deciding by actions on
// ---- two entities (connections, children, a create into a group): [`pair_rows`].

/// Creates (a domain action, SuperMQ's `client_create`, ...), the domain's users
/// (`view_role_users`, as its role members) and a group's hierarchy (`read`).
fn creates_and_group_reads() -> Vec<Row> {
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
            "group",
            "GET",
            "/{d}/groups/{id}/hierarchy",
            None,
            "read",
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

/// A route that needs an action on the path's entity (`{id}`, or the domain) AND one
/// on a second entity (`{other}`), as SuperMQ checks both: connect needs
/// `connect_to_client` on the channel and `connect_to_channel` on each client, a
/// group's children `set_child` on it and `set_parent` on each child, a create into a
/// group its domain action and `set_child` on the group, moving an entity into a group
/// `set_parent[_group]` on it and `set_child` on the group.
pub(super) struct PairRow {
    pub row: Row,
    /// The second entity's type and the action it needs.
    pub other: (&'static str, &'static str),
    /// `{other}` is made under `{id}` (a child to remove) rather than beside it.
    pub other_under_id: bool,
}

/// Every route of [`PairRow`]'s kind; `pairs.rs` runs them.
pub(super) fn pair_rows() -> Vec<PairRow> {
    let link = |path: &'static str, body: Value, ok: u16| PairRow {
        row: ("channel", "POST", path, Some(body), "connect_to_client", ok),
        other: ("client", "connect_to_channel"),
        other_under_id: false,
    };
    let both = json!({"channel_ids": ["{id}"], "client_ids": ["{other}"]});
    let clients = json!({"client_ids": ["{other}"], "types": ["publish"]});
    let children = |method: &'static str, ok: u16| PairRow {
        row: (
            "group",
            method,
            "/{d}/groups/{id}/children",
            Some(json!({"children_ids": ["{other}"]})),
            "set_child",
            ok,
        ),
        other: ("group", "set_parent"),
        other_under_id: method == "DELETE",
    };
    let create = |path: &'static str, body: Value, action: &'static str| PairRow {
        row: ("domain", "POST", path, Some(body), action, 201),
        other: ("group", "set_child"),
        other_under_id: false,
    };
    let move_into = |kind: &'static str, action: &'static str| PairRow {
        row: (
            kind,
            "POST",
            match kind {
                "group" => "/{d}/groups/{id}/parent",
                "channel" => "/{d}/channels/{id}/parent",
                _ => "/{d}/clients/{id}/parent",
            },
            Some(json!({"parent_id": "{other}"})),
            action,
            200,
        ),
        other: ("group", "set_child"),
        other_under_id: false,
    };
    let one = json!({"name": "made", "parent_id": "{other}"});
    let bulk = json!([{"name": "made", "parent_id": "{other}"}]);
    vec![
        link("/{d}/channels/connect", both.clone(), 201),
        link("/{d}/channels/disconnect", both, 204),
        link("/{d}/channels/{id}/connect", clients.clone(), 201),
        link("/{d}/channels/{id}/disconnect", clients, 204),
        children("POST", 201),
        children("DELETE", 204),
        create("/{d}/clients", one.clone(), "client_create"),
        create("/{d}/clients/bulk", bulk.clone(), "client_create"),
        create("/{d}/channels", one.clone(), "channel_create"),
        create("/{d}/channels/bulk", bulk, "channel_create"),
        create("/{d}/groups", one, "group_create"),
        move_into("group", "set_parent"),
        move_into("channel", "set_parent_group"),
        move_into("client", "set_parent_group"),
    ]
}
