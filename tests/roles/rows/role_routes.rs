//! Rows of the role routes every entity type has (`<entity>/roles...`), generated for
//! the four types from one table ([`ROLE_ROUTES`]).

use super::Row;

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

/// A row for each role route of each entity type that `rows` lacks (the entity
/// tables already hold a few, with their own bodies).
pub(super) fn missing_from(rows: &[Row]) -> Vec<Row> {
    let mut out: Vec<Row> = Vec::new();
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
            out.push((kind, method, path, body, action, *ok));
        }
    }
    out
}
