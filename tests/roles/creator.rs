//! Creator roles (a new group, channel or client comes with its built-in `admin` role,
//! its creator a member), lists filtered by what a user's roles let them read, and
//! `DELETE <entity>/roles {member_ids}` (out of every role of the entity).

use super::{grant, group_of, id_of, new_user, platform, tenant, tenant_with_erin};
use platform::Api;
use serde_json::{json, Value};

/// The roles of `base` (an entity path), by name.
fn role_named(api: &Api, base: &str, name: &str) -> Option<Value> {
    let page = api.expect("GET", &format!("{base}/roles?limit=100"), None, 200);
    page["roles"]
        .as_array()
        .expect("roles")
        .iter()
        .find(|r| r["name"] == name)
        .cloned()
}

fn members_of(api: &Api, role: &str) -> Value {
    api.expect("GET", &format!("{role}/members"), None, 200)["members"].clone()
}

#[test]
fn a_new_entity_makes_its_creator_the_member_of_its_admin_role() {
    // SuperMQ naming: its `<entity>.create` events carry `roles_provisioned`.
    let server = platform::server(&["--event-prefix", "supermq"]);
    let admin = Api::admin(&server);
    let t = tenant(&admin, "owner@example.com", "farm");
    let (d, owner) = (&t.d, &t.owner);
    // Erin may create things in the domain, and nothing more.
    let (erin, erin_api) = new_user(&admin, "erin@example.com");
    let creates = ["group_create", "channel_create", "client_create"];
    grant(
        owner,
        &format!("/domains/{d}"),
        "makers",
        &creates,
        &[&erin],
    );
    for kind in ["groups", "channels", "clients"] {
        let body = json!({"name": format!("erin's {kind}")});
        let made = erin_api.expect("POST", &format!("/{d}/{kind}"), Some(body), 201);
        let base = format!("/{d}/{kind}/{}", id_of(&made));
        let role = role_named(owner, &base, "admin").expect("built-in admin role");
        let role_path = format!("{base}/roles/{}", id_of(&role));
        assert_eq!(members_of(owner, &role_path), json!([erin]), "{kind}");
        let singular = kind.trim_end_matches('s');
        let available = owner.expect(
            "GET",
            &format!("/{d}/{kind}/roles/available-actions"),
            None,
            200,
        )["available_actions"]
            .clone();
        let held =
            owner.expect("GET", &format!("{role_path}/actions"), None, 200)["actions"].clone();
        let (mut want, mut got): (Vec<Value>, Vec<Value>) = (
            available.as_array().expect("available").clone(),
            held.as_array().expect("held").clone(),
        );
        want.sort_by_key(|v| v.to_string());
        got.sort_by_key(|v| v.to_string());
        assert_eq!(got, want, "{singular}: the admin role holds every action");
        // Through it, and only through it, Erin manages what she made.
        erin_api.expect("GET", &base, None, 200);
        erin_api.expect("PATCH", &base, Some(json!({"name": "renamed"})), 200);
        erin_api.expect("GET", &format!("{base}/roles"), None, 200);
        // Built in: not renamed, deleted or changed; but it may be emptied.
        owner.expect("PUT", &role_path, Some(json!({"name": "x"})), 400);
        owner.expect("DELETE", &role_path, None, 400);
        owner.expect(
            "POST",
            &format!("{role_path}/actions/delete-all"),
            None,
            400,
        );
        owner.expect(
            "POST",
            &format!("{role_path}/members/delete-all"),
            None,
            204,
        );
        erin_api.expect("GET", &base, None, 403);
        // Nobody may claim the name.
        let taken = json!({"role_name": "admin"});
        owner.expect("POST", &format!("{base}/roles"), Some(taken), 409);
    }
    // The platform admin, in no role of the domain, is not made a member.
    let made = admin.expect(
        "POST",
        &format!("/{d}/clients"),
        Some(json!({"name": "by the platform admin"})),
        201,
    );
    let base = format!("/{d}/clients/{}", id_of(&made));
    let role = role_named(owner, &base, "admin").expect("built-in admin role");
    let role_path = format!("{base}/roles/{}", id_of(&role));
    assert_eq!(members_of(owner, &role_path), json!([]));
    // The create events say what was provisioned (SuperMQ's `roles_provisioned`, a
    // list rendered as text like every list field of the sinks).
    let created: Vec<Value> = admin
        .event_log("clients")
        .into_iter()
        .filter(|e| e["operation"] == "thing.create")
        .collect();
    let erins = created
        .iter()
        .find(|e| e["name"] == "erin's clients")
        .expect("erin's thing.create");
    let text = erins["roles_provisioned"]
        .as_str()
        .expect("roles_provisioned");
    let provisioned: Value = serde_json::from_str(text).expect("a JSON list");
    let provisioned = &provisioned[0];
    assert_eq!(provisioned["name"], "admin", "{erins}");
    assert_eq!(provisioned["optional_members"], json!([erin]), "{erins}");
    assert!(
        provisioned["optional_actions"]
            .as_array()
            .is_some_and(|a| a.contains(&json!("connect_to_channel"))),
        "{erins}"
    );
}

#[test]
fn a_member_lists_only_what_their_roles_let_them_read() {
    let server = platform::server(&[]);
    let admin = Api::admin(&server);
    let (t, erin, erin_api) = tenant_with_erin(&admin);
    let (d, owner) = (&t.d, &t.owner);
    let group = |name: &str, parent: Option<&str>| group_of(&t, name, parent);
    let (top, middle) = (group("top", None), group("other", None));
    let below = group("below", Some(&top));
    let deep = group("deep", Some(&below));
    let channels: Vec<String> = (0..10)
        .map(|i| {
            let parent = if i == 1 { Some(middle.as_str()) } else { None };
            let body = json!({"name": format!("ch-{i}"), "parent_id": parent});
            id_of(&owner.expect("POST", &format!("/{d}/channels"), Some(body), 201))
        })
        .collect();
    let list = |api: &Api, what: &str| api.expect("GET", &format!("/{d}/{what}"), None, 200);
    let names = |page: &Value, kind: &str| -> Vec<String> {
        let mut n: Vec<String> = page[kind]
            .as_array()
            .expect("items")
            .iter()
            .map(|e| e["name"].as_str().expect("name").to_string())
            .collect();
        n.sort();
        n
    };
    // In the domain with no action: an empty list, not a 403.
    let none = list(&erin_api, "channels?limit=100");
    assert_eq!(
        (none["total"].clone(), names(&none, "channels").len()),
        (json!(0), 0)
    );
    // Channel 0 directly, channel 1 through its group: 2 of 10.
    let ch0 = format!("/{d}/channels/{}", channels[0]);
    grant(owner, &ch0, "reader", &["read"], &[&erin]);
    let on_middle = format!("/{d}/groups/{middle}");
    grant(owner, &on_middle, "readers", &["channel_read"], &[&erin]);
    let two = list(&erin_api, "channels?limit=100");
    assert_eq!(two["total"], 2, "{two}");
    assert_eq!(names(&two, "channels"), ["ch-0", "ch-1"]);
    for offset in [0, 1] {
        let one = list(&erin_api, &format!("channels?limit=1&offset={offset}"));
        assert_eq!(one["total"], 2, "{one}");
        assert_eq!(one["channels"].as_array().map(Vec::len), Some(1), "{one}");
    }
    let counted = list(&erin_api, "channels?only_total=true");
    assert_eq!(counted["total"], 2, "{counted}");
    assert_eq!(list(owner, "channels?limit=100")["total"], 10);
    // An action other than read shows nothing more.
    let ch2 = format!("/{d}/channels/{}", channels[2]);
    grant(owner, &ch2, "editor", &["update"], &[&erin]);
    assert_eq!(list(&erin_api, "channels")["total"], 2);
    // Clients two levels below a group with `subgroup_client_read`; groups under a
    // group with `subgroup_read`.
    let deep_client = owner.client_in(d, "deep-meter", &deep).id;
    owner.client_in(d, "top-meter", &top);
    owner.client(d, "loose-meter");
    let on_top = format!("/{d}/groups/{top}");
    let acts = ["subgroup_client_read", "subgroup_read"];
    grant(owner, &on_top, "tree", &acts, &[&erin]);
    let clients = list(&erin_api, "clients?limit=100");
    assert_eq!(names(&clients, "clients"), ["deep-meter"], "{clients}");
    assert_eq!(clients["total"], 1);
    erin_api.expect("GET", &format!("/{d}/clients/{deep_client}"), None, 200);
    let groups = list(&erin_api, "groups?limit=100");
    assert_eq!(names(&groups, "groups"), ["below", "deep"], "{groups}");
    // Domain-wide read shows everything again.
    grant(
        owner,
        &format!("/domains/{d}"),
        "all",
        &["channel_read"],
        &[&erin],
    );
    assert_eq!(list(&erin_api, "channels")["total"], 10);
    // Outside the domain: 403; another tenant sees nothing of it.
    let (_, stranger) = new_user(&admin, "stranger@example.com");
    stranger.expect("GET", &format!("/{d}/channels"), None, 403);
    let other = tenant(&admin, "other@example.com", "other");
    other
        .owner
        .expect("GET", &format!("/{d}/channels"), None, 403);
    let own = other
        .owner
        .expect("GET", &format!("/{}/channels", other.d), None, 200);
    assert_eq!(own["total"], 0, "{own}");
}

#[test]
fn delete_on_roles_takes_users_out_of_every_role_of_the_entity() {
    let server = platform::server(&[]);
    let admin = Api::admin(&server);
    let t = tenant(&admin, "owner@example.com", "farm");
    let (d, owner) = (&t.d, &t.owner);
    let (erin, erin_api) = new_user(&admin, "erin@example.com");
    let (bob, _) = new_user(&admin, "bob@example.com");
    grant(
        owner,
        &format!("/domains/{d}"),
        "everyone",
        &[],
        &[&erin, &bob],
    );
    let client = owner.client(d, "meter").id;
    let base = format!("/{d}/clients/{client}");
    let readers = grant(owner, &base, "readers", &["read"], &[&erin, &bob]);
    let editors = grant(owner, &base, "editors", &["update"], &[&erin]);
    erin_api.expect("GET", &base, None, 200);
    let gone = json!({"member_ids": [erin]});
    owner.expect("DELETE", &format!("{base}/roles"), Some(gone.clone()), 204);
    for role in [&readers, &editors] {
        let members = members_of(owner, &format!("{base}/roles/{role}"));
        assert!(!members.to_string().contains(&erin), "{members}");
    }
    assert_eq!(
        members_of(owner, &format!("{base}/roles/{readers}")),
        json!([bob])
    );
    erin_api.expect("GET", &base, None, 403);
    owner.expect("DELETE", &format!("{base}/roles"), Some(json!({})), 400);
    let ops: Vec<Value> = admin.event_log("clients");
    let removed = ops
        .iter()
        .find(|e| e["operation"] == "client.members.remove")
        .expect("client.members.remove");
    assert_eq!(removed["members"], format!("[{erin}]"), "{removed}");
    assert_eq!(removed["entity_id"], client.as_str());
    // Magistrala's `client.create` has no `roles_provisioned` (SuperMQ naming adds it).
    let create = ops
        .iter()
        .find(|e| e["operation"] == "client.create")
        .expect("client.create");
    assert!(create.get("roles_provisioned").is_none(), "{create}");
    // The domain's built-in admin role keeps its last member.
    let last = json!({"member_ids": [t.owner_id]});
    owner.expect("DELETE", &format!("/domains/{d}/roles"), Some(last), 409);
    owner.expect("GET", &format!("/domains/{d}"), None, 200);
    // Another tenant: 404, nothing removed.
    let other = tenant(&admin, "other@example.com", "other");
    let theirs = json!({"member_ids": [bob]});
    other
        .owner
        .expect("DELETE", &format!("{base}/roles"), Some(theirs), 404);
    assert_eq!(
        members_of(owner, &format!("{base}/roles/{readers}")),
        json!([bob])
    );
}

#[test]
fn a_hierarchy_shows_only_the_groups_its_caller_may_read() {
    let server = platform::server(&[]);
    let admin = Api::admin(&server);
    let (t, erin, erin_api) = tenant_with_erin(&admin);
    let (d, owner) = (&t.d, &t.owner);
    let group = |name: &str, parent: Option<&str>| group_of(&t, name, parent);
    let top = group("top", None);
    let root = group("root", Some(&top));
    let a = group("a", Some(&root));
    let b = group("b", Some(&root));
    let a1 = group("a1", Some(&a));
    let hierarchy = |api: &Api, query: &str, want: u16| {
        let path = format!("/{d}/groups/{root}/hierarchy?{query}");
        let v = api.expect("GET", &path, None, want);
        v["groups"]
            .as_array()
            .map(|gs| gs.iter().map(id_of).collect::<Vec<_>>())
            .unwrap_or_default()
    };
    // No read on the group: refused; then read on it shows it alone.
    hierarchy(&erin_api, "", 403);
    grant(
        owner,
        &format!("/{d}/groups/{root}"),
        "r",
        &["read"],
        &[&erin],
    );
    assert_eq!(hierarchy(&erin_api, "", 200), [root.as_str()]);
    assert_eq!(hierarchy(&erin_api, "direction=up", 200), [root.as_str()]);
    // `subgroup_read` on `a` adds what is below it, nothing beside it.
    grant(
        owner,
        &format!("/{d}/groups/{a}"),
        "s",
        &["subgroup_read"],
        &[&erin],
    );
    assert_eq!(hierarchy(&erin_api, "", 200), [root.as_str(), a1.as_str()]);
    // The owner (the domain's admin, `group_read`) sees every group.
    assert_eq!(hierarchy(owner, "", 200), [root.clone(), a, b, a1]);
    assert_eq!(hierarchy(owner, "direction=up", 200), [root, top]);
}
