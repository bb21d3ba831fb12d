//! Rows of the routes that decide by an action on one channel (its parent route and
//! connections decide by two: `two_entities.rs`).

use super::Row;
use serde_json::json;

pub(super) fn rows() -> Vec<Row> {
    let name = || Some(json!({"name": "renamed"}));
    let role = || Some(json!({"role_name": "matrix-made"}));
    vec![
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
    ]
}
