//! Where the official SDK's role calls met our answers and SuperMQ's contract (its
//! `pkg/roles/rolemanager/api` decoders) said more than we did: each fix with its test.
//! `tests/sdk/roles.cjs` drives the calls themselves; `tests/roles.rs` the role API.
//!
//! - `GET <entity>/roles/members` takes SuperMQ's member filters `role_id`, `role_name`
//!   and `actions` (comma-separated, all held by one role), which the SDK's
//!   `List<Kind>Members(…, queryParams)` passes through; before, they were a 400.
//! - `GET <entity>/roles/members` lists everyone reaching the entity, as SuperMQ's
//!   `ListEntityMembers` does: members of its own roles, of the roles of the groups
//!   above it and of the domain's that reach it, each role with `access_type` and
//!   `access_provider_id`; `access_type`, `access_provider_id`, `order`, `dir` work
//!   (before: only the entity's own roles, and those names were a 400).
//! - `GET /domains/{id}?roles=true` and `GET /{d}/groups|channels|clients/{id}?roles=true`
//!   (the SDK's `Domain`/`Group`/`Channel`/`Client(…, listRoles)`) show the caller's
//!   roles reaching the entity with SuperMQ's `access_type`; before, `roles` was ignored.

mod common;
mod platform;
#[path = "security/tenants.rs"]
mod tenants;

use platform::Api;
use serde_json::{json, Value};
use tenants::{two_tenants, Tenants};

/// A new user (made by the platform admin); their id.
fn user(admin: &Api, name: &str) -> String {
    let body = json!({"email": format!("{name}@example.com"),
        "credentials": {"username": name, "secret": format!("{name}-password-1")}});
    let made = admin.expect("POST", "/users", Some(body), 201);
    made["id"].as_str().expect("user id").to_string()
}

/// A role on `base` with these actions and members; its id.
fn role(api: &Api, base: &str, name: &str, actions: &[&str], members: &[&str]) -> String {
    let body = json!({"role_name": name, "optional_actions": actions, "optional_members": members});
    let made = api.expect("POST", &format!("{base}/roles"), Some(body), 201);
    made["id"].as_str().expect("role id").to_string()
}

/// The member ids of a members page, sorted, and its total.
fn members(page: &Value) -> (Vec<String>, u64) {
    let mut ids: Vec<String> = page["members"]
        .as_array()
        .expect("members")
        .iter()
        .filter_map(|m| m["member_id"].as_str().map(str::to_string))
        .collect();
    ids.sort();
    (ids, page["total"].as_u64().expect("total"))
}

fn sorted(ids: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    out.sort();
    out
}

#[test]
fn entity_members_filter_by_role_id_role_name_and_actions() {
    let t = two_tenants(&[]);
    let (owner, d1) = (&t.d1.api, &t.d1.domain);
    let erin = user(&t.admin, "erin");
    let finn = user(&t.admin, "finn");
    let domain = format!("/domains/{d1}");
    role(owner, &domain, "ops", &["read", "update"], &[&erin]);
    let viewers = role(
        owner,
        &domain,
        "viewers",
        &["read", "client_read"],
        &[&finn],
    );
    let owner_id = t.d1.user_id.as_str();
    let listed = |query: &str| {
        let page = owner.expect("GET", &format!("{domain}/roles/members?{query}"), None, 200);
        members(&page)
    };

    let everyone = sorted(&[owner_id, &erin, &finn]);
    assert_eq!(listed("offset=0&limit=10"), (everyone.clone(), 3));
    assert_eq!(listed("role_name=ops"), (sorted(&[&erin]), 1));
    assert_eq!(listed(&format!("role_id={viewers}")), (sorted(&[&finn]), 1));
    // The built-in admin role holds every action.
    assert_eq!(listed("actions=read"), (everyone, 3));
    assert_eq!(
        listed("actions=read,update"),
        (sorted(&[owner_id, &erin]), 2)
    );
    // `client_read`'s `_` is no wildcard, and all the actions must be in one role.
    assert_eq!(
        listed("actions=client_read"),
        (sorted(&[owner_id, &finn]), 2)
    );
    assert_eq!(listed("actions=update,client_read&role_name=viewers").1, 0);
    // A filtered member still shows every role they hold on the entity.
    let page = owner.expect(
        "GET",
        &format!("{domain}/roles/members?role_name=viewers"),
        None,
        200,
    );
    let roles = &page["members"][0]["roles"];
    assert_eq!(roles[0]["role_name"], "viewers", "{page}");
    assert_eq!(roles[0]["actions"], json!(["client_read", "read"]));
    // Paging counts the filtered members.
    let one = owner.expect(
        "GET",
        &format!("{domain}/roles/members?actions=read&limit=1&offset=1"),
        None,
        200,
    );
    assert_eq!(
        (
            one["members"].as_array().map(Vec::len),
            one["total"].clone()
        ),
        (Some(1), json!(3))
    );

    // The same on a client; refusals as on every role route.
    let client = format!("/{d1}/clients/{}", t.d1.device.id);
    role(owner, &client, "operators", &["update"], &[&erin]);
    role(owner, &client, "readers", &["read"], &[&finn]);
    let page = owner.expect(
        "GET",
        &format!("{client}/roles/members?actions=update"),
        None,
        200,
    );
    // The client's creator holds its built-in admin role (every client action).
    assert_eq!(members(&page), (sorted(&[&erin, owner_id]), 2));
    for query in ["actions=fly", "actions=publish", "limit=0"] {
        let bad = owner.expect("GET", &format!("{client}/roles/members?{query}"), None, 400);
        assert!(bad["message"].is_string(), "{query}: {bad}");
    }
    let intruder = &t.d2.api;
    for path in [&domain, &client] {
        let url = format!("{path}/roles/members?role_name=ops");
        let hidden = intruder.expect("GET", &url, None, 404);
        assert!(hidden["message"].is_string(), "{url}: {hidden}");
        Api::unauthenticated(owner).expect("GET", &url, None, 401);
    }
}

/// The `roles` of a view with `?roles=true`, by role name: `(access_type, provider, actions)`.
fn held(api: &Api, path: &str) -> Vec<(String, String, String, Value)> {
    let view = api.expect("GET", &format!("{path}?roles=true"), None, 200);
    let mut out: Vec<_> = view["roles"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|r| {
            let text = |k: &str| r[k].as_str().unwrap_or_default().to_string();
            let provider = text("access_provider_id");
            (
                text("role_name"),
                text("access_type"),
                provider,
                r["actions"].clone(),
            )
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn a_view_with_roles_true_shows_the_callers_roles_reaching_the_entity() {
    let t = two_tenants(&[]);
    let (owner, d1) = (&t.d1.api, &t.d1.domain);
    let erin = user(&t.admin, "erin");
    let mut erin_api = Api::unauthenticated(owner);
    erin_api.token = owner.login("erin@example.com", "erin-password-1");
    let domain = format!("/domains/{d1}");
    // Erin: a domain role reaching clients, one that does not, a role on the parent group.
    role(owner, &domain, "ops", &["read", "update"], &[&erin]);
    role(owner, &domain, "fleet-admins", &["client_update"], &[&erin]);
    let made = owner.expect(
        "POST",
        &format!("/{d1}/groups"),
        Some(json!({"name": "hall"})),
        201,
    );
    let group = made["id"].as_str().expect("group id").to_string();
    role(
        owner,
        &format!("/{d1}/groups/{group}"),
        "hall-readers",
        &["client_read"],
        &[&erin],
    );
    let client = owner.client_in(d1, "meter", &group).id;
    let client_path = format!("/{d1}/clients/{client}");

    assert_eq!(
        held(&erin_api, &client_path),
        vec![
            (
                "fleet-admins".into(),
                "domain".into(),
                d1.clone(),
                json!(["client_update"])
            ),
            (
                "hall-readers".into(),
                "direct_group".into(),
                group.clone(),
                json!(["client_read"])
            ),
        ]
    );
    let direct = held(&erin_api, &domain);
    let names: Vec<&str> = direct.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(names, ["fleet-admins", "ops"], "{direct:?}");
    assert!(
        direct.iter().all(|r| r.1 == "direct" && r.2.is_empty()),
        "{direct:?}"
    );
    // The owner's built-in admin role; no roles asked, none shown.
    let own = held(owner, &domain);
    assert_eq!((own[0].0.as_str(), own[0].1.as_str()), ("admin", "direct"));
    let plain = owner.expect("GET", &domain, None, 200);
    assert!(plain.get("roles").is_none(), "{plain}");
    for query in ["roles=maybe", "rolez=true"] {
        let bad = owner.expect("GET", &format!("{client_path}?{query}"), None, 400);
        assert!(bad["message"].is_string(), "{query}: {bad}");
    }
    // Another domain and no token learn nothing more with ?roles=true than without.
    for path in [&domain, &client_path] {
        let (without, _) = t.d2.api.call("GET", path, None);
        let (with, reply) = t.d2.api.call("GET", &format!("{path}?roles=true"), None);
        assert!(
            with.is_client_error() && with == without,
            "{path}: {with} {reply}"
        );
        assert!(
            reply.get("roles").is_none() && reply["message"].is_string(),
            "{reply}"
        );
        Api::unauthenticated(owner).expect("GET", &format!("{path}?roles=true"), None, 401);
    }
}

/// A group of domain `d` (under `parent`, if given); its id.
fn group(api: &Api, d: &str, name: &str, parent: Option<&str>) -> String {
    let mut body = json!({ "name": name });
    if let Some(parent) = parent {
        body["parent_id"] = json!(parent);
    }
    let made = api.expect("POST", &format!("/{d}/groups"), Some(body), 201);
    made["id"].as_str().expect("group id").to_string()
}

/// The member ids of a page in the page's order.
fn in_order(page: &Value) -> Vec<String> {
    let all = page["members"].as_array().cloned().unwrap_or_default();
    let ids = all.iter().filter_map(|m| m["member_id"].as_str());
    ids.map(str::to_string).collect()
}

/// `(role_name, access_type, access_provider_id)` of each role `member` reaches the
/// entity through, sorted.
fn reach_of(page: &Value, member: &str) -> Vec<(String, String, String)> {
    let all = page["members"].as_array().cloned().unwrap_or_default();
    let theirs = all.iter().find(|m| m["member_id"] == member);
    let roles = theirs.and_then(|m| m["roles"].as_array().cloned());
    let mut out: Vec<(String, String, String)> = roles
        .unwrap_or_default()
        .iter()
        .map(|r| {
            let text = |k: &str| r[k].as_str().unwrap_or("?").to_string();
            (
                text("role_name"),
                text("access_type"),
                text("access_provider_id"),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn entity_members_include_everyone_reaching_the_entity_through_groups_and_the_domain() {
    members_reaching_the_entity(&two_tenants(&[]));
}

/// The same on PostgreSQL: the members query is built per entity and runs on both.
#[test]
fn entity_members_reaching_the_entity_on_postgresql() {
    let pg = magnetite_testkit::servers::scratch_postgres();
    let url = pg.url.clone();
    members_reaching_the_entity(&two_tenants(&["--database-url", &url]));
}

/// A client three groups down, a group tree, the domain: who reaches what, how, and
/// what the filters, the order and another domain see.
fn members_reaching_the_entity(t: &Tenants) {
    let (owner, d1) = (&t.d1.api, &t.d1.domain);
    let owner_id = t.d1.user_id.as_str();
    let (erin, finn, hal) = (
        user(&t.admin, "erin"),
        user(&t.admin, "finn"),
        user(&t.admin, "hal"),
    );
    let domain = format!("/domains/{d1}");
    // In the domain through a role that reaches no client or group.
    role(owner, &domain, "staff", &["read"], &[&erin, &finn, &hal]);
    let top = group(owner, d1, "top", None);
    let mid = group(owner, d1, "mid", Some(&top));
    let low = group(owner, d1, "low", Some(&mid));
    let client = owner.client_in(d1, "meter", &low).id;
    // Erin through the grandparent's grandparent, Finn through the parent, Hal through
    // a role on the top group that reaches its subgroups but no client.
    role(
        owner,
        &format!("/{d1}/groups/{top}"),
        "tree-readers",
        &["subgroup_client_read"],
        &[&erin],
    );
    role(
        owner,
        &format!("/{d1}/groups/{low}"),
        "low-operators",
        &["client_update"],
        &[&finn],
    );
    role(
        owner,
        &format!("/{d1}/groups/{top}"),
        "group-readers",
        &["subgroup_read"],
        &[&hal],
    );
    let client_members = format!("/{d1}/clients/{client}/roles/members");
    let listed = |query: &str| owner.expect("GET", &format!("{client_members}?{query}"), None, 200);

    let all = listed("limit=100");
    assert_eq!(
        members(&all),
        (sorted(&[owner_id, &erin, &finn]), 3),
        "{all}"
    );
    let s = |v: &str| v.to_string();
    assert_eq!(
        reach_of(&all, &erin),
        [(s("tree-readers"), s("indirect_group"), top.clone())]
    );
    assert_eq!(
        reach_of(&all, &finn),
        [(s("low-operators"), s("direct_group"), low.clone())]
    );
    // The owner: the built-in admin roles of the client and of the three groups
    // (their creator), and the domain's.
    let mut owners = vec![
        (s("admin"), s("direct"), s("")),
        (s("admin"), s("direct_group"), low.clone()),
        (s("admin"), s("indirect_group"), mid.clone()),
        (s("admin"), s("indirect_group"), top.clone()),
        (s("admin"), s("domain"), d1.clone()),
    ];
    owners.sort();
    assert_eq!(reach_of(&all, owner_id), owners);
    let erins = all["members"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["member_id"] == erin.as_str()).cloned());
    assert_eq!(
        erins.map(|m| m["roles"][0]["actions"].clone()),
        Some(json!(["subgroup_client_read"]))
    );

    // The filters narrow the members; `actions` as the entity names them.
    let only = |query: &str| members(&listed(query));
    assert_eq!(
        only("access_type=indirect_group"),
        (sorted(&[owner_id, &erin]), 2)
    );
    assert_eq!(
        only("access_type=direct_group"),
        (sorted(&[owner_id, &finn]), 2)
    );
    assert_eq!(
        only("access_type=indirect_group&role_name=tree-readers"),
        (sorted(&[&erin]), 1)
    );
    assert_eq!(only("access_type=domain"), (sorted(&[owner_id]), 1));
    assert_eq!(only("access_type=direct"), (sorted(&[owner_id]), 1));
    assert_eq!(
        only(&format!("access_provider_id={top}")),
        (sorted(&[owner_id, &erin]), 2)
    );
    assert_eq!(only("actions=update"), (sorted(&[owner_id, &finn]), 2));
    assert_eq!(only("actions=read"), (sorted(&[owner_id, &erin]), 2));
    assert_eq!(only("role_name=low-operators&access_type=domain").1, 0);
    // Order and direction, with paging over the ordered members.
    assert_eq!(
        in_order(&listed("order=role_name")),
        [owner_id, &finn, &erin]
    );
    assert_eq!(
        in_order(&listed("order=role_name&dir=desc")),
        [&erin, &finn, owner_id]
    );
    let second = listed("order=role_name&limit=1&offset=1");
    assert_eq!(
        (in_order(&second), second["total"].clone()),
        (vec![finn.clone()], json!(3))
    );

    // A group: its own roles, a role further up reaching subgroups, the domain's.
    let low_members = owner.expect(
        "GET",
        &format!("/{d1}/groups/{low}/roles/members?access_type=indirect_group"),
        None,
        200,
    );
    assert_eq!(members(&low_members), (sorted(&[owner_id, &erin, &hal]), 3));
    let mid_members = owner.expect(
        "GET",
        &format!("/{d1}/groups/{mid}/roles/members?access_type=direct_group"),
        None,
        200,
    );
    assert_eq!(members(&mid_members), (sorted(&[owner_id, &erin, &hal]), 3));

    for query in [
        "access_type=admin",
        "order=created_at",
        "dir=up",
        "actions=subgroup_client_read",
    ] {
        let bad = owner.expect("GET", &format!("{client_members}?{query}"), None, 400);
        assert!(bad["message"].is_string(), "{query}: {bad}");
    }
    // Another domain: its users never appear here, its entities are 404s like missing
    // ones, and its owner learns nothing of ours.
    let d2_user = t.d2.user_id.as_str();
    assert!(!members(&all).0.iter().any(|m| m == d2_user));
    let foreign = format!("/{d1}/clients/{}/roles/members", t.d2.device.id);
    let hidden = owner.expect("GET", &foreign, None, 404);
    assert!(hidden["message"].is_string(), "{hidden}");
    let theirs = format!("/{}/clients/{}/roles/members", t.d2.domain, t.d2.device.id);
    let page =
        t.d2.api
            .expect("GET", &format!("{theirs}?limit=100"), None, 200);
    for ours in [owner_id, &erin, &finn, &hal] {
        assert!(!members(&page).0.iter().any(|m| m == ours), "{page}");
    }
    let (status, reply) = t.d2.api.call("GET", &client_members, None);
    assert!(
        status == 404 && reply.get("members").is_none(),
        "{status} {reply}"
    );
}
