//! The scopes of personal access tokens, and the one read a PAT's verification needs
//! (its row and scopes: `crate::pats::PatAuth`). Scope changes check in the same
//! transaction that the PAT belongs to the caller, so they can never reach another
//! user's PAT.

use magnetite_events::Event;

use super::pats::not_found;
use super::{Cols, Outbox, Store};
use crate::error::{AuthError, Result};
use crate::pats::{PatAuth, Scope};

const SCOPE_COLUMNS: &str = "id, pat_id, domain_id, entity_type, operation, entity_id";

/// The most scopes one PAT may hold.
pub const MAX_SCOPES: i64 = 1000;

/// Whether `pat_id` belongs to `user_id`, on the transaction's connection.
macro_rules! owns_pat {
    ($tx:ident, $user_id:expr, $pat_id:expr) => {
        sqlx::query("SELECT id FROM pats WHERE id = $1 AND user_id = $2")
            .bind($pat_id)
            .bind($user_id)
            .fetch_optional(&mut *$tx)
            .await?
            .is_some()
    };
}

impl Store {
    /// Adds `scopes` (ids set) to `user_id`'s PAT, with `ev`; 404 for a PAT that is
    /// not theirs, 400 past [`MAX_SCOPES`].
    pub async fn add_pat_scopes(
        &self,
        user_id: &str,
        pat_id: &str,
        scopes: &[Scope],
        ev: &Event,
    ) -> Result<()> {
        magnetite_db::db_tx!(self.db(), tx => {
            if !owns_pat!(tx, user_id, pat_id) {
                return Err(not_found());
            }
            let held = sqlx::query("SELECT COUNT(*) AS n FROM pat_scopes WHERE pat_id = $1")
                .bind(pat_id)
                .fetch_one(&mut *tx)
                .await?
                .int("n")?;
            if held + scopes.len() as i64 > MAX_SCOPES {
                return Err(AuthError::bad_request(format!(
                    "a personal access token holds at most {MAX_SCOPES} scopes"
                )));
            }
            for s in scopes {
                sqlx::query(
                    "INSERT INTO pat_scopes (id, pat_id, domain_id, entity_type, operation, \
                     entity_id) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&s.id)
                .bind(pat_id)
                .bind(&s.domain_id)
                .bind(s.entity_type.as_str())
                .bind(&s.operation)
                .bind(&s.entity_id)
                .execute(&mut *tx)
                .await?;
            }
            tx.append(ev).await?;
        });
        Ok(())
    }

    /// Removes the scopes `scope_ids` (all of them when `None`) of `user_id`'s PAT.
    pub async fn remove_pat_scopes(
        &self,
        user_id: &str,
        pat_id: &str,
        scope_ids: Option<&[String]>,
        ev: &Event,
    ) -> Result<()> {
        magnetite_db::db_tx!(self.db(), tx => {
            if !owns_pat!(tx, user_id, pat_id) {
                return Err(not_found());
            }
            match scope_ids {
                Some(ids) => {
                    for id in ids {
                        sqlx::query("DELETE FROM pat_scopes WHERE pat_id = $1 AND id = $2")
                            .bind(pat_id)
                            .bind(id)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
                None => {
                    sqlx::query("DELETE FROM pat_scopes WHERE pat_id = $1")
                        .bind(pat_id)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            tx.append(ev).await?;
        });
        Ok(())
    }

    /// A page of a PAT's scopes and their total (the caller checked the owner).
    pub async fn list_pat_scopes(
        &self,
        pat_id: &str,
        offset: u64,
        limit: u64,
    ) -> Result<(u64, Vec<Scope>)> {
        let page = format!(
            "SELECT {SCOPE_COLUMNS} FROM pat_scopes WHERE pat_id = $1 ORDER BY id LIMIT $2 OFFSET $3"
        );
        magnetite_db::db_read!(self.db(), pool => {
            let total = sqlx::query("SELECT COUNT(*) AS n FROM pat_scopes WHERE pat_id = $1")
                .bind(pat_id)
                .fetch_one(pool)
                .await?
                .int("n")?;
            let rows = sqlx::query(&page)
                .bind(pat_id)
                .bind(limit as i64)
                .bind(offset as i64)
                .fetch_all(pool)
                .await?;
            let scopes = rows.iter().map(super::pats::scope_from_row).collect::<Result<_>>()?;
            Ok((total.max(0) as u64, scopes))
        })
    }

    /// What verifying a token of PAT `pat_id` needs; `None` for an unknown PAT.
    pub async fn pat_auth(&self, pat_id: &str) -> Result<Option<PatAuth>> {
        let sql = format!("SELECT {SCOPE_COLUMNS} FROM pat_scopes WHERE pat_id = $1");
        magnetite_db::db_read!(self.db(), pool => {
            let row = sqlx::query(
                "SELECT user_id, secret_hash, expires_at, revoked FROM pats WHERE id = $1",
            )
            .bind(pat_id)
            .fetch_optional(pool)
            .await?;
            let Some(row) = row else {
                return Ok(None);
            };
            let rows = sqlx::query(&sql).bind(pat_id).fetch_all(pool).await?;
            Ok(Some(PatAuth {
                pat_id: pat_id.to_string(),
                user_id: row.text("user_id")?,
                secret_hash: row.text("secret_hash")?,
                expires_at: row.int("expires_at")?,
                revoked: row.int("revoked")? != 0,
                scopes: rows.iter().map(super::pats::scope_from_row).collect::<Result<_>>()?,
            }))
        })
    }
}
