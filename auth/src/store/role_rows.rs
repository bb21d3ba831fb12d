//! The role writes that must happen inside one transaction with their event: role rows,
//! member rows with their checks, and the `domain_members` row each domain-role change
//! keeps in step. Written once over [`RoleSql`], which both engines' connections
//! implement, so `store::roles` calls them on either transaction.

use sqlx::{PgConnection, Row, SqliteConnection};

use super::invitations;
use crate::error::{AuthError, Result};
use crate::roles::{EntityType, Role, BUILT_IN_ADMIN};

/// Text-parameter statements on an open transaction's connection.
#[allow(async_fn_in_trait)] // called on the concrete connection types only
pub(crate) trait RoleSql {
    /// Runs `sql` with `args` as `$1, $2, ...`; the rows it changed.
    async fn run(&mut self, sql: &str, args: &[&str]) -> Result<u64>;
    /// The first column (text) of every row `sql` selects.
    async fn strings(&mut self, sql: &str, args: &[&str]) -> Result<Vec<String>>;
}

macro_rules! impl_role_sql {
    ($conn:ty) => {
        impl RoleSql for $conn {
            async fn run(&mut self, sql: &str, args: &[&str]) -> Result<u64> {
                let mut q = sqlx::query(sql);
                for a in args {
                    q = q.bind(*a);
                }
                Ok(q.execute(&mut *self).await?.rows_affected())
            }

            async fn strings(&mut self, sql: &str, args: &[&str]) -> Result<Vec<String>> {
                let mut q = sqlx::query(sql);
                for a in args {
                    q = q.bind(*a);
                }
                let rows = q.fetch_all(&mut *self).await?;
                Ok(rows
                    .iter()
                    .map(|r| r.try_get::<String, _>(0))
                    .collect::<Result<_, _>>()?)
            }
        }
    };
}
impl_role_sql!(SqliteConnection);
impl_role_sql!(PgConnection);

/// Writes a role with its actions and members (members checked as [`add_members`]).
pub(crate) async fn insert_role(
    c: &mut impl RoleSql,
    r: &Role,
    actions: &[String],
    members: &[String],
) -> Result<()> {
    let insert = "INSERT INTO roles (id, name, entity_type, entity_id, domain_id, built_in, \
                  created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                  ON CONFLICT DO NOTHING";
    let built_in = r.built_in.as_deref();
    // `built_in` is the one nullable column: two statements rather than an
    // engine-specific NULL bind.
    let args = [
        r.id.as_str(),
        &r.name,
        r.entity_type.as_str(),
        &r.entity_id,
        &r.domain_id,
        built_in.unwrap_or(""),
        &r.created_by,
        &r.created_at,
    ];
    if c.run(insert, &args).await? == 0 {
        return Err(AuthError::Conflict(
            "a role with this name already exists on the entity".into(),
        ));
    }
    if built_in.is_none() {
        c.run("UPDATE roles SET built_in = NULL WHERE id = $1", &[&r.id])
            .await?;
    }
    add_actions(c, &r.id, actions).await?;
    add_members(c, r, members).await?;
    Ok(())
}

/// Adds actions (already validated for the entity type); repeats are no-ops.
pub(crate) async fn add_actions(
    c: &mut impl RoleSql,
    role_id: &str,
    actions: &[String],
) -> Result<()> {
    // One statement for all of them: a new group's admin role holds some 60 actions.
    if actions.is_empty() {
        return Ok(());
    }
    let values: Vec<String> = (0..actions.len())
        .map(|i| format!("($1, ${})", i + 2))
        .collect();
    let sql = format!(
        "INSERT INTO role_actions (role_id, action) VALUES {} ON CONFLICT DO NOTHING",
        values.join(", ")
    );
    let mut args = vec![role_id];
    args.extend(actions.iter().map(String::as_str));
    c.run(&sql, &args).await?;
    Ok(())
}

/// Adds members to a role: each must be a user and, for a role on anything but the
/// domain, already in the domain (a 404 otherwise, like an unknown id). Returns who
/// was not a member before.
pub(crate) async fn add_members(
    c: &mut impl RoleSql,
    r: &Role,
    members: &[String],
) -> Result<Vec<String>> {
    let mut added = Vec::new();
    for m in members {
        let known = if r.entity_type == EntityType::Domain {
            c.strings("SELECT id FROM users WHERE id = $1", &[m])
                .await?
        } else {
            c.strings(
                "SELECT user_id FROM domain_members WHERE domain_id = $1 AND user_id = $2",
                &[&r.domain_id, m],
            )
            .await?
        };
        if known.is_empty() {
            return Err(AuthError::NotFound("user"));
        }
        let sql = "INSERT INTO role_members (role_id, member_id) VALUES ($1, $2) \
                   ON CONFLICT DO NOTHING";
        if c.run(sql, &[&r.id, m]).await? > 0 && !added.contains(m) {
            added.push(m.clone());
        }
        if r.entity_type == EntityType::Domain {
            sync_domain_member(c, &r.domain_id, m).await?;
        }
    }
    Ok(added)
}

/// Removes `members` (all of them when `None`) from a role; refuses to leave a built-in
/// admin role empty. Returns who was removed.
pub(crate) async fn remove_members(
    c: &mut impl RoleSql,
    r: &Role,
    members: Option<&[String]>,
) -> Result<Vec<String>> {
    let current = c
        .strings(
            "SELECT member_id FROM role_members WHERE role_id = $1",
            &[&r.id],
        )
        .await?;
    let gone: Vec<String> = match members {
        Some(list) => current.into_iter().filter(|m| list.contains(m)).collect(),
        None => current,
    };
    for m in &gone {
        c.run(
            "DELETE FROM role_members WHERE role_id = $1 AND member_id = $2",
            &[&r.id, m],
        )
        .await?;
        if r.entity_type == EntityType::Domain {
            sync_domain_member(c, &r.domain_id, m).await?;
        }
    }
    ensure_admin_kept(c, r).await?;
    Ok(gone)
}

/// A domain's built-in admin role keeps at least one member (otherwise nobody could
/// manage the domain but the platform admin): the change is refused and its
/// transaction undone. An entity's built-in admin role may be emptied: the domain's
/// admins still reach the entity through their domain actions.
pub(crate) async fn ensure_admin_kept(c: &mut impl RoleSql, r: &Role) -> Result<()> {
    if !r.is_domain_admin() {
        return Ok(());
    }
    let left = c
        .strings(
            "SELECT member_id FROM role_members WHERE role_id = $1 LIMIT 1",
            &[&r.id],
        )
        .await?;
    if left.is_empty() {
        return Err(AuthError::Conflict(
            "the built-in admin role must keep at least one member".into(),
        ));
    }
    Ok(())
}

/// Takes `user` out of every role in the domain (its own and its entities'); the
/// roles they were in.
pub(crate) async fn remove_from_domain(
    c: &mut impl RoleSql,
    domain_id: &str,
    user: &str,
) -> Result<Vec<String>> {
    let roles = c
        .strings(
            "SELECT m.role_id FROM role_members m JOIN roles r ON r.id = m.role_id \
             WHERE r.domain_id = $1 AND m.member_id = $2",
            &[domain_id, user],
        )
        .await?;
    for role in &roles {
        c.run(
            "DELETE FROM role_members WHERE role_id = $1 AND member_id = $2",
            &[role, user],
        )
        .await?;
    }
    sync_domain_member(c, domain_id, user).await?;
    Ok(roles)
}

/// Rewrites `user`'s `domain_members` row from their domain roles: `admin` in the
/// built-in admin role, `member` in any other domain role, no row otherwise. The row
/// is what bootstrap, certs, consumers and the event log decide by (`access::Need`).
/// A user left in no domain role leaves the domain, and so every role in it; the
/// pending invitations naming them in it go too ([`invitations::drop_for_leaver`]).
pub(crate) async fn sync_domain_member(
    c: &mut impl RoleSql,
    domain_id: &str,
    user: &str,
) -> Result<()> {
    c.run(
        "DELETE FROM domain_members WHERE domain_id = $1 AND user_id = $2",
        &[domain_id, user],
    )
    .await?;
    let built_in = c
        .strings(
            "SELECT r.built_in FROM role_members m JOIN roles r ON r.id = m.role_id \
             WHERE r.entity_type = 'domain' AND r.entity_id = $1 AND m.member_id = $2 \
             AND r.built_in IS NOT NULL",
            &[domain_id, user],
        )
        .await?;
    let any = c
        .strings(
            "SELECT m.role_id FROM role_members m JOIN roles r ON r.id = m.role_id \
             WHERE r.entity_type = 'domain' AND r.entity_id = $1 AND m.member_id = $2",
            &[domain_id, user],
        )
        .await?;
    let relation = if built_in.iter().any(|b| b == BUILT_IN_ADMIN) {
        "admin"
    } else if !any.is_empty() {
        "member"
    } else {
        // Out of the domain: out of every role on its groups, channels and clients too,
        // and the pending invitations naming them are void.
        c.run(
            "DELETE FROM role_members WHERE member_id = $1 AND role_id IN \
             (SELECT id FROM roles WHERE domain_id = $2)",
            &[user, domain_id],
        )
        .await?;
        invitations::drop_for_leaver(c, domain_id, user).await?;
        return Ok(());
    };
    c.run(
        "INSERT INTO domain_members (domain_id, user_id, relation) VALUES ($1, $2, $3)",
        &[domain_id, user, relation],
    )
    .await?;
    Ok(())
}
