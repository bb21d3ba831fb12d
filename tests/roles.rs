//! Roles through the binary (issue 17): role CRUD, actions and members on every entity
//! type with one generic walk; the built-in admin role's last member; outsiders on
//! role routes; the authorization matrix (every route x direct / inherited / domain /
//! no role); that a role change revokes access at once; and bootstrap configs and
//! certificates decided by their client's roles (`roles/client_records.rs`).

mod common;
mod platform;

#[path = "roles/client_records.rs"]
mod client_records;
#[path = "roles/coverage.rs"]
mod coverage;
#[path = "roles/creator.rs"]
mod creator;
#[path = "roles/matrix.rs"]
mod matrix;
#[path = "roles/pairs.rs"]
mod pairs;
#[path = "roles/rows/mod.rs"]
mod rows;

use platform::Api;
use serde_json::{json, Value};

fn user(api: &Api, email: &str) -> (String, String) {
    let password = format!("{}-password", email.split('@').next().unwrap_or("x"));
    let body = json!({"email": email, "credentials": {"username": email.split('@').next(), "secret": password}});
    let u = api.expect("POST", "/users", Some(body), 201);
    let id = u["id"].as_str().expect("user id").to_string();
    (id, password)
}

/// A logged-in API client for a new user `email`, and the user's id.
fn new_user(admin: &Api, email: &str) -> (String, Api) {
    let (id, password) = user(admin, email);
    let mut api = Api::unauthenticated(admin);
    api.token = admin.login(email, &password);
    (id, api)
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().expect("id").to_string()
}

/// Creates a role on `base` (an entity path) and returns its id.
fn grant(owner: &Api, base: &str, name: &str, actions: &[&str], members: &[&str]) -> String {
    let body = json!({"role_name": name, "optional_actions": actions, "optional_members": members});
    id_of(&owner.expect("POST", &format!("{base}/roles"), Some(body), 201))
}

/// An owner (non-admin user who created the domain) and the domain id.
struct Tenant {
    owner_id: String,
    owner: Api,
    d: String,
}

fn tenant(admin: &Api, email: &str, route: &str) -> Tenant {
    let (owner_id, owner) = new_user(admin, email);
    let d = owner.domain(&format!("{route} domain"), route);
    Tenant { owner_id, owner, d }
}

/// A tenant and erin, in its domain through a role that holds no action (what every
/// role test of one member starts from).
fn tenant_with_erin(admin: &Api) -> (Tenant, String, Api) {
    let t = tenant(admin, "owner@example.com", "farm");
    let (erin, erin_api) = new_user(admin, "erin@example.com");
    grant(
        &t.owner,
        &format!("/domains/{}", t.d),
        "everyone",
        &[],
        &[&erin],
    );
    (t, erin, erin_api)
}

/// A new group of `t`'s domain (under `parent`), made by its owner.
fn group_of(t: &Tenant, name: &str, parent: Option<&str>) -> String {
    let body = json!({"name": name, "parent_id": parent});
    id_of(
        &t.owner
            .expect("POST", &format!("/{}/groups", t.d), Some(body), 201),
    )
}

/// The entity paths of one of each type in `t`'s domain: domain, group, channel, client.
fn entity_paths(t: &Tenant) -> Vec<(&'static str, String)> {
    let d = &t.d;
    let group = id_of(&t.owner.expect(
        "POST",
        &format!("/{d}/groups"),
        Some(json!({"name": "g"})),
        201,
    ));
    let channel = t.owner.channel(d, "ch");
    let client = t.owner.client(d, "cl").id;
    vec![
        ("domain", format!("/domains/{d}")),
        ("group", format!("/{d}/groups/{group}")),
        ("channel", format!("/{d}/channels/{channel}")),
        ("client", format!("/{d}/clients/{client}")),
    ]
}

#[test]
fn role_crud_actions_and_members_on_every_entity_type() {
    let server = platform::server(&[]);
    let admin = Api::admin(&server);
    let t = tenant(&admin, "owner@example.com", "farm");
    let (erin, _) = new_user(&admin, "erin@example.com");
    // Erin joins the domain through a domain role: only then can she hold other roles.
    let owner = &t.owner;
    for (kind, base) in entity_paths(&t) {
        let list_base = match kind {
            "domain" => "/domains".to_string(),
            _ => base.rsplit_once('/').expect("kind path").0.to_string(),
        };
        let available = owner.expect(
            "GET",
            &format!("{list_base}/roles/available-actions"),
            None,
            200,
        );
        let available = available["available_actions"]
            .as_array()
            .expect("actions")
            .clone();
        assert!(available.contains(&json!("read")), "{kind}: {available:?}");
        assert!(available.contains(&json!("manage_role")), "{kind}");
        let bad = json!({"role_name": "x", "optional_actions": ["fly"]});
        owner.expect("POST", &format!("{base}/roles"), Some(bad), 400);

        let members: Vec<&str> = if kind == "domain" {
            vec![erin.as_str()]
        } else {
            vec![]
        };
        let body =
            json!({"role_name": "ops", "optional_actions": ["read"], "optional_members": members});
        let created = owner.expect("POST", &format!("{base}/roles"), Some(body.clone()), 201);
        assert_eq!(created["name"], "ops");
        assert_eq!(created["optional_actions"], json!(["read"]));
        owner.expect("POST", &format!("{base}/roles"), Some(body), 409);
        let role = format!("{base}/roles/{}", id_of(&created));

        let page = owner.expect("GET", &format!("{base}/roles"), None, 200);
        let names: Vec<&str> = page["roles"]
            .as_array()
            .expect("roles")
            .iter()
            .filter_map(|r| r["name"].as_str())
            .collect();
        assert!(names.contains(&"ops"), "{kind}: {page}");
        assert_eq!(owner.expect("GET", &role, None, 200)["name"], "ops");
        let renamed = owner.expect("PUT", &role, Some(json!({"name": "operators"})), 200);
        assert_eq!(renamed["name"], "operators");

        let added = owner.expect(
            "POST",
            &format!("{role}/actions"),
            Some(json!({"actions": ["update", "delete"]})),
            200,
        );
        assert_eq!(added["actions"], json!(["update", "delete"]));
        let listed = owner.expect("GET", &format!("{role}/actions"), None, 200);
        assert_eq!(listed["actions"], json!(["delete", "read", "update"]));
        owner.expect(
            "POST",
            &format!("{role}/actions/delete"),
            Some(json!({"actions": ["delete"]})),
            204,
        );
        let listed = owner.expect("GET", &format!("{role}/actions"), None, 200);
        assert_eq!(listed["actions"], json!(["read", "update"]));
        owner.expect("POST", &format!("{role}/actions/delete-all"), None, 204);
        assert_eq!(
            owner.expect("GET", &format!("{role}/actions"), None, 200)["actions"],
            json!([])
        );

        owner.expect(
            "POST",
            &format!("{role}/members"),
            Some(json!({"members": [erin]})),
            200,
        );
        let m = owner.expect("GET", &format!("{role}/members"), None, 200);
        assert_eq!(m["members"], json!([erin]));
        assert_eq!(m["total"], 1);
        let everyone = owner.expect("GET", &format!("{base}/roles/members"), None, 200);
        let erin_roles = everyone["members"]
            .as_array()
            .expect("members")
            .iter()
            .find(|m| m["member_id"] == erin.as_str())
            .expect("erin listed")
            .clone();
        assert!(
            erin_roles["roles"]
                .as_array()
                .expect("roles")
                .iter()
                .any(|r| r["role_name"] == "operators"),
            "{everyone}"
        );
        owner.expect(
            "POST",
            &format!("{role}/members/delete"),
            Some(json!({"members": [erin]})),
            204,
        );
        assert_eq!(
            owner.expect("GET", &format!("{role}/members"), None, 200)["total"],
            0
        );
        owner.expect(
            "POST",
            &format!("{role}/members"),
            Some(json!({"members": [erin]})),
            200,
        );
        owner.expect("POST", &format!("{role}/members/delete-all"), None, 204);
        assert_eq!(
            owner.expect("GET", &format!("{role}/members"), None, 200)["total"],
            0
        );
        if kind == "domain" {
            // Erin stays in the domain for the other entity types.
            owner.expect(
                "POST",
                &format!("{role}/members"),
                Some(json!({"members": [erin]})),
                200,
            );
        } else {
            owner.expect("DELETE", &role, None, 204);
            owner.expect("GET", &role, None, 404);
        }
    }
    // Every change is an event of the entity's stream, named as SuperMQ names it.
    let ops: Vec<String> = ["users", "clients"]
        .iter()
        .flat_map(|s| admin.event_log(s))
        .filter_map(|e| e["operation"].as_str().map(str::to_string))
        .collect();
    for op in [
        "domain.role.add",
        "domain.role.update",
        "domain.role.actions.add",
        "domain.role.actions.remove",
        "domain.role.actions.remove_all",
        "domain.role.members.add",
        "domain.role.members.remove",
        "domain.role.members.remove_all",
        "group.role.remove",
        "channel.role.add",
        "client.role.members.add",
        "client.role.remove",
    ] {
        assert!(ops.iter().any(|o| o == op), "no {op} in {ops:?}");
    }
    let _ = t.owner_id;
}

#[test]
fn the_built_in_admin_role_keeps_its_last_member() {
    let server = platform::server(&[]);
    let admin = Api::admin(&server);
    let t = tenant(&admin, "owner@example.com", "farm");
    let d = &t.d;
    let roles = t
        .owner
        .expect("GET", &format!("/domains/{d}/roles"), None, 200);
    let admin_role = roles["roles"]
        .as_array()
        .expect("roles")
        .iter()
        .find(|r| r["name"] == "admin")
        .expect("built-in admin role")
        .clone();
    let role = format!("/domains/{d}/roles/{}", id_of(&admin_role));
    assert_eq!(
        t.owner.expect("GET", &format!("{role}/members"), None, 200)["members"],
        json!([t.owner_id])
    );
    let err = t.owner.expect(
        "POST",
        &format!("{role}/members/delete"),
        Some(json!({"members": [t.owner_id]})),
        409,
    );
    assert!(
        err["message"]
            .as_str()
            .expect("message")
            .contains("at least one member"),
        "{err}"
    );
    t.owner
        .expect("POST", &format!("{role}/members/delete-all"), None, 409);
    t.owner.expect("DELETE", &role, None, 400);
    t.owner
        .expect("PUT", &role, Some(json!({"name": "x"})), 400);
    t.owner
        .expect("POST", &format!("{role}/actions/delete-all"), None, 400);
    // With a second admin, the first may go.
    let (erin, erin_api) = new_user(&admin, "erin@example.com");
    t.owner.expect(
        "POST",
        &format!("{role}/members"),
        Some(json!({"members": [erin]})),
        200,
    );
    t.owner.expect(
        "POST",
        &format!("{role}/members/delete"),
        Some(json!({"members": [t.owner_id]})),
        204,
    );
    t.owner.expect("GET", &format!("/domains/{d}"), None, 403);
    erin_api.expect(
        "PATCH",
        &format!("/domains/{d}"),
        Some(json!({"name": "erin's"})),
        200,
    );
}

#[test]
fn another_domain_gets_404_on_every_role_route() {
    let server = platform::server(&[]);
    let admin = Api::admin(&server);
    let victim = tenant(&admin, "victim@example.com", "victim");
    let intruder = tenant(&admin, "intruder@example.com", "intruder");
    let victim_paths = entity_paths(&victim);
    let own_d = &intruder.d;
    for (kind, base) in &victim_paths {
        let role = grant(&victim.owner, base, "secret-ops", &["read"], &[]);
        // Through the victim's path, and with the victim's ids under the intruder's own
        // domain path: 404 alike.
        let mut bases = vec![base.clone()];
        if *kind != "domain" {
            bases.push(base.replacen(&victim.d, own_d, 1));
        }
        for b in bases {
            let r = format!("{b}/roles/{role}");
            let calls: Vec<(&str, String, Option<Value>)> = vec![
                (
                    "POST",
                    format!("{b}/roles"),
                    Some(json!({"role_name": "x"})),
                ),
                ("GET", format!("{b}/roles"), None),
                ("GET", format!("{b}/roles/members"), None),
                ("GET", r.clone(), None),
                ("PUT", r.clone(), Some(json!({"name": "y"}))),
                ("DELETE", r.clone(), None),
                (
                    "POST",
                    format!("{r}/actions"),
                    Some(json!({"actions": ["read"]})),
                ),
                ("GET", format!("{r}/actions"), None),
                (
                    "POST",
                    format!("{r}/actions/delete"),
                    Some(json!({"actions": ["read"]})),
                ),
                ("POST", format!("{r}/actions/delete-all"), None),
                (
                    "POST",
                    format!("{r}/members"),
                    Some(json!({"members": [intruder.owner_id]})),
                ),
                ("GET", format!("{r}/members"), None),
                (
                    "POST",
                    format!("{r}/members/delete"),
                    Some(json!({"members": [victim.owner_id]})),
                ),
                ("POST", format!("{r}/members/delete-all"), None),
            ];
            for (method, path, body) in calls {
                let (status, reply) = intruder.owner.call(method, &path, body);
                assert_eq!(status.as_u16(), 404, "{method} {path}: {reply}");
                assert!(reply["message"].is_string(), "{method} {path}: {reply}");
            }
        }
        let still = victim
            .owner
            .expect("GET", &format!("{base}/roles/{role}"), None, 200);
        assert_eq!(still["name"], "secret-ops");
    }
    let unauthenticated = Api::unauthenticated(&admin);
    let (_, base) = &victim_paths[3];
    unauthenticated.expect("GET", &format!("{base}/roles"), None, 401);
}

#[test]
fn a_role_change_revokes_access_at_once() {
    let server = platform::server(&[]);
    let admin = Api::admin(&server);
    let (t, erin, erin_api) = tenant_with_erin(&admin);
    let (d, owner) = (&t.d, &t.owner);
    let group = group_of(&t, "g", None);
    let client = owner.client_in(d, "meter", &group).id;
    let path = format!("/{d}/clients/{client}");
    erin_api.expect("GET", &path, None, 403);
    let role = grant(
        owner,
        &format!("/{d}/groups/{group}"),
        "readers",
        &["client_read"],
        &[&erin],
    );
    let role = format!("/{d}/groups/{group}/roles/{role}");
    erin_api.expect("GET", &path, None, 200);
    erin_api.expect("GET", &path, None, 200); // cached now
                                              // Each kind of change takes the access away on the very next request.
    owner.expect(
        "POST",
        &format!("{role}/actions/delete"),
        Some(json!({"actions": ["client_read"]})),
        204,
    );
    erin_api.expect("GET", &path, None, 403);
    owner.expect(
        "POST",
        &format!("{role}/actions"),
        Some(json!({"actions": ["client_read"]})),
        200,
    );
    erin_api.expect("GET", &path, None, 200);
    owner.expect(
        "POST",
        &format!("{role}/members/delete"),
        Some(json!({"members": [erin]})),
        204,
    );
    erin_api.expect("GET", &path, None, 403);
    owner.expect(
        "POST",
        &format!("{role}/members"),
        Some(json!({"members": [erin]})),
        200,
    );
    erin_api.expect("GET", &path, None, 200);
    owner.expect("DELETE", &format!("{path}/parent"), None, 204);
    erin_api.expect("GET", &path, None, 403);
    owner.expect(
        "POST",
        &format!("{path}/parent"),
        Some(json!({"parent_group_id": group})),
        200,
    );
    erin_api.expect("GET", &path, None, 200);
    owner.expect("DELETE", &role, None, 204);
    erin_api.expect("GET", &path, None, 403);
}

#[test]
fn assign_and_unassign_are_a_layer_over_roles() {
    let server = platform::server(&[]);
    let admin = Api::admin(&server);
    let t = tenant(&admin, "owner@example.com", "farm");
    let (d, owner) = (&t.d, &t.owner);
    let (erin, erin_api) = new_user(&admin, "erin@example.com");
    owner.expect(
        "POST",
        &format!("/domains/{d}/users/assign"),
        Some(json!({"user_ids": [erin], "relation": "member"})),
        201,
    );
    let roles = owner.expect("GET", &format!("/domains/{d}/roles/members"), None, 200);
    let erin_roles = roles["members"]
        .as_array()
        .expect("members")
        .iter()
        .find(|m| m["member_id"] == erin.as_str())
        .expect("erin")
        .clone();
    assert_eq!(erin_roles["roles"][0]["role_name"], "member", "{roles}");
    // A group role needs domain membership first; with it, it works.
    let group = id_of(&owner.expect(
        "POST",
        &format!("/{d}/groups"),
        Some(json!({"name": "g"})),
        201,
    ));
    let (stranger, _) = new_user(&admin, "stranger@example.com");
    let body = json!({"role_name": "r", "optional_members": [stranger]});
    owner.expect(
        "POST",
        &format!("/{d}/groups/{group}/roles"),
        Some(body),
        404,
    );
    let role = grant(
        owner,
        &format!("/{d}/groups/{group}"),
        "editors",
        &["update"],
        &[&erin],
    );
    erin_api.expect(
        "PATCH",
        &format!("/{d}/groups/{group}"),
        Some(json!({"name": "by erin"})),
        200,
    );
    // Unassigning takes her out of every role in the domain.
    owner.expect(
        "POST",
        &format!("/domains/{d}/users/unassign"),
        Some(json!({"user_ids": [erin]})),
        204,
    );
    erin_api.expect(
        "PATCH",
        &format!("/{d}/groups/{group}"),
        Some(json!({"name": "again"})),
        403,
    );
    let left = owner.expect(
        "GET",
        &format!("/{d}/groups/{group}/roles/{role}/members"),
        None,
        200,
    );
    assert_eq!(left["total"], 0, "{left}");
}
