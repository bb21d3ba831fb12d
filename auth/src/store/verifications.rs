//! Pending e-mail verifications: one row per link sent, keyed by the token's keyed
//! hash (the token itself is only ever in the mail). A user has at most one pending
//! link (a new one replaces the older), and a link is used by deleting its row, so it
//! works once even against two concurrent uses.

use magnetite_events::Event;

use super::{Cols, Outbox, Store};
use crate::error::{AuthError, Result};

/// A verification link to store.
pub struct NewVerification<'a> {
    pub token_hash: &'a str,
    pub user_id: &'a str,
    /// The e-mail the link was sent to: it verifies that address only.
    pub email: &'a str,
    /// Unix seconds after which the link no longer works.
    pub expires_at: i64,
}

/// One use of a link: the moment it is used, and the event to record with it.
pub struct VerificationUse<'a> {
    pub token_hash: &'a str,
    pub now_secs: i64,
    pub verified_at: &'a str,
    pub make_event: &'a (dyn Fn(&str, &str) -> Event + Sync),
}

impl Store {
    /// Stores `v` in place of the user's earlier pending links, with `ev`.
    pub async fn add_verification(&self, v: &NewVerification<'_>, ev: &Event) -> Result<()> {
        magnetite_db::db_tx!(self.db(), tx => {
            sqlx::query("DELETE FROM email_verifications WHERE user_id = $1")
                .bind(v.user_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO email_verifications (token_hash, user_id, email, expires_at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(v.token_hash)
            .bind(v.user_id)
            .bind(v.email)
            .bind(v.expires_at)
            .execute(&mut *tx)
            .await?;
            tx.append(ev).await?;
        });
        Ok(())
    }

    /// Uses a link: its row is deleted whatever happens next (an expired or outdated
    /// link is gone too), and if it had not expired and the user's e-mail is still the
    /// one it was sent to, `verified_at` is set, with the event `make_event(user id,
    /// e-mail)`. Returns the user id; `Unauthorized` for an unknown, used, expired or
    /// outdated link (one answer for all: the caller learns nothing about which).
    pub async fn use_verification(&self, u: &VerificationUse<'_>) -> Result<String> {
        let verified = magnetite_db::db_tx!(self.db(), tx => {
            let row = sqlx::query(
                "DELETE FROM email_verifications WHERE token_hash = $1 \
                 RETURNING user_id, email, expires_at",
            )
            .bind(u.token_hash)
            .fetch_optional(&mut *tx)
            .await?;
            let pending = match row {
                Some(r) if r.int("expires_at")? >= u.now_secs => {
                    Some((r.text("user_id")?, r.text("email")?))
                }
                _ => None,
            };
            match pending {
                Some((user_id, email)) => {
                    let done = sqlx::query(
                        "UPDATE users SET verified_at = $2 WHERE id = $1 AND email = $3",
                    )
                    .bind(&user_id)
                    .bind(u.verified_at)
                    .bind(&email)
                    .execute(&mut *tx)
                    .await?;
                    if done.rows_affected() == 1 {
                        tx.append(&(u.make_event)(&user_id, &email)).await?;
                        Some(user_id)
                    } else {
                        None
                    }
                }
                None => None,
            }
        });
        verified
            .ok_or_else(|| AuthError::Unauthorized("invalid or expired verification token".into()))
    }
}
