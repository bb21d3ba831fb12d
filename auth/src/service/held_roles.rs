//! The caller's own roles that reach a domain, group, channel or client, for a view
//! with `?roles=true` (SuperMQ's `RetrieveByIDWithRoles`; the official SDK's
//! `Domain`/`Group`/`Channel`/`Client(…, listRoles)`). Asked only after the view
//! authorized the entity, and only about the caller: it tells nobody anything new.

use crate::error::Result;
use crate::platform::Platform;
use crate::roles::decide::Target;
use crate::roles::reach::{self, Access};
use crate::roles::{EntityType, Role};

/// One role of the user that reaches the entity (SuperMQ's `MemberRoleActions`).
pub struct HeldRole {
    pub role: Role,
    pub actions: Vec<String>,
    pub access: Access,
}

impl Platform {
    /// The roles of `user` reaching the entity `entity_id` of type `kind` in
    /// `domain_id`, by role name.
    pub async fn held_roles(
        &self,
        user: &str,
        kind: EntityType,
        domain_id: &str,
        entity_id: &str,
    ) -> Result<Vec<HeldRole>> {
        let ancestors = match kind {
            EntityType::Domain => Vec::new(),
            _ => self.store.ancestors_nearest_first(entity_id).await?,
        };
        let target = Target {
            kind,
            id: entity_id,
            domain_id,
            ancestors: &ancestors,
        };
        let held = self.store.member_roles(user, domain_id).await?;
        Ok(held
            .into_iter()
            .filter_map(|(role, actions)| {
                let access = reach::access(&target, &role.entity_id, &actions)?;
                Some(HeldRole {
                    role,
                    actions,
                    access,
                })
            })
            .collect())
    }
}
