//! The platform's operations, one place each: entities (clients, channels, groups),
//! connections, domains, users, credentials (login, refresh, password reset).
//!
//! # Why this layer
//! Followed as a newcomer would, `POST /{d}/clients` used to go: the HTTP handler
//! authenticated the bearer token, checked the domain, validated the body, generated and
//! hashed the secret, picked the event from `magnetite_events::model`, and called the
//! store, whose `db_tx!` (then in `events`) wrote the row and appended the event through
//! `Outbox` (`events` again). Bootstrap did all of that a second time by hand (its own
//! `Entity`, hash, event, `insert_entities`), reaching into auth's store, keys and HTTP
//! types; and the cache invalidation after each change lived in the handlers.
//!
//! # The shape
//! ```text
//! http (extract, call, render)  bootstrap / certs (as the user or Actor::System)
//!              \                    /
//!               service::{Entities, Connections}
//!                 1. access: Actor::domain(.., Need)         (crate::access)
//!                 2. validate the input                       (this module's helpers)
//!                 3. pick the event                           (magnetite_events::model)
//!                 4. write change + outbox row, one transaction (crate::store)
//!                 5. refresh / revoke the MQTT access cache   (Platform::refresh/revoke)
//! ```
//! Handlers never touch the store, the keys or the event model; other crates reach the
//! platform through `platform.clients()`, `platform.channels()`, `platform.groups()` and
//! `platform.connections()`. Steps 1 and 2 keep the order the API has always had
//! (some operations validate the body before the access check, some after), because
//! which of 400 / 403 / 404 a bad request gets is part of the contract.

pub mod connections;
pub mod credentials;
pub mod domains;
pub mod entities;
mod entity_events;
mod entity_lists;
pub(crate) mod entity_roles;
pub mod group_hierarchy;
pub mod held_roles;
mod hierarchy;
pub mod invitations;
pub mod pats;
pub mod roles;
pub mod users;
pub mod verification;

pub use connections::{ConnectRequest, Connections};
pub use credentials::Credentials;
pub use domains::{DomainChange, Domains, NewDomainInput};
pub use entities::{Created, Entities, EntityChange, Listed, NewEntityInput, PreparedCreate};
pub use invitations::{InvitationPage, Invitations, SendInvitationInput};
pub use pats::{NewPatInput, Pats};
pub use roles::{CreatedRole, NewRoleInput, Roles};
pub use users::{NewUserInput, UserChange, UserField, Users};
pub use verification::Verification;

use magnetite_events::Page;
use serde_json::{json, Value};

use crate::error::{AuthError, Result};
use crate::model::Kind;
use crate::platform::Platform;
use crate::store::list::ListQuery;

impl Platform {
    /// Clients, channels or groups.
    pub fn entities(&self, kind: Kind) -> Entities<'_> {
        Entities::new(self, kind)
    }

    /// Clients (devices).
    pub fn clients(&self) -> Entities<'_> {
        self.entities(Kind::Client)
    }

    /// Channels.
    pub fn channels(&self) -> Entities<'_> {
        self.entities(Kind::Channel)
    }

    /// Groups.
    pub fn groups(&self) -> Entities<'_> {
        self.entities(Kind::Group)
    }

    /// Domains (tenants) and their members.
    pub fn domains(&self) -> Domains<'_> {
        Domains::new(self)
    }

    /// User accounts.
    pub fn users(&self) -> Users<'_> {
        Users::new(self)
    }

    /// E-mail verification links.
    pub fn verification(&self) -> Verification<'_> {
        Verification::new(self)
    }

    /// Secrets, tokens and password resets.
    pub fn credentials(&self) -> Credentials<'_> {
        Credentials::new(self)
    }

    /// Personal access tokens and their scopes.
    pub fn pats(&self) -> Pats<'_> {
        Pats::new(self)
    }

    /// Connections of clients to channels.
    pub fn connections(&self) -> Connections<'_> {
        Connections::new(self)
    }
}

/// Which way a link operation goes: connect or disconnect clients and channels, add or
/// remove a group's children.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    Attach,
    Detach,
}

/// The `Page` a list event reports.
pub(crate) fn page_of(total: u64, q: &ListQuery) -> Page {
    Page {
        total,
        offset: q.offset,
        limit: q.limit,
        status: q.status.clone(),
    }
}

/// Tags from a body: a list of non-empty strings.
pub(crate) fn tags_of(v: Option<Vec<String>>) -> Result<Vec<String>> {
    let tags = v.unwrap_or_default();
    if tags.iter().any(|t| t.trim().is_empty()) {
        return Err(AuthError::bad_request("tags must be non-empty strings"));
    }
    Ok(tags)
}

/// Metadata from a body: a JSON object (default `{}`).
pub(crate) fn metadata_of(v: Option<Value>) -> Result<Value> {
    match v {
        None | Some(Value::Null) => Ok(json!({})),
        Some(obj @ Value::Object(_)) => Ok(obj),
        Some(_) => Err(AuthError::bad_request("metadata must be a JSON object")),
    }
}

/// Names: 1..=1024 characters.
pub(crate) fn name_of(name: Option<String>, what: &str) -> Result<String> {
    match name.map(|n| n.trim().to_string()) {
        Some(n) if !n.is_empty() && n.len() <= 1024 => Ok(n),
        Some(_) => Err(AuthError::bad_request(format!(
            "{what} must be 1 to 1024 characters"
        ))),
        None => Err(AuthError::bad_request(format!("missing {what}"))),
    }
}

/// Routes name a domain or channel in topics: letters, digits, `-`, `_`, up to 64, and
/// never shaped like an id (a UUID, with or without hyphens): a route that looks like
/// some other entity's id could otherwise be mistaken for it in a topic.
pub(crate) fn check_route(route: &str) -> Result<()> {
    let ok = !route.is_empty()
        && route.len() <= 64
        && route
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !ok {
        return Err(AuthError::bad_request(
            "route must be 1 to 64 letters, digits, '-' or '_'",
        ));
    }
    if uuid::Uuid::try_parse(route).is_ok() {
        return Err(AuthError::bad_request(
            "route must not be shaped like an id (a UUID)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_route;

    #[test]
    fn routes_shaped_like_ids_are_refused() {
        assert!(check_route("telemetry").is_ok());
        assert!(check_route("plant-1_a").is_ok());
        for id_shaped in [
            "2f1c8f2e-6f8e-4b7e-9a51-0c3e8e4b1d2a",
            "2f1c8f2e6f8e4b7e9a510c3e8e4b1d2a",
            "2F1C8F2E-6F8E-4B7E-9A51-0C3E8E4B1D2A",
        ] {
            assert!(check_route(id_shaped).is_err(), "{id_shaped}");
        }
    }
}
