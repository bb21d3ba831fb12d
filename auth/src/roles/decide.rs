//! The one authorization decision: may a user do `action` on an entity, given the
//! actions their roles hold in the entity's domain ([`Grants`]) and the groups above the
//! entity. Pure, so every rule is a unit test; loading the inputs and caching the answer
//! is `crate::service::roles`' and [`super::cache`]'s job.
//!
//! The rules are SuperMQ's (its SpiceDB schema), for an entity of type `T` and an
//! action `a`:
//! - a role on the entity itself holding `a`;
//! - a role on its parent group holding `client_a` / `channel_a` (clients, channels) or
//!   `subgroup_a` (groups);
//! - a role on any group further up holding `subgroup_client_a` / `subgroup_channel_a`
//!   (clients, channels) or `subgroup_a` (groups);
//! - a role on its domain holding `client_a` / `channel_a` / `group_a` (or `a` itself
//!   when the entity is the domain).
//!
//! The platform admin never gets here: they pass everything before any load.

use std::collections::{HashMap, HashSet};

use super::EntityType;

/// The actions a user holds through role membership in one domain, by entity id (ids
/// are unique across entity types).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Grants {
    by_entity: HashMap<String, HashSet<String>>,
}

impl Grants {
    /// Adds one `(entity id, action)` held through some role.
    pub fn add(&mut self, entity_id: &str, action: &str) {
        self.by_entity
            .entry(entity_id.to_string())
            .or_default()
            .insert(action.to_string());
    }

    fn has(&self, entity_id: &str, action: &str) -> bool {
        self.by_entity
            .get(entity_id)
            .is_some_and(|actions| actions.contains(action))
    }

    /// Whether any role in the domain has this user as a member.
    pub fn is_empty(&self) -> bool {
        self.by_entity.is_empty()
    }
}

/// The entity a decision is about.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub kind: EntityType,
    pub id: &'a str,
    pub domain_id: &'a str,
    /// The groups above the entity, nearest first (empty for a domain).
    pub ancestors: &'a [String],
}

/// Whether `grants` allow `action` on `target` (see the module doc for the rules).
pub fn decide(grants: &Grants, target: &Target<'_>, action: &str) -> bool {
    if grants.has(target.id, action) {
        return true;
    }
    if target.kind == EntityType::Domain {
        return false;
    }
    let kind = target.kind.as_str();
    let from_parent = match target.kind {
        EntityType::Group => format!("subgroup_{action}"),
        _ => format!("{kind}_{action}"),
    };
    let from_above = match target.kind {
        EntityType::Group => from_parent.clone(),
        _ => format!("subgroup_{kind}_{action}"),
    };
    let mut groups = target.ancestors.iter();
    if groups.next().is_some_and(|p| grants.has(p, &from_parent)) {
        return true;
    }
    if groups.any(|g| grants.has(g, &from_above)) {
        return true;
    }
    grants.has(target.domain_id, &format!("{kind}_{action}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grants(pairs: &[(&str, &str)]) -> Grants {
        let mut g = Grants::default();
        for (id, action) in pairs {
            g.add(id, action);
        }
        g
    }

    fn client<'a>(ancestors: &'a [String]) -> Target<'a> {
        Target {
            kind: EntityType::Client,
            id: "c",
            domain_id: "d",
            ancestors,
        }
    }

    #[test]
    fn direct_parent_ancestor_and_domain_roles_allow() {
        let chain = ["g1".to_string(), "g2".to_string(), "g3".to_string()];
        let t = client(&chain);
        assert!(decide(&grants(&[("c", "update")]), &t, "update"));
        assert!(decide(&grants(&[("g1", "client_update")]), &t, "update"));
        assert!(decide(
            &grants(&[("g3", "subgroup_client_update")]),
            &t,
            "update"
        ));
        assert!(decide(&grants(&[("d", "client_update")]), &t, "update"));
    }

    #[test]
    fn the_wrong_action_or_level_denies() {
        let chain = ["g1".to_string(), "g2".to_string()];
        let t = client(&chain);
        assert!(!decide(&Grants::default(), &t, "update"));
        assert!(!decide(&grants(&[("c", "read")]), &t, "update"));
        // A grandparent's plain `client_update` is for its own clients only.
        assert!(!decide(&grants(&[("g2", "client_update")]), &t, "update"));
        // The parent's `subgroup_client_update` is for its subgroups' clients.
        assert!(!decide(
            &grants(&[("g1", "subgroup_client_update")]),
            &t,
            "update"
        ));
        assert!(!decide(&grants(&[("d", "update")]), &t, "update"));
        assert!(!decide(
            &grants(&[("other", "client_update")]),
            &t,
            "update"
        ));
    }

    #[test]
    fn groups_inherit_subgroup_actions_and_domains_only_their_own() {
        let chain = ["p".to_string(), "gp".to_string()];
        let g = Target {
            kind: EntityType::Group,
            id: "g",
            domain_id: "d",
            ancestors: &chain,
        };
        assert!(decide(&grants(&[("p", "subgroup_read")]), &g, "read"));
        assert!(decide(&grants(&[("gp", "subgroup_read")]), &g, "read"));
        assert!(decide(&grants(&[("d", "group_read")]), &g, "read"));
        assert!(!decide(&grants(&[("p", "read")]), &g, "read"));
        let d = Target {
            kind: EntityType::Domain,
            id: "d",
            domain_id: "d",
            ancestors: &[],
        };
        assert!(decide(&grants(&[("d", "update")]), &d, "update"));
        assert!(!decide(&grants(&[("d", "domain_update")]), &d, "update"));
    }
}
