//! What a PAT may do: scopes, SuperMQ's model (`auth/pat.go`). A scope names an entity
//! type, an optional domain, an operation and an entity id (or `*`, any). A request made
//! with a PAT passes only when one of its scopes authorizes exactly the (entity type,
//! domain, operation, entity id) its route stands for (`super::routes`), on top of the
//! user's own access: a PAT never grants more than its user has.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::error::{AuthError, Result};

/// "Any entity" in a scope's `entity_id`.
pub const ANY_ID: &str = "*";

/// The entity types of SuperMQ's scopes (`EntityType`, serialized as these names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntityType {
    Groups,
    Channels,
    Clients,
    Dashboards,
    Messages,
    Domains,
    Users,
}

impl EntityType {
    pub fn as_str(self) -> &'static str {
        match self {
            EntityType::Groups => "groups",
            EntityType::Channels => "channels",
            EntityType::Clients => "clients",
            EntityType::Dashboards => "dashboards",
            EntityType::Messages => "messages",
            EntityType::Domains => "domains",
            EntityType::Users => "users",
        }
    }

    pub fn parse(s: &str) -> Option<EntityType> {
        [
            EntityType::Groups,
            EntityType::Channels,
            EntityType::Clients,
            EntityType::Dashboards,
            EntityType::Messages,
            EntityType::Domains,
            EntityType::Users,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }

    /// Whether a scope of this type may name `operation`: the operation names of
    /// SuperMQ's `<entity>/operations` (plus its `create_*` / `list_*` domain
    /// operations), and for users the reads and profile updates a PAT may do here.
    pub fn allows(self, operation: &str) -> bool {
        /// What clients, channels and groups all have.
        const ENTITY: &[&str] = &[
            "view",
            "update",
            "update_tags",
            "enable",
            "disable",
            "delete",
        ];
        let own: &[&str] = match self {
            EntityType::Clients => &[
                "update_secret",
                "set_parent_group",
                "remove_parent_group",
                "connect_to_channel",
                "disconnect_from_channel",
                "list_user_clients",
                "create_clients",
                "list_clients",
            ],
            EntityType::Channels => &[
                "set_parent_group",
                "remove_parent_group",
                "connect_client",
                "disconnect_client",
                "list_user_channels",
                "create_channels",
                "list_channels",
            ],
            EntityType::Groups => &[
                "retrieve_group_hierarchy",
                "add_parent_group",
                "remove_parent_group",
                "add_children_groups",
                "remove_children_groups",
                "remove_all_children_groups",
                "list_children_groups",
                "list_user_groups",
                "create_groups",
                "list_groups",
            ],
            EntityType::Domains => &[
                "read",
                "update",
                "enable",
                "disable",
                "freeze",
                "create",
                "list",
                "send_invitation",
                "list_domain_invitation",
                "delete_invitation",
                "view_invitation",
                "list_invitation",
            ],
            EntityType::Users => &["view", "list", "update", "update_tags"],
            EntityType::Dashboards => &["dashboard_share", "dashboard_unshare"],
            EntityType::Messages => &["message_publish", "message_subscribe"],
        };
        let entity = matches!(
            self,
            EntityType::Clients | EntityType::Channels | EntityType::Groups
        );
        own.contains(&operation) || (entity && ENTITY.contains(&operation))
    }

    /// SuperMQ's short forms (`Scope.UnmarshalJSON`): `create`/`list` on clients,
    /// channels and groups, `share`/`unshare` on dashboards, `publish`/`subscribe` on
    /// messages name the long operation.
    fn normalize(self, op: &str) -> String {
        match (self, op) {
            (
                EntityType::Clients | EntityType::Channels | EntityType::Groups,
                "create" | "list",
            ) => {
                format!("{op}_{}", self.as_str())
            }
            (EntityType::Dashboards, "share" | "unshare") => format!("dashboard_{op}"),
            (EntityType::Messages, "publish" | "subscribe") => format!("message_{op}"),
            _ => op.to_string(),
        }
    }
}

/// A scope as a request adds it (`PATCH /pats/{id}/scope/add {"scopes": [...]}`).
#[derive(Debug, Clone, Deserialize)]
pub struct ScopeInput {
    pub entity_type: Option<String>,
    #[serde(default)]
    pub domain_id: Option<String>,
    pub operation: Option<String>,
    pub entity_id: Option<String>,
}

/// A stored scope of a PAT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub id: String,
    pub pat_id: String,
    /// Empty = any domain (SuperMQ's rule).
    pub domain_id: String,
    pub entity_type: EntityType,
    pub operation: String,
    /// An entity id, or [`ANY_ID`].
    pub entity_id: String,
}

/// Longest id a scope may name (ids are UUIDs; routes are at most 64).
const MAX_ID_LEN: usize = 64;

impl ScopeInput {
    /// The validated scope (400 with the reason otherwise), ids not yet set.
    pub fn validate(self) -> Result<Scope> {
        let bad = |m: &str| AuthError::bad_request(m);
        let entity_type = self
            .entity_type
            .as_deref()
            .and_then(EntityType::parse)
            .ok_or_else(|| bad("scope entity_type must be one of groups, channels, clients, dashboards, messages, domains, users"))?;
        let operation = entity_type.normalize(self.operation.as_deref().unwrap_or(""));
        if !entity_type.allows(&operation) {
            return Err(AuthError::bad_request(format!(
                "operation {operation:?} is not valid for entity type {}",
                entity_type.as_str()
            )));
        }
        let entity_id = self.entity_id.unwrap_or_default();
        let domain_id = self.domain_id.unwrap_or_default();
        if entity_id.is_empty() || entity_id.len() > MAX_ID_LEN || domain_id.len() > MAX_ID_LEN {
            return Err(bad(
                "scope entity_id must be an id or \"*\"; ids are at most 64 characters",
            ));
        }
        Ok(Scope {
            id: String::new(),
            pat_id: String::new(),
            domain_id,
            entity_type,
            operation,
            entity_id,
        })
    }
}

/// What a request made with a PAT asks for: its route's entity type and operation,
/// the domain and the entity id it names (empty when the route names none: then only
/// a `*` scope matches).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted<'a> {
    pub entity_type: EntityType,
    pub domain_id: &'a str,
    pub operation: &'a str,
    pub entity_id: &'a str,
}

impl Scope {
    /// SuperMQ's `Scope.Authorized`: same type and operation, the scope's domain empty
    /// or equal, its entity `*` or equal.
    pub fn authorizes(&self, wanted: &Wanted<'_>) -> bool {
        self.entity_type == wanted.entity_type
            && (self.domain_id.is_empty() || self.domain_id == wanted.domain_id)
            && self.operation == wanted.operation
            && (self.entity_id == ANY_ID
                || (!wanted.entity_id.is_empty() && self.entity_id == wanted.entity_id))
    }

    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "pat_id": self.pat_id,
            "domain_id": self.domain_id,
            "entity_type": self.entity_type.as_str(),
            "operation": self.operation,
            "entity_id": self.entity_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(t: &str, d: &str, op: &str, id: &str) -> ScopeInput {
        ScopeInput {
            entity_type: Some(t.into()),
            domain_id: Some(d.into()),
            operation: Some(op.into()),
            entity_id: Some(id.into()),
        }
    }

    fn wanted<'a>(t: EntityType, d: &'a str, op: &'a str, id: &'a str) -> Wanted<'a> {
        Wanted {
            entity_type: t,
            domain_id: d,
            operation: op,
            entity_id: id,
        }
    }

    #[test]
    fn short_operations_take_supermq_long_names() {
        let s = input("clients", "d1", "create", "*").validate().unwrap();
        assert_eq!(s.operation, "create_clients");
        let s = input("messages", "d1", "publish", "*").validate().unwrap();
        assert_eq!(s.operation, "message_publish");
    }

    #[test]
    fn invalid_scopes_are_refused() {
        for bad in [
            input("robots", "d1", "view", "*"),
            input("clients", "d1", "fly", "*"),
            input("dashboards", "d1", "view", "*"),
            input("clients", "d1", "view", ""),
            input("clients", "d1", "view", &"x".repeat(65)),
        ] {
            assert!(bad.validate().is_err());
        }
    }

    #[test]
    fn a_scope_authorizes_its_type_domain_operation_and_entity_only() {
        let s = input("clients", "d1", "view", "c1").validate().unwrap();
        assert!(s.authorizes(&wanted(EntityType::Clients, "d1", "view", "c1")));
        assert!(!s.authorizes(&wanted(EntityType::Clients, "d1", "view", "c2")));
        assert!(!s.authorizes(&wanted(EntityType::Clients, "d2", "view", "c1")));
        assert!(!s.authorizes(&wanted(EntityType::Clients, "d1", "update", "c1")));
        assert!(!s.authorizes(&wanted(EntityType::Channels, "d1", "view", "c1")));
        assert!(!s.authorizes(&wanted(EntityType::Clients, "d1", "view", "")));
        let any = input("clients", "", "list_clients", "*")
            .validate()
            .unwrap();
        assert!(any.authorizes(&wanted(EntityType::Clients, "d9", "list_clients", "")));
    }
}
