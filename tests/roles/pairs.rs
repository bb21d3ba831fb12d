//! The authorization matrix of the routes that decide by actions on two entities
//! ([`pair_rows`]: connections, a group's children, a create into a group, moving an
//! entity into or out of a group): each row with both actions held directly, through
//! the group above, through the domain; with only one of the two (either one) and with
//! neither. Only both pass.

use super::matrix::{granted_as, Via};
use super::rows::{pair_rows, Nesting, PairRow};
use super::{grant, group_of, id_of, platform, tenant_with_erin, Tenant};
use platform::Api;
use serde_json::{json, Value};

/// Which of a row's two actions the user is given.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Held {
    Both,
    OnlyId,
    OnlyOther,
}

/// One entity a row needs an action on: its type, id, and the group it was made in.
struct Need<'a> {
    kind: &'a str,
    id: String,
    parent: Option<String>,
    action: &'a str,
}

/// The fixed part of a run: the tenant, the user under test and the group `g` the
/// row's entities are made in.
struct Stage {
    t: Tenant,
    user_id: String,
    user: Api,
    g: String,
}

impl Stage {
    /// A new `kind` entity of the domain under `parent`, made by the owner.
    fn entity(&self, kind: &str, parent: &str, n: usize) -> String {
        let body = json!({"name": format!("{kind}-{n}"), "parent_id": parent});
        let path = format!("/{}/{kind}s", self.t.d);
        id_of(&self.t.owner.expect("POST", &path, Some(body), 201))
    }

    /// The row's two entities, each with the group it is in: `{id}` (the domain for a
    /// domain row) and `{other}`, made as the row's [`Nesting`] says.
    fn entities(&self, pair: &PairRow, n: usize) -> (String, String, String, String) {
        let (kind, other_kind) = (pair.row.0, pair.other.0);
        let g = &self.g;
        let first = |parent: &str| match kind {
            "domain" => self.t.d.clone(),
            _ => self.entity(kind, parent, n),
        };
        match pair.nesting {
            Nesting::Beside => {
                let (id, other) = (first(g), self.entity(other_kind, g, n));
                (id, g.clone(), other, g.clone())
            }
            Nesting::OtherInId => {
                let id = first(g);
                let other = self.entity(other_kind, &id, n);
                (id.clone(), g.clone(), other, id)
            }
            Nesting::IdInOther => {
                let other = self.entity(other_kind, g, n);
                (first(&other), other.clone(), other, g.clone())
            }
        }
    }

    /// Gives the user `need`'s action through `via`; the role's entity path and id.
    fn give(&self, need: &Need<'_>, via: Via, n: usize) -> (String, String) {
        let d = &self.t.d;
        let on = match (need.kind, via, &need.parent) {
            ("domain", _, _) | (_, Via::Domain, _) => format!("/domains/{d}"),
            (_, Via::Inherited, Some(parent)) => format!("/{d}/groups/{parent}"),
            _ => format!("/{d}/{}s/{}", need.kind, need.id),
        };
        let action = granted_as(need.kind, need.action, via);
        let name = format!("p-{n}-{action}");
        let role = grant(&self.t.owner, &on, &name, &[&action], &[&self.user_id]);
        (on, role)
    }
}

/// Runs `row` once with `held` through `via`; asserts its status.
fn run(stage: &Stage, pair: &PairRow, via: Via, held: Held, n: usize) {
    let (kind, method, path, body, action, ok) = &pair.row;
    let d = &stage.t.d;
    let (first, first_parent, other, other_parent) = stage.entities(pair, n);
    let needs = [
        Need {
            kind,
            id: first.clone(),
            parent: Some(first_parent),
            action,
        },
        Need {
            kind: pair.other.0,
            id: other.clone(),
            parent: Some(other_parent),
            action: pair.other.1,
        },
    ];
    let given: Vec<(String, String)> = needs
        .iter()
        .enumerate()
        .filter(|(i, _)| {
            via != Via::Without && (held == Held::Both || (*i == 0) == (held == Held::OnlyId))
        })
        .map(|(_, need)| stage.give(need, via, n))
        .collect();
    let fill = |text: &str| {
        text.replace("{d}", d)
            .replace("{id}", &first)
            .replace("{other}", &other)
    };
    let path = fill(path);
    let body: Option<Value> = body
        .as_ref()
        .map(|b| serde_json::from_str(&fill(&b.to_string())).expect("json"));
    let (status, reply) = stage.user.call(method, &path, body);
    let want = match (via, held) {
        (Via::Without, _) | (_, Held::OnlyId) | (_, Held::OnlyOther) => 403,
        _ => *ok,
    };
    assert_eq!(
        status.as_u16(),
        want,
        "{via:?} {held:?} {method} {path} ({action} + {} {}): {reply}",
        pair.other.0,
        pair.other.1
    );
    if want == 403 {
        assert!(reply["message"].is_string(), "{path}: {reply}");
    }
    for (on, role) in given {
        stage
            .t
            .owner
            .expect("DELETE", &format!("{on}/roles/{role}"), None, 204);
    }
}

#[test]
fn routes_deciding_by_two_entities_need_both_actions() {
    let server = platform::server(&[]);
    let admin = Api::admin(&server);
    // The user is in the domain through a role that holds no action.
    let (t, user_id, user) = tenant_with_erin(&admin);
    let g = group_of(&t, "g", None);
    // `g` lets anything leave it: the rows that move an entity out of `g` into
    // `{other}` or `{id}` test the entity's action and the new group's; the group left
    // has its own test (`leaving_or_moving_out_of_a_group_...`).
    let on = format!("/{}/groups/{g}", t.d);
    grant(&t.owner, &on, "lets-go", &["set_child"], &[&user_id]);
    let stage = Stage {
        t,
        user_id,
        user,
        g,
    };
    let mut n = 0;
    for pair in pair_rows() {
        for via in [Via::Direct, Via::Inherited, Via::Domain] {
            for held in [Held::Both, Held::OnlyId, Held::OnlyOther] {
                n += 1;
                run(&stage, &pair, via, held, n);
            }
        }
        n += 1;
        run(&stage, &pair, Via::Without, Held::Both, n);
    }
}

#[test]
fn a_refused_child_moves_no_child() {
    let server = platform::server(&[]);
    let admin = Api::admin(&server);
    let (t, erin, erin_api) = tenant_with_erin(&admin);
    let d = &t.d;
    let group = |name: &str| group_of(&t, name, None);
    let (parent, movable, fixed) = (group("parent"), group("movable"), group("fixed"));
    let give = |on: &str, action: &str| {
        grant(
            &t.owner,
            &format!("/{d}/groups/{on}"),
            action,
            &[action],
            &[&erin],
        );
    };
    give(&parent, "set_child");
    give(&movable, "set_parent");
    // Erin may move `movable` but not `fixed`: the request is refused whole.
    let body = json!({"children_ids": [movable, fixed]});
    erin_api.expect(
        "POST",
        &format!("/{d}/groups/{parent}/children"),
        Some(body),
        403,
    );
    let kept = t
        .owner
        .expect("GET", &format!("/{d}/groups/{movable}"), None, 200);
    assert!(
        kept["parent_id"].is_null(),
        "moved by a refused request: {kept}"
    );
    // One movable child alone goes.
    erin_api.expect(
        "POST",
        &format!("/{d}/groups/{parent}/children"),
        Some(json!({"children_ids": [movable]})),
        201,
    );
    let moved = t
        .owner
        .expect("GET", &format!("/{d}/groups/{movable}"), None, 200);
    assert_eq!(moved["parent_id"], parent.as_str());
    // Too many ids is a 400 before any lookup.
    let many: Vec<String> = (0..1001).map(|i| format!("g-{i}")).collect();
    t.owner.expect(
        "POST",
        &format!("/{d}/groups/{parent}/children"),
        Some(json!({"children_ids": many})),
        400,
    );
}

#[test]
fn leaving_or_moving_out_of_a_group_needs_the_group_and_a_refusal_changes_nothing() {
    let server = platform::server(&[]);
    let admin = Api::admin(&server);
    let (t, erin, erin_api) = tenant_with_erin(&admin);
    let d = &t.d;
    let give = |on: String, action: &str| grant(&t.owner, &on, action, &[action], &[&erin]);
    let (hall, yard) = (group_of(&t, "hall", None), group_of(&t, "yard", None));
    let wing = group_of(&t, "wing", Some(&hall));
    let inside = t.owner.client_in(d, "in", &hall).id;
    let moving = t.owner.client_in(d, "moving", &hall).id;
    let loose = t.owner.client(d, "loose").id;
    for client in [&inside, &moving, &loose] {
        give(format!("/{d}/clients/{client}"), "set_parent_group");
    }
    give(format!("/{d}/groups/{wing}"), "set_parent");
    give(format!("/{d}/groups/{yard}"), "set_child");
    let parent_of = |path: String, field: &str| {
        let entity = t.owner.expect("GET", &path, None, 200);
        entity[field].as_str().map(str::to_string)
    };
    let client_path = |id: &str| format!("/{d}/clients/{id}");
    let (leave, move_client) = (
        format!("/{d}/clients/{inside}/parent"),
        format!("/{d}/clients/{moving}/parent"),
    );
    let into_yard = json!({"parent_id": yard});
    let wing_to_yard = json!({"children_ids": [wing]});
    let yard_children = format!("/{d}/groups/{yard}/children");
    // Erin may move them and fill `yard`, but holds nothing on `hall`: nothing leaves
    // it, neither taken out nor moved into `yard`.
    for (method, path, body) in [
        ("DELETE", &leave, None),
        ("POST", &move_client, Some(into_yard.clone())),
        ("POST", &yard_children, Some(wing_to_yard.clone())),
    ] {
        let refused = erin_api.expect(method, path, body, 403);
        assert!(refused["message"].is_string(), "{path}: {refused}");
    }
    for path in [client_path(&inside), client_path(&moving)] {
        assert_eq!(parent_of(path, "parent_group_id"), Some(hall.clone()));
    }
    let wing_path = format!("/{d}/groups/{wing}");
    assert_eq!(
        parent_of(wing_path.clone(), "parent_id"),
        Some(hall.clone())
    );
    // A client in no group asks no group.
    erin_api.expect(
        "DELETE",
        &format!("{}/parent", client_path(&loose)),
        None,
        204,
    );
    // With `hall`'s consent they go.
    give(format!("/{d}/groups/{hall}"), "set_child");
    erin_api.expect("DELETE", &leave, None, 204);
    erin_api.expect("POST", &move_client, Some(into_yard), 200);
    erin_api.expect("POST", &yard_children, Some(wing_to_yard), 201);
    assert_eq!(parent_of(client_path(&inside), "parent_group_id"), None);
    assert_eq!(
        parent_of(client_path(&moving), "parent_group_id"),
        Some(yard.clone())
    );
    assert_eq!(parent_of(wing_path, "parent_id"), Some(yard));
}
