//! Domains (tenants) and their members.

use super::list::{fetch_page, Filter, ListQuery};
use super::{json_text, parse_metadata, parse_tags, Cols, Store};
use crate::error::{AuthError, Result};
use crate::model::{Audit, Domain, Status};

/// A user's relation to a domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    /// Manages everything in the domain (its creator is one).
    Admin,
    /// Reads everything in the domain.
    Member,
}

impl Relation {
    pub fn as_str(self) -> &'static str {
        match self {
            Relation::Admin => "admin",
            Relation::Member => "member",
        }
    }

    pub fn parse(s: &str) -> Option<Relation> {
        match s {
            "admin" | "administrator" => Some(Relation::Admin),
            "member" | "viewer" => Some(Relation::Member),
            _ => None,
        }
    }
}

fn domain_from_row(r: &impl Cols) -> Result<Domain> {
    Ok(Domain {
        id: r.text("id")?,
        name: r.text("name")?,
        route: r.text("route")?,
        tags: parse_tags(&r.text("tags")?),
        metadata: parse_metadata(&r.text("metadata")?),
        status: Status::parse(&r.text("status")?).unwrap_or(Status::Disabled),
        created_by: r.text("created_by")?,
        audit: Audit {
            created_at: r.text("created_at")?,
            updated_at: r.opt_text("updated_at")?,
            updated_by: r.opt_text("updated_by")?,
        },
    })
}

impl Store {
    /// Creates the domain and makes its creator an admin of it.
    pub async fn insert_domain(&self, d: &Domain) -> Result<()> {
        magnetite_db::db_tx!(self.db(), tx => {
            sqlx::query(
                "INSERT INTO domains (id, name, route, tags, metadata, status, created_by, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&d.id)
            .bind(&d.name)
            .bind(&d.route)
            .bind(json_text(&d.tags))
            .bind(json_text(&d.metadata))
            .bind(d.status.as_str())
            .bind(&d.created_by)
            .bind(&d.audit.created_at)
            .execute(&mut *tx)
            .await?;
            sqlx::query("INSERT INTO domain_members (domain_id, user_id, relation) VALUES ($1, $2, $3)")
                .bind(&d.id)
                .bind(&d.created_by)
                .bind(Relation::Admin.as_str())
                .execute(&mut *tx)
                .await?;
        });
        Ok(())
    }

    /// By id or by route.
    pub async fn domain(&self, id_or_route: &str) -> Result<Domain> {
        magnetite_db::db_read!(self.db(), pool => {
            let row = sqlx::query("SELECT * FROM domains WHERE id = $1 OR route = $1")
                .bind(id_or_route)
                .fetch_optional(pool)
                .await?;
            row.as_ref().map(domain_from_row).transpose()?.ok_or(AuthError::NotFound("domain"))
        })
    }

    /// Domains visible to `member` (`None` = all, for platform admins).
    pub async fn list_domains(
        &self,
        q: &ListQuery,
        member: Option<&str>,
    ) -> Result<(u64, Vec<Domain>)> {
        let mut filter = Filter::default().with_query(q, "name");
        if let Some(user) = member {
            filter.add(
                "id IN (SELECT domain_id FROM domain_members WHERE user_id = ?)",
                user,
            );
        }
        Ok(fetch_page!(self, filter, "domains", q, domain_from_row))
    }

    pub async fn update_domain(&self, d: &Domain) -> Result<()> {
        magnetite_db::db_tx!(self.db(), tx => {
            let done = sqlx::query(
                "UPDATE domains SET name = $2, tags = $3, metadata = $4, status = $5, \
                 updated_at = $6, updated_by = $7 WHERE id = $1",
            )
            .bind(&d.id)
            .bind(&d.name)
            .bind(json_text(&d.tags))
            .bind(json_text(&d.metadata))
            .bind(d.status.as_str())
            .bind(&d.audit.updated_at)
            .bind(&d.audit.updated_by)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                return Err(AuthError::NotFound("domain"));
            }
        });
        Ok(())
    }

    pub async fn relation(&self, domain_id: &str, user_id: &str) -> Result<Option<Relation>> {
        magnetite_db::db_read!(self.db(), pool => {
            let row = sqlx::query("SELECT relation FROM domain_members WHERE domain_id = $1 AND user_id = $2")
                .bind(domain_id)
                .bind(user_id)
                .fetch_optional(pool)
                .await?;
            Ok(match row {
                Some(r) => Relation::parse(&r.text("relation")?),
                None => None,
            })
        })
    }

    pub async fn set_members(
        &self,
        domain_id: &str,
        users: &[String],
        rel: Option<Relation>,
    ) -> Result<()> {
        magnetite_db::db_tx!(self.db(), tx => {
            for user in users {
                sqlx::query("DELETE FROM domain_members WHERE domain_id = $1 AND user_id = $2")
                    .bind(domain_id)
                    .bind(user)
                    .execute(&mut *tx)
                    .await?;
                if let Some(rel) = rel {
                    let exists = sqlx::query("SELECT id FROM users WHERE id = $1")
                        .bind(user)
                        .fetch_optional(&mut *tx)
                        .await?;
                    if exists.is_none() {
                        return Err(AuthError::NotFound("user"));
                    }
                    sqlx::query("INSERT INTO domain_members (domain_id, user_id, relation) VALUES ($1, $2, $3)")
                        .bind(domain_id)
                        .bind(user)
                        .bind(rel.as_str())
                        .execute(&mut *tx)
                        .await?;
                }
            }
        });
        Ok(())
    }

    /// Ids of the domains `user_id` is an admin or member of.
    pub async fn member_domain_ids(&self, user_id: &str) -> Result<Vec<String>> {
        self.texts(
            "SELECT domain_id FROM domain_members WHERE user_id = $1 ORDER BY domain_id",
            user_id,
            "domain_id",
        )
        .await
    }

    /// `(user_id, relation)` of every member.
    pub async fn members(&self, domain_id: &str) -> Result<Vec<(String, String)>> {
        magnetite_db::db_read!(self.db(), pool => {
            let rows = sqlx::query("SELECT user_id, relation FROM domain_members WHERE domain_id = $1 ORDER BY user_id")
                .bind(domain_id)
                .fetch_all(pool)
                .await?;
            rows.iter().map(|r| Ok((r.text("user_id")?, r.text("relation")?))).collect()
        })
    }

    /// Ids of every client of the domain (to kick them when it is disabled).
    pub async fn domain_client_ids(&self, domain_id: &str) -> Result<Vec<String>> {
        self.texts(
            "SELECT id FROM clients WHERE domain_id = $1",
            domain_id,
            "id",
        )
        .await
    }
}
