//! Which of a user's roles reach an entity, and how: the `roles` a view with
//! `?roles=true` shows (SuperMQ's `RetrieveByIDWithRoles`, its `access_type`). Pure, the
//! same rules as [`super::decide`] read the other way round: a role on the entity
//! itself is `direct`; a role on the parent group reaches it through an action with the
//! parent's prefix (`client_` / `channel_`, `subgroup_` for a group) and is
//! `direct_group`; a role on a group further up through `subgroup_client_` /
//! `subgroup_channel_` / `subgroup_` and is `indirect_group`; a role on the domain through
//! `client_` / `channel_` / `group_` and is `domain`.

use super::decide::Target;
use super::EntityType;

/// How a role reaches an entity (SuperMQ's `access_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Direct,
    DirectGroup,
    IndirectGroup,
    Domain,
}

impl Access {
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Direct => "direct",
            Access::DirectGroup => "direct_group",
            Access::IndirectGroup => "indirect_group",
            Access::Domain => "domain",
        }
    }
}

/// How a role on the entity `provider` holding `actions` reaches `target`; `None` when
/// it holds nothing for it.
pub fn access(target: &Target<'_>, provider: &str, actions: &[String]) -> Option<Access> {
    if provider == target.id {
        return Some(Access::Direct);
    }
    if target.kind == EntityType::Domain {
        return None;
    }
    let kind = target.kind.as_str();
    let group = target.kind == EntityType::Group;
    let (how, prefix) = if provider == target.domain_id {
        (Access::Domain, format!("{kind}_"))
    } else if target.ancestors.first().is_some_and(|p| p == provider) {
        let prefix = if group {
            "subgroup_".into()
        } else {
            format!("{kind}_")
        };
        (Access::DirectGroup, prefix)
    } else if target.ancestors.iter().skip(1).any(|g| g == provider) {
        let prefix = if group {
            "subgroup_".into()
        } else {
            format!("subgroup_{kind}_")
        };
        (Access::IndirectGroup, prefix)
    } else {
        return None;
    };
    let reaches = actions.iter().any(|a| {
        a.strip_prefix(prefix.as_str())
            .is_some_and(|rest| target.kind.allows(rest))
    });
    reaches.then_some(how)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actions(list: &[&str]) -> Vec<String> {
        list.iter().map(|a| a.to_string()).collect()
    }

    fn target(kind: EntityType, ancestors: &[String]) -> Target<'_> {
        Target {
            kind,
            id: "e",
            domain_id: "d",
            ancestors,
        }
    }

    #[test]
    fn each_provider_reaches_a_client_through_its_own_prefix() {
        let chain = ["g1".to_string(), "g2".to_string()];
        let t = target(EntityType::Client, &chain);
        let reach = |provider: &str, list: &[&str]| access(&t, provider, &actions(list));
        assert_eq!(reach("e", &[]), Some(Access::Direct));
        assert_eq!(reach("g1", &["client_read"]), Some(Access::DirectGroup));
        assert_eq!(
            reach("g2", &["read", "subgroup_client_update"]),
            Some(Access::IndirectGroup)
        );
        assert_eq!(reach("d", &["client_delete"]), Some(Access::Domain));
        // The parent's subgroup actions, a grandparent's own-client actions, the
        // domain's channel actions, another entity: none of them reach this client.
        assert_eq!(reach("g1", &["subgroup_client_read"]), None);
        assert_eq!(reach("g2", &["client_read"]), None);
        assert_eq!(reach("d", &["channel_read", "read"]), None);
        assert_eq!(reach("other", &["client_read"]), None);
    }

    #[test]
    fn groups_and_domains() {
        let chain = ["p".to_string(), "gp".to_string()];
        let g = target(EntityType::Group, &chain);
        let list = actions(&["subgroup_read"]);
        assert_eq!(access(&g, "p", &list), Some(Access::DirectGroup));
        assert_eq!(access(&g, "gp", &list), Some(Access::IndirectGroup));
        assert_eq!(
            access(&g, "d", &actions(&["group_update"])),
            Some(Access::Domain)
        );
        assert_eq!(access(&g, "p", &actions(&["read"])), None);
        let d = Target {
            kind: EntityType::Domain,
            id: "d",
            domain_id: "d",
            ancestors: &[],
        };
        assert_eq!(access(&d, "d", &[]), Some(Access::Direct));
        assert_eq!(access(&d, "g", &actions(&["read"])), None);
    }
}
