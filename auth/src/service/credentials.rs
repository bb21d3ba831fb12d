//! Credentials: a user's own secret, access and refresh tokens, password reset, and the
//! bearer token -> user resolution every authenticated request starts with.
//!
//! The throttles sit here, not in HTTP, because they are part of what an operation
//! costs a guesser: a login is counted before its hashing slot is awaited (concurrent
//! guesses see each other), a reset request is counted for known and unknown e-mails
//! alike (the answer must not reveal who has an account).

use magnetite_events::model::users as ev;
use std::net::IpAddr;
use std::time::Instant;

use super::users::{check_email, check_password};
use crate::access::Caller;
use crate::crypto::{Claims, TokenKind};
use crate::error::{AuthError, Result};
use crate::model::{Status, User};
use crate::passwords;
use crate::platform::Platform;
use crate::store::now_rfc3339;

/// The longest login (username or e-mail) a login may carry: no account can have a
/// longer one (usernames and e-mails are at most 254 bytes), so longer ones are refused
/// before any lookup, hashing or throttle bookkeeping.
pub const MAX_LOGIN_LEN: usize = 254;
pub use crate::passwords::MAX_PASSWORD_LEN;

/// An access and a refresh token, both bound to the user's token epoch. No `Debug`.
pub struct TokenPair {
    pub access: String,
    pub refresh: String,
}

/// The credential operations (`platform.credentials()`).
#[derive(Clone, Copy)]
pub struct Credentials<'a> {
    platform: &'a Platform,
}

impl<'a> Credentials<'a> {
    pub(super) fn new(platform: &'a Platform) -> Credentials<'a> {
        Credentials { platform }
    }

    /// The enabled user a bearer token of `kind` belongs to. Every failure (bad
    /// signature, wrong kind, deleted user, older token epoch) answers the same 401.
    pub async fn user_of_token(&self, token: &str, kind: TokenKind) -> Result<User> {
        let claims = self.platform.keys.verify_token(token)?;
        if claims.typ != kind {
            return Err(invalid_token());
        }
        let user = self.user_of_claims(&claims).await?;
        if user.status != Status::Enabled {
            return Err(AuthError::Unauthorized("user is disabled".into()));
        }
        Ok(user)
    }

    /// Changes the caller's own secret after checking the old one (`user.update_secret`).
    pub async fn update_secret(
        &self,
        caller: &Caller,
        old: Option<String>,
        new: Option<String>,
    ) -> Result<User> {
        let (Some(old), Some(new)) = (old, new) else {
            return Err(AuthError::bad_request(
                "old_secret and new_secret are required",
            ));
        };
        check_password(&new)?;
        let store = &self.platform.store;
        let (_, hash) = store
            .user_by_login(&caller.user.email)
            .await?
            .ok_or(AuthError::NotFound("user"))?;
        if !passwords::verify(&old, Some(&hash)).await? {
            return Err(AuthError::Unauthorized("wrong secret".into()));
        }
        let user = stamped(caller.user.clone());
        let new_hash = passwords::hash(&new).await?;
        let event = ev::user_update_secret(&user.record());
        store.update_user(&user, Some(&new_hash), &event).await?;
        Ok(user)
    }

    /// Logs in with a username or e-mail and a password (`user.issue_token`).
    pub async fn issue_token(
        &self,
        login: Option<String>,
        password: Option<String>,
    ) -> Result<TokenPair> {
        let login = login.ok_or_else(|| AuthError::bad_request("missing username"))?;
        let password = password.ok_or_else(|| AuthError::bad_request("missing password"))?;
        check_login_size(&login, &password)?;
        let platform = self.platform;
        // Counted before the hashing slot is awaited: concurrent guesses see each other.
        let attempt = platform.login_throttle.begin(&login, Instant::now())?;
        let account = platform.store.user_by_login(&login).await?;
        let hash = account.as_ref().map(|(_, hash)| hash.as_str());
        let verified = passwords::verify(&password, hash).await?;
        let Some((user, _)) = account.filter(|_| verified) else {
            drop(attempt);
            return Err(AuthError::Unauthorized("wrong username or password".into()));
        };
        attempt.succeeded();
        if user.status != Status::Enabled {
            return Err(AuthError::Unauthorized("user is disabled".into()));
        }
        let event = ev::user_issue_token(&user.email);
        platform.store.record_event(&event).await?;
        self.tokens(&user)
    }

    /// A fresh pair for the user of a valid refresh token (`user.refresh_token`).
    pub async fn refresh_token(&self, user: &User) -> Result<TokenPair> {
        let event = ev::user_refresh_token();
        self.platform.store.record_event(&event).await?;
        self.tokens(user)
    }

    /// Mails the reset link (SMTP or the mail dir, see [`crate::mail`]) under the
    /// configured public URL. Answers the same whether or not the e-mail is known, so
    /// the endpoint does not reveal who has an account; throttled per e-mail and per
    /// source address ([`crate::reset_throttle`]) alike for known and unknown e-mails.
    /// `referer` (the UI's page) picks the link base among the configured ones
    /// ([`reset_link_base`]).
    pub async fn request_reset(
        &self,
        email: Option<String>,
        peer: Option<IpAddr>,
        referer: Option<&str>,
    ) -> Result<()> {
        let email = email.ok_or_else(|| AuthError::bad_request("missing email"))?;
        check_email(&email)?;
        let platform = self.platform;
        let base = reset_link_base(&platform.config, referer)?;
        platform.reset_throttle.hit(&email, peer, Instant::now())?;
        if let Some((user, _)) = platform.store.user_by_login(&email).await? {
            self.send_reset_mail(&user, base).await?;
        }
        Ok(())
    }

    /// Sets the new password and bumps the user's token epoch in one conditional
    /// update: the reset token works once, and every access and refresh token issued
    /// before the reset stops working (`user.reset_secret`).
    pub async fn reset(
        &self,
        token: Option<String>,
        password: Option<String>,
        confirm_password: Option<String>,
    ) -> Result<()> {
        let (Some(token), Some(password)) = (token, password) else {
            return Err(AuthError::bad_request("token and password are required"));
        };
        if confirm_password.is_some_and(|c| c != password) {
            return Err(AuthError::bad_request(
                "password and confirm_password differ",
            ));
        }
        check_password(&password)?;
        let claims = self.platform.keys.verify_token(&token)?;
        if claims.typ != TokenKind::Reset {
            return Err(invalid_token());
        }
        let user = stamped(self.user_of_claims(&claims).await?);
        let hash = passwords::hash(&password).await?;
        let event = ev::user_reset_secret();
        let store = &self.platform.store;
        store
            .reset_password(&user, claims.ep, &hash, &event)
            .await?;
        tracing::info!(user_id = %user.id, "password reset: earlier tokens of the user revoked");
        Ok(())
    }

    /// The user a token names, if the token's epoch is still the user's: a missing
    /// user and an older epoch are the same 401 as a bad signature.
    async fn user_of_claims(&self, claims: &Claims) -> Result<User> {
        let user = self
            .platform
            .store
            .user(&claims.sub)
            .await
            .map_err(|e| match e {
                AuthError::NotFound(_) => invalid_token(),
                other => other,
            })?;
        if user.token_epoch != claims.ep {
            return Err(invalid_token());
        }
        Ok(user)
    }

    /// An access and a refresh token for `user`, bound to its current token epoch.
    fn tokens(&self, user: &User) -> Result<TokenPair> {
        let config = &self.platform.config;
        let keys = &self.platform.keys;
        let claims = |kind, ttl| Claims::new(&user.id, user.token_epoch, kind, ttl);
        Ok(TokenPair {
            access: keys.sign_token(&claims(TokenKind::Access, config.access_ttl_secs))?,
            refresh: keys.sign_token(&claims(TokenKind::Refresh, config.refresh_ttl_secs))?,
        })
    }

    /// A reset token bound to the user's token epoch (so it dies with the first
    /// reset), mailed under the link base `host`; the events name it as the host.
    async fn send_reset_mail(&self, user: &User, host: &str) -> Result<()> {
        let config = &self.platform.config;
        let claims = Claims::new(
            &user.id,
            user.token_epoch,
            TokenKind::Reset,
            config.reset_ttl_secs,
        );
        let token = self.platform.keys.sign_token(&claims)?;
        config.mailer.send_reset(user, host, &token)?;
        let store = &self.platform.store;
        store
            .record_event(&ev::user_generate_reset_token(&user.email, host))
            .await?;
        let sent = ev::user_send_password_reset(host, &user.email, &user.username);
        store.record_event(&sent).await
    }
}

/// The base of a reset link: `--public-url` without a `Referer`; with one, the
/// configured base (public URL or a `--ui-host`) the referring page lies under. A
/// page under none of them is refused: the link carries a secret, so it may only
/// point where the operator said, and the configured text is used, not the request's.
pub(crate) fn reset_link_base<'c>(
    config: &'c crate::platform::PlatformConfig,
    referer: Option<&str>,
) -> Result<&'c str> {
    let Some(referer) = referer else {
        return Ok(&config.public_url);
    };
    let referer = referer.trim();
    let mut bases = std::iter::once(&config.public_url).chain(&config.ui_hosts);
    let under = |base: &&String| {
        let base = base.trim_end_matches('/');
        referer
            .strip_prefix(base)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?', '#']))
    };
    bases.find(under).map(String::as_str).ok_or_else(|| {
        AuthError::bad_request("Referer is not a configured UI host (--public-url, --ui-host)")
    })
}

fn invalid_token() -> AuthError {
    AuthError::Unauthorized("invalid or expired token".into())
}

/// The user as changed by themselves now.
fn stamped(mut user: User) -> User {
    user.audit.updated_at = Some(now_rfc3339());
    user.audit.updated_by = Some(user.id.clone());
    user
}

fn check_login_size(login: &str, password: &str) -> Result<()> {
    if login.len() > MAX_LOGIN_LEN {
        return Err(AuthError::bad_request(format!(
            "username is longer than {MAX_LOGIN_LEN} bytes"
        )));
    }
    if password.len() > MAX_PASSWORD_LEN {
        return Err(AuthError::bad_request(format!(
            "password is longer than {MAX_PASSWORD_LEN} bytes"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::PlatformConfig;

    fn config() -> PlatformConfig {
        PlatformConfig {
            public_url: "https://iot.example.com".into(),
            ui_hosts: vec![
                "http://localhost:3000/".into(),
                "https://ui.example.com/app".into(),
            ],
            ..PlatformConfig::default()
        }
    }

    #[test]
    fn without_a_referer_links_use_the_public_url() {
        assert_eq!(
            reset_link_base(&config(), None).ok(),
            Some("https://iot.example.com")
        );
    }

    #[test]
    fn a_referer_under_a_configured_base_picks_that_base() {
        let c = config();
        let base = |r| reset_link_base(&c, Some(r)).ok();
        assert_eq!(
            base("https://iot.example.com/login"),
            Some("https://iot.example.com")
        );
        assert_eq!(
            base("http://localhost:3000/"),
            Some("http://localhost:3000/")
        );
        assert_eq!(
            base("http://localhost:3000"),
            Some("http://localhost:3000/")
        );
        assert_eq!(
            base("https://ui.example.com/app/password?x=1"),
            Some("https://ui.example.com/app")
        );
    }

    #[test]
    fn any_other_referer_is_refused() {
        let c = config();
        for referer in [
            "https://evil.example.net/",
            "https://iot.example.com.evil.net/",
            "https://iot.example.comx",
            "https://ui.example.com/application",
            "http://iot.example.com/",
            "",
        ] {
            let refused = reset_link_base(&c, Some(referer)).unwrap_err();
            assert!(matches!(refused, AuthError::BadRequest(_)), "{referer}");
        }
    }
}
