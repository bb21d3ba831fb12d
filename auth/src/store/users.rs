//! Users: rows, lookups and mutations (each with its event, in one transaction).

use magnetite_events::Event;
use sqlx::Row;

use super::list::{fetch_page, Filter, ListQuery};
use super::{json_text, parse_metadata, parse_tags, Cols, Outbox, Store};
use crate::error::{AuthError, Result};
use crate::model::{Audit, Role, Status, User};

pub(crate) fn user_from_row(r: &impl Cols) -> Result<User> {
    Ok(User {
        id: r.text("id")?,
        first_name: r.text("first_name")?,
        last_name: r.text("last_name")?,
        email: r.text("email")?,
        username: r.text("username")?,
        role: Role::parse(&r.text("role")?).unwrap_or(Role::User),
        tags: parse_tags(&r.text("tags")?),
        metadata: parse_metadata(&r.text("metadata")?),
        status: Status::from_column(&r.text("status")?),
        audit: Audit {
            created_at: r.text("created_at")?,
            updated_at: r.opt_text("updated_at")?,
            updated_by: r.opt_text("updated_by")?,
        },
        token_epoch: r.int("token_epoch")?,
        profile_picture: r.opt_text("profile_picture")?,
        verified_at: r.opt_text("verified_at")?,
    })
}

impl Store {
    pub async fn user_count(&self) -> Result<i64> {
        magnetite_db::db_read!(self.db(), pool => {
            let row = sqlx::query("SELECT COUNT(*) AS n FROM users").fetch_one(pool).await?;
            Ok(row.try_get::<i64, _>("n")?)
        })
    }

    pub async fn insert_user(&self, u: &User, secret_hash: &str, ev: &Event) -> Result<()> {
        magnetite_db::db_tx!(self.db(), tx => {
            sqlx::query(
                "INSERT INTO users (id, first_name, last_name, email, username, secret_hash, role, \
                 tags, metadata, status, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(&u.id)
            .bind(&u.first_name)
            .bind(&u.last_name)
            .bind(&u.email)
            .bind(&u.username)
            .bind(secret_hash)
            .bind(u.role.as_str())
            .bind(json_text(&u.tags))
            .bind(json_text(&u.metadata))
            .bind(u.status.as_str())
            .bind(&u.audit.created_at)
            .execute(&mut *tx)
            .await?;
            tx.append(ev).await?;
        });
        Ok(())
    }

    pub async fn user(&self, id: &str) -> Result<User> {
        self.user_where("id = $1", id)
            .await?
            .map(|(u, _)| u)
            .ok_or(AuthError::NotFound("user"))
    }

    /// The user with this e-mail or username, and the stored password hash.
    pub async fn user_by_login(&self, login: &str) -> Result<Option<(User, String)>> {
        match self.user_where("email = $1", login).await? {
            Some(found) => Ok(Some(found)),
            None => self.user_where("username = $1", login).await,
        }
    }

    async fn user_where(&self, cond: &str, value: &str) -> Result<Option<(User, String)>> {
        let sql = format!("SELECT * FROM users WHERE {cond}");
        magnetite_db::db_read!(self.db(), pool => {
            match sqlx::query(&sql).bind(value).fetch_optional(pool).await? {
                Some(row) => Ok(Some((user_from_row(&row)?, row.text("secret_hash")?))),
                None => Ok(None),
            }
        })
    }

    pub async fn list_users(&self, q: &ListQuery) -> Result<(u64, Vec<User>)> {
        let mut filter = Filter::default().with_query(q, "username");
        let f = &q.filters;
        filter.add_contains("first_name", f.first_name.as_ref());
        filter.add_contains("last_name", f.last_name.as_ref());
        filter.add_contains("username", f.username.as_ref());
        match &f.email {
            Some(email) if f.exact_email => filter.add("LOWER(email) = ?", email.to_lowercase()),
            email => filter.add_contains("email", email.as_ref()),
        }
        Ok(fetch_page!(self, filter, "users", q, user_from_row))
    }

    /// Writes every mutable column of `u` (and optionally a new password hash). A new
    /// e-mail clears `verified_at` in the same statement (the old value is the row's,
    /// so a verification racing the change cannot survive it).
    pub async fn update_user(&self, u: &User, secret_hash: Option<&str>, ev: &Event) -> Result<()> {
        magnetite_db::db_tx!(self.db(), tx => {
            let done = sqlx::query(
                "UPDATE users SET first_name = $2, last_name = $3, email = $4, username = $5, \
                 role = $6, tags = $7, metadata = $8, status = $9, updated_at = $10, \
                 updated_by = $11, secret_hash = COALESCE($12, secret_hash), \
                 profile_picture = $13, \
                 verified_at = CASE WHEN email = $4 THEN verified_at ELSE NULL END WHERE id = $1",
            )
            .bind(&u.id)
            .bind(&u.first_name)
            .bind(&u.last_name)
            .bind(&u.email)
            .bind(&u.username)
            .bind(u.role.as_str())
            .bind(json_text(&u.tags))
            .bind(json_text(&u.metadata))
            .bind(u.status.as_str())
            .bind(&u.audit.updated_at)
            .bind(&u.audit.updated_by)
            .bind(secret_hash)
            .bind(&u.profile_picture)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                return Err(AuthError::NotFound("user"));
            }
            tx.append(ev).await?;
        });
        Ok(())
    }

    /// Sets a new password hash and bumps the token epoch, if the user is still at
    /// `epoch` (the one the reset token carries). The condition makes a reset token
    /// single-use even against two concurrent uses: only one update can match.
    /// `Unauthorized` when the epoch moved on (the token was used or outdated).
    pub async fn reset_password(
        &self,
        u: &User,
        epoch: i64,
        secret_hash: &str,
        ev: &Event,
    ) -> Result<()> {
        magnetite_db::db_tx!(self.db(), tx => {
            let done = sqlx::query(
                "UPDATE users SET secret_hash = $2, token_epoch = token_epoch + 1, \
                 updated_at = $3, updated_by = $4 WHERE id = $1 AND token_epoch = $5",
            )
            .bind(&u.id)
            .bind(secret_hash)
            .bind(&u.audit.updated_at)
            .bind(&u.audit.updated_by)
            .bind(epoch)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                return Err(AuthError::Unauthorized("invalid or expired token".into()));
            }
            tx.append(ev).await?;
        });
        Ok(())
    }

    pub async fn delete_user(&self, id: &str, ev: &Event) -> Result<()> {
        magnetite_db::db_tx!(self.db(), tx => {
            let done = sqlx::query("DELETE FROM users WHERE id = $1").bind(id).execute(&mut *tx).await?;
            if done.rows_affected() == 0 {
                return Err(AuthError::NotFound("user"));
            }
            sqlx::query("DELETE FROM domain_members WHERE user_id = $1").bind(id).execute(&mut *tx).await?;
            sqlx::query("DELETE FROM email_verifications WHERE user_id = $1").bind(id).execute(&mut *tx).await?;
            sqlx::query("DELETE FROM role_members WHERE member_id = $1").bind(id).execute(&mut *tx).await?;
            super::invitations::drop_for_deleted_user(&mut *tx, id).await?;
            tx.append(ev).await?;
        });
        Ok(())
    }

    /// Appends an event that has no state change of its own (a view, a login).
    pub async fn record_event(&self, ev: &Event) -> Result<()> {
        magnetite_db::db_tx!(self.db(), tx => {
            tx.append(ev).await?;
        });
        Ok(())
    }
}
