//! Roles, the way SuperMQ manages access: each domain, group, channel and client has
//! named roles; a role is a set of actions (from the entity type's list,
//! [`EntityType::actions`]) and a set of member users. A user may do an action on an
//! entity when a role holds it on the entity itself, on a group above it (with the
//! inherited action names, see [`decide`]) or on its domain. One implementation for the
//! four entity types: the type is a value, never a second code path.
//!
//! A domain's built-in `admin` role holds every domain action and is created with the
//! domain, its creator the first member; it never loses its last member. Groups,
//! channels and clients get theirs on create too (SuperMQ's `AddNewEntitiesRoles`:
//! every action of the type, the creator its member when they are in the domain, see
//! [`ProvisionedRole::creator_admin`]); nobody is bound to keep it, since the domain's
//! admins reach every entity through their domain actions anyway. Domains that
//! predate roles get it (and a `member` role with the read actions) from their old
//! admin/member relations at start ([`crate::store::roles`]'s migration); the old
//! relation stays readable in `domain_members`, which the role store keeps in step, so
//! bootstrap, certs and the event log keep deciding by it.
//!
//! Invitations and personal access tokens plug in here next: an invitation names a
//! `role_id` (accepting adds a member through [`crate::service::roles`]), a PAT scope is an
//! `(EntityType, action)` pair checked by the same [`decide`].

pub mod cache;
pub mod decide;
pub mod reach;

use serde::Serialize;

/// The kinds of entity that have roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EntityType {
    Domain,
    Group,
    Channel,
    Client,
}

/// The name of a domain's built-in role that holds every action.
pub const BUILT_IN_ADMIN: &str = "admin";
/// The name of the role migrated domain members get (read actions only).
pub const MIGRATED_MEMBER: &str = "member";

const CLIENT_ACTIONS: &[&str] = &[
    "update",
    "read",
    "delete",
    "set_parent_group",
    "connect_to_channel",
    "manage_role",
    "add_role_users",
    "remove_role_users",
    "view_role_users",
];

const CHANNEL_ACTIONS: &[&str] = &[
    "update",
    "read",
    "delete",
    "set_parent_group",
    "connect_to_client",
    "publish",
    "subscribe",
    "manage_role",
    "add_role_users",
    "remove_role_users",
    "view_role_users",
];

/// A group's own actions; [`EntityType::actions`] adds the inherited ones
/// (`subgroup_*`, `client_*`, `channel_*`, `subgroup_client_*`, `subgroup_channel_*`).
const GROUP_ACTIONS: &[&str] = &[
    "update",
    "read",
    "membership",
    "delete",
    "set_child",
    "set_parent",
    "manage_role",
    "add_role_users",
    "remove_role_users",
    "view_role_users",
];

/// A domain's own actions; [`EntityType::actions`] adds `client_*`, `channel_*`,
/// `group_*` and the three `*_create`.
const DOMAIN_ACTIONS: &[&str] = &[
    "update",
    "enable",
    "disable",
    "read",
    "delete",
    "manage_role",
    "add_role_users",
    "remove_role_users",
    "view_role_users",
];

/// The actions of the `member` role a migrated domain member gets: what the old
/// `member` relation allowed (read everything in the domain).
pub const MEMBER_ACTIONS: &[&str] = &["read", "client_read", "channel_read", "group_read"];

impl EntityType {
    pub const ALL: [EntityType; 4] = [
        EntityType::Domain,
        EntityType::Group,
        EntityType::Channel,
        EntityType::Client,
    ];

    /// As stored and as in event names (`domain.role.add`).
    pub fn as_str(self) -> &'static str {
        match self {
            EntityType::Domain => "domain",
            EntityType::Group => "group",
            EntityType::Channel => "channel",
            EntityType::Client => "client",
        }
    }

    pub fn parse(s: &str) -> Option<EntityType> {
        EntityType::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// The path segment of its API (`/{d}/clients/...`, `/domains/...`).
    pub fn plural(self) -> &'static str {
        match self {
            EntityType::Domain => "domains",
            EntityType::Group => "groups",
            EntityType::Channel => "channels",
            EntityType::Client => "clients",
        }
    }

    /// The entity's own actions (what a role on it may name about itself).
    pub fn own_actions(self) -> &'static [&'static str] {
        match self {
            EntityType::Domain => DOMAIN_ACTIONS,
            EntityType::Group => GROUP_ACTIONS,
            EntityType::Channel => CHANNEL_ACTIONS,
            EntityType::Client => CLIENT_ACTIONS,
        }
    }

    /// Every action a role on this entity type may hold, as SuperMQ lists them
    /// (`GET .../roles/available-actions`): its own, and for groups and domains those
    /// that reach the entities under them.
    pub fn actions(self) -> Vec<String> {
        let own = self.own_actions().iter().map(|a| a.to_string());
        let prefixed = |prefix: &str, of: EntityType| {
            of.own_actions()
                .iter()
                .map(move |a| format!("{prefix}{a}"))
                .collect::<Vec<_>>()
        };
        let mut out: Vec<String> = own.collect();
        match self {
            EntityType::Domain => {
                out.extend(["client_create", "channel_create", "group_create"].map(String::from));
                out.extend(prefixed("client_", EntityType::Client));
                out.extend(prefixed("channel_", EntityType::Channel));
                out.extend(prefixed("group_", EntityType::Group));
            }
            EntityType::Group => {
                out.extend(
                    [
                        "client_create",
                        "channel_create",
                        "subgroup_create",
                        "subgroup_client_create",
                        "subgroup_channel_create",
                    ]
                    .map(String::from),
                );
                out.extend(prefixed("client_", EntityType::Client));
                out.extend(prefixed("channel_", EntityType::Channel));
                out.extend(prefixed("subgroup_", EntityType::Group));
                out.extend(prefixed("subgroup_client_", EntityType::Client));
                out.extend(prefixed("subgroup_channel_", EntityType::Channel));
            }
            EntityType::Channel | EntityType::Client => {}
        }
        out
    }

    /// Whether a role on this entity type may hold `action`.
    pub fn allows(self, action: &str) -> bool {
        self.actions().iter().any(|a| a == action)
    }
}

impl From<crate::model::Kind> for EntityType {
    fn from(kind: crate::model::Kind) -> EntityType {
        match kind {
            crate::model::Kind::Client => EntityType::Client,
            crate::model::Kind::Channel => EntityType::Channel,
            crate::model::Kind::Group => EntityType::Group,
        }
    }
}

/// One role, as the API renders it (SuperMQ's `Role`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Role {
    pub id: String,
    pub name: String,
    pub entity_id: String,
    #[serde(skip)]
    pub entity_type: EntityType,
    #[serde(skip)]
    pub domain_id: String,
    /// `Some("admin")` for a domain's built-in admin role.
    #[serde(skip)]
    pub built_in: Option<String>,
    pub created_by: String,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}

/// A built-in role as it is created with its entity, with what it holds (SuperMQ's
/// `RoleProvision`, the `roles_provisioned` of a `<entity>.create` event).
#[derive(Debug, Clone, PartialEq)]
pub struct ProvisionedRole {
    pub role: Role,
    pub actions: Vec<String>,
    pub members: Vec<String>,
}

impl ProvisionedRole {
    /// The built-in `admin` role of a new group, channel or client: every action of
    /// its type, `creator` its one member when given. The creator is left out when
    /// they are in no role of the domain (the platform admin acting from outside, or
    /// the system): a role on an entity only ever holds users of its domain.
    pub fn creator_admin(
        kind: EntityType,
        entity_id: &str,
        domain_id: &str,
        created_by: &str,
        created_at: &str,
        creator: Option<&str>,
    ) -> ProvisionedRole {
        ProvisionedRole {
            role: Role {
                id: Role::built_in_id(entity_id, BUILT_IN_ADMIN),
                name: BUILT_IN_ADMIN.to_string(),
                entity_id: entity_id.to_string(),
                entity_type: kind,
                domain_id: domain_id.to_string(),
                built_in: Some(BUILT_IN_ADMIN.to_string()),
                created_by: created_by.to_string(),
                created_at: created_at.to_string(),
                updated_by: None,
                updated_at: None,
            },
            actions: kind.actions(),
            members: creator.map(str::to_string).into_iter().collect(),
        }
    }
}

impl Role {
    /// The id of a built-in role: stable, so the migration can find what it made.
    pub fn built_in_id(entity_id: &str, name: &str) -> String {
        format!("{entity_id}_{name}")
    }

    pub fn is_built_in_admin(&self) -> bool {
        self.built_in.as_deref() == Some(BUILT_IN_ADMIN)
    }

    /// A domain's built-in admin role: the one that must keep a member.
    pub fn is_domain_admin(&self) -> bool {
        self.entity_type == EntityType::Domain && self.is_built_in_admin()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn available_actions_follow_supermq() {
        let client = EntityType::Client.actions();
        assert!(client.contains(&"connect_to_channel".to_string()));
        assert!(!client.contains(&"publish".to_string()));
        let domain = EntityType::Domain.actions();
        for a in [
            "client_create",
            "channel_publish",
            "group_set_child",
            "enable",
        ] {
            assert!(domain.contains(&a.to_string()), "{a}");
        }
        let group = EntityType::Group.actions();
        for a in [
            "subgroup_read",
            "subgroup_client_update",
            "channel_subscribe",
        ] {
            assert!(group.contains(&a.to_string()), "{a}");
        }
        assert!(!EntityType::Channel.allows("client_read"));
        for t in EntityType::ALL {
            assert_eq!(EntityType::parse(t.as_str()), Some(t));
            let mut all = t.actions();
            let n = all.len();
            all.sort();
            all.dedup();
            assert_eq!(all.len(), n, "{t:?} lists an action twice");
        }
        for a in MEMBER_ACTIONS {
            assert!(EntityType::Domain.allows(a));
        }
    }
}
