//! E-mail verification (SuperMQ's `POST /users/send-verification` and
//! `GET /verify-email?token=`): a signed-in user asks for a link; opening it proves
//! they read mail at their address and sets `verified_at`.
//!
//! Unlike the reset token (a JWT that dies with the token epoch), the verification
//! token is random and stored as its keyed hash: it must be single-use without
//! changing anything else about the user, and a leaked database yields no usable link.
//! Sending is throttled per address and per source like reset requests, since each
//! request puts a mail in someone's inbox.

use magnetite_events::model::users as ev;
use std::net::IpAddr;
use std::time::Instant;

use crate::access::Caller;
use crate::crypto::generate_secret;
use crate::error::{AuthError, Result};
use crate::platform::Platform;
use crate::store::now_rfc3339;
use crate::store::verifications::{NewVerification, VerificationUse};

/// How long a verification link works.
pub const VERIFICATION_TTL_SECS: i64 = 24 * 3600;
/// Longer tokens cannot be ours (48 hex characters) and are refused before hashing.
const MAX_TOKEN_LEN: usize = 256;

/// The verification operations (`platform.verification()`).
#[derive(Clone, Copy)]
pub struct Verification<'a> {
    platform: &'a Platform,
}

impl<'a> Verification<'a> {
    pub(super) fn new(platform: &'a Platform) -> Verification<'a> {
        Verification { platform }
    }

    /// Mails a fresh link to the caller's e-mail (any earlier link stops working).
    /// Already verified: 409, no mail. Throttled like reset requests: 429.
    pub async fn send(&self, caller: &Caller, peer: Option<IpAddr>) -> Result<()> {
        let user = &caller.user;
        if user.verified_at.is_some() {
            return Err(AuthError::Conflict("e-mail already verified".into()));
        }
        let platform = self.platform;
        platform
            .verify_throttle
            .hit(&user.email, peer, Instant::now())?;
        let token = generate_secret();
        let token_hash = platform.keys.hash_secret(&token);
        let pending = NewVerification {
            token_hash: &token_hash,
            user_id: &user.id,
            email: &user.email,
            expires_at: chrono::Utc::now().timestamp() + VERIFICATION_TTL_SECS,
        };
        let event = ev::user_send_verification(&user.id);
        platform.store.add_verification(&pending, &event).await?;
        let config = &platform.config;
        config
            .mailer
            .send_verification(user, &config.public_url, &token)
    }

    /// Uses the link's token: `verified_at` is now. A missing or over-long token is a
    /// 400; an unknown, used, expired or outdated one (the e-mail changed since) 401.
    pub async fn verify(&self, token: Option<&str>) -> Result<String> {
        let token = token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| AuthError::bad_request("missing token"))?;
        if token.len() > MAX_TOKEN_LEN {
            return Err(AuthError::bad_request("token is too long"));
        }
        let platform = self.platform;
        let verified_at = now_rfc3339();
        let make_event =
            |user_id: &str, email: &str| ev::user_verify_email(user_id, email, &verified_at);
        let token_hash = platform.keys.hash_secret(token);
        let used = VerificationUse {
            token_hash: &token_hash,
            now_secs: chrono::Utc::now().timestamp(),
            verified_at: &verified_at,
            make_event: &make_event,
        };
        let user_id = platform.store.use_verification(&used).await?;
        tracing::info!(user_id = %user_id, "e-mail verified");
        Ok(user_id)
    }
}
