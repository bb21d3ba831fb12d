//! Rows of the routes that decide by an action on one group (its parent route decides
//! by two: `two_entities.rs`).

use super::Row;
use serde_json::json;

pub(super) fn rows() -> Vec<Row> {
    let name = || Some(json!({"name": "renamed"}));
    let role = || Some(json!({"role_name": "matrix-made"}));
    vec![
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
        ("group", "GET", "/{d}/journal/group/{id}", None, "read", 200),
        (
            "group",
            "GET",
            "/{d}/groups/{id}/hierarchy",
            None,
            "read",
            200,
        ),
    ]
}
