//! Invitations (SuperMQ's domain invitations): a user who may manage the domain's roles
//! invites another user to join it with one of the domain's roles; the invitee lists,
//! accepts or rejects their invitations; the domain side lists, views and deletes them.
//!
//! Access, SuperMQ's (`docker/permission.yaml`): sending, listing, viewing and deleting
//! a domain's invitations need `manage_role` on the domain — the action that already
//! lets a user create a role with members, so an invitation grants nothing its sender
//! could not grant directly. A user outside the domain gets 404 like a missing domain.
//! Only the invitee accepts or rejects (their own invitation is looked up by their id,
//! so another user's is a 404), and never with a personal access token: accepting
//! changes domain membership, which PATs never do.
//!
//! Accepting goes through the roles service (`Roles::admit_invitee`): the confirmation,
//! the membership, `invitation.accept` and `domain.role.members.add` commit together
//! and the decision cache is cleared like after any membership change.
//!
//! Bounds: at most [`MAX_PENDING_PER_DOMAIN`] pending invitations per domain (one per
//! invitee, so a flood from one domain is bounded; a 409 says so), pages of at most 100.

use magnetite_events::model::invitations::{self as ev, InvitationFields, InvitationQuery};
use serde::Deserialize;
use std::collections::HashMap;

use super::roles::hide_outsider;
use crate::access::{Actor, Caller, Need};
use crate::error::{AuthError, Result};
use crate::model::Domain;
use crate::platform::Platform;
use crate::roles::EntityType;
use crate::store::invitations::{Invitation, InvitationFilter, InvitationState};
use crate::store::list::ListQuery;
use crate::store::now_rfc3339;

/// The most pending invitations one domain may have.
pub const MAX_PENDING_PER_DOMAIN: u64 = 1000;

/// `POST /domains/{id}/invitations` (SuperMQ's `sendInvitationReq`).
#[derive(Debug, Deserialize, Default)]
pub struct SendInvitationInput {
    pub invitee_user_id: Option<String>,
    pub role_id: Option<String>,
    /// Invite again a user who has a pending or rejected invitation.
    #[serde(default)]
    pub resend: Option<bool>,
}

/// A page of invitations and the query that made it.
pub struct InvitationPage {
    pub total: u64,
    pub query: ListQuery,
    pub invitations: Vec<Invitation>,
}

/// The invitation operations (`platform.invitations()`).
#[derive(Clone, Copy)]
pub struct Invitations<'a> {
    platform: &'a Platform,
}

impl Platform {
    /// Invitations to join domains.
    pub fn invitations(&self) -> Invitations<'_> {
        Invitations { platform: self }
    }
}

impl<'a> Invitations<'a> {
    /// The domain if the actor may manage its roles; outsiders get 404.
    async fn managed(&self, actor: &Actor<'_>, domain: &str) -> Result<Domain> {
        let d = actor
            .domain(self.platform, domain, Need::Read)
            .await
            .map_err(hide_outsider)?;
        actor
            .require(
                self.platform,
                &d.id,
                EntityType::Domain,
                &d.id,
                "manage_role",
            )
            .await?;
        Ok(d)
    }

    /// Invites `invitee_user_id` to the domain with `role_id` (`invitation.send`).
    pub async fn send(
        &self,
        actor: &Actor<'_>,
        domain: &str,
        input: SendInvitationInput,
    ) -> Result<Invitation> {
        let invitee = required_id(input.invitee_user_id, "invitee_user_id")?;
        let role_id = required_id(input.role_id, "role_id")?;
        let d = self.managed(actor, domain).await?;
        let role = self.platform.store.role(&d.id, &role_id).await?;
        let inv = Invitation {
            invited_by: actor.id().to_string(),
            invitee_user_id: invitee,
            domain_id: d.id.clone(),
            domain_name: Some(d.name.clone()),
            role_id: role.id.clone(),
            role_name: Some(role.name.clone()),
            created_at: now_rfc3339(),
            updated_at: None,
            confirmed_at: None,
            rejected_at: None,
        };
        let event = ev::invitation_send(&fields(&inv));
        let resend = input.resend.unwrap_or(false);
        let store = &self.platform.store;
        store
            .send_invitation(&inv, resend, MAX_PENDING_PER_DOMAIN, &event)
            .await?;
        // As stored: a resend keeps its first `created_at` and gets an `updated_at`.
        store.invitation(&d.id, &inv.invitee_user_id).await
    }

    /// A page of the domain's invitations (`invitation.list_domain`).
    pub async fn list_domain(
        &self,
        actor: &Actor<'_>,
        domain: &str,
        params: &HashMap<String, String>,
    ) -> Result<InvitationPage> {
        let (query, mut filter) = parse_list(params)?;
        let d = self.managed(actor, domain).await?;
        filter.domain_id = d.id.clone();
        let event = ev::invitation_list_domain(&d.id, &event_query(&query, &filter));
        self.page(query, filter, event).await
    }

    /// A page of the caller's own invitations (`invitation.list`), of every domain.
    pub async fn list_own(
        &self,
        caller: &Caller,
        params: &HashMap<String, String>,
    ) -> Result<InvitationPage> {
        let (query, mut filter) = parse_list(params)?;
        filter.invitee_user_id = caller.id().to_string();
        let event = ev::invitation_list(caller.id(), &event_query(&query, &filter));
        self.page(query, filter, event).await
    }

    async fn page(
        &self,
        query: ListQuery,
        filter: InvitationFilter,
        event: magnetite_events::Event,
    ) -> Result<InvitationPage> {
        let store = &self.platform.store;
        let (total, invitations) = store
            .list_invitations(&filter, query.offset, query.limit)
            .await?;
        store.record_event(&event).await?;
        Ok(InvitationPage {
            total,
            query,
            invitations,
        })
    }

    /// The invitation of `user_id` to the domain: for the invitee themselves, or for
    /// whoever may manage the domain's roles.
    pub async fn view(&self, actor: &Actor<'_>, domain: &str, user_id: &str) -> Result<Invitation> {
        if let Actor::User(caller) = actor {
            if caller.id() == user_id {
                let d = self.platform.store.domain(domain).await?;
                return self.platform.store.invitation(&d.id, user_id).await;
            }
        }
        let d = self.managed(actor, domain).await?;
        self.platform.store.invitation(&d.id, user_id).await
    }

    /// The caller accepts their invitation to `domain_id`: they join it with the
    /// invitation's role (`invitation.accept` + `domain.role.members.add`).
    pub async fn accept(&self, caller: &Caller, domain_id: Option<String>) -> Result<()> {
        let inv = self.own_pending(caller, domain_id).await?;
        let role = match self.platform.store.role(&inv.domain_id, &inv.role_id).await {
            Err(AuthError::NotFound(_)) => {
                return Err(AuthError::Conflict(
                    "the invitation's role no longer exists; ask for a new invitation".into(),
                ))
            }
            other => other?,
        };
        let event = ev::invitation_accept(&fields(&inv));
        self.platform
            .roles(EntityType::Domain)
            .admit_invitee(&role, caller.id(), &now_rfc3339(), event)
            .await
    }

    /// The caller rejects their invitation to `domain_id` (`invitation.reject`).
    pub async fn reject(&self, caller: &Caller, domain_id: Option<String>) -> Result<()> {
        let inv = self.own_pending(caller, domain_id).await?;
        let event = ev::invitation_reject(&fields(&inv));
        self.platform
            .store
            .reject_invitation(&inv.domain_id, caller.id(), &now_rfc3339(), &event)
            .await
    }

    /// Withdraws the invitation of `user_id` (`invitation.delete`); an accepted one
    /// stays (409): the membership is the roles' business then.
    pub async fn delete(
        &self,
        actor: &Actor<'_>,
        domain: &str,
        user_id: Option<String>,
    ) -> Result<()> {
        let user_id = required_id(user_id, "user_id")?;
        let d = self.managed(actor, domain).await?;
        let event = ev::invitation_delete(&user_id, &d.id);
        self.platform
            .store
            .delete_invitation(&d.id, &user_id, &event)
            .await
    }

    /// The caller's own invitation to `domain_id`, if still pending: 404 when there is
    /// none (someone else's is none), 409 when already accepted or rejected.
    async fn own_pending(&self, caller: &Caller, domain_id: Option<String>) -> Result<Invitation> {
        if caller.pat.is_some() {
            return Err(AuthError::Forbidden(
                "personal access tokens cannot accept or reject invitations".into(),
            ));
        }
        let domain_id = required_id(domain_id, "domain_id")?;
        let d = self.platform.store.domain(&domain_id).await?;
        let inv = self.platform.store.invitation(&d.id, caller.id()).await?;
        match inv.state() {
            InvitationState::Pending => Ok(inv),
            state => Err(AuthError::Conflict(format!(
                "the invitation was already {}",
                state.as_str()
            ))),
        }
    }
}

/// An id from a body: present, non-empty, at most 64 characters (ids are UUIDs).
fn required_id(id: Option<String>, what: &str) -> Result<String> {
    match id.map(|i| i.trim().to_string()) {
        Some(i) if !i.is_empty() && i.len() <= 64 => Ok(i),
        Some(_) => Err(AuthError::bad_request(format!(
            "{what} must be 1 to 64 characters"
        ))),
        None => Err(AuthError::bad_request(format!("missing {what}"))),
    }
}

/// Paging (`offset`, `limit` up to 100, `only_total` ignored) and SuperMQ's filters
/// (`invitee_user_id` or `user_id`, `invited_by`, `role_id`, `domain_id`, `state`).
fn parse_list(params: &HashMap<String, String>) -> Result<(ListQuery, InvitationFilter)> {
    let paging: HashMap<String, String> = params
        .iter()
        .filter(|(k, _)| matches!(k.as_str(), "offset" | "limit"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let query = ListQuery::parse(&paging)?;
    let text = |key: &str| -> Result<String> {
        let value = params.get(key).cloned().unwrap_or_default();
        if value.len() > 64 {
            return Err(AuthError::bad_request(format!(
                "{key} must be at most 64 characters"
            )));
        }
        Ok(value)
    };
    let invitee = match text("invitee_user_id")? {
        i if i.is_empty() => text("user_id")?,
        i => i,
    };
    let filter = InvitationFilter {
        domain_id: text("domain_id")?,
        invitee_user_id: invitee,
        invited_by: text("invited_by")?,
        role_id: text("role_id")?,
        state: InvitationState::parse(&text("state")?)?,
    };
    Ok((query, filter))
}

fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

fn event_query<'q>(q: &ListQuery, f: &'q InvitationFilter) -> InvitationQuery<'q> {
    InvitationQuery {
        offset: q.offset,
        limit: q.limit,
        invited_by: non_empty(&f.invited_by),
        invitee_user_id: non_empty(&f.invitee_user_id),
        domain_id: non_empty(&f.domain_id),
        role_id: non_empty(&f.role_id),
        state: f.state.map(InvitationState::as_str),
    }
}

fn fields(i: &Invitation) -> InvitationFields<'_> {
    InvitationFields {
        invitee_user_id: &i.invitee_user_id,
        domain_id: &i.domain_id,
        invited_by: &i.invited_by,
        role_id: &i.role_id,
        domain_name: i.domain_name.as_deref(),
        role_name: i.role_name.as_deref(),
    }
}
