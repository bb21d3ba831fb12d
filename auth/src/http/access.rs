//! Who may do what: platform admins everything; a domain's admins (its creator first)
//! everything inside it; its members read it. Anything else is 403.

use crate::error::{AuthError, Result};
use crate::model::{Domain, Role, User};
use crate::platform::Platform;
use crate::store::domains::Relation;

/// The authenticated user of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: User,
}

/// What a request needs on a domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Read,
    Write,
}

impl Caller {
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

    /// The user behind `Authorization: Bearer <access token>` in `headers`, for
    /// routes other crates serve (the event log) that cannot use the extractor.
    pub async fn from_headers(
        platform: &Platform,
        headers: &axum::http::HeaderMap,
    ) -> Result<Caller> {
        let user = super::bearer_user(headers, platform, crate::crypto::TokenKind::Access).await?;
        Ok(Caller { user })
    }

    /// The ids of the domains this caller may read (admin or member), `None` for a
    /// platform admin, who reads every domain and the platform-level records.
    pub async fn readable_domains(&self, platform: &Platform) -> Result<Option<Vec<String>>> {
        if self.is_admin() {
            return Ok(None);
        }
        Ok(Some(platform.store.member_domain_ids(&self.user.id).await?))
    }

    /// The domain (by id or route) if the caller may `need` it.
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
            (Some(Relation::Admin), _) | (Some(Relation::Member), Need::Read) => Ok(domain),
            _ => Err(AuthError::forbidden()),
        }
    }
}
