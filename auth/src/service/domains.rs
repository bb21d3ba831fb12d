//! Domains (tenants): create, list, view, update, enable/disable, members. Domain
//! changes record no event today (as before this layer existed); enabling or disabling
//! a domain changes the MQTT access of every client in it.

use magnetite_events::model::users as uev;
use magnetite_events::Event;
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;

use super::{check_route, metadata_of, name_of, tags_of};
use crate::access::Actor;
use crate::error::{is_unique_violation, AuthError, Result};
use crate::model::{Audit, Domain, Status};
use crate::platform::{Origin, Platform};
use crate::store::domains::Relation;
use crate::store::list::ListQuery;
use crate::store::{new_id, now_rfc3339};

/// First path segments the API itself uses: a domain route equal to one of them would
/// be shadowed by (or shadow) those endpoints.
const RESERVED_DOMAIN_ROUTES: &[&str] = &[
    "users", "domains", "clients", "certs", "password", "events", "health", "metrics",
];

/// A domain route: a valid route that is not one of the API's own path segments.
pub(crate) fn check_domain_route(route: &str) -> Result<()> {
    check_route(route)?;
    if RESERVED_DOMAIN_ROUTES.contains(&route) {
        return Err(AuthError::bad_request(format!(
            "route {route:?} is reserved"
        )));
    }
    Ok(())
}

/// `POST /domains` body.
#[derive(Deserialize, Default)]
pub struct NewDomainInput {
    pub name: Option<String>,
    /// Absent: the domain is named by its id alone.
    pub route: Option<String>,
    pub tags: Option<Vec<String>>,
    pub metadata: Option<Value>,
}

/// `PATCH /domains/{id}` body: absent fields stay.
#[derive(Deserialize, Default)]
pub struct DomainChange {
    pub name: Option<String>,
    pub tags: Option<Vec<String>>,
    pub metadata: Option<Value>,
}

/// The domain operations (`platform.domains()`).
#[derive(Clone, Copy)]
pub struct Domains<'a> {
    platform: &'a Platform,
}

impl<'a> Domains<'a> {
    pub(super) fn new(platform: &'a Platform) -> Domains<'a> {
        Domains { platform }
    }

    /// Creates a domain administered by its creator.
    pub async fn create(&self, actor: &Actor<'_>, input: NewDomainInput) -> Result<Domain> {
        let id = new_id();
        // Without a route the domain is named by its id alone (its route is its own id).
        let route = match input.route {
            Some(route) => {
                check_domain_route(&route)?;
                route
            }
            None => id.clone(),
        };
        let domain = Domain {
            id,
            name: name_of(input.name, "name")?,
            route,
            tags: tags_of(input.tags)?,
            metadata: metadata_of(input.metadata)?,
            status: Status::Enabled,
            created_by: actor.id().to_string(),
            audit: Audit::created_now(),
        };
        let stored = self.platform.store.insert_domain(&domain).await;
        stored.map_err(|e| match e {
            AuthError::Database(ref db) if is_unique_violation(db) => {
                AuthError::Conflict("a domain with this route already exists".into())
            }
            other => other,
        })?;
        Ok(domain)
    }

    /// A page of the domains the actor belongs to (all of them for an admin).
    pub async fn list(
        &self,
        actor: &Actor<'_>,
        params: &HashMap<String, String>,
    ) -> Result<(u64, ListQuery, Vec<Domain>)> {
        let q = ListQuery::parse(params)?;
        let member = actor.member_filter();
        let (total, domains) = self.platform.store.list_domains(&q, member).await?;
        Ok((total, q, domains))
    }

    /// A page of the domains `user_id` is a member of (SuperMQ's
    /// `GET /users/{id}/domains`), for that user or a platform admin only: another
    /// user's memberships are not a domain member's business.
    pub async fn list_of_user(
        &self,
        actor: &Actor<'_>,
        user_id: &str,
        params: &HashMap<String, String>,
    ) -> Result<(u64, ListQuery, Vec<Domain>)> {
        actor.require_self_or_admin(user_id)?;
        self.platform.store.user(user_id).await?;
        let q = ListQuery::parse(params)?;
        let (total, domains) = self.platform.store.list_domains(&q, Some(user_id)).await?;
        Ok((total, q, domains))
    }

    /// One domain the actor may read.
    pub async fn view(&self, actor: &Actor<'_>, id: &str) -> Result<Domain> {
        actor.authorize_domain(self.platform, id, "read").await
    }

    /// Name, tags, metadata.
    pub async fn update(
        &self,
        actor: &Actor<'_>,
        id: &str,
        change: DomainChange,
    ) -> Result<Domain> {
        let mut domain = actor.authorize_domain(self.platform, id, "update").await?;
        if change.name.is_some() {
            domain.name = name_of(change.name, "name")?;
        }
        if change.tags.is_some() {
            domain.tags = tags_of(change.tags)?;
        }
        if change.metadata.is_some() {
            domain.metadata = metadata_of(change.metadata)?;
        }
        self.stamp_and_save(actor, &mut domain, None).await?;
        Ok(domain)
    }

    /// Enables, disables or freezes; the access of every client in the domain follows
    /// (the same event-driven revocation for disable and freeze). Only a platform
    /// admin freezes, and only a platform admin acts in a frozen domain
    /// ([`crate::access::Caller::domain`]), so its own admins cannot unfreeze it.
    pub async fn set_status(&self, actor: &Actor<'_>, id: &str, status: Status) -> Result<Domain> {
        if status == Status::Freezed {
            actor.require_admin()?;
        }
        let action = match status {
            Status::Enabled => "enable",
            _ => "disable",
        };
        let mut domain = actor.authorize_domain(self.platform, id, action).await?;
        domain.status = status;
        let event = uev::domain_status(&domain.id, status.as_str(), Some(actor.id()));
        self.stamp_and_save(actor, &mut domain, Some(&event))
            .await?;
        self.platform
            .apply_event(&event.fields, Origin::Local)
            .await?;
        Ok(domain)
    }

    /// The members and their relation (`admin` / `member`), for a user who may
    /// `view_role_users` on the domain: who is in the domain is what
    /// `GET /domains/{id}/roles/members` shows, and SuperMQ lists an entity's members
    /// with that action.
    pub async fn members(&self, actor: &Actor<'_>, id: &str) -> Result<Vec<(String, String)>> {
        let domain = actor
            .authorize_domain(self.platform, id, "view_role_users")
            .await?;
        let store = &self.platform.store;
        store.members(&domain.id).await
    }

    /// Makes `users` members (default) or admins of the domain.
    pub async fn assign(
        &self,
        actor: &Actor<'_>,
        id: &str,
        users: Option<Vec<String>>,
        relation: Option<&str>,
    ) -> Result<()> {
        let domain = actor
            .authorize_domain(self.platform, id, "add_role_users")
            .await?;
        let users = users_of(users)?;
        let relation = match relation {
            None => Relation::Member,
            Some(r) => Relation::parse(r)
                .ok_or_else(|| AuthError::bad_request("relation must be admin or member"))?,
        };
        let store = &self.platform.store;
        store
            .set_members(&domain.id, &users, Some(relation))
            .await?;
        self.platform.decisions.clear();
        Ok(())
    }

    /// Removes `users` from the domain; never its creator.
    pub async fn unassign(
        &self,
        actor: &Actor<'_>,
        id: &str,
        users: Option<Vec<String>>,
    ) -> Result<()> {
        let domain = actor
            .authorize_domain(self.platform, id, "remove_role_users")
            .await?;
        let users = users_of(users)?;
        if users.contains(&domain.created_by) {
            return Err(AuthError::bad_request(
                "the domain's creator cannot be unassigned",
            ));
        }
        self.platform
            .store
            .set_members(&domain.id, &users, None)
            .await?;
        self.platform.decisions.clear();
        Ok(())
    }

    async fn stamp_and_save(
        &self,
        actor: &Actor<'_>,
        domain: &mut Domain,
        event: Option<&Event>,
    ) -> Result<()> {
        domain.audit.updated_at = Some(now_rfc3339());
        domain.audit.updated_by = Some(actor.id().to_string());
        self.platform.store.update_domain(domain, event).await
    }
}

fn users_of(users: Option<Vec<String>>) -> Result<Vec<String>> {
    users
        .filter(|u| !u.is_empty())
        .ok_or_else(|| AuthError::bad_request("missing user_ids"))
}
