//! Clients, channels and groups: create, list, view, update, enable/disable, delete,
//! client secrets. One code path for the three kinds (see `model::Kind`); the kind
//! picks the event. Parents and children are in `hierarchy.rs`.

use magnetite_events::model::clients as cev;
use magnetite_events::Event;
use serde::Deserialize;
use serde_json::Value;

use super::entity_events::{ev_create, ev_remove, ev_update, ev_view};
use super::entity_roles::{creator_member, provision, provisioned_event};
use super::{check_route, metadata_of, name_of, tags_of};
use crate::access::Actor;
use crate::crypto::generate_secret;
use crate::error::{is_unique_violation, AuthError, Result};
use crate::kaa::KaaSettings;
use crate::model::{Audit, Domain, Entity, Kind, Status};
use crate::mqtt::revocation::{access_change, Effect};
use crate::platform::{Origin, Platform};
use crate::roles::{EntityType, ProvisionedRole};
use crate::store::entities::NewEntity;
use crate::store::list::ListQuery;
use crate::store::{new_id, now_rfc3339};
use magnetite_events::kaa::diff::merged;

/// Most entities one bulk create may hold: a bound on one request's work.
const MAX_BULK: usize = 1000;

/// The operations on one kind of entity (`platform.clients()`, `.channels()`,
/// `.groups()`).
#[derive(Clone, Copy)]
pub struct Entities<'a> {
    pub(super) platform: &'a Platform,
    pub(super) kind: Kind,
}

/// A client's credentials in a create request.
#[derive(Deserialize, Default)]
pub struct ClientCredentials {
    /// Empty or absent: one is generated.
    pub secret: Option<String>,
}

/// A create request (`POST /{d}/<kind>`), as the API takes it. No `Debug`: it may hold
/// a client secret.
#[derive(Deserialize, Default)]
pub struct NewEntityInput {
    pub name: Option<String>,
    /// Channels only.
    pub route: Option<String>,
    /// Groups only.
    pub description: Option<String>,
    pub tags: Option<Vec<String>>,
    pub metadata: Option<Value>,
    pub status: Option<String>,
    pub parent_id: Option<String>,
    /// Magistrala's other name for `parent_id`.
    pub parent_group_id: Option<String>,
    /// Clients only.
    pub credentials: Option<ClientCredentials>,
}

/// An update request (`PATCH|PUT /{d}/<kind>/{id}`): absent fields stay.
#[derive(Deserialize, Default)]
pub struct EntityChange {
    pub name: Option<String>,
    pub route: Option<String>,
    pub description: Option<String>,
    pub metadata: Option<Value>,
}

/// A created entity and, for a client, its secret in clear (shown once).
pub struct Created {
    pub entity: Entity,
    pub secret: Option<String>,
}

/// A validated create with its event, not yet written (see
/// [`Entities::prepare_create`]). No `Debug`: it holds the secret.
pub struct PreparedCreate {
    created: Created,
    secret_hash: Option<String>,
    event: Event,
    /// lifecycle/registered when Kaa events are on.
    kaa: Vec<Event>,
    /// Boxed: a prepared create travels inside other services' enums.
    admin_role: Box<ProvisionedRole>,
}

impl PreparedCreate {
    /// The entity as it will be stored.
    pub fn entity(&self) -> &Entity {
        &self.created.entity
    }

    /// A client's secret in clear.
    pub fn secret(&self) -> Option<&str> {
        self.created.secret.as_deref()
    }

    /// The row and its event, for `EntityRows::insert_entity_rows`.
    pub fn row(&self) -> NewEntity<'_> {
        NewEntity {
            entity: &self.created.entity,
            secret_hash: self.secret_hash.as_deref(),
            event: &self.event,
            kaa: &self.kaa,
            admin_role: Some(&*self.admin_role),
        }
    }

    /// Once the row is committed. A new entity has no connections, so no cached
    /// access changes: there is nothing to refresh or revoke.
    pub fn committed(self) -> Created {
        self.created
    }
}

/// One page of a list and the query that produced it.
pub struct Listed {
    pub total: u64,
    pub query: ListQuery,
    pub items: Vec<Entity>,
}

impl<'a> Entities<'a> {
    pub(super) fn new(platform: &'a Platform, kind: Kind) -> Entities<'a> {
        Entities { platform, kind }
    }

    /// Creates one entity (`<kind>.create`).
    pub async fn create(
        &self,
        actor: &Actor<'_>,
        domain: &str,
        input: NewEntityInput,
    ) -> Result<Created> {
        let prepared = self.prepare_create(actor, domain, input).await?;
        self.insert(std::slice::from_ref(&prepared)).await?;
        Ok(prepared.committed())
    }

    /// Checks access and validates a create without writing it: the caller writes
    /// [`PreparedCreate::row`] in its own transaction (`store::entities::EntityRows`),
    /// so the entity and what depends on it commit together, or neither does.
    pub async fn prepare_create(
        &self,
        actor: &Actor<'_>,
        domain: &str,
        input: NewEntityInput,
    ) -> Result<PreparedCreate> {
        let d = actor
            .authorize_domain(self.platform, domain, &self.create_action())
            .await?;
        let created = self.build(actor, &d, input).await?;
        let creator = creator_member(self.platform, actor, &d.id).await?;
        Ok(self.prepared(created, creator.as_deref()))
    }

    /// Creates all of `inputs` in one transaction, or none (one event each).
    pub async fn create_many(
        &self,
        actor: &Actor<'_>,
        domain: &str,
        inputs: Vec<NewEntityInput>,
    ) -> Result<Vec<Created>> {
        let d = actor
            .authorize_domain(self.platform, domain, &self.create_action())
            .await?;
        if inputs.is_empty() || inputs.len() > MAX_BULK {
            return Err(AuthError::bad_request(format!(
                "bulk takes 1 to {MAX_BULK} entities"
            )));
        }
        let creator = creator_member(self.platform, actor, &d.id).await?;
        let mut items = Vec::with_capacity(inputs.len());
        for input in inputs {
            let created = self.build(actor, &d, input).await?;
            items.push(self.prepared(created, creator.as_deref()));
        }
        self.insert(&items).await?;
        Ok(items.into_iter().map(PreparedCreate::committed).collect())
    }

    /// The entity `id` (channels: or route) of the domain `domain_id`, read without an
    /// access check or an event: for other services that already authorized the caller.
    pub async fn get(&self, domain_id: &str, id: &str) -> Result<Entity> {
        self.platform.store.entity(self.kind, domain_id, id).await
    }

    /// Whether `secret` is the current secret of the client `client_id`.
    pub async fn secret_matches(&self, client_id: &str, secret: &str) -> Result<bool> {
        let access = self.platform.store.client_access(client_id).await?;
        Ok(access.is_some_and(|a| {
            self.platform
                .keys
                .verify_secret_mac(secret.as_bytes(), &a.secret)
        }))
    }

    /// Validates a create request into an entity (and, for clients, its plain secret).
    async fn build(
        &self,
        actor: &Actor<'_>,
        domain: &Domain,
        input: NewEntityInput,
    ) -> Result<Created> {
        let kind = self.kind;
        if let Some(route) = &input.route {
            check_route(route)?;
        }
        let parent_id = input
            .parent_id
            .or(input.parent_group_id)
            .filter(|p| !p.is_empty());
        if let Some(parent) = &parent_id {
            self.require_set_child(actor, &domain.id, parent).await?;
        }
        let status = match input.status.as_deref() {
            None => Status::Enabled,
            Some(s) => Status::parse(s).ok_or_else(|| AuthError::bad_request("invalid status"))?,
        };
        let secret = match kind {
            Kind::Client => Some(secret_of(input.credentials.unwrap_or_default().secret)?),
            _ => None,
        };
        let entity = Entity {
            kind,
            id: new_id(),
            domain_id: domain.id.clone(),
            name: name_of(input.name, "name")?,
            route: input.route.filter(|_| kind == Kind::Channel),
            description: input.description.filter(|_| kind == Kind::Group),
            tags: tags_of(input.tags)?,
            metadata: metadata_of(input.metadata)?,
            status,
            parent_id,
            created_by: actor.id().to_string(),
            audit: Audit::created_now(),
        };
        Ok(Created { entity, secret })
    }

    /// The stored form of the secret, the built-in admin role (`creator` its member)
    /// and the `<kind>.create` event.
    fn prepared(&self, created: Created, creator: Option<&str>) -> PreparedCreate {
        let keys = &self.platform.keys;
        let admin_role = provision(&created.entity, creator);
        PreparedCreate {
            secret_hash: created.secret.as_deref().map(|s| keys.hash_secret(s)),
            event: provisioned_event(ev_create(&created.entity), &admin_role),
            kaa: self.kaa(|k| k.registered(&created.entity)),
            admin_role: Box::new(admin_role),
            created,
        }
    }

    /// Writes the rows with their events in one transaction.
    async fn insert(&self, items: &[PreparedCreate]) -> Result<()> {
        let rows: Vec<NewEntity<'_>> = items.iter().map(PreparedCreate::row).collect();
        self.platform
            .store
            .insert_entities(&rows)
            .await
            .map_err(conflict(self.kind))
    }

    /// One entity (`<kind>.view`).
    pub async fn view(&self, actor: &Actor<'_>, domain: &str, id: &str) -> Result<Entity> {
        let (_, e) = actor
            .authorize_entity(self.platform, domain, self.kind, id, "read")
            .await?;
        self.platform
            .store
            .record_event(&ev_view(&e).in_domain(&e.domain_id))
            .await?;
        Ok(e)
    }

    /// Name, metadata, a channel's route, a group's description (`<kind>.update`).
    pub async fn update(
        &self,
        actor: &Actor<'_>,
        domain: &str,
        id: &str,
        change: EntityChange,
    ) -> Result<Entity> {
        if let Some(route) = &change.route {
            check_route(route)?;
        }
        let name = change.name.map(|n| name_of(Some(n), "name")).transpose()?;
        let metadata = change.metadata.map(|m| metadata_of(Some(m))).transpose()?;
        let apply = |e: &mut Entity| {
            if let Some(n) = name {
                e.name = n;
            }
            if let Some(m) = metadata {
                e.metadata = m;
            }
            if e.kind == Kind::Channel && change.route.is_some() {
                e.route = change.route;
            }
            if e.kind == Kind::Group && change.description.is_some() {
                e.description = change.description;
            }
            Ok(())
        };
        self.modify(actor, domain, id, "update", apply, ev_update)
            .await
    }

    /// Sets the top-level metadata keys of `patch`, keeping the others (a partial
    /// update: `<kind>.update`; unlike [`Entities::update`], which replaces the whole
    /// metadata, it never removes a key).
    pub async fn patch_metadata(
        &self,
        actor: &Actor<'_>,
        domain: &str,
        id: &str,
        patch: Option<Value>,
    ) -> Result<Entity> {
        let Some(Value::Object(patch)) = patch else {
            return Err(AuthError::bad_request("metadata must be a JSON object"));
        };
        let apply = |e: &mut Entity| {
            e.metadata = merged(&e.metadata, &patch);
            Ok(())
        };
        self.modify(actor, domain, id, "update", apply, ev_update)
            .await
    }

    /// Replaces the tags (`client.update_tags` for clients, `<kind>.update` otherwise).
    pub async fn update_tags(
        &self,
        actor: &Actor<'_>,
        domain: &str,
        id: &str,
        tags: Option<Vec<String>>,
    ) -> Result<Entity> {
        let tags = tags_of(tags)?;
        let event: fn(&Entity) -> Event = match self.kind {
            Kind::Client => |e| cev::client_update_tags(&e.record()),
            _ => ev_update,
        };
        let apply = |e: &mut Entity| {
            e.tags = tags;
            Ok(())
        };
        self.modify(actor, domain, id, "update", apply, event).await
    }

    /// Enables or disables (`<kind>.remove` with the new status, as Magistrala does);
    /// disabling ends the affected MQTT sessions.
    pub async fn set_status(
        &self,
        actor: &Actor<'_>,
        domain: &str,
        id: &str,
        status: Status,
    ) -> Result<Entity> {
        let apply = |e: &mut Entity| {
            e.status = status;
            Ok(())
        };
        self.modify(actor, domain, id, "update", apply, ev_remove)
            .await
    }

    /// Deletes the entity and its connections (`<kind>.remove`, status `deleted`); the
    /// clients that were connected lose their sessions.
    pub async fn delete(&self, actor: &Actor<'_>, domain: &str, id: &str) -> Result<()> {
        let (d, e) = actor
            .authorize_entity(self.platform, domain, self.kind, id, "delete")
            .await?;
        let store = &self.platform.store;
        let mut gone = e.clone();
        stamp(&mut gone, actor);
        let event = ev_remove(&gone).with("status", "deleted");
        // Who was connected must be read before the connections go with the entity.
        let change = access_change(&event.fields);
        let affected = match &change {
            Some(change) => self.platform.clients_of(&change.targets).await?,
            None => Vec::new(),
        };
        let kaa = self.kaa(|k| k.unregistered(&e));
        store
            .delete_entity(e.kind, &d.id, &e.id, &event, &kaa)
            .await?;
        // Its roles went with it, and a group's children moved up: decisions change.
        self.platform.decisions.clear();
        if let Some(change) = change {
            self.platform.apply(&change, &affected, Origin::Local);
        }
        Ok(())
    }

    /// Sets a client's secret (generated when empty) and ends its sessions
    /// (`client.update_secret`); returns the client and the new secret in clear.
    pub async fn update_secret(
        &self,
        actor: &Actor<'_>,
        domain: &str,
        id: &str,
        secret: Option<String>,
    ) -> Result<Created> {
        let secret = secret_of(secret)?;
        let (_, mut e) = actor
            .authorize_entity(self.platform, domain, Kind::Client, id, "update")
            .await?;
        let store = &self.platform.store;
        stamp(&mut e, actor);
        let hash = self.platform.keys.hash_secret(&secret);
        let event = cev::client_update_secret(&e.record());
        store
            .update_entity(&e, Some(&hash), &event, &[])
            .await
            .map_err(conflict(Kind::Client))?;
        self.platform
            .apply_event(&event.fields, Origin::Local)
            .await?;
        Ok(Created {
            entity: e,
            secret: Some(secret),
        })
    }

    /// Loads (if the actor may do `action` on it), changes, stamps and stores an
    /// entity of this kind with `event`; then tells the access caches what the change
    /// did.
    pub(super) async fn modify(
        &self,
        actor: &Actor<'_>,
        domain: &str,
        id: &str,
        action: &str,
        change: impl FnOnce(&mut Entity) -> Result<()>,
        event: fn(&Entity) -> Event,
    ) -> Result<Entity> {
        let (_, mut e) = actor
            .authorize_entity(self.platform, domain, self.kind, id, action)
            .await?;
        let store = &self.platform.store;
        let before = e.clone();
        change(&mut e)?;
        stamp(&mut e, actor);
        let kaa = self.kaa(|k| k.changed(&before, &e));
        let event = event(&e);
        store
            .update_entity(&e, None, &event, &kaa)
            .await
            .map_err(conflict(self.kind))?;
        if before.parent_id != e.parent_id {
            // Roles inherited through the group tree changed.
            self.platform.decisions.clear();
        }
        self.after_change(&before, &e, &event).await?;
        Ok(e)
    }

    /// 404 unless `parent` is a group of the domain, 403 unless the actor may put
    /// entities under it (`set_child`): creating into a group, or moving into it,
    /// changes who reaches the entity through the group's roles, so it needs the
    /// group's consent as much as SuperMQ's `add_children_groups` /
    /// `set_child_channel` do. SuperMQ leaves a new client's parent unchecked; we
    /// check it like a channel's, one rule for the three kinds.
    pub(super) async fn require_set_child(
        &self,
        actor: &Actor<'_>,
        domain_id: &str,
        parent: &str,
    ) -> Result<()> {
        self.require_on_group(actor, domain_id, parent, "set_child")
            .await?;
        Ok(())
    }

    /// The group `id`: 404 unless it is a group of the domain, 403 unless the actor
    /// may do `action` on it.
    pub(super) async fn require_on_group(
        &self,
        actor: &Actor<'_>,
        domain_id: &str,
        id: &str,
        action: &str,
    ) -> Result<Entity> {
        let group = self
            .platform
            .store
            .entity(Kind::Group, domain_id, id)
            .await?;
        actor
            .require(
                self.platform,
                domain_id,
                EntityType::Group,
                &group.id,
                action,
            )
            .await?;
        Ok(group)
    }

    /// The domain action that creates an entity of this kind (`client_create`, ...).
    fn create_action(&self) -> String {
        format!("{}_create", self.kind.name())
    }

    /// The action that moves an entity of this kind to another group.
    pub(super) fn set_parent_action(&self) -> &'static str {
        match self.kind {
            Kind::Group => "set_parent",
            _ => "set_parent_group",
        }
    }

    /// The Kaa events `of` gives when Kaa events are on (none otherwise).
    fn kaa(&self, of: impl FnOnce(&KaaSettings) -> Vec<Event>) -> Vec<Event> {
        self.platform
            .config
            .kaa
            .as_ref()
            .map(of)
            .unwrap_or_default()
    }

    /// Revokes or refreshes the MQTT access the change affects, as its event says
    /// ([`access_change`], what every other instance applies too). A new route is the
    /// one thing the event does not show: subscriptions made under the old one must
    /// go, so here the refresh becomes a revoke (other instances refresh; their cache
    /// forgets the old route, their sessions keep what they subscribed until they
    /// reconnect).
    async fn after_change(&self, before: &Entity, after: &Entity, event: &Event) -> Result<()> {
        let Some(mut change) = access_change(&event.fields) else {
            return Ok(());
        };
        if after.route != before.route {
            change.effect = Effect::Revoke;
        }
        let clients = self.platform.clients_of(&change.targets).await?;
        self.platform.apply(&change, &clients, Origin::Local);
        Ok(())
    }
}

/// The audit stamp of a change.
fn stamp(e: &mut Entity, actor: &Actor<'_>) {
    e.audit.updated_at = Some(now_rfc3339());
    e.audit.updated_by = Some(actor.id().to_string());
}

/// A client secret from a request: generated when empty, otherwise 8..=1024 characters.
fn secret_of(given: Option<String>) -> Result<String> {
    match given.filter(|s| !s.is_empty()) {
        None => Ok(generate_secret()),
        Some(s) if (8..=1024).contains(&s.len()) => Ok(s),
        Some(_) => Err(AuthError::bad_request(
            "secret must be 8 to 1024 characters",
        )),
    }
}

/// A unique index refused the row: the secret (clients) or route (channels) is taken.
fn conflict(kind: Kind) -> impl Fn(AuthError) -> AuthError {
    move |e| match e {
        AuthError::Database(ref db) if is_unique_violation(db) => AuthError::Conflict(match kind {
            Kind::Client => "a client with this secret already exists in the domain".into(),
            _ => format!(
                "a {} with this route already exists in the domain",
                kind.name()
            ),
        }),
        other => other,
    }
}
