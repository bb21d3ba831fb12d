//! Who may do what: platform admins everything; anyone else what their roles allow
//! ([`Actor::authorize_domain`], [`Actor::authorize_entity`]: one decision,
//! `crate::roles::decide`, cached in `Platform::decisions`). A user outside a domain
//! (in none of its roles) gets 403 on its paths; an id that is not in the path's domain
//! is a 404 like a missing one; an action the user's roles do not hold is 403.
//!
//! The older gate [`Actor::domain`] with [`Need`] (admin relation = write, member =
//! read, kept by the role store in `domain_members`) is what the event consumers still
//! decide by; elsewhere it only answers "is this user in the domain" (`Need::Read`).
//!
//! Other crates whose records belong to a client (bootstrap configs, certificates)
//! decide through the same two doors: [`Actor::authorize_entity`] on the client for
//! one record, [`Actor::readable_clients`] for a list of them.
//!
//! Every operation of the service layer (`crate::service`) is done by an [`Actor`]: a
//! user who came through HTTP ([`Caller`]), or the system itself (another crate of the
//! platform acting on something it already authorized, e.g. bootstrap connecting a
//! config's client when its state turns active). This module lives outside `http` so
//! other crates can act on the platform without touching HTTP types.

use crate::error::{AuthError, Result};
use crate::model::{Domain, Entity, Kind, Role, Status, User};
use crate::platform::Platform;
use crate::roles::decide::{decide, Target};
use crate::roles::EntityType;
use crate::store::domains::Relation;

/// The authenticated user of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: User,
    /// The personal access token the request came with, and its scopes; `None` for
    /// the user's own access token. The HTTP extractor already checked that a scope
    /// covers the route (`crate::pats::routes`); services that must never run for a
    /// PAT (PAT management) refuse it again.
    pub pat: Option<std::sync::Arc<crate::pats::PatAuth>>,
}

/// What a request needs on a domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Read,
    Write,
}

impl Caller {
    /// The caller of a user's own access token.
    pub fn new(user: User) -> Caller {
        Caller { user, pat: None }
    }

    pub fn is_admin(&self) -> bool {
        self.user.role == Role::Admin
    }

    pub fn id(&self) -> &str {
        &self.user.id
    }

    pub fn require_admin(&self) -> Result<()> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(AuthError::forbidden())
        }
    }

    /// Platform admins, or the user themselves.
    pub fn require_self_or_admin(&self, user_id: &str) -> Result<()> {
        if self.is_admin() || self.user.id == user_id {
            Ok(())
        } else {
            Err(AuthError::forbidden())
        }
    }

    /// The ids of the domains this caller may read (admin or member), `None` for a
    /// platform admin, who reads every domain and the platform-level records.
    pub async fn readable_domains(&self, platform: &Platform) -> Result<Option<Vec<String>>> {
        if self.is_admin() {
            return Ok(None);
        }
        Ok(Some(platform.store.member_domain_ids(&self.user.id).await?))
    }

    /// The domain (by id or route) if the caller may `need` it; nothing of a frozen
    /// domain but for platform admins.
    pub async fn domain(
        &self,
        platform: &Platform,
        id_or_route: &str,
        need: Need,
    ) -> Result<Domain> {
        let domain = platform.store.domain(id_or_route).await?;
        if self.is_admin() {
            return Ok(domain);
        }
        match (
            platform.store.relation(&domain.id, &self.user.id).await?,
            need,
        ) {
            (Some(_), _) if domain.status == Status::Freezed => Err(AuthError::Forbidden(
                "the domain is frozen by a platform admin".into(),
            )),
            (Some(Relation::Admin), _) | (Some(Relation::Member), Need::Read) => Ok(domain),
            _ => Err(AuthError::forbidden()),
        }
    }
}

/// Who performs a service operation.
#[derive(Debug, Clone, Copy)]
pub enum Actor<'a> {
    /// An authenticated user; the domain access rules above apply.
    User(&'a Caller),
    /// The platform itself, named for the audit fields (`created_by`, `updated_by`).
    /// It passes every access check: whoever hands it over has authorized the act.
    System(&'static str),
}

impl Actor<'_> {
    /// The id written as `created_by` / `updated_by`.
    pub fn id(&self) -> &str {
        match self {
            Actor::User(caller) => caller.id(),
            Actor::System(name) => name,
        }
    }

    /// Platform admins (and the system) only.
    pub fn require_admin(&self) -> Result<()> {
        match self {
            Actor::User(caller) => caller.require_admin(),
            Actor::System(_) => Ok(()),
        }
    }

    /// Platform admins, the user `user_id` themselves, or the system.
    pub fn require_self_or_admin(&self, user_id: &str) -> Result<()> {
        match self {
            Actor::User(caller) => caller.require_self_or_admin(user_id),
            Actor::System(_) => Ok(()),
        }
    }

    /// `Some(user id)` when lists must be limited to that user's domains; `None` for a
    /// platform admin or the system, who see every domain.
    pub fn member_filter(&self) -> Option<&str> {
        match self {
            Actor::User(caller) if !caller.is_admin() => Some(caller.id()),
            _ => None,
        }
    }

    /// The domain (by id or route) if this actor may `need` it.
    pub async fn domain(
        &self,
        platform: &Platform,
        id_or_route: &str,
        need: Need,
    ) -> Result<Domain> {
        match self {
            Actor::User(caller) => caller.domain(platform, id_or_route, need).await,
            Actor::System(_) => platform.store.domain(id_or_route).await,
        }
    }
}

impl Actor<'_> {
    /// The domain (by id or route) if this actor may do `action` on it (a domain
    /// action: `read`, `update`, `client_create`, ...).
    pub async fn authorize_domain(
        &self,
        platform: &Platform,
        id_or_route: &str,
        action: &str,
    ) -> Result<Domain> {
        let domain = self.domain(platform, id_or_route, Need::Read).await?;
        self.require(platform, &domain.id, EntityType::Domain, &domain.id, action)
            .await?;
        Ok(domain)
    }

    /// The domain and its `kind` entity `id` (channels: or route) if this actor may do
    /// `action` on it; another domain's entity is a 404 like a missing one.
    pub async fn authorize_entity(
        &self,
        platform: &Platform,
        domain: &str,
        kind: Kind,
        id: &str,
        action: &str,
    ) -> Result<(Domain, Entity)> {
        let d = self.domain(platform, domain, Need::Read).await?;
        let e = platform.store.entity(kind, &d.id, id).await?;
        self.require(platform, &d.id, kind.into(), &e.id, action)
            .await?;
        Ok((d, e))
    }

    /// 403 unless this actor may do `action` on the entity `id` (of `domain_id`).
    pub async fn require(
        &self,
        platform: &Platform,
        domain_id: &str,
        kind: EntityType,
        id: &str,
        action: &str,
    ) -> Result<()> {
        let user = match self {
            Actor::System(_) => return Ok(()),
            Actor::User(caller) if caller.is_admin() => return Ok(()),
            Actor::User(caller) => caller.id(),
        };
        if platform.allowed(user, domain_id, kind, id, action).await? {
            Ok(())
        } else {
            Err(AuthError::forbidden())
        }
    }
}

impl Platform {
    /// Whether `user` (not a platform admin) may do `action` on the entity: the cached
    /// decision, or [`decide`] over their grants in the domain and the groups above the
    /// entity, stored unless a role change raced with the load.
    pub async fn allowed(
        &self,
        user: &str,
        domain_id: &str,
        kind: EntityType,
        id: &str,
        action: &str,
    ) -> Result<bool> {
        if let Some(hit) = self.decisions.get(user, id, action) {
            return Ok(hit);
        }
        let generation = self.decisions.generation();
        let ancestors = match kind {
            EntityType::Domain => Vec::new(),
            _ => self.store.ancestors_nearest_first(id).await?,
        };
        let mut on: Vec<&str> = vec![id, domain_id];
        on.extend(ancestors.iter().map(String::as_str));
        let grants = self.store.grants_on(user, domain_id, &on).await?;
        let target = Target {
            kind,
            id,
            domain_id,
            ancestors: &ancestors,
        };
        let allowed = decide(&grants, &target, action);
        self.decisions.put(generation, user, id, action, allowed);
        Ok(allowed)
    }
}

impl Caller {
    /// The domain and its client `client_id` if this user may do `action` on the
    /// client ([`Actor::authorize_entity`]): the door of the crates whose records are a
    /// client's (bootstrap configs, certificates), decided by the client's roles.
    pub async fn authorize_client(
        &self,
        platform: &Platform,
        domain: &str,
        client_id: &str,
        action: &str,
    ) -> Result<(Domain, Entity)> {
        Actor::User(self)
            .authorize_entity(platform, domain, Kind::Client, client_id, action)
            .await
    }
}

/// Which clients of a domain a list of per-client records may show its caller.
#[derive(Debug, Clone, PartialEq)]
pub enum ReadableClients {
    /// Every client's: the platform admin, the system, or a user whose domain role
    /// holds `client_read`.
    All,
    /// Only those `user` may `read` through a role on the client or a group above it,
    /// exactly the clients `GET /{domain}/clients` shows them.
    Of { user: String, domain_id: String },
}

impl ReadableClients {
    /// `None` for [`ReadableClients::All`]; otherwise the SQL condition on the
    /// record table's `column` (a client id) and its values, parameters numbered after
    /// `$taken`. The records must live in the platform's database (they do: bootstrap
    /// and certs are given `platform.store.db()`).
    pub fn sql(&self, column: &str, taken: usize) -> Option<(String, Vec<String>)> {
        match self {
            ReadableClients::All => None,
            ReadableClients::Of { user, domain_id } => Some(
                crate::store::visible::readable_clients_sql(column, user, domain_id, taken),
            ),
        }
    }
}

impl Actor<'_> {
    /// Which clients of `domain_id` (a domain this actor was let into) a list of
    /// per-client records may show: the same rule, from the same cached decision, as
    /// the domain's client list.
    pub async fn readable_clients(
        &self,
        platform: &Platform,
        domain_id: &str,
    ) -> Result<ReadableClients> {
        use crate::service::entity_roles::{list_visibility, Visibility};
        let visibility = list_visibility(platform, self, domain_id, EntityType::Client).await?;
        Ok(match visibility {
            Visibility::All => ReadableClients::All,
            Visibility::ReadableBy(user) => ReadableClients::Of {
                user,
                domain_id: domain_id.to_string(),
            },
        })
    }
}

impl<'a> From<&'a Caller> for Actor<'a> {
    fn from(caller: &'a Caller) -> Actor<'a> {
        Actor::User(caller)
    }
}
