//! Personal access tokens (SuperMQ's `/pats`): a user creates named tokens with an
//! expiry and scopes, for automation that should not hold a password. The token is
//! shown once (create, reset); the store keeps its keyed hash. A PAT authenticates as
//! its user but only where one of its scopes covers the route (`crate::pats::routes`),
//! and never on PAT management or password routes — checked here a second time, so
//! a PAT caller is refused even if a route row were added by mistake.

use magnetite_events::model::pats::{self as ev, PatFields};
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

use crate::access::Caller;
use crate::error::{AuthError, Result};
use crate::model::{Status, User};
use crate::pats::{token, PatAuth, Scope, ScopeInput};
use crate::platform::Platform;
use crate::store::pats::{Pat, PatQuery, PatText};
use crate::store::{new_id, now_rfc3339};

/// The longest life a PAT may be given (create or reset).
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);
/// The most PATs one user may hold.
pub const MAX_PATS_PER_USER: i64 = 100;
/// The most scopes one request may add or remove.
pub const MAX_SCOPES_PER_REQUEST: usize = 100;

/// `POST /pats`.
#[derive(Debug, Deserialize)]
pub struct NewPatInput {
    pub name: Option<String>,
    pub description: Option<String>,
    /// A Go-style duration (`"24h"`, `"720h"`, `"1h30m"`).
    pub duration: Option<String>,
}

/// The PAT operations (`platform.pats()`).
#[derive(Clone, Copy)]
pub struct Pats<'a> {
    platform: &'a Platform,
}

fn invalid_pat() -> AuthError {
    AuthError::Unauthorized("invalid, revoked or expired personal access token".into())
}

/// PAT management needs the user's own access token (SuperMQ's rule).
fn refuse_pat(caller: &Caller) -> Result<()> {
    match caller.pat {
        Some(_) => Err(AuthError::Forbidden(
            "personal access tokens cannot manage personal access tokens".into(),
        )),
        None => Ok(()),
    }
}

/// A duration between one second and [`MAX_DURATION`].
fn duration_of(text: Option<&str>) -> Result<Duration> {
    let text = text.map(str::trim).filter(|t| !t.is_empty());
    let text = text.ok_or_else(|| AuthError::bad_request("missing duration (e.g. \"720h\")"))?;
    let d = humantime::parse_duration(text)
        .map_err(|_| AuthError::bad_request("duration must look like \"24h\" or \"1h30m\""))?;
    if d < Duration::from_secs(1) || d > MAX_DURATION {
        return Err(AuthError::bad_request(
            "duration must be between 1s and 8760h (one year)",
        ));
    }
    Ok(d)
}

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Unix seconds as the API renders times.
pub fn rfc3339_of(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// What the `pat.*` events show of a PAT.
fn fields_of(p: &Pat) -> PatFields {
    PatFields {
        id: p.id.clone(),
        user_id: p.user_id.clone(),
        name: p.name.clone(),
        description: p.description.clone(),
        issued_at: p.issued_at.clone(),
        expires_at: rfc3339_of(p.expires_at),
    }
}

impl<'a> Pats<'a> {
    pub(super) fn new(platform: &'a Platform) -> Pats<'a> {
        Pats { platform }
    }

    /// Creates a PAT; returns it with its token, the only time the token is shown.
    pub async fn create(&self, caller: &Caller, input: NewPatInput) -> Result<(Pat, String)> {
        refuse_pat(caller)?;
        let name = super::name_of(input.name, "name")?;
        let description = input.description.unwrap_or_default();
        if description.len() > 1024 {
            return Err(AuthError::bad_request(
                "description must be at most 1024 characters",
            ));
        }
        let duration = duration_of(input.duration.as_deref())?;
        let store = &self.platform.store;
        if store.pat_count(caller.id()).await? >= MAX_PATS_PER_USER {
            return Err(AuthError::bad_request(format!(
                "a user holds at most {MAX_PATS_PER_USER} personal access tokens"
            )));
        }
        let now = now_secs();
        let pat = Pat {
            id: new_id(),
            user_id: caller.id().to_string(),
            name,
            description,
            issued_at: rfc3339_of(now),
            expires_at: now + duration.as_secs() as i64,
            updated_at: None,
            revoked: false,
            revoked_at: None,
        };
        let secret = self.new_token(&pat.id, caller.id())?;
        let hash = self.platform.keys.hash_secret(&secret);
        store
            .insert_pat(&pat, &hash, &ev::pat_create(&fields_of(&pat)))
            .await?;
        Ok((pat, secret))
    }

    fn new_token(&self, pat_id: &str, user_id: &str) -> Result<String> {
        token::generate(user_id, pat_id)
            .ok_or_else(|| AuthError::Internal("user or PAT id is not a UUID".into()))
    }

    /// The caller's PAT (404 for another user's).
    pub async fn view(&self, caller: &Caller, pat_id: &str) -> Result<Pat> {
        refuse_pat(caller)?;
        self.platform.store.pat(caller.id(), pat_id).await
    }

    /// A page of the caller's PATs.
    pub async fn list(&self, caller: &Caller, q: &PatQuery) -> Result<(u64, Vec<Pat>)> {
        refuse_pat(caller)?;
        self.platform.store.list_pats(caller.id(), q).await
    }

    /// Renames (`Name`) or describes (`Description`) the caller's PAT.
    pub async fn update_text(
        &self,
        caller: &Caller,
        pat_id: &str,
        field: PatText,
        value: Option<String>,
    ) -> Result<Pat> {
        refuse_pat(caller)?;
        let what = match field {
            PatText::Name => "name",
            PatText::Description => "description",
        };
        let value = super::name_of(value, what)?;
        let make_event = |p: &Pat| match field {
            PatText::Name => ev::pat_update_name(&fields_of(p)),
            PatText::Description => ev::pat_update_description(&fields_of(p)),
        };
        let store = &self.platform.store;
        let change = (field, value.as_str());
        store
            .update_pat_text(caller.id(), pat_id, change, &now_rfc3339(), &make_event)
            .await
    }

    /// A new token (shown once) and expiry for the caller's PAT; the old token stops
    /// working at commit, here and (through the event) on every instance.
    pub async fn reset_secret(
        &self,
        caller: &Caller,
        pat_id: &str,
        duration: Option<String>,
    ) -> Result<(Pat, String)> {
        refuse_pat(caller)?;
        let duration = duration_of(duration.as_deref())?;
        let store = &self.platform.store;
        store.pat(caller.id(), pat_id).await?;
        let secret = self.new_token(pat_id, caller.id())?;
        let hash = self.platform.keys.hash_secret(&secret);
        let expires_at = now_secs() + duration.as_secs() as i64;
        let make_event = |p: &Pat| ev::pat_reset_secret(&fields_of(p));
        let pat = store
            .reset_pat_secret(
                caller.id(),
                pat_id,
                (&hash, expires_at),
                &now_rfc3339(),
                &make_event,
            )
            .await;
        self.platform.pat_cache.invalidate(pat_id);
        Ok((pat?, secret))
    }

    /// Revokes the caller's PAT: kept and listed, never usable again (until a reset).
    pub async fn revoke(&self, caller: &Caller, pat_id: &str) -> Result<()> {
        refuse_pat(caller)?;
        let make_event = |p: &Pat| ev::pat_revoke(&p.user_id, &p.id);
        let done = self
            .platform
            .store
            .revoke_pat(caller.id(), pat_id, &now_rfc3339(), &make_event)
            .await;
        self.platform.pat_cache.invalidate(pat_id);
        done.map(|_| ())
    }

    /// Deletes the caller's PAT and its scopes.
    pub async fn delete(&self, caller: &Caller, pat_id: &str) -> Result<()> {
        refuse_pat(caller)?;
        let event = ev::pat_remove(caller.id(), pat_id);
        let done = self
            .platform
            .store
            .delete_pat(caller.id(), pat_id, &event)
            .await;
        self.platform.pat_cache.invalidate(pat_id);
        done
    }

    /// Deletes every PAT of the caller.
    pub async fn delete_all(&self, caller: &Caller) -> Result<()> {
        refuse_pat(caller)?;
        let event = ev::pat_remove_all(caller.id());
        let done = self
            .platform
            .store
            .delete_user_pats(caller.id(), &event)
            .await;
        self.platform.pat_cache.invalidate_user(caller.id());
        done
    }

    /// Adds scopes (each validated; 400 names the first bad one) to the caller's PAT.
    pub async fn add_scopes(
        &self,
        caller: &Caller,
        pat_id: &str,
        inputs: Option<Vec<ScopeInput>>,
    ) -> Result<()> {
        refuse_pat(caller)?;
        let inputs = inputs.unwrap_or_default();
        if inputs.is_empty() || inputs.len() > MAX_SCOPES_PER_REQUEST {
            return Err(AuthError::bad_request(format!(
                "scopes must list 1 to {MAX_SCOPES_PER_REQUEST} scopes"
            )));
        }
        let mut scopes = inputs
            .into_iter()
            .map(ScopeInput::validate)
            .collect::<Result<Vec<Scope>>>()?;
        for s in &mut scopes {
            s.id = new_id();
            s.pat_id = pat_id.to_string();
        }
        let listed = scopes.iter().map(Scope::to_json).collect();
        let event = ev::pat_add_scope(caller.id(), pat_id, listed);
        let store = &self.platform.store;
        let done = store
            .add_pat_scopes(caller.id(), pat_id, &scopes, &event)
            .await;
        self.platform.pat_cache.invalidate(pat_id);
        done
    }

    /// Removes the scopes `scope_ids` of the caller's PAT, or all of them (`None`).
    pub async fn remove_scopes(
        &self,
        caller: &Caller,
        pat_id: &str,
        scope_ids: Option<Vec<String>>,
    ) -> Result<()> {
        refuse_pat(caller)?;
        let event = match &scope_ids {
            Some(ids) if ids.is_empty() || ids.len() > MAX_SCOPES_PER_REQUEST => {
                return Err(AuthError::bad_request(format!(
                    "scopes_id must list 1 to {MAX_SCOPES_PER_REQUEST} scope ids"
                )))
            }
            Some(ids) => ev::pat_remove_scope(caller.id(), pat_id, ids),
            None => ev::pat_remove_all_scope(caller.id(), pat_id),
        };
        let store = &self.platform.store;
        let ids = scope_ids.as_deref();
        let done = store
            .remove_pat_scopes(caller.id(), pat_id, ids, &event)
            .await;
        self.platform.pat_cache.invalidate(pat_id);
        done
    }

    /// A page of the scopes of the caller's PAT.
    pub async fn list_scopes(
        &self,
        caller: &Caller,
        pat_id: &str,
        (offset, limit): (u64, u64),
    ) -> Result<(u64, Vec<Scope>)> {
        refuse_pat(caller)?;
        let store = &self.platform.store;
        store.pat(caller.id(), pat_id).await?;
        store.list_pat_scopes(pat_id, offset, limit).await
    }

    /// The enabled user a PAT token belongs to, and the PAT (with its scopes). Every
    /// failure — malformed, unknown, another user's ids, wrong secret, revoked,
    /// expired — is the same 401. Only a verified PAT enters the cache.
    pub async fn authenticate(&self, presented: &str) -> Result<(User, Arc<PatAuth>)> {
        let ids = token::parse(presented).ok_or_else(invalid_pat)?;
        let cache = &self.platform.pat_cache;
        let auth = match cache.get(&ids.pat_id) {
            Some(auth) => auth,
            None => {
                let generation = cache.generation();
                let loaded = self.platform.store.pat_auth(&ids.pat_id).await?;
                let auth = Arc::new(loaded.ok_or_else(invalid_pat)?);
                if self.verifies(&auth, &ids.user_id, presented) {
                    cache.insert(Arc::clone(&auth), generation);
                }
                auth
            }
        };
        if !self.verifies(&auth, &ids.user_id, presented) {
            return Err(invalid_pat());
        }
        let user = match self.platform.store.user(&auth.user_id).await {
            Ok(user) if user.status == Status::Enabled => user,
            Ok(_) | Err(AuthError::NotFound(_)) => return Err(invalid_pat()),
            Err(other) => return Err(other),
        };
        Ok((user, auth))
    }

    /// The token is this PAT's, live, and its secret matches (constant time).
    fn verifies(&self, auth: &PatAuth, user_id: &str, presented: &str) -> bool {
        let keys = &self.platform.keys;
        auth.user_id == user_id
            && !auth.revoked
            && auth.expires_at > now_secs()
            && keys.verify_secret(presented.as_bytes(), &auth.secret_hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_bounded() {
        assert_eq!(
            duration_of(Some("24h")).unwrap(),
            Duration::from_secs(86400)
        );
        assert_eq!(
            duration_of(Some("1h30m")).unwrap(),
            Duration::from_secs(5400)
        );
        assert!(duration_of(Some("8760h")).is_ok());
        for bad in [
            None,
            Some(""),
            Some("8761h"),
            Some("0s"),
            Some("soon"),
            Some("-1h"),
        ] {
            assert!(duration_of(bad).is_err(), "{bad:?}");
        }
    }
}
