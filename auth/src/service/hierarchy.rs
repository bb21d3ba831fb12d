//! Group hierarchy: an entity's parent group, a group's children. Each change is an
//! ordinary entity update (`<kind>.update`), refused when it would make a group its
//! own ancestor.

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
        // The entity is checked first (its `set_parent[_group]`, in `modify` below, as
        // before any other lookup); the parent must be a group of the same domain that
        // the actor may put entities under (SuperMQ: `set_child` on the new parent).
        let (d, _) = actor
            .authorize_entity(
                self.platform,
                domain,
                self.kind,
                id,
                self.set_parent_action(),
            )
            .await?;
        self.require_set_child(actor, &d.id, &parent).await?;
        let ancestors = self.platform.store.group_ancestors(&d.id, &parent).await?;
        if self.kind == Kind::Group && ancestors.iter().any(|a| a == id) {
            return Err(own_ancestor());
        }
        let apply = |e: &mut Entity| {
            e.parent_id = Some(parent);
            Ok(())
        };
        self.modify(
            actor,
            domain,
            id,
            self.set_parent_action(),
            apply,
            ev_update,
        )
        .await
    }

    /// Takes the entity `id` out of its group: `set_parent[_group]` on it and, when it
    /// has a parent, `set_child` on that group (SuperMQ's `RemoveParentGroup`: taking
    /// a child away changes the group's children as much as adding one does, and
    /// whoever holds roles on the group loses what they reached through it).
    pub async fn remove_parent(&self, actor: &Actor<'_>, domain: &str, id: &str) -> Result<()> {
        let (d, e) = actor
            .authorize_entity(
                self.platform,
                domain,
                self.kind,
                id,
                self.set_parent_action(),
            )
            .await?;
        if let Some(old) = &e.parent_id {
            self.require_set_child(actor, &d.id, old).await?;
        }
        let checked = e.parent_id;
        let apply = |e: &mut Entity| {
            // Moved elsewhere between the check and the change: the group it is in
            // now was not asked.
            if e.parent_id != checked {
                return Err(parent_changed());
            }
            e.parent_id = None;
            Ok(())
        };
        self.modify(
            actor,
            domain,
            id,
            self.set_parent_action(),
            apply,
            ev_update,
        )
        .await?;
        Ok(())
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
    pub async fn add_children(
        &self,
        actor: &Actor<'_>,
        domain: &str,
        id: &str,
        children: &[String],
    ) -> Result<()> {
        let (d, _) = actor
            .authorize_entity(self.platform, domain, Kind::Group, id, "set_child")
            .await?;
        let ancestors = self.platform.store.group_ancestors(&d.id, id).await?;
        self.movable_groups(actor, &d.id, children).await?;
        let groups = self.platform.groups();
        for child in children {
            if ancestors.contains(child) {
                return Err(own_ancestor());
            }
            let parent = id.to_string();
            let apply = |e: &mut Entity| {
                e.parent_id = Some(parent);
                Ok(())
            };
            groups
                .modify(actor, domain, child, "set_parent", apply, ev_update)
                .await?;
        }
        Ok(())
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
        let (d, _) = actor
            .authorize_entity(self.platform, domain, Kind::Group, id, "set_child")
            .await?;
        self.movable_groups(actor, &d.id, children).await?;
        self.detach(actor, domain, id, children).await
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
        let groups = self.platform.groups();
        for child in children {
            let apply = |e: &mut Entity| {
                if e.parent_id.as_deref() != Some(id) {
                    return Err(AuthError::bad_request("not a child of this group"));
                }
                e.parent_id = None;
                Ok(())
            };
            groups
                .modify(actor, domain, child, "set_parent", apply, ev_update)
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

    /// Every id must be a group of this domain that the actor may move (`set_parent`)
    /// before any change: the first foreign or unknown id is a 404, the first it may
    /// not move a 403, with nothing modified.
    async fn movable_groups(
        &self,
        actor: &Actor<'_>,
        domain_id: &str,
        ids: &[String],
    ) -> Result<()> {
        for child in ids {
            self.require_on_group(actor, domain_id, child, "set_parent")
                .await?;
        }
        Ok(())
    }
}

/// The entity's parent changed while a request that checked the old one ran.
fn parent_changed() -> AuthError {
    AuthError::Conflict("the parent group changed meanwhile; try again".into())
}

fn own_ancestor() -> AuthError {
    AuthError::Conflict("a group cannot be its own ancestor".into())
}
