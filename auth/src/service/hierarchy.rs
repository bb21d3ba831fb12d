//! Group hierarchy: an entity's parent group, a group's children. Each change is an
//! ordinary entity update (`<kind>.update`), refused when it would make a group its
//! own ancestor.
//!
//! Who must agree to a move: the entity (`set_parent[_group]`), the group it goes into
//! and the group it leaves (`set_child` on each, SuperMQ's rule that changing a
//! group's children is the group's action). SuperMQ has no move (an entity with a
//! parent must leave it first, 409 otherwise); here a move is a leave and a join in
//! one update, so it needs all three.

use std::collections::HashMap;

use super::entities::Entities;
use super::entity_events::ev_update;
use super::Link;
use crate::access::Actor;
use crate::error::{AuthError, Result};
use crate::model::{Entity, Kind};

/// Most children one add or remove request may name.
const MAX_CHILDREN: usize = 1000;

impl Entities<'_> {
    /// Puts the entity `id` under the group `parent`; returns it as stored.
    pub async fn set_parent(
        &self,
        actor: &Actor<'_>,
        domain: &str,
        id: &str,
        parent: String,
    ) -> Result<Entity> {
        // The entity is checked first, before any other lookup; then the new parent
        // must be a group of the same domain that the actor may put entities under
        // (SuperMQ: `set_child` on the new parent), and the old one let it go.
        let (domain_id, checked) = self.movable(actor, domain, id).await?;
        self.require_set_child(actor, &domain_id, &parent).await?;
        self.may_leave(actor, &domain_id, checked.as_deref(), Some(&parent))
            .await?;
        let ancestors = self
            .platform
            .store
            .group_ancestors(&domain_id, &parent)
            .await?;
        if self.kind == Kind::Group && ancestors.iter().any(|a| a == id) {
            return Err(own_ancestor());
        }
        let apply = |e: &mut Entity| {
            unchanged_parent(e, &checked)?;
            e.parent_id = Some(parent);
            Ok(())
        };
        let action = self.set_parent_action();
        self.modify(actor, domain, id, action, apply, ev_update)
            .await
    }

    /// Takes the entity `id` out of its group: `set_parent[_group]` on it and, when it
    /// has a parent, `set_child` on that group (SuperMQ's `RemoveParentGroup`: taking
    /// a child away changes the group's children as much as adding one does, and
    /// whoever holds roles on the group loses what they reached through it).
    pub async fn remove_parent(&self, actor: &Actor<'_>, domain: &str, id: &str) -> Result<()> {
        let (domain_id, checked) = self.movable(actor, domain, id).await?;
        self.may_leave(actor, &domain_id, checked.as_deref(), None)
            .await?;
        let apply = |e: &mut Entity| {
            unchanged_parent(e, &checked)?;
            e.parent_id = None;
            Ok(())
        };
        let action = self.set_parent_action();
        self.modify(actor, domain, id, action, apply, ev_update)
            .await?;
        Ok(())
    }

    /// The domain's id and the entity's parent when the actor may move the entity
    /// `id` (`set_parent[_group]`): 404 for a foreign or missing one, else 403.
    async fn movable(
        &self,
        actor: &Actor<'_>,
        domain: &str,
        id: &str,
    ) -> Result<(String, Option<String>)> {
        let action = self.set_parent_action();
        let (d, e) = actor
            .authorize_entity(self.platform, domain, self.kind, id, action)
            .await?;
        Ok((d.id, e.parent_id))
    }

    /// 403 unless the actor may take a child out of `old`, the group an entity is
    /// in, for `new` (`None`: no group): `set_child` on `old`. Staying put, or being
    /// in no group, asks nobody.
    async fn may_leave(
        &self,
        actor: &Actor<'_>,
        domain_id: &str,
        old: Option<&str>,
        new: Option<&str>,
    ) -> Result<()> {
        match old {
            Some(old) if Some(old) != new => self.require_set_child(actor, domain_id, old).await,
            _ => Ok(()),
        }
    }

    /// Adds (`Attach`) or removes (`Detach`) `children` of the group `id` (at most
    /// [`MAX_CHILDREN`] per request: a bound on one request's work).
    pub async fn link_children(
        &self,
        way: Link,
        actor: &Actor<'_>,
        domain: &str,
        id: &str,
        children: &[String],
    ) -> Result<()> {
        if children.len() > MAX_CHILDREN {
            return Err(AuthError::bad_request(format!(
                "at most {MAX_CHILDREN} children_ids per request"
            )));
        }
        match way {
            Link::Attach => self.add_children(actor, domain, id, children).await,
            Link::Detach => self.remove_children(actor, domain, id, children).await,
        }
    }

    /// Makes each of `children` a child of the group `id` (groups only): SuperMQ's
    /// `add_children_groups`, `set_child` on the group and `set_parent` on each child.
    /// One that is an ancestor of the group is a 409 (those before it are already in).
    pub async fn add_children(
        &self,
        actor: &Actor<'_>,
        domain: &str,
        id: &str,
        children: &[String],
    ) -> Result<()> {
        let (domain_id, checked) = self
            .children_may_move(actor, domain, id, children, true)
            .await?;
        let ancestors = self.platform.store.group_ancestors(&domain_id, id).await?;
        let adopt = |e: &mut Entity| {
            if ancestors.contains(&e.id) {
                return Err(own_ancestor());
            }
            // Already in `id` (named twice): nothing to let go.
            if e.parent_id.as_deref() != Some(id) {
                unchanged_parent(e, checked.get(&e.id).unwrap_or(&None))?;
            }
            e.parent_id = Some(id.to_string());
            Ok(())
        };
        self.reparent(actor, domain, children, adopt).await
    }

    /// Takes each of `children` out of the group `id` (`set_child` on it, `set_parent`
    /// on each child, as adding them); one that is not its child is a 400 (those
    /// before it are already out).
    pub async fn remove_children(
        &self,
        actor: &Actor<'_>,
        domain: &str,
        id: &str,
        children: &[String],
    ) -> Result<()> {
        self.children_may_move(actor, domain, id, children, false)
            .await?;
        self.detach(actor, domain, id, children).await
    }

    /// The domain's id and each child's parent when the actor may change the group
    /// `id`'s children (`set_child`) and move every one of `children`
    /// ([`Self::movable_groups`]; `joining`: they go into `id`, rather than leave it).
    async fn children_may_move(
        &self,
        actor: &Actor<'_>,
        domain: &str,
        id: &str,
        children: &[String],
        joining: bool,
    ) -> Result<(String, Parents)> {
        let (d, _) = actor
            .authorize_entity(self.platform, domain, Kind::Group, id, "set_child")
            .await?;
        let joining = joining.then_some(id);
        let parents = self.movable_groups(actor, &d.id, children, joining).await?;
        Ok((d.id, parents))
    }

    /// Clears the parent of each of `children` (already known to be groups of the
    /// domain); one whose parent is not `id` is a 400.
    async fn detach(
        &self,
        actor: &Actor<'_>,
        domain: &str,
        id: &str,
        children: &[String],
    ) -> Result<()> {
        let orphan = |e: &mut Entity| {
            if e.parent_id.as_deref() != Some(id) {
                return Err(AuthError::bad_request("not a child of this group"));
            }
            e.parent_id = None;
            Ok(())
        };
        self.reparent(actor, domain, children, orphan).await
    }

    /// Applies `change` to each of `children` in turn, each an ordinary group update
    /// that needs `set_parent` on the child (one update event per child).
    async fn reparent(
        &self,
        actor: &Actor<'_>,
        domain: &str,
        children: &[String],
        change: impl Fn(&mut Entity) -> Result<()>,
    ) -> Result<()> {
        let groups = self.platform.groups();
        for child in children {
            groups
                .modify(actor, domain, child, "set_parent", &change, ev_update)
                .await?;
        }
        Ok(())
    }

    /// `DELETE /{d}/groups/{id}/children/all`: takes every child group out of the
    /// group `id`, each as `remove_children` would (one update event per child). A
    /// foreign or missing group is a 404.
    pub async fn remove_all_children(
        &self,
        actor: &Actor<'_>,
        domain: &str,
        id: &str,
    ) -> Result<()> {
        let (_, group) = actor
            .authorize_entity(self.platform, domain, Kind::Group, id, "set_child")
            .await?;
        let store = &self.platform.store;
        // The children come from the domain's own group: no need to look each up again.
        let children = store.child_groups(&group.id).await?;
        self.detach(actor, domain, &group.id, &children).await
    }

    /// Every id must be a group of this domain that the actor may move (`set_parent`),
    /// and when `joining` a group, take out of the group it is in ([`Self::may_leave`]),
    /// before any change: the first foreign or unknown id is a 404, the first it may
    /// not move a 403, with nothing modified. Each child's parent as checked.
    async fn movable_groups(
        &self,
        actor: &Actor<'_>,
        domain_id: &str,
        ids: &[String],
        joining: Option<&str>,
    ) -> Result<Parents> {
        let mut parents = Parents::new();
        for child in ids {
            let group = self
                .platform
                .store
                .entity(Kind::Group, domain_id, child)
                .await?;
            actor
                .require(
                    self.platform,
                    domain_id,
                    Kind::Group.into(),
                    &group.id,
                    "set_parent",
                )
                .await?;
            if joining.is_some() {
                self.may_leave(actor, domain_id, group.parent_id.as_deref(), joining)
                    .await?;
            }
            parents.insert(group.id, group.parent_id);
        }
        Ok(parents)
    }
}

/// Each child group's parent as an authorization check saw it (by child id).
type Parents = HashMap<String, Option<String>>;

/// 409 unless the entity is still in the group an authorization check saw it in:
/// moved meanwhile, the group it is in now was never asked to let it go.
fn unchanged_parent(e: &Entity, checked: &Option<String>) -> Result<()> {
    if e.parent_id != *checked {
        return Err(AuthError::Conflict(
            "the parent group changed meanwhile; try again".into(),
        ));
    }
    Ok(())
}

fn own_ancestor() -> AuthError {
    AuthError::Conflict("a group cannot be its own ancestor".into())
}
