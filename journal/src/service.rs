//! Who may read which journal, then the store: the service layer of the journal routes.
//!
//! Access is exactly that of viewing the entity (`GET /{domain}/clients/{id}` and its
//! siblings): the caller must read the domain (a domain the caller does not belong to
//! is 403, as there), and the entity must be in it (another tenant's id is 404, like a
//! missing one). A user's journal is for that user and the platform admin. Entity
//! journals list only the entries of the domain in the path.

use magnetite_auth::access::{Actor, Caller};
use magnetite_auth::model::Kind;
use magnetite_auth::{AuthError, Platform};
use magnetite_db::Db;

use crate::error::Result;
use crate::model::{EntityType, JournalPage, JournalQuery, JournalView, Telemetry};
use crate::store;

/// The journal's read side.
pub struct Journal<'a> {
    pub db: &'a Db,
    pub platform: &'a Platform,
}

impl Journal<'_> {
    /// The journal of a client, channel or group of `domain` (id or route).
    pub async fn entity(
        &self,
        caller: &Caller,
        domain: &str,
        kind: EntityType,
        id: &str,
        query: &JournalQuery,
    ) -> Result<JournalPage> {
        let (domain_id, entity_id) = self.readable(caller, domain, kind, id).await?;
        self.page(kind, &entity_id, Some(&domain_id), query).await
    }

    /// The journal of user `id`: themself or the platform admin.
    pub async fn user(
        &self,
        caller: &Caller,
        id: &str,
        query: &JournalQuery,
    ) -> Result<JournalPage> {
        caller.require_self_or_admin(id)?;
        let user = self.platform.store.user(id).await?;
        self.page(EntityType::User, &user.id, None, query).await
    }

    /// The MQTT telemetry of client `id` of `domain`.
    pub async fn telemetry(&self, caller: &Caller, domain: &str, id: &str) -> Result<Telemetry> {
        let (domain_id, client_id) = self
            .readable(caller, domain, EntityType::Client, id)
            .await?;
        let row = store::telemetry(self.db, &client_id, &domain_id).await?;
        Ok(Telemetry::of(&client_id, &domain_id, row))
    }

    /// `(domain id, entity id)` if `caller` may view the entity (see the module doc).
    async fn readable(
        &self,
        caller: &Caller,
        domain: &str,
        kind: EntityType,
        id: &str,
    ) -> Result<(String, String)> {
        let kind = match kind {
            EntityType::Client => Kind::Client,
            EntityType::Channel => Kind::Channel,
            EntityType::Group => Kind::Group,
            EntityType::User => return Err(AuthError::NotFound("entity").into()),
        };
        // Reading an entity's journal is reading the entity (its `read` action).
        let (d, entity) = Actor::User(caller)
            .authorize_entity(self.platform, domain, kind, id, "read")
            .await?;
        Ok((d.id, entity.id))
    }

    async fn page(
        &self,
        kind: EntityType,
        id: &str,
        domain: Option<&str>,
        query: &JournalQuery,
    ) -> Result<JournalPage> {
        let (total, entries) = store::page(self.db, kind, id, domain, query).await?;
        Ok(JournalPage {
            journals: entries
                .into_iter()
                .map(|e| JournalView::of(e, query))
                .collect(),
            total,
            offset: query.offset,
            limit: query.limit,
        })
    }
}
