//! Groups, channels and clients made before creator roles get their built-in `admin`
//! role (every action of their type) at start, like domains get theirs
//! (`Store::migrate_domain_roles`). Nobody is made a member: a migration never widens
//! anyone's access, and the domain's admins reach these entities through their domain
//! actions as before. No event is written: nothing anyone may do changed.

use super::role_rows::RoleSql;
use super::Store;
use crate::error::Result;
use crate::model::Kind;
use crate::roles::{EntityType, BUILT_IN_ADMIN};

impl Store {
    /// Gives every group, channel and client without a role named `admin` its
    /// built-in one. Set-based (two statements per type), and a no-op once done.
    pub(crate) async fn migrate_entity_roles(&self) -> Result<()> {
        for kind in [Kind::Group, Kind::Channel, Kind::Client] {
            let made = magnetite_db::db_tx!(self.db(), tx => {
                migrate_kind(&mut *tx, kind).await?
            });
            if made > 0 {
                tracing::info!(kind = kind.name(), made, "built-in admin roles added");
            }
        }
        Ok(())
    }
}

/// The roles of one type's pending entities, then their actions; how many roles.
async fn migrate_kind(c: &mut impl RoleSql, kind: Kind) -> Result<u64> {
    let table = kind.table();
    let entity_type = EntityType::from(kind);
    let roles = format!(
        "INSERT INTO roles (id, name, entity_type, entity_id, domain_id, built_in, \
         created_by, created_at) \
         SELECT t.id || '_{BUILT_IN_ADMIN}', $1, $2, t.id, t.domain_id, $1, t.created_by, \
         t.created_at FROM {table} t WHERE NOT EXISTS \
         (SELECT 1 FROM roles r WHERE r.entity_id = t.id AND r.name = $1) \
         ON CONFLICT DO NOTHING"
    );
    let made = c
        .run(&roles, &[BUILT_IN_ADMIN, entity_type.as_str()])
        .await?;
    if made == 0 {
        return Ok(0);
    }
    // The built-in admin roles of this type without actions are the ones just made
    // (a built-in role's actions cannot be removed).
    let actions = entity_type.actions();
    let each: Vec<String> = (0..actions.len())
        .map(|i| format!("SELECT CAST(${} AS TEXT) AS action", i + 3))
        .collect();
    let sql = format!(
        "INSERT INTO role_actions (role_id, action) SELECT r.id, a.action FROM roles r \
         CROSS JOIN ({}) a WHERE r.entity_type = $1 AND r.built_in = $2 AND NOT EXISTS \
         (SELECT 1 FROM role_actions x WHERE x.role_id = r.id)",
        each.join(" UNION ALL ")
    );
    let mut args = vec![entity_type.as_str(), BUILT_IN_ADMIN];
    args.extend(actions.iter().map(String::as_str));
    c.run(&sql, &args).await?;
    Ok(made)
}
