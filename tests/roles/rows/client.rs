//! Rows of the routes that decide by an action on one client (its parent route and
//! connections decide by two: `two_entities.rs`), with the client's bootstrap configs
//! and certificates, which its actions decide too.

use super::Row;
use serde_json::json;

pub(super) fn rows() -> Vec<Row> {
    let name = || Some(json!({"name": "renamed"}));
    let mut rows = vec![
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
    ];
    rows.extend(configs_and_certificates());
    rows
}

/// Bootstrap configs and certificates: a client's, decided by the client's actions.
/// `{secret}`, `{config}`, `{serial}`: see `matrix::client_fixtures`.
fn configs_and_certificates() -> Vec<Row> {
    vec![
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
