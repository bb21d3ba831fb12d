//! Personal access tokens and their scopes. A PAT row holds the keyed hash of its token
//! (never the token); every change names the owner in its `WHERE`, so a PAT of another
//! user is "not found" like a missing one, and writes its event in the same transaction.

use magnetite_events::Event;

use super::{Cols, Outbox, Store};
use crate::error::{AuthError, Result};
use crate::pats::{EntityType, Scope};

/// A PAT as listed and viewed (no secret, no hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pat {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub description: String,
    /// RFC 3339.
    pub issued_at: String,
    /// Unix seconds.
    pub expires_at: i64,
    pub updated_at: Option<String>,
    pub revoked: bool,
    pub revoked_at: Option<String>,
}

/// Which PATs a list shows (SuperMQ's `status` filter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatStatus {
    Active,
    Revoked,
    Expired,
    All,
}

/// A page of the caller's PATs.
#[derive(Debug, Clone)]
pub struct PatQuery {
    pub offset: u64,
    pub limit: u64,
    pub status: PatStatus,
    pub name: Option<String>,
    pub id: Option<String>,
    pub now_secs: i64,
}

/// A text field of a PAT that its owner may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatText {
    Name,
    Description,
}

/// Builds the event of a change from the PAT as it is after the change.
pub type PatEvent<'a> = &'a (dyn Fn(&Pat) -> Event + Sync);

const PAT_COLUMNS: &str =
    "id, user_id, name, description, issued_at, expires_at, updated_at, revoked, revoked_at";

fn pat_from_row(r: &impl Cols) -> Result<Pat> {
    Ok(Pat {
        id: r.text("id")?,
        user_id: r.text("user_id")?,
        name: r.text("name")?,
        description: r.text("description")?,
        issued_at: r.text("issued_at")?,
        expires_at: r.int("expires_at")?,
        updated_at: r.opt_text("updated_at")?,
        revoked: r.int("revoked")? != 0,
        revoked_at: r.opt_text("revoked_at")?,
    })
}

pub(super) fn scope_from_row(r: &impl Cols) -> Result<Scope> {
    let kind = r.text("entity_type")?;
    Ok(Scope {
        id: r.text("id")?,
        pat_id: r.text("pat_id")?,
        domain_id: r.text("domain_id")?,
        entity_type: EntityType::parse(&kind)
            .ok_or_else(|| AuthError::Internal(format!("stored scope type {kind:?}")))?,
        operation: r.text("operation")?,
        entity_id: r.text("entity_id")?,
    })
}

pub(super) fn not_found() -> AuthError {
    AuthError::NotFound("personal access token")
}

/// The `WHERE` of a list (after `user_id = $1`), binding `$2` (now) and `$3`/`$4`.
fn list_filter(q: &PatQuery) -> String {
    let mut sql = String::from(" WHERE user_id = $1 AND $2 = $2");
    sql.push_str(match q.status {
        PatStatus::Active => " AND revoked = 0 AND expires_at > $2",
        PatStatus::Revoked => " AND revoked = 1",
        PatStatus::Expired => " AND revoked = 0 AND expires_at <= $2",
        PatStatus::All => "",
    });
    sql.push_str(" AND ($3 = '' OR name = $3) AND ($4 = '' OR id = $4)");
    sql
}

impl Store {
    /// Stores a new PAT with the hash of its token, and `ev`.
    pub async fn insert_pat(&self, p: &Pat, secret_hash: &str, ev: &Event) -> Result<()> {
        magnetite_db::db_tx!(self.db(), tx => {
            sqlx::query(
                "INSERT INTO pats (id, user_id, name, description, secret_hash, issued_at, \
                 expires_at, revoked) VALUES ($1, $2, $3, $4, $5, $6, $7, 0)",
            )
            .bind(&p.id)
            .bind(&p.user_id)
            .bind(&p.name)
            .bind(&p.description)
            .bind(secret_hash)
            .bind(&p.issued_at)
            .bind(p.expires_at)
            .execute(&mut *tx)
            .await?;
            tx.append(ev).await?;
        });
        Ok(())
    }

    /// How many PATs `user_id` has (any state).
    pub async fn pat_count(&self, user_id: &str) -> Result<i64> {
        magnetite_db::db_read!(self.db(), pool => {
            let row = sqlx::query("SELECT COUNT(*) AS n FROM pats WHERE user_id = $1")
                .bind(user_id)
                .fetch_one(pool)
                .await?;
            Ok(row.int("n")?)
        })
    }

    /// The PAT `pat_id` of `user_id`; 404 for a missing PAT or another user's.
    pub async fn pat(&self, user_id: &str, pat_id: &str) -> Result<Pat> {
        let sql = format!("SELECT {PAT_COLUMNS} FROM pats WHERE id = $1 AND user_id = $2");
        magnetite_db::db_read!(self.db(), pool => {
            let row = sqlx::query(&sql).bind(pat_id).bind(user_id).fetch_optional(pool).await?;
            row.as_ref().map(pat_from_row).transpose()?.ok_or_else(not_found)
        })
    }

    /// A page of `user_id`'s PATs, newest first, and the total.
    pub async fn list_pats(&self, user_id: &str, q: &PatQuery) -> Result<(u64, Vec<Pat>)> {
        let filter = list_filter(q);
        let count = format!("SELECT COUNT(*) AS n FROM pats{filter}");
        let page = format!(
            "SELECT {PAT_COLUMNS} FROM pats{filter} ORDER BY issued_at DESC, id LIMIT $5 OFFSET $6"
        );
        let name = q.name.clone().unwrap_or_default();
        let id = q.id.clone().unwrap_or_default();
        let (limit, offset) = (q.limit as i64, q.offset as i64);
        magnetite_db::db_read!(self.db(), pool => {
            let total = sqlx::query(&count)
                .bind(user_id).bind(q.now_secs).bind(&name).bind(&id)
                .fetch_one(pool).await?.int("n")?;
            let rows = sqlx::query(&page)
                .bind(user_id).bind(q.now_secs).bind(&name).bind(&id).bind(limit).bind(offset)
                .fetch_all(pool).await?;
            let pats = rows.iter().map(pat_from_row).collect::<Result<Vec<_>>>()?;
            Ok((total.max(0) as u64, pats))
        })
    }

    /// Sets the name or description of `user_id`'s PAT, with `make_event(updated)`.
    pub async fn update_pat_text(
        &self,
        user_id: &str,
        pat_id: &str,
        (field, value): (PatText, &str),
        updated_at: &str,
        make_event: PatEvent<'_>,
    ) -> Result<Pat> {
        let column = match field {
            PatText::Name => "name",
            PatText::Description => "description",
        };
        let sql = format!(
            "UPDATE pats SET {column} = $3, updated_at = $4 WHERE id = $1 AND user_id = $2 \
             RETURNING {PAT_COLUMNS}"
        );
        self.change_pat(&sql, [pat_id, user_id, value, updated_at], None, make_event)
            .await
    }

    /// Replaces the token hash and expiry of `user_id`'s PAT and makes it usable again
    /// (SuperMQ's reset reactivates a revoked PAT); the old token is dead at commit.
    pub async fn reset_pat_secret(
        &self,
        user_id: &str,
        pat_id: &str,
        (secret_hash, expires_at): (&str, i64),
        updated_at: &str,
        make_event: PatEvent<'_>,
    ) -> Result<Pat> {
        let sql = format!(
            "UPDATE pats SET secret_hash = $3, updated_at = $4, expires_at = $5, revoked = 0, \
             revoked_at = NULL WHERE id = $1 AND user_id = $2 RETURNING {PAT_COLUMNS}"
        );
        let binds = [pat_id, user_id, secret_hash, updated_at];
        self.change_pat(&sql, binds, Some(expires_at), make_event)
            .await
    }

    /// Marks `user_id`'s PAT revoked (kept, listed, unusable).
    pub async fn revoke_pat(
        &self,
        user_id: &str,
        pat_id: &str,
        revoked_at: &str,
        make_event: PatEvent<'_>,
    ) -> Result<Pat> {
        let sql = format!(
            "UPDATE pats SET revoked = 1, revoked_at = $3, updated_at = $4 \
             WHERE id = $1 AND user_id = $2 RETURNING {PAT_COLUMNS}"
        );
        let binds = [pat_id, user_id, revoked_at, revoked_at];
        self.change_pat(&sql, binds, None, make_event).await
    }

    /// One `UPDATE ... RETURNING` of a PAT (binds `$1..$4`, and `$5` when given), its
    /// event built from the row it returns; 404 when no row matched.
    async fn change_pat(
        &self,
        sql: &str,
        binds: [&str; 4],
        fifth: Option<i64>,
        make_event: PatEvent<'_>,
    ) -> Result<Pat> {
        magnetite_db::db_tx!(self.db(), tx => {
            let mut query = sqlx::query(sql);
            for b in binds {
                query = query.bind(b);
            }
            if let Some(v) = fifth {
                query = query.bind(v);
            }
            let row = query.fetch_optional(&mut *tx).await?;
            let pat = row.as_ref().map(pat_from_row).transpose()?;
            if let Some(p) = &pat {
                tx.append(&make_event(p)).await?;
            }
            pat.ok_or_else(not_found)
        })
    }

    /// Deletes `user_id`'s PAT and its scopes; 404 when there is none.
    pub async fn delete_pat(&self, user_id: &str, pat_id: &str, ev: &Event) -> Result<()> {
        magnetite_db::db_tx!(self.db(), tx => {
            let done = sqlx::query("DELETE FROM pats WHERE id = $1 AND user_id = $2")
                .bind(pat_id)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() == 0 {
                return Err(not_found());
            }
            sqlx::query("DELETE FROM pat_scopes WHERE pat_id = $1")
                .bind(pat_id)
                .execute(&mut *tx)
                .await?;
            tx.append(ev).await?;
        });
        Ok(())
    }

    /// Deletes every PAT of `user_id` and their scopes.
    pub async fn delete_user_pats(&self, user_id: &str, ev: &Event) -> Result<()> {
        magnetite_db::db_tx!(self.db(), tx => {
            sqlx::query(
                "DELETE FROM pat_scopes WHERE pat_id IN (SELECT id FROM pats WHERE user_id = $1)",
            )
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM pats WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            tx.append(ev).await?;
        });
        Ok(())
    }
}
