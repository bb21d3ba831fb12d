//! The matrix tied to the routes the binary serves (`/openapi.json`, made from the
//! route registry every router is built with): a served route with neither a matrix
//! row ([`super::matrix::all_rows`]) nor a row here saying why roles do not decide it
//! fails the test, so a new route cannot be added without its row.

use super::platform;
use super::rows::{all_rows, pair_rows};
use platform::openapi::{fits, operations};
use platform::Api;

/// Why a served route has no matrix row: it is not decided by a role on one entity.
#[derive(Debug, Clone, Copy)]
enum NoRow {
    /// No token (login, reset, health, device credentials, the OpenAPI document).
    Public,
    /// The caller's own things (profile, PATs, notifications, consumers, own journal).
    OwnOnly,
    /// Platform admins only (users, freeze).
    PlatformAdmin,
    /// Any member of the domain (the available actions, the same list for all).
    DomainMember,
    /// A list: filtered to what the caller may read (`roles/creator.rs`,
    /// `roles/client_records.rs`).
    FilteredList,
}

/// Every served route that is not a matrix row, and why: method and template (as
/// `/openapi.json` writes it; `{x}` is any one segment).
fn not_decided_by_roles() -> Vec<(&'static str, &'static str, NoRow)> {
    use NoRow::*;
    let public = [
        ("GET", "/certs/ca"),
        ("POST", "/channels/{c}/messages"),
        ("POST", "/channels/{c}/messages/{s}"),
        ("GET", "/clients/bootstrap/secure/{e}"),
        ("GET", "/clients/bootstrap/{e}"),
        ("GET", "/health"),
        ("GET", "/metrics"),
        ("GET", "/openapi.json"),
        ("POST", "/m/{d}/c/{c}"),
        ("POST", "/m/{d}/c/{c}/"),
        ("POST", "/m/{d}/c/{c}/{s}"),
        ("PUT", "/password/reset"),
        ("POST", "/password/reset-request"),
        ("POST", "/users/tokens/issue"),
        ("POST", "/users/tokens/refresh"),
        ("GET", "/verify-email"),
    ];
    let own = [
        ("POST", "/consumers"),
        ("POST", "/consumers/acknowledge"),
        ("DELETE", "/consumers/{id}"),
        ("GET", "/consumers/{id}/batch"),
        ("GET", "/consumers/{id}/stream"),
        ("GET", "/consumers/{id}/ws"),
        ("GET", "/domains"),
        ("POST", "/domains"),
        ("GET", "/events"),
        ("GET", "/invitations"),
        ("POST", "/invitations/accept"),
        ("POST", "/invitations/reject"),
        ("GET", "/journal/user/{id}"),
        ("GET", "/notifications"),
        ("POST", "/notifications/acknowledge"),
        ("GET", "/pats"),
        ("POST", "/pats"),
        ("DELETE", "/pats"),
        ("GET", "/pats/{id}"),
        ("DELETE", "/pats/{id}"),
        ("PATCH", "/pats/{id}/description"),
        ("PATCH", "/pats/{id}/name"),
        ("GET", "/pats/{id}/scope"),
        ("DELETE", "/pats/{id}/scope"),
        ("PATCH", "/pats/{id}/scope/add"),
        ("PATCH", "/pats/{id}/scope/remove"),
        ("PATCH", "/pats/{id}/secret/reset"),
        ("PATCH", "/pats/{id}/secret/revoke"),
        ("GET", "/users/profile"),
        ("GET", "/users/search"),
        ("PATCH", "/users/secret"),
        ("POST", "/users/send-verification"),
        ("GET", "/users/{id}"),
        ("PATCH", "/users/{id}"),
        ("GET", "/users/{id}/domains"),
        ("PATCH", "/users/{id}/email"),
        ("PATCH", "/users/{id}/picture"),
        ("PATCH", "/users/{id}/tags"),
        ("PATCH", "/users/{id}/username"),
    ];
    let platform_admin = [
        ("POST", "/domains/{id}/freeze"),
        ("GET", "/users"),
        ("POST", "/users"),
        ("DELETE", "/users/{id}"),
        ("POST", "/users/{id}/disable"),
        ("POST", "/users/{id}/enable"),
        ("PATCH", "/users/{id}/role"),
    ];
    let member = [
        ("GET", "/domains/roles/available-actions"),
        ("GET", "/{d}/channels/roles/available-actions"),
        ("GET", "/{d}/clients/roles/available-actions"),
        ("GET", "/{d}/groups/roles/available-actions"),
    ];
    let lists = [
        ("GET", "/{d}/channels"),
        ("GET", "/{d}/clients"),
        ("GET", "/{d}/groups"),
        ("GET", "/{d}/groups/{id}/children"),
        ("GET", "/{d}/users/{u}/channels"),
        ("GET", "/{d}/users/{u}/clients"),
        ("GET", "/{d}/users/{u}/groups"),
        ("GET", "/{d}/certs"),
        ("GET", "/{d}/clients/configs"),
    ];
    let mut out = Vec::new();
    for (why, list) in [
        (Public, &public[..]),
        (OwnOnly, &own[..]),
        (PlatformAdmin, &platform_admin[..]),
        (DomainMember, &member[..]),
        (FilteredList, &lists[..]),
    ] {
        out.extend(list.iter().map(|(m, p)| (*m, *p, why)));
    }
    out
}

/// `{d}`, `{id}`, ... as one segment of any name, so table paths and OpenAPI
/// templates compare alike.
fn shape(path: &str) -> String {
    path.split('/')
        .map(|s| if s.starts_with('{') { "{}" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

#[test]
fn every_served_route_has_a_row() {
    let server = platform::server_with_certs(&["--messages-store", "all"]);
    let admin = Api::admin(&server);
    let doc = Api::unauthenticated(&admin).expect("GET", "/openapi.json", None, 200);
    let mut rows = all_rows();
    rows.extend(pair_rows().into_iter().map(|p| p.row));
    let exempt = not_decided_by_roles();
    let mut missing = Vec::new();
    for (method, template) in operations(&doc) {
        let in_matrix = rows.iter().any(|r| {
            // A row's query string (`?client_id=...`) is no part of the route.
            let path = r.2.split('?').next().unwrap_or(r.2);
            r.1 == method && (fits(&template, path) || shape(&template) == shape(path))
        });
        let excused = exempt
            .iter()
            .any(|(m, p, _)| *m == method && shape(p) == shape(&template));
        if !in_matrix && !excused {
            missing.push(format!("{method} {template}"));
        }
    }
    assert!(
        missing.is_empty(),
        "served routes without a matrix row (tests/roles/matrix.rs) or a reason in \
         not_decided_by_roles: {missing:#?}"
    );
    // And no row names a route that is not served.
    let ops = operations(&doc);
    for (method, path, why) in &exempt {
        let served = ops
            .iter()
            .any(|(m, t)| m == method && shape(t) == shape(path));
        assert!(served, "{method} {path} ({why:?}) is not served");
    }
}
