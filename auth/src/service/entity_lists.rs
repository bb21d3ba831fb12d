//! Listing clients, channels and groups: a domain's page of one kind, a group's
//! children, what a channel or client is connected to. A user who reads the kind
//! domain-wide sees every one; a user of the domain without that sees what their
//! roles let them read (`entity_roles::Visibility`), with a total to match.

use magnetite_events::model::clients as cev;
use std::collections::HashMap;

use super::entities::{Entities, Listed};
use super::entity_events::ev_list;
use super::entity_roles::{list_visibility, Visibility};
use super::page_of;
use crate::access::{Actor, Need};
use crate::error::Result;
use crate::model::Kind;
use crate::store::entities::Scope;
use crate::store::list::ListQuery;

impl Entities<'_> {
    /// A page of the domain's entities (`<kind>.list`). `scope`: children of a group,
    /// clients of a channel, channels of a client (the anchor already resolved). A
    /// user of the domain without `<kind>_read` on it sees what they may read through
    /// roles on entities and groups (`entity_roles::Visibility`).
    pub async fn list(
        &self,
        actor: &Actor<'_>,
        domain: &str,
        params: &HashMap<String, String>,
        scope: Option<(Kind, &str)>,
    ) -> Result<Listed> {
        let domain = actor.domain(self.platform, domain, Need::Read).await?;
        self.page(actor, &domain.id, params, scope).await
    }

    /// One page of the domain's entities of this kind (`<kind>.list`) that `actor`
    /// may see.
    async fn page(
        &self,
        actor: &Actor<'_>,
        domain_id: &str,
        params: &HashMap<String, String>,
        scope: Option<(Kind, &str)>,
    ) -> Result<Listed> {
        let kind = self.kind;
        let q = ListQuery::parse(params)?;
        let scope = match scope {
            None => Scope::All,
            Some((Kind::Group, id)) => Scope::Parent(id),
            Some((Kind::Channel, id)) => Scope::ConnectedTo(id),
            Some((Kind::Client, id)) => Scope::ConnectedFrom(id),
        };
        let store = &self.platform.store;
        let reader = match list_visibility(self.platform, actor, domain_id, kind.into()).await? {
            Visibility::All => None,
            Visibility::ReadableBy(user) => Some(user),
        };
        let (total, items) = store
            .list_entities_readable(kind, domain_id, &q, scope, reader.as_deref())
            .await?;
        let p = page_of(total, &q);
        let event = match scope {
            Scope::ConnectedTo(ch) => cev::client_list_by_channel(&p, ch),
            Scope::ConnectedFrom(cl) => cev::channel_list_by_client(&p, cl),
            _ => ev_list(kind, &p),
        };
        store.record_event(&event.in_domain(domain_id)).await?;
        Ok(Listed {
            total,
            query: q,
            items,
        })
    }

    /// The entities of this kind related to `id`: the clients of channel `id`
    /// (`platform.clients()`), the channels of client `id` (`platform.channels()`).
    pub async fn related(
        &self,
        actor: &Actor<'_>,
        domain: &str,
        id: &str,
        params: &HashMap<String, String>,
    ) -> Result<Listed> {
        let via = match self.kind {
            Kind::Client => Kind::Channel,
            _ => Kind::Client,
        };
        // Reading an entity includes reading what it is connected to.
        let (d, anchor) = actor
            .authorize_entity(self.platform, domain, via, id, "read")
            .await?;
        self.page(actor, &d.id, params, Some((via, &anchor.id)))
            .await
    }
}
