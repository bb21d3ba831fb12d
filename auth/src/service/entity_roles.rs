//! What roles mean to the entity operations themselves (SuperMQ's clients, channels and
//! groups services): a new entity comes with its built-in `admin` role, its creator a
//! member ([`creator_member`], [`provision`]); and a list shows a user what they may
//! read ([`list_visibility`]).

use magnetite_events::model::roles::with_roles_provisioned;
use magnetite_events::Event;

use super::roles::fields;
use crate::access::Actor;
use crate::error::{AuthError, Result};
use crate::model::Entity;
use crate::platform::Platform;
use crate::roles::{EntityType, ProvisionedRole};

/// Who joins a new entity's admin role: the creating user when they are in the
/// domain. The platform admin acting from outside the domain and the system are not
/// made members (a role on an entity holds only users of its domain); the domain's
/// admins reach the entity through their domain actions either way.
pub(super) async fn creator_member(
    platform: &Platform,
    actor: &Actor<'_>,
    domain_id: &str,
) -> Result<Option<String>> {
    let Actor::User(caller) = actor else {
        return Ok(None);
    };
    let relation = platform.store.relation(domain_id, caller.id()).await?;
    Ok(relation.map(|_| caller.id().to_string()))
}

/// The built-in admin role of the new entity `e`.
pub(super) fn provision(e: &Entity, creator: Option<&str>) -> ProvisionedRole {
    ProvisionedRole::creator_admin(
        e.kind.into(),
        &e.id,
        &e.domain_id,
        &e.created_by,
        &e.audit.created_at,
        creator,
    )
}

/// The `<kind>.create` event with the role it provisioned (SuperMQ's
/// `roles_provisioned`).
pub(super) fn provisioned_event(create: Event, p: &ProvisionedRole) -> Event {
    with_roles_provisioned(create, &[(fields(&p.role), &p.actions, &p.members)])
}

/// Which of a domain's entities of one type a list may show its caller.
#[derive(Debug, Clone, PartialEq)]
pub enum Visibility {
    /// Every one: the platform admin, the system, or a user whose domain role holds
    /// `<kind>_read`.
    All,
    /// Those this user may `read` through a role on the entity or on a group above it
    /// (`crate::store::visible`), exactly what `GET .../{id}` would show them.
    ReadableBy(String),
}

/// The visibility of `kind` in `domain_id` for `actor`, a user already known to be in
/// the domain (a user outside it is refused before: 403 on its list routes).
pub(crate) async fn list_visibility(
    platform: &Platform,
    actor: &Actor<'_>,
    domain_id: &str,
    kind: EntityType,
) -> Result<Visibility> {
    let read_all = format!("{}_read", kind.as_str());
    match actor
        .require(
            platform,
            domain_id,
            EntityType::Domain,
            domain_id,
            &read_all,
        )
        .await
    {
        Ok(()) => Ok(Visibility::All),
        Err(AuthError::Forbidden(_)) => Ok(Visibility::ReadableBy(actor.id().to_string())),
        Err(other) => Err(other),
    }
}
