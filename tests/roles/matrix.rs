//! The authorization matrix: every entity route x (direct role, inherited group role,
//! domain role, no role), generated from one table ([`all_rows`]); `coverage.rs` ties
//! it to the routes the binary serves.

use super::rows::all_rows;
use super::{grant, id_of, new_user, platform, tenant};
use platform::Api;
use serde_json::json;

/// How a user holds the action a matrix row needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Via {
    /// A role on the entity itself.
    Direct,
    /// A role on the group above it (inherited action name).
    Inherited,
    /// A role on the domain (`<kind>_<action>`).
    Domain,
    /// In the domain, without the action.
    Without,
}

/// The action name that grants `action` on a `kind` entity through `via`.
pub(super) fn granted_as(kind: &str, action: &str, via: Via) -> String {
    match (via, kind) {
        (Via::Direct, _) | (_, "domain") => action.to_string(),
        (Via::Inherited, "group") => format!("subgroup_{action}"),
        _ => format!("{kind}_{action}"),
    }
}

#[test]
fn authorization_matrix() {
    // With certificates: their rows need the certs service.
    let server = platform::server_with_certs(&["--messages-store", "all"]);
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
            let row_text = format!("{path} {}", body.clone().unwrap_or_default());
            let fixtures = client_fixtures(owner, d, &entity, &row_text);
            let fill = |text: &str| {
                let text = fixtures
                    .iter()
                    .fold(text.to_string(), |t, (from, to)| t.replace(from, to));
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
            let deleted = method == "DELETE" && path == on_entity && status.as_u16() == ok;
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

/// What a bootstrap or certificate row (`row_text`: its path and body) needs of its
/// client, made by the owner for the call, as `(placeholder, value)`: `{secret}` the
/// client's secret (set), `{config}` the client's id once it has a bootstrap config,
/// `{serial}` a certificate issued to it.
fn client_fixtures(
    owner: &Api,
    d: &str,
    client: &str,
    row_text: &str,
) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if row_text.contains("{secret}") || row_text.contains("{config}") {
        let secret = format!("matrix-secret-{client}");
        let path = format!("/{d}/clients/{client}/secret");
        owner.expect("PATCH", &path, Some(json!({"secret": secret})), 200);
        if row_text.contains("{config}") {
            let body = json!({"external_id": format!("ext-{client}"), "external_key": "matrix-key",
                "client_id": client, "client_secret": secret});
            owner.expect("POST", &format!("/{d}/clients/configs"), Some(body), 201);
            out.push(("{config}", client.to_string()));
        }
        out.push(("{secret}", secret));
    }
    if row_text.contains("{serial}") {
        let body = json!({"client_id": client});
        let cert = owner.expect("POST", &format!("/{d}/certs"), Some(body), 201);
        let serial = cert["serial_number"].as_str().expect("serial_number");
        out.push(("{serial}", serial.to_string()));
    }
    out
}
