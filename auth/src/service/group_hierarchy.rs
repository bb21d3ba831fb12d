//! `GET /{d}/groups/{id}/hierarchy` (SuperMQ's `listGroupHierarchy`): the group with
//! its ancestors (`direction` up) or its descendants (down), `level` levels far, as a
//! list or as a tree.
//!
//! SuperMQ's `direction` is a number (>= 0 ancestors, < 0 descendants, default -1) and
//! its answer repeats it as one; `up` / `down` are accepted too. The work is bounded:
//! at most [`MAX_LEVEL`] levels and [`MAX_GROUPS`] groups per answer (more is a 400
//! asking for fewer levels, never a silently cut tree).

use serde_json::{json, Value};
use std::collections::HashMap;

use super::entities::Entities;
use super::entity_roles::{list_visibility, Visibility};
use crate::access::Actor;
use crate::error::{AuthError, Result};
use crate::model::{Entity, Kind};
use crate::roles::decide::{decide, Grants, Target};
use crate::roles::EntityType;

/// Deepest hierarchy one request reads.
pub const MAX_LEVEL: u32 = 10;
/// Most groups one answer holds.
pub const MAX_GROUPS: usize = 1000;

/// Which way from the group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Up,
    Down,
}

impl Direction {
    /// SuperMQ's number for it.
    fn number(self) -> i64 {
        match self {
            Direction::Up => 1,
            Direction::Down => -1,
        }
    }
}

/// The query of a hierarchy request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HierarchyQuery {
    pub level: u32,
    pub direction: Direction,
    pub tree: bool,
}

impl HierarchyQuery {
    /// `level` (1..=[`MAX_LEVEL`], default the maximum), `direction` (`up`, `down` or
    /// SuperMQ's number; default down), `tree` (`true`/`false`); anything else a 400.
    pub fn parse(params: &HashMap<String, String>) -> Result<HierarchyQuery> {
        let level = match params.get("level").map(String::as_str) {
            None | Some("") => MAX_LEVEL,
            Some(raw) => raw
                .parse::<u32>()
                .ok()
                .filter(|l| (1..=MAX_LEVEL).contains(l))
                .ok_or_else(|| {
                    AuthError::bad_request(format!("level must be between 1 and {MAX_LEVEL}"))
                })?,
        };
        let direction = match params.get("direction").map(String::as_str) {
            None | Some("") | Some("down") => Direction::Down,
            Some("up") => Direction::Up,
            Some(raw) => match raw.parse::<i64>() {
                Ok(n) if n >= 0 => Direction::Up,
                Ok(_) => Direction::Down,
                Err(_) => {
                    return Err(AuthError::bad_request(
                        "direction must be up, down or a number (>= 0 up, < 0 down)",
                    ))
                }
            },
        };
        let tree = match params.get("tree").map(String::as_str) {
            None | Some("") | Some("false") => false,
            Some("true") => true,
            Some(_) => return Err(AuthError::bad_request("tree must be true or false")),
        };
        Ok(HierarchyQuery {
            level,
            direction,
            tree,
        })
    }
}

impl Entities<'_> {
    /// The hierarchy around the group `id` of `domain`, for a user who may `read` that
    /// group (SuperMQ's `retrieve_group_hierarchy`, its read permission); a foreign or
    /// missing group is a 404. The group itself is part of the answer.
    pub async fn hierarchy(
        &self,
        actor: &Actor<'_>,
        domain: &str,
        id: &str,
        q: HierarchyQuery,
    ) -> Result<Value> {
        let (d, group) = actor
            .authorize_entity(self.platform, domain, Kind::Group, id, "read")
            .await?;
        let store = &self.platform.store;
        let above = store.ancestors_nearest_first(&group.id).await?;
        let groups = match q.direction {
            Direction::Up => store.group_chain_up(&d.id, &group.id, q.level).await?,
            Direction::Down => self.descendants(group, q.level).await?,
        };
        let groups = self.readable_only(actor, &d.id, groups, &above).await?;
        Ok(render(&groups, q))
    }

    /// The groups `actor` may `read` (SuperMQ answers a hierarchy from the user's own
    /// groups): all of them for whoever reads every group of the domain, else each
    /// decided as `GET .../{id}` would be, over one load of the user's grants on these
    /// groups, those above them (`above`: the asked group's ancestors) and the domain.
    async fn readable_only(
        &self,
        actor: &Actor<'_>,
        domain_id: &str,
        groups: Vec<Entity>,
        above: &[String],
    ) -> Result<Vec<Entity>> {
        let user = match list_visibility(self.platform, actor, domain_id, EntityType::Group).await?
        {
            Visibility::All => return Ok(groups),
            Visibility::ReadableBy(user) => user,
        };
        let mut on: Vec<&str> = groups.iter().map(|g| g.id.as_str()).collect();
        on.extend(above.iter().map(String::as_str));
        on.push(domain_id);
        let grants = self.platform.store.grants_on(&user, domain_id, &on).await?;
        Ok(readable(groups, above, &grants, domain_id))
    }

    /// `root` and its descendants up to `levels` below, one bounded query per level.
    async fn descendants(&self, root: Entity, levels: u32) -> Result<Vec<Entity>> {
        let store = &self.platform.store;
        let domain_id = root.domain_id.clone();
        let mut frontier = vec![root.id.clone()];
        let mut all = vec![root];
        for _ in 0..levels {
            let room = (MAX_GROUPS + 1).saturating_sub(all.len()) as u64;
            let next = store.child_groups_of(&domain_id, &frontier, room).await?;
            if next.is_empty() {
                break;
            }
            frontier = next.iter().map(|g| g.id.clone()).collect();
            all.extend(next);
            if all.len() > MAX_GROUPS {
                return Err(AuthError::bad_request(format!(
                    "the hierarchy has more than {MAX_GROUPS} groups within {levels} levels; \
                     ask for fewer levels"
                )));
            }
        }
        Ok(all)
    }
}

/// The groups of a hierarchy answer that `grants` let their holder `read`: each
/// group's ancestors are its parents within the answer, then `above` (the asked
/// group's own ancestors, nearest first, which every group of the answer shares or
/// belongs to).
fn readable(
    groups: Vec<Entity>,
    above: &[String],
    grants: &Grants,
    domain_id: &str,
) -> Vec<Entity> {
    let mut parent: HashMap<String, String> = groups
        .iter()
        .filter_map(|g| Some((g.id.clone(), g.parent_id.clone()?)))
        .collect();
    for pair in above.windows(2) {
        parent.insert(pair[0].clone(), pair[1].clone());
    }
    let chain = |id: &str| {
        let mut up: Vec<String> = Vec::new();
        let mut at = id;
        // Bounded: a cycle in the store cannot loop.
        while let Some(p) = parent.get(at).filter(|_| up.len() <= MAX_GROUPS) {
            up.push(p.clone());
            at = p;
        }
        up
    };
    let allowed: Vec<bool> = groups
        .iter()
        .map(|g| {
            let ancestors = chain(&g.id);
            let target = Target {
                kind: EntityType::Group,
                id: &g.id,
                domain_id,
                ancestors: &ancestors,
            };
            decide(grants, &target, "read")
        })
        .collect();
    groups
        .into_iter()
        .zip(allowed)
        .filter_map(|(g, ok)| ok.then_some(g))
        .collect()
}

/// SuperMQ's answer: `{level, direction, groups}`, `groups` a flat list or (tree) the
/// top groups with their `children` nested.
fn render(groups: &[Entity], q: HierarchyQuery) -> Value {
    let groups = if q.tree {
        tree_of(groups)
    } else {
        groups.iter().map(|g| g.to_json(None)).collect()
    };
    json!({
        "level": q.level,
        "direction": q.direction.number(),
        "groups": groups,
    })
}

/// The groups as trees: a group whose parent is not among them is a top group; every
/// other one is nested under its parent's `children`, in the order given.
fn tree_of(groups: &[Entity]) -> Vec<Value> {
    let present: std::collections::HashSet<&str> = groups.iter().map(|g| g.id.as_str()).collect();
    let mut children: HashMap<&str, Vec<&Entity>> = HashMap::new();
    let mut tops = Vec::new();
    for g in groups {
        match g
            .parent_id
            .as_deref()
            .filter(|p| present.contains(p) && *p != g.id)
        {
            Some(parent) => children.entry(parent).or_default().push(g),
            None => tops.push(g),
        }
    }
    tops.into_iter()
        .map(|g| node(g, &children, MAX_LEVEL + 1))
        .collect()
}

/// One group with its children nested, at most `depth` levels (a cycle cannot recurse
/// forever even if the store held one).
fn node(g: &Entity, children: &HashMap<&str, Vec<&Entity>>, depth: u32) -> Value {
    let mut v = g.to_json(None);
    let kids: Vec<Value> = match (depth, children.get(g.id.as_str())) {
        (1.., Some(kids)) => kids.iter().map(|k| node(k, children, depth - 1)).collect(),
        _ => Vec::new(),
    };
    v["children"] = Value::Array(kids);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Audit, Status};

    fn params(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn group(id: &str, parent: Option<&str>) -> Entity {
        Entity {
            kind: Kind::Group,
            id: id.into(),
            domain_id: "d".into(),
            name: id.into(),
            route: None,
            description: None,
            tags: Vec::new(),
            metadata: json!({}),
            status: Status::Enabled,
            parent_id: parent.map(str::to_string),
            created_by: "u".into(),
            audit: Audit::created_now(),
        }
    }

    #[test]
    fn queries_default_and_are_bounded() {
        let q = HierarchyQuery::parse(&params(&[])).unwrap();
        assert_eq!(
            (q.level, q.direction, q.tree),
            (MAX_LEVEL, Direction::Down, false)
        );
        let q = HierarchyQuery::parse(&params(&[
            ("level", "2"),
            ("direction", "up"),
            ("tree", "true"),
        ]));
        assert_eq!(
            q.ok().map(|q| (q.level, q.direction, q.tree)),
            Some((2, Direction::Up, true))
        );
        for (n, dir) in [
            ("1", Direction::Up),
            ("0", Direction::Up),
            ("-1", Direction::Down),
        ] {
            let q = HierarchyQuery::parse(&params(&[("direction", n)])).unwrap();
            assert_eq!(q.direction, dir, "{n}");
        }
        for bad in [
            ("level", "0"),
            ("level", "11"),
            ("level", "x"),
            ("direction", "sideways"),
            ("tree", "yes"),
        ] {
            assert!(HierarchyQuery::parse(&params(&[bad])).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_tree_nests_children_under_their_parents() {
        let groups = [
            group("root", Some("outside")),
            group("a", Some("root")),
            group("b", Some("root")),
            group("a1", Some("a")),
        ];
        let tree = tree_of(&groups);
        assert_eq!(
            tree.len(),
            1,
            "the parent outside the set makes root a top group"
        );
        assert_eq!(tree[0]["id"], "root");
        let kids: Vec<&str> = tree[0]["children"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["id"].as_str().unwrap())
            .collect();
        assert_eq!(kids, ["a", "b"]);
        assert_eq!(tree[0]["children"][0]["children"][0]["id"], "a1");
        assert_eq!(tree[0]["children"][1]["children"], json!([]));
    }

    #[test]
    fn only_readable_groups_stay() {
        // top > root > a > a1, and b under root; the answer is root's descendants.
        let groups = vec![
            group("root", Some("top")),
            group("a", Some("root")),
            group("b", Some("root")),
            group("a1", Some("a")),
        ];
        let above = ["top".to_string()];
        let kept = |pairs: &[(&str, &str)]| {
            let mut grants = Grants::default();
            for (id, action) in pairs {
                grants.add(id, action);
            }
            readable(groups.clone(), &above, &grants, "d")
                .into_iter()
                .map(|g| g.id)
                .collect::<Vec<_>>()
        };
        assert_eq!(kept(&[("root", "read")]), ["root"]);
        assert_eq!(
            kept(&[("root", "read"), ("a", "subgroup_read")]),
            ["root", "a1"]
        );
        assert_eq!(kept(&[("top", "subgroup_read")]), ["root", "a", "b", "a1"]);
        assert_eq!(kept(&[("d", "group_read")]), ["root", "a", "b", "a1"]);
        assert!(kept(&[("b", "update")]).is_empty());
    }

    #[test]
    fn a_cycle_still_renders() {
        let groups = [group("x", Some("y")), group("y", Some("x"))];
        assert!(
            tree_of(&groups).is_empty(),
            "no top group: nothing to hang them on"
        );
        let flat = render(
            &groups,
            HierarchyQuery {
                level: 1,
                direction: Direction::Up,
                tree: false,
            },
        );
        assert_eq!(flat["groups"].as_array().map(Vec::len), Some(2));
        assert_eq!(flat["direction"], 1);
    }
}
