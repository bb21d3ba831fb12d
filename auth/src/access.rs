//! Who may do what: platform admins everything; a domain's admins (its creator first)
//! everything inside it; its members read it. Anything else is 403.
//!
//! Every operation of the service layer (`crate::service`) is done by an [`Actor`]: a
//! user who came through HTTP ([`Caller`]), or the system itself (another crate of the
//! platform acting on something it already authorized, e.g. bootstrap connecting a
//! config's client when its state turns active). This module lives outside `http` so
//! other crates can act on the platform without touching HTTP types.

use crate::error::{AuthError, Result};
use crate::model::{Domain, Role, Status, User};
use crate::platform::Platform;
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

impl<'a> From<&'a Caller> for Actor<'a> {
    fn from(caller: &'a Caller) -> Actor<'a> {
        Actor::User(caller)
    }
}
