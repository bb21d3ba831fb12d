//! The role operations of one entity type (`platform.roles(EntityType::Client)`, ...):
//! create, list, view, rename, delete roles; add, list, remove actions and members;
//! the entity's members with their roles. One implementation for the four types.
//!
//! Each operation resolves the entity inside the path's domain and checks the caller's
//! action on it (`manage_role` for roles and actions, `add_role_users`,
//! `remove_role_users`, `view_role_users` for members) through the one decision
//! (`crate::access`). A user outside the domain gets 404, like a missing entity: role
//! routes tell no outsider what exists. Every change commits with its event
//! (`magnetite_events::model::roles`) and then clears the decision cache.

use magnetite_events::model::roles::{self as rev, RoleFields, RoleOf};
use serde::Deserialize;
use std::collections::HashMap;

use super::name_of;
use crate::access::{Actor, Need};
use crate::error::{AuthError, Result};
use crate::model::Kind;
use crate::platform::Platform;
use crate::roles::decide::Target;
use crate::roles::reach::{self, Access};
use crate::roles::{EntityType, Role};
use crate::store::entity_members::{EntityMember, MemberFilter, MemberOrder};
use crate::store::list::ListQuery;
use crate::store::{new_id, now_rfc3339};

/// Most actions or members one request may name.
const MAX_ITEMS: usize = 1000;

/// `POST .../roles` body (SuperMQ's `createRoleReq`).
#[derive(Deserialize, Default)]
pub struct NewRoleInput {
    pub role_name: Option<String>,
    /// Also accepted: the OpenAPI's `CreateRoleObj` names it `name`.
    pub name: Option<String>,
    pub optional_actions: Option<Vec<String>>,
    pub optional_members: Option<Vec<String>>,
}

/// A new role with what it was given (SuperMQ's `RoleProvision`).
pub struct CreatedRole {
    pub role: Role,
    pub actions: Vec<String>,
    pub members: Vec<String>,
}

/// The entity a role route names, once resolved and authorized.
struct At {
    domain_id: String,
    entity_id: String,
}

/// The role operations on one entity type.
#[derive(Clone, Copy)]
pub struct Roles<'a> {
    platform: &'a Platform,
    kind: EntityType,
}

impl Platform {
    /// The role operations of `kind`'s entities.
    pub fn roles(&self, kind: EntityType) -> Roles<'_> {
        Roles {
            platform: self,
            kind,
        }
    }
}

impl<'a> Roles<'a> {
    /// The entity `entity` of the domain `domain` (for a domain: `entity` is ignored)
    /// if the actor may do `action` on it; outsiders get 404.
    async fn at(&self, actor: &Actor<'_>, domain: &str, entity: &str, action: &str) -> Result<At> {
        let d = actor
            .domain(self.platform, domain, Need::Read)
            .await
            .map_err(hide_outsider)?;
        let entity_id = match entity_kind(self.kind) {
            None => d.id.clone(),
            Some(kind) => self.platform.store.entity(kind, &d.id, entity).await?.id,
        };
        actor
            .require(self.platform, &d.id, self.kind, &entity_id, action)
            .await?;
        Ok(At {
            domain_id: d.id,
            entity_id,
        })
    }

    /// The role `role_id` of the entity, if the actor may do `action` on the entity.
    async fn role_at(
        &self,
        actor: &Actor<'_>,
        domain: &str,
        entity: &str,
        role_id: &str,
        action: &str,
    ) -> Result<Role> {
        let at = self.at(actor, domain, entity, action).await?;
        self.platform.store.role(&at.entity_id, role_id).await
    }

    /// Every action a role on this entity type may hold. Any user of the domain may
    /// read the list (for domains: any authenticated user; it is the same for all).
    pub async fn available_actions(
        &self,
        actor: &Actor<'_>,
        domain: Option<&str>,
    ) -> Result<Vec<String>> {
        if let Some(domain) = domain {
            actor
                .domain(self.platform, domain, Need::Read)
                .await
                .map_err(hide_outsider)?;
        }
        Ok(self.kind.actions())
    }

    /// Creates a role (`<entity>.role.add`).
    pub async fn create(
        &self,
        actor: &Actor<'_>,
        domain: &str,
        entity: &str,
        input: NewRoleInput,
    ) -> Result<CreatedRole> {
        let at = self.at(actor, domain, entity, "manage_role").await?;
        let name = name_of(input.role_name.or(input.name), "role_name")?;
        let actions = self.actions_of(input.optional_actions.unwrap_or_default(), true)?;
        let members = members_of(input.optional_members.unwrap_or_default(), true)?;
        let role = Role {
            id: new_id(),
            name,
            entity_id: at.entity_id.clone(),
            entity_type: self.kind,
            domain_id: at.domain_id.clone(),
            built_in: None,
            created_by: actor.id().to_string(),
            created_at: now_rfc3339(),
            updated_by: None,
            updated_at: None,
        };
        let event = rev::role_add(&fields(&role), &actions, &members);
        self.platform
            .store
            .create_role(&role, &actions, &members, &event)
            .await?;
        self.changed();
        Ok(CreatedRole {
            role,
            actions,
            members,
        })
    }

    /// A page of the entity's roles.
    pub async fn list(
        &self,
        actor: &Actor<'_>,
        domain: &str,
        entity: &str,
        params: &HashMap<String, String>,
    ) -> Result<(u64, ListQuery, Vec<Role>)> {
        let q = ListQuery::parse(params)?;
        let at = self.at(actor, domain, entity, "manage_role").await?;
        let store = &self.platform.store;
        let (total, roles) = store.list_roles(&at.entity_id, q.offset, q.limit).await?;
        Ok((total, q, roles))
    }

    pub async fn view(
        &self,
        actor: &Actor<'_>,
        domain: &str,
        entity: &str,
        role_id: &str,
    ) -> Result<Role> {
        self.role_at(actor, domain, entity, role_id, "manage_role")
            .await
    }

    /// Renames a role (`<entity>.role.update`); built-in roles keep their name.
    pub async fn update(
        &self,
        actor: &Actor<'_>,
        domain: &str,
        entity: &str,
        role_id: &str,
        name: Option<String>,
    ) -> Result<Role> {
        let name = name_of(name, "name")?;
        let mut role = self
            .role_at(actor, domain, entity, role_id, "manage_role")
            .await?;
        refuse_built_in(&role)?;
        role.name = name;
        role.updated_at = Some(now_rfc3339());
        role.updated_by = Some(actor.id().to_string());
        let event = rev::role_update(&fields(&role));
        self.platform.store.rename_role(&role, &event).await?;
        self.changed();
        Ok(role)
    }

    /// Deletes a role (`<entity>.role.remove`); never a built-in one.
    pub async fn delete(
        &self,
        actor: &Actor<'_>,
        domain: &str,
        entity: &str,
        role_id: &str,
    ) -> Result<()> {
        let role = self
            .role_at(actor, domain, entity, role_id, "manage_role")
            .await?;
        refuse_built_in(&role)?;
        let event = rev::role_remove(&of(&role));
        self.platform.store.delete_role(&role, &event).await?;
        self.changed();
        Ok(())
    }

    /// Adds actions (`<entity>.role.actions.add`); returns them.
    pub async fn add_actions(
        &self,
        actor: &Actor<'_>,
        domain: &str,
        entity: &str,
        role_id: &str,
        actions: Option<Vec<String>>,
    ) -> Result<Vec<String>> {
        let actions = self.actions_of(actions.unwrap_or_default(), false)?;
        let role = self
            .role_at(actor, domain, entity, role_id, "manage_role")
            .await?;
        refuse_built_in(&role)?;
        let event = rev::role_actions_add(&of(&role), &actions);
        self.platform
            .store
            .add_role_actions(&role, &actions, &event)
            .await?;
        self.changed();
        Ok(actions)
    }

    pub async fn list_actions(
        &self,
        actor: &Actor<'_>,
        domain: &str,
        entity: &str,
        role_id: &str,
    ) -> Result<Vec<String>> {
        let role = self
            .role_at(actor, domain, entity, role_id, "manage_role")
            .await?;
        self.platform.store.role_actions(&role.id).await
    }

    /// Removes `actions`, or all of them when `None` (`<entity>.role.actions.remove`,
    /// `.remove_all`); a built-in role keeps its actions.
    pub async fn remove_actions(
        &self,
        actor: &Actor<'_>,
        domain: &str,
        entity: &str,
        role_id: &str,
        actions: Option<Vec<String>>,
    ) -> Result<()> {
        let actions = actions.map(|a| self.actions_of(a, false)).transpose()?;
        let role = self
            .role_at(actor, domain, entity, role_id, "manage_role")
            .await?;
        refuse_built_in(&role)?;
        let event = match &actions {
            Some(list) => rev::role_actions_remove(&of(&role), list),
            None => rev::role_actions_remove_all(&of(&role)),
        };
        let store = &self.platform.store;
        store
            .remove_role_actions(&role, actions.as_deref(), &event)
            .await?;
        self.changed();
        Ok(())
    }

    /// Adds members (`<entity>.role.members.add`): users of the domain (any user for a
    /// domain role); returns them.
    pub async fn add_members(
        &self,
        actor: &Actor<'_>,
        domain: &str,
        entity: &str,
        role_id: &str,
        members: Option<Vec<String>>,
    ) -> Result<Vec<String>> {
        let members = members_of(members.unwrap_or_default(), false)?;
        let role = self
            .role_at(actor, domain, entity, role_id, "add_role_users")
            .await?;
        let event = rev::role_members_add(&of(&role), &members);
        self.platform
            .store
            .add_role_members(&role, &members, &event)
            .await?;
        self.changed();
        Ok(members)
    }

    /// A page of the role's member ids.
    pub async fn list_members(
        &self,
        actor: &Actor<'_>,
        domain: &str,
        entity: &str,
        role_id: &str,
        params: &HashMap<String, String>,
    ) -> Result<(u64, ListQuery, Vec<String>)> {
        let q = ListQuery::parse(params)?;
        let role = self
            .role_at(actor, domain, entity, role_id, "view_role_users")
            .await?;
        let (total, members) = self
            .platform
            .store
            .role_members(&role.id, q.offset, q.limit)
            .await?;
        Ok((total, q, members))
    }

    /// Removes `members`, or all of them when `None` (`<entity>.role.members.remove`,
    /// `.remove_all`); a built-in admin role keeps at least one (409).
    pub async fn remove_members(
        &self,
        actor: &Actor<'_>,
        domain: &str,
        entity: &str,
        role_id: &str,
        members: Option<Vec<String>>,
    ) -> Result<()> {
        let members = members.map(|m| members_of(m, false)).transpose()?;
        let role = self
            .role_at(actor, domain, entity, role_id, "remove_role_users")
            .await?;
        let event = match &members {
            Some(list) => rev::role_members_remove(&of(&role), list),
            None => rev::role_members_remove_all(&of(&role)),
        };
        let store = &self.platform.store;
        store
            .remove_role_members(&role, members.as_deref(), &event)
            .await?;
        self.changed();
        Ok(())
    }

    /// Takes `members` out of every role of the entity (`<entity>.members.remove`,
    /// SuperMQ's `RemoveEntityMembers`); a domain's built-in admin role keeps one
    /// (409), and users out of every domain role leave the domain's other roles too.
    pub async fn remove_entity_members(
        &self,
        actor: &Actor<'_>,
        domain: &str,
        entity: &str,
        members: Option<Vec<String>>,
    ) -> Result<()> {
        let members = members_of(members.unwrap_or_default(), false)?;
        let at = self.at(actor, domain, entity, "remove_role_users").await?;
        let event =
            rev::entity_members_remove(self.kind.as_str(), &at.domain_id, &at.entity_id, &members);
        self.platform
            .store
            .remove_entity_members(&at.entity_id, &members, &event)
            .await?;
        self.changed();
        Ok(())
    }

    /// A page of the users with access to the entity through a role: its own roles,
    /// those of the groups above it and of the domain that reach it (SuperMQ's
    /// `ListEntityMembers`), each with every such role, how it reaches the entity and
    /// its actions; `role_id`, `role_name`, `actions` (comma-separated),
    /// `access_type`, `access_provider_id` narrow it, `order` and `dir` sort it, as
    /// SuperMQ's `MembersRolePageQuery` does.
    pub async fn entity_members(
        &self,
        actor: &Actor<'_>,
        domain: &str,
        entity: &str,
        params: &HashMap<String, String>,
    ) -> Result<(u64, ListQuery, Vec<EntityMember>)> {
        // Paging as every list parses it; the filters and the order are this route's
        // own (an entity list refuses `role_name` and the like).
        let paging = params
            .iter()
            .filter(|(k, _)| *k == "offset" || *k == "limit")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let q = ListQuery::parse(&paging)?;
        let filter = self.member_filter(params)?;
        let at = self.at(actor, domain, entity, "view_role_users").await?;
        let store = &self.platform.store;
        let ancestors = match self.kind {
            EntityType::Domain => Vec::new(),
            _ => store.ancestors_nearest_first(&at.entity_id).await?,
        };
        let target = Target {
            kind: self.kind,
            id: &at.entity_id,
            domain_id: &at.domain_id,
            ancestors: &ancestors,
        };
        let tiers = reach::tiers(&target);
        let (total, members) = store
            .entity_members(&tiers, &filter, q.offset, q.limit)
            .await?;
        Ok((total, q, members))
    }

    /// Makes `user` a member of the domain role `role` because they accepted their
    /// invitation (`crate::service::invitations`): the confirmation (at `at`), the
    /// membership, `accepted` and `domain.role.members.add` in one transaction, then
    /// the decision cache cleared like after any membership change.
    pub(crate) async fn admit_invitee(
        &self,
        role: &Role,
        user: &str,
        at: &str,
        accepted: magnetite_events::Event,
    ) -> Result<()> {
        let added = rev::role_members_add(&of(role), &[user.to_string()]);
        self.platform
            .store
            .accept_invitation(role, user, at, &[accepted, added])
            .await?;
        self.changed();
        Ok(())
    }

    /// The member filter of a `.../roles/members` query; an action the entity type
    /// does not have, an unknown access type, order or direction is a 400.
    fn member_filter(&self, params: &HashMap<String, String>) -> Result<MemberFilter> {
        let text = |key: &str| params.get(key).map(|v| v.trim().to_string());
        let actions = text("actions")
            .map(|list| {
                list.split(',')
                    .map(str::trim)
                    .filter(|a| !a.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let access = match text("access_type").unwrap_or_default().as_str() {
            "" => None,
            other => Some(Access::parse(other).ok_or_else(|| {
                AuthError::bad_request(format!(
                    "invalid access_type {other:?}: direct, direct_group, indirect_group \
                     or domain"
                ))
            })?),
        };
        let descending = match text("dir").unwrap_or_default().as_str() {
            "" | "asc" => false,
            "desc" => true,
            other => {
                return Err(AuthError::bad_request(format!(
                    "invalid dir {other:?}: asc or desc"
                )))
            }
        };
        Ok(MemberFilter {
            role_id: text("role_id").unwrap_or_default(),
            role_name: text("role_name").unwrap_or_default(),
            actions: self.actions_of(actions, true)?,
            access,
            access_provider_id: text("access_provider_id").unwrap_or_default(),
            order: MemberOrder::parse(&text("order").unwrap_or_default())?,
            descending,
        })
    }

    /// After a committed change: no decision made before it is served after it.
    fn changed(&self) {
        self.platform.decisions.clear();
    }

    /// Actions from a request: known for this entity type, at most [`MAX_ITEMS`],
    /// without repeats; `may_be_empty` for a create.
    fn actions_of(&self, actions: Vec<String>, may_be_empty: bool) -> Result<Vec<String>> {
        let actions = bounded(actions, may_be_empty, "actions")?;
        if let Some(bad) = actions.iter().find(|a| !self.kind.allows(a)) {
            return Err(AuthError::bad_request(format!(
                "invalid action {bad:?} for a {} role",
                self.kind.as_str()
            )));
        }
        Ok(actions)
    }
}

/// Member ids from a request: at most [`MAX_ITEMS`], without repeats.
fn members_of(members: Vec<String>, may_be_empty: bool) -> Result<Vec<String>> {
    bounded(members, may_be_empty, "members")
}

fn bounded(mut items: Vec<String>, may_be_empty: bool, what: &str) -> Result<Vec<String>> {
    if (!may_be_empty && items.is_empty()) || items.len() > MAX_ITEMS {
        let min = if may_be_empty { 0 } else { 1 };
        return Err(AuthError::bad_request(format!(
            "{what} must hold {min} to {MAX_ITEMS} items"
        )));
    }
    if items.iter().any(|i| i.trim().is_empty() || i.len() > 1024) {
        return Err(AuthError::bad_request(format!(
            "{what} must be non-empty strings"
        )));
    }
    let mut seen = std::collections::HashSet::new();
    items.retain(|i| seen.insert(i.clone()));
    Ok(items)
}

/// Built-in roles (a domain's `admin`) keep their name and actions.
fn refuse_built_in(role: &Role) -> Result<()> {
    if role.built_in.is_some() {
        return Err(AuthError::bad_request(
            "a built-in role cannot be changed or deleted",
        ));
    }
    Ok(())
}

/// The domain gate's 403 for a user outside the domain becomes a 404 on role routes.
pub(crate) fn hide_outsider(e: AuthError) -> AuthError {
    match e {
        AuthError::Forbidden(_) => AuthError::NotFound("domain"),
        other => other,
    }
}

/// The entity kind of a non-domain type.
fn entity_kind(kind: EntityType) -> Option<Kind> {
    match kind {
        EntityType::Domain => None,
        EntityType::Group => Some(Kind::Group),
        EntityType::Channel => Some(Kind::Channel),
        EntityType::Client => Some(Kind::Client),
    }
}

pub(super) fn fields(r: &Role) -> RoleFields<'_> {
    RoleFields {
        entity_type: r.entity_type.as_str(),
        domain_id: &r.domain_id,
        entity_id: &r.entity_id,
        id: &r.id,
        name: &r.name,
        created_by: &r.created_by,
        created_at: &r.created_at,
        updated_by: r.updated_by.as_deref(),
        updated_at: r.updated_at.as_deref(),
    }
}

fn of(r: &Role) -> RoleOf<'_> {
    RoleOf {
        entity_type: r.entity_type.as_str(),
        domain_id: &r.domain_id,
        entity_id: &r.entity_id,
        role_id: &r.id,
    }
}
