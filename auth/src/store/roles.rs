//! Roles, their actions and members (see `crate::roles`), for every entity type through
//! the same tables; each change commits with its event. The writes that need checks
//! inside the transaction are in `role_rows`.

use magnetite_events::Event;

use super::ancestry::ANCESTORS_NEAREST_FIRST;
use super::invitations;
use super::role_rows::{self as rows, RoleSql};
use super::{Cols, Outbox, Store};
use crate::error::{AuthError, Result};
use crate::roles::decide::Grants;
use crate::roles::{EntityType, Role, BUILT_IN_ADMIN, MEMBER_ACTIONS, MIGRATED_MEMBER};

/// Two text columns of a row (`(member, role)`, `(role, action)`).
type Pair = (String, String);

/// What goes with a deleted group, channel or client: its roles (`$1` = its id).
pub(crate) const ENTITY_ROLES_CLEANUP: &[&str] = &[
    "DELETE FROM role_actions WHERE role_id IN (SELECT id FROM roles WHERE entity_id = $1)",
    "DELETE FROM role_members WHERE role_id IN (SELECT id FROM roles WHERE entity_id = $1)",
    "DELETE FROM roles WHERE entity_id = $1",
];

fn role_from_row(r: &impl Cols) -> Result<Role> {
    let kind = r.text("entity_type")?;
    Ok(Role {
        id: r.text("id")?,
        name: r.text("name")?,
        entity_id: r.text("entity_id")?,
        entity_type: EntityType::parse(&kind)
            .ok_or_else(|| AuthError::Internal(format!("stored role of unknown type {kind}")))?,
        domain_id: r.text("domain_id")?,
        built_in: r.opt_text("built_in")?,
        created_by: r.text("created_by")?,
        created_at: r.text("created_at")?,
        updated_by: r.opt_text("updated_by")?,
        updated_at: r.opt_text("updated_at")?,
    })
}

/// A domain's built-in admin role (every domain action) and its `member` role (the
/// read actions), as a new or a migrated domain gets them.
pub(crate) fn domain_roles(
    domain_id: &str,
    created_by: &str,
    created_at: &str,
) -> [(Role, Vec<String>); 2] {
    let role = |name: &str, built_in: Option<&str>| Role {
        id: Role::built_in_id(domain_id, name),
        name: name.to_string(),
        entity_id: domain_id.to_string(),
        entity_type: EntityType::Domain,
        domain_id: domain_id.to_string(),
        built_in: built_in.map(str::to_string),
        created_by: created_by.to_string(),
        created_at: created_at.to_string(),
        updated_by: None,
        updated_at: None,
    };
    let member_actions = MEMBER_ACTIONS.iter().map(|a| a.to_string()).collect();
    [
        (
            role(BUILT_IN_ADMIN, Some(BUILT_IN_ADMIN)),
            EntityType::Domain.actions(),
        ),
        (role(MIGRATED_MEMBER, None), member_actions),
    ]
}

impl Store {
    /// Gives every domain without roles (made before roles existed) its admin and
    /// member roles, its old admins and members as their members. Runs at every start;
    /// a domain that has its admin role is skipped, so it runs once per domain.
    pub(crate) async fn migrate_domain_roles(&self) -> Result<()> {
        let pending: Vec<(String, String, String)> = magnetite_db::db_read!(self.db(), pool => {
            sqlx::query_as(
                "SELECT id, created_by, created_at FROM domains WHERE id NOT IN \
                 (SELECT entity_id FROM roles WHERE built_in = 'admin')",
            )
            .fetch_all(pool)
            .await?
        });
        for (domain_id, created_by, created_at) in pending {
            let [admin, member] = domain_roles(&domain_id, &created_by, &created_at);
            magnetite_db::db_tx!(self.db(), tx => {
                for (role, actions) in [&admin, &member] {
                    rows::insert_role(&mut *tx, role, actions, &[]).await?;
                }
                let people: Vec<(String, String)> = sqlx::query_as(
                    "SELECT dm.user_id, dm.relation FROM domain_members dm \
                     JOIN users u ON u.id = dm.user_id WHERE dm.domain_id = $1",
                )
                .bind(&domain_id)
                .fetch_all(&mut *tx)
                .await?;
                for (user, relation) in people {
                    let role = if relation == "admin" { &admin.0 } else { &member.0 };
                    rows::add_members(&mut *tx, role, &[user]).await?;
                }
            });
            tracing::info!(domain_id, "domain admin/member relations moved to roles");
        }
        Ok(())
    }

    /// Writes a new role with its actions, members and event.
    pub async fn create_role(
        &self,
        r: &Role,
        actions: &[String],
        members: &[String],
        ev: &Event,
    ) -> Result<()> {
        magnetite_db::db_tx!(self.db(), tx => {
            rows::insert_role(&mut *tx, r, actions, members).await?;
            tx.append(ev).await?;
        });
        Ok(())
    }

    /// The role `role_id` of the entity `entity_id` (404 for a role of another entity).
    pub async fn role(&self, entity_id: &str, role_id: &str) -> Result<Role> {
        magnetite_db::db_read!(self.db(), pool => {
            let row = sqlx::query("SELECT * FROM roles WHERE id = $1 AND entity_id = $2")
                .bind(role_id)
                .bind(entity_id)
                .fetch_optional(pool)
                .await?;
            row.as_ref().map(role_from_row).transpose()?.ok_or(AuthError::NotFound("role"))
        })
    }

    /// A page of the entity's roles, by name.
    pub async fn list_roles(
        &self,
        entity_id: &str,
        offset: u64,
        limit: u64,
    ) -> Result<(u64, Vec<Role>)> {
        let sql = format!(
            "SELECT * FROM roles WHERE entity_id = $1 ORDER BY name LIMIT {limit} OFFSET {offset}"
        );
        magnetite_db::db_read!(self.db(), pool => {
            let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM roles WHERE entity_id = $1")
                .bind(entity_id)
                .fetch_one(pool)
                .await?;
            let found = sqlx::query(&sql).bind(entity_id).fetch_all(pool).await?;
            let roles = found.iter().map(role_from_row).collect::<Result<Vec<_>>>()?;
            Ok((total.max(0) as u64, roles))
        })
    }

    /// Saves a role's name and audit stamp.
    pub async fn rename_role(&self, r: &Role, ev: &Event) -> Result<()> {
        let args = [
            r.id.as_str(),
            &r.name,
            r.updated_at.as_deref().unwrap_or_default(),
            r.updated_by.as_deref().unwrap_or_default(),
        ];
        magnetite_db::db_tx!(self.db(), tx => {
            let sql = "UPDATE roles SET name = $2, updated_at = $3, updated_by = $4 WHERE id = $1";
            let done = (*tx).run(sql, &args).await.map_err(name_taken)?;
            if done == 0 {
                return Err(AuthError::NotFound("role"));
            }
            tx.append(ev).await?;
        });
        Ok(())
    }

    /// Deletes a role with its actions, members and the pending invitations naming it
    /// (never a built-in one: the service refuses first).
    pub async fn delete_role(&self, r: &Role, ev: &Event) -> Result<()> {
        magnetite_db::db_tx!(self.db(), tx => {
            let members = (*tx)
                .strings("SELECT member_id FROM role_members WHERE role_id = $1", &[&r.id])
                .await?;
            for stmt in [
                "DELETE FROM role_actions WHERE role_id = $1",
                "DELETE FROM role_members WHERE role_id = $1",
                "DELETE FROM roles WHERE id = $1",
            ] {
                (*tx).run(stmt, &[&r.id]).await?;
            }
            invitations::drop_for_role(&mut *tx, &r.id).await?;
            if r.entity_type == EntityType::Domain {
                for m in &members {
                    rows::sync_domain_member(&mut *tx, &r.domain_id, m).await?;
                }
            }
            tx.append(ev).await?;
        });
        Ok(())
    }

    /// The role's actions, sorted.
    pub async fn role_actions(&self, role_id: &str) -> Result<Vec<String>> {
        self.texts(
            "SELECT action FROM role_actions WHERE role_id = $1 ORDER BY action",
            role_id,
            "action",
        )
        .await
    }

    pub async fn add_role_actions(&self, r: &Role, actions: &[String], ev: &Event) -> Result<()> {
        magnetite_db::db_tx!(self.db(), tx => {
            rows::add_actions(&mut *tx, &r.id, actions).await?;
            tx.append(ev).await?;
        });
        Ok(())
    }

    /// Removes `actions` (all of them when `None`).
    pub async fn remove_role_actions(
        &self,
        r: &Role,
        actions: Option<&[String]>,
        ev: &Event,
    ) -> Result<()> {
        magnetite_db::db_tx!(self.db(), tx => {
            match actions {
                Some(list) => {
                    for a in list {
                        let sql = "DELETE FROM role_actions WHERE role_id = $1 AND action = $2";
                        (*tx).run(sql, &[&r.id, a]).await?;
                    }
                }
                None => {
                    (*tx).run("DELETE FROM role_actions WHERE role_id = $1", &[&r.id]).await?;
                }
            }
            tx.append(ev).await?;
        });
        Ok(())
    }

    pub async fn add_role_members(&self, r: &Role, members: &[String], ev: &Event) -> Result<()> {
        magnetite_db::db_tx!(self.db(), tx => {
            rows::add_members(&mut *tx, r, members).await?;
            tx.append(ev).await?;
        });
        Ok(())
    }

    /// Removes `members` (all of them when `None`); a built-in admin role keeps one.
    pub async fn remove_role_members(
        &self,
        r: &Role,
        members: Option<&[String]>,
        ev: &Event,
    ) -> Result<()> {
        magnetite_db::db_tx!(self.db(), tx => {
            rows::remove_members(&mut *tx, r, members).await?;
            tx.append(ev).await?;
        });
        Ok(())
    }

    /// Removes `members` from every role of the entity, in one transaction with `ev`.
    pub async fn remove_entity_members(
        &self,
        entity_id: &str,
        members: &[String],
        ev: &Event,
    ) -> Result<()> {
        let (_, roles) = self.list_roles(entity_id, 0, u32::MAX as u64).await?;
        magnetite_db::db_tx!(self.db(), tx => {
            for role in &roles {
                rows::remove_members(&mut *tx, role, Some(members)).await?;
            }
            tx.append(ev).await?;
        });
        Ok(())
    }

    /// A page of the role's member ids.
    pub async fn role_members(
        &self,
        role_id: &str,
        offset: u64,
        limit: u64,
    ) -> Result<(u64, Vec<String>)> {
        let sql = format!(
            "SELECT member_id FROM role_members WHERE role_id = $1 ORDER BY member_id \
             LIMIT {limit} OFFSET {offset}"
        );
        let total: i64 = magnetite_db::db_read!(self.db(), pool => {
            sqlx::query_scalar("SELECT COUNT(*) FROM role_members WHERE role_id = $1")
                .bind(role_id)
                .fetch_one(pool)
                .await?
        });
        Ok((
            total.max(0) as u64,
            self.texts(&sql, role_id, "member_id").await?,
        ))
    }

    /// Every action `user` holds through roles in the domain, by entity: one query.
    pub async fn grants(&self, user: &str, domain_id: &str) -> Result<Grants> {
        let pairs: Vec<(String, String)> = magnetite_db::db_read!(self.db(), pool => {
            sqlx::query_as(
                "SELECT r.entity_id, a.action FROM role_members m \
                 JOIN roles r ON r.id = m.role_id JOIN role_actions a ON a.role_id = r.id \
                 WHERE m.member_id = $1 AND r.domain_id = $2",
            )
            .bind(user)
            .bind(domain_id)
            .fetch_all(pool)
            .await?
        });
        let mut grants = Grants::default();
        for (entity, action) in &pairs {
            grants.add(entity, action);
        }
        Ok(grants)
    }

    /// Every role of the domain (on any of its entities) `user` is a member of, with
    /// its actions: two queries.
    pub async fn member_roles(
        &self,
        user: &str,
        domain_id: &str,
    ) -> Result<Vec<(Role, Vec<String>)>> {
        let held = "FROM role_members m JOIN roles r ON r.id = m.role_id \
                    WHERE m.member_id = $1 AND r.domain_id = $2";
        let (roles, actions): (Vec<Role>, Vec<Pair>) = magnetite_db::db_read!(self.db(), pool => {
            let found = sqlx::query(&format!("SELECT r.* {held} ORDER BY r.name"))
                .bind(user)
                .bind(domain_id)
                .fetch_all(pool)
                .await?;
            let roles = found.iter().map(role_from_row).collect::<Result<Vec<_>>>()?;
            let actions = sqlx::query_as(&format!(
                "SELECT a.role_id, a.action FROM role_actions a \
                 WHERE a.role_id IN (SELECT r.id {held}) ORDER BY a.action"
            ))
            .bind(user)
            .bind(domain_id)
            .fetch_all(pool)
            .await?;
            (roles, actions)
        });
        Ok(roles
            .into_iter()
            .map(|role| {
                let of_role = actions.iter().filter(|(id, _)| *id == role.id);
                let list = of_role.map(|(_, a)| a.clone()).collect();
                (role, list)
            })
            .collect())
    }

    /// The actions `user` holds through roles in the domain on `entities` only (an
    /// entity, the groups above it and the domain: what one decision reads). A user's
    /// grants elsewhere are not loaded: the creator of 10,000 clients holds 10,000
    /// admin roles, and a decision about one client must not read them all.
    pub async fn grants_on(
        &self,
        user: &str,
        domain_id: &str,
        entities: &[&str],
    ) -> Result<Grants> {
        let list: Vec<String> = (0..entities.len()).map(|i| format!("${}", i + 3)).collect();
        // `CROSS JOIN` keeps SQLite's loop order: the few roles on these entities
        // first, then whether the user is in each (PostgreSQL plans it as a join).
        // `domain_id || ''` keeps the domain check out of the index choice: on the bare
        // column SQLite (no statistics) searched `roles_by_domain`, every role of the
        // domain (10,000 with creator roles; BENCHMARKS.md), not the `entity_id` index.
        let sql = format!(
            "SELECT r.entity_id, a.action FROM roles r CROSS JOIN role_members m \
             JOIN role_actions a ON a.role_id = r.id \
             WHERE m.role_id = r.id AND m.member_id = $1 AND r.domain_id || '' = $2 \
             AND r.entity_id IN ({})",
            list.join(", ")
        );
        let pairs: Vec<(String, String)> = magnetite_db::db_read!(self.db(), pool => {
            let mut q = sqlx::query_as(&sql).bind(user).bind(domain_id);
            for e in entities {
                q = q.bind(*e);
            }
            q.fetch_all(pool).await?
        });
        let mut grants = Grants::default();
        for (entity, action) in &pairs {
            grants.add(entity, action);
        }
        Ok(grants)
    }

    /// The groups above a group, channel or client, nearest first.
    pub async fn ancestors_nearest_first(&self, id: &str) -> Result<Vec<String>> {
        let ids = magnetite_db::db_read!(self.db(), pool => {
            sqlx::query_scalar(ANCESTORS_NEAREST_FIRST).bind(id).fetch_all(pool).await?
        });
        Ok(ids)
    }
}

/// A unique index refused a role name.
fn name_taken(e: AuthError) -> AuthError {
    match e {
        AuthError::Database(ref db) if crate::error::is_unique_violation(db) => {
            AuthError::Conflict("a role with this name already exists on the entity".into())
        }
        other => other,
    }
}
