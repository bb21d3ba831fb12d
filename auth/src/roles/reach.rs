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
    pub const ALL: [Access; 4] = [
        Access::Direct,
        Access::DirectGroup,
        Access::IndirectGroup,
        Access::Domain,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Access::Direct => "direct",
            Access::DirectGroup => "direct_group",
            Access::IndirectGroup => "indirect_group",
            Access::Domain => "domain",
        }
    }

    pub fn parse(s: &str) -> Option<Access> {
        Access::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// The prefix a role's action carries when it reaches an entity of `kind` this way
/// (`""` for a role on the entity itself): `client_read` on the parent group reaches a
/// client's `read`.
fn prefix(kind: EntityType, how: Access) -> String {
    let own = kind.as_str();
    match (how, kind) {
        (Access::Direct, _) => String::new(),
        (Access::DirectGroup | Access::IndirectGroup, EntityType::Group) => "subgroup_".into(),
        (Access::DirectGroup | Access::Domain, _) => format!("{own}_"),
        (Access::IndirectGroup, _) => format!("subgroup_{own}_"),
    }
}

/// One way roles reach an entity, as a query needs it: the entities whose roles may
/// reach it this way, and the prefix their actions carry (see [`Tier::reaching`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tier {
    pub access: Access,
    pub providers: Vec<String>,
    kind: EntityType,
    prefix: String,
}

impl Tier {
    /// The actions of which a role of this tier must hold one to reach the entity;
    /// `None` for a role on the entity itself, which reaches it whatever it holds.
    pub fn reaching(&self) -> Option<Vec<String>> {
        (self.access != Access::Direct).then(|| self.named(&self.kind.actions()))
    }

    /// `actions` (the entity's own names, `update`) as a role of this tier holds them
    /// (`client_update` on the domain).
    pub fn named(&self, actions: &[String]) -> Vec<String> {
        actions
            .iter()
            .map(|a| format!("{}{a}", self.prefix))
            .collect()
    }
}

/// Every tier through which roles may reach `target`, nearest first; tiers with no
/// provider (no parent group, no grandparent) are left out.
pub fn tiers(target: &Target<'_>) -> Vec<Tier> {
    let tier = |access: Access, providers: Vec<String>| Tier {
        access,
        providers,
        kind: target.kind,
        prefix: prefix(target.kind, access),
    };
    let mut out = vec![tier(Access::Direct, vec![target.id.to_string()])];
    if target.kind == EntityType::Domain {
        return out;
    }
    if let Some((parent, further)) = target.ancestors.split_first() {
        out.push(tier(Access::DirectGroup, vec![parent.clone()]));
        if !further.is_empty() {
            out.push(tier(Access::IndirectGroup, further.to_vec()));
        }
    }
    out.push(tier(Access::Domain, vec![target.domain_id.to_string()]));
    out
}

/// How a role on the entity `provider` holding `actions` reaches `target`; `None` when
/// it holds nothing for it.
pub fn access(target: &Target<'_>, provider: &str, actions: &[String]) -> Option<Access> {
    let tier = tiers(target)
        .into_iter()
        .find(|t| t.providers.iter().any(|p| p == provider))?;
    match tier.reaching() {
        None => Some(tier.access),
        Some(reaching) => actions
            .iter()
            .any(|a| reaching.contains(a))
            .then_some(tier.access),
    }
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
    fn tiers_name_the_providers_and_actions_of_each_way() {
        let chain = ["g1".to_string(), "g2".to_string(), "g3".to_string()];
        let t = target(EntityType::Client, &chain);
        let found: Vec<(Access, Vec<String>, Option<String>)> = tiers(&t)
            .iter()
            .map(|tier| {
                let update = tier.named(&actions(&["update"])).pop();
                (tier.access, tier.providers.clone(), update)
            })
            .collect();
        let ids = |list: &[&str]| actions(list);
        assert_eq!(
            found,
            vec![
                (Access::Direct, ids(&["e"]), Some("update".into())),
                (
                    Access::DirectGroup,
                    ids(&["g1"]),
                    Some("client_update".into())
                ),
                (
                    Access::IndirectGroup,
                    ids(&["g2", "g3"]),
                    Some("subgroup_client_update".into())
                ),
                (Access::Domain, ids(&["d"]), Some("client_update".into())),
            ]
        );
        // Any role on the entity itself reaches it; the others through their prefix.
        let all = tiers(&t);
        assert_eq!(all[0].reaching(), None);
        let parent = all[1].reaching().unwrap_or_default();
        assert!(parent.contains(&"client_read".to_string()), "{parent:?}");
        assert!(!parent.contains(&"client_create".to_string()), "{parent:?}");
        // No parent: only the entity and the domain; a domain: only itself.
        let orphan = target(EntityType::Channel, &[]);
        let ways: Vec<Access> = tiers(&orphan).iter().map(|t| t.access).collect();
        assert_eq!(ways, [Access::Direct, Access::Domain]);
        let one = ["p".to_string()];
        let group = target(EntityType::Group, &one);
        let subgroup = tiers(&group)[1].named(&actions(&["read"]));
        assert_eq!(subgroup, ["subgroup_read"]);
        for a in Access::ALL {
            assert_eq!(Access::parse(a.as_str()), Some(a));
        }
        assert_eq!(Access::parse("admin"), None);
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
