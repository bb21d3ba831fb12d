//! Domains (tenants) and their members.

use super::list::{fetch_page, Filter, ListQuery};
use super::role_rows as rows;
use super::roles::domain_roles;
use super::{json_text, now_rfc3339, parse_metadata, parse_tags, Cols, Outbox, Store};
use crate::error::{AuthError, Result};
use crate::model::{Audit, Domain, Status};
use magnetite_events::model::users as uev;
use magnetite_events::Event;

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
        status: Status::from_column(&r.text("status")?),
        created_by: r.text("created_by")?,
        audit: Audit {
            created_at: r.text("created_at")?,
            updated_at: r.opt_text("updated_at")?,
            updated_by: r.opt_text("updated_by")?,
        },
    })
}

impl Store {
    /// Creates the domain with its built-in admin role (its creator the first member)
    /// and its `member` role.
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
            let [admin, member] = domain_roles(&d.id, &d.created_by, &d.audit.created_at);
            rows::insert_role(&mut *tx, &admin.0, &admin.1, std::slice::from_ref(&d.created_by)).await?;
            rows::insert_role(&mut *tx, &member.0, &member.1, &[]).await?;
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

    /// Saves the domain's fields, with `event` (if any) in the same transaction.
    pub async fn update_domain(&self, d: &Domain, event: Option<&Event>) -> Result<()> {
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
            if let Some(event) = event {
                tx.append(event).await?;
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

    /// Sets (`Some`) or removes (`None`) the relation of `users` to the domain: the
    /// old admin/member relations over roles, `admin` = the built-in admin role,
    /// `member` = the `member` role, removal = out of every role in the domain. It
    /// records what changed in the same transaction: `domain.assign` (no access before),
    /// `domain.update_relation` (the other relation before), `domain.unassign` (access
    /// removed). Users whose access did not change are in no event. Personal
    /// notifications are made from these events.
    pub async fn set_members(
        &self,
        domain_id: &str,
        users: &[String],
        rel: Option<Relation>,
    ) -> Result<()> {
        let mut changes = MembershipChanges::default();
        let [admin, member] = domain_roles(domain_id, "system", &now_rfc3339());
        magnetite_db::db_tx!(self.db(), tx => {
            // The member role may have been deleted through the roles API: the old
            // `member` relation brings it back.
            match rows::insert_role(&mut *tx, &member.0, &member.1, &[]).await {
                Ok(()) | Err(AuthError::Conflict(_)) => {}
                Err(other) => return Err(other),
            }
            for user in users {
                let before = sqlx::query("SELECT relation FROM domain_members WHERE domain_id = $1 AND user_id = $2")
                    .bind(domain_id)
                    .bind(user)
                    .fetch_optional(&mut *tx)
                    .await?;
                let before = match before {
                    Some(row) => Relation::parse(&row.text("relation")?),
                    None => None,
                };
                match rel {
                    Some(rel) => {
                        let (role, other) = match rel {
                            Relation::Admin => (&admin.0, &member.0),
                            Relation::Member => (&member.0, &admin.0),
                        };
                        sqlx::query("DELETE FROM role_members WHERE role_id = $1 AND member_id = $2")
                            .bind(&other.id)
                            .bind(user)
                            .execute(&mut *tx)
                            .await?;
                        rows::add_members(&mut *tx, role, std::slice::from_ref(user)).await?;
                    }
                    None => {
                        rows::remove_from_domain(&mut *tx, domain_id, user).await?;
                    }
                }
                changes.record(user, before, rel);
            }
            rows::ensure_admin_kept(&mut *tx, &admin.0).await?;
            for ev in changes.events(domain_id, rel) {
                tx.append(&ev).await?;
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

/// Who gained, changed or lost access in one `set_members` call.
#[derive(Debug, Default)]
struct MembershipChanges {
    granted: Vec<String>,
    updated: Vec<String>,
    revoked: Vec<String>,
}

impl MembershipChanges {
    fn record(&mut self, user: &str, before: Option<Relation>, after: Option<Relation>) {
        let list = match (before, after) {
            (None, Some(_)) => &mut self.granted,
            (Some(b), Some(a)) if b != a => &mut self.updated,
            (Some(_), None) => &mut self.revoked,
            _ => return,
        };
        if !list.iter().any(|u| u == user) {
            list.push(user.to_string());
        }
    }

    /// One event per kind of change that happened.
    fn events(&self, domain_id: &str, rel: Option<Relation>) -> Vec<Event> {
        let mut out = Vec::new();
        if let Some(rel) = rel {
            if !self.granted.is_empty() {
                out.push(uev::domain_assign(domain_id, &self.granted, rel.as_str()));
            }
            if !self.updated.is_empty() {
                out.push(uev::domain_update_relation(
                    domain_id,
                    &self.updated,
                    rel.as_str(),
                ));
            }
        }
        if !self.revoked.is_empty() {
            out.push(uev::domain_unassign(domain_id, &self.revoked));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_real_changes_make_events() {
        let mut c = MembershipChanges::default();
        c.record("new", None, Some(Relation::Member));
        c.record("same", Some(Relation::Member), Some(Relation::Member));
        c.record("promoted", Some(Relation::Member), Some(Relation::Admin));
        c.record("absent", None, None);
        let ops: Vec<String> = c
            .events("d", Some(Relation::Admin))
            .iter()
            .map(|e| e.operation().to_string())
            .collect();
        assert_eq!(ops, ["domain.assign", "domain.update_relation"]);
        assert_eq!(c.granted, ["new"]);
        assert_eq!(c.updated, ["promoted"]);

        let mut gone = MembershipChanges::default();
        gone.record("member", Some(Relation::Member), None);
        gone.record("stranger", None, None);
        let evs = gone.events("d", None);
        assert_eq!(evs.len(), 1);
        assert_eq!(evs[0].operation(), "domain.unassign");
        assert_eq!(evs[0].fields["user_ids"], serde_json::json!(["member"]));
    }
}
