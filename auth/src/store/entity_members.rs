//! `GET <entity>/roles/members`: every user with access to an entity through a role
//! (SuperMQ's `ListEntityMembers`, its `<kind>MembersListBaseQuery`): members of the
//! entity's own roles (`direct`), of its parent group's and further groups' roles that
//! reach it (`direct_group`, `indirect_group`) and of the domain's (`domain`). Which
//! roles reach the entity, and through which actions, is `crate::roles::reach`'s
//! [`Tier`] list; this module turns it into SQL, so a page costs a few statements
//! bounded by the page and the roles reaching the one entity, never a load of every
//! grant of the domain.

use crate::error::{AuthError, Result};
use crate::roles::reach::{Access, Tier};

use super::Store;

/// Which members a page lists (SuperMQ's `MembersRolePageQuery`): those holding one
/// role reaching the entity that matches every given field; empty fields match any.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MemberFilter {
    pub role_id: String,
    pub role_name: String,
    /// Known action names of the entity's type (`update`), validated by the service;
    /// a role matches when it grants all of them on the entity (`client_update` on the
    /// domain for a client's `update`).
    pub actions: Vec<String>,
    pub access: Option<Access>,
    /// The entity whose role it is (a group above, the domain); empty matches any, so
    /// it never selects a direct role, whose provider SuperMQ shows as `""`.
    pub access_provider_id: String,
    pub order: MemberOrder,
    pub descending: bool,
}

/// What a page is sorted by (SuperMQ's `order`): a member by the first (last, with
/// `dir=desc`) value among their matching roles, then by id.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum MemberOrder {
    #[default]
    MemberId,
    RoleName,
    RoleId,
    AccessType,
    AccessProviderId,
}

impl MemberOrder {
    pub fn parse(s: &str) -> Result<MemberOrder> {
        Ok(match s {
            "" | "member_id" => MemberOrder::MemberId,
            "role_name" => MemberOrder::RoleName,
            "role_id" => MemberOrder::RoleId,
            "access_type" => MemberOrder::AccessType,
            "access_provider_id" => MemberOrder::AccessProviderId,
            other => {
                return Err(AuthError::bad_request(format!(
                    "invalid order {other:?}: member_id, role_name, role_id, access_type \
                     or access_provider_id"
                )))
            }
        })
    }

    /// The column of `held` it sorts by.
    fn column(self) -> &'static str {
        match self {
            MemberOrder::MemberId => "member_id",
            MemberOrder::RoleName => "role_name",
            MemberOrder::RoleId => "role_id",
            MemberOrder::AccessType => "access_type",
            MemberOrder::AccessProviderId => "provider",
        }
    }
}

/// One role through which a member reaches the entity (SuperMQ's `MemberRoleActions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReachingRole {
    pub role_id: String,
    pub role_name: String,
    /// Every action of the role, sorted (as SuperMQ shows them).
    pub actions: Vec<String>,
    pub access: Access,
    /// The entity the role is on; `""` for a role on the entity itself.
    pub provider: String,
}

/// A member with every role of theirs reaching the entity (not only the matching ones).
pub type EntityMember = (String, Vec<ReachingRole>);

/// Text parameters numbered as they are added (`$1`, `$2`, ...), for SQL built from
/// a variable number of tiers and ids.
#[derive(Debug, Default)]
struct Params(Vec<String>);

impl Params {
    fn one(&mut self, value: &str) -> String {
        self.0.push(value.to_string());
        format!("${}", self.0.len())
    }

    fn list(&mut self, values: &[String]) -> String {
        let each: Vec<String> = values.iter().map(|v| self.one(v)).collect();
        each.join(", ")
    }
}

/// `held(member_id, role_id, role_name, access_type, provider, fits)`: every
/// (member, role) pair reaching the entity, `fits` = 1 when the role holds all the
/// filter's actions as its tier names them. One `SELECT` per tier, each bounded by its
/// providers (the entity, its groups, the domain: all of one domain, so a role on
/// them is too). Looked up by `entity_id` alone, the roles' unique index: a condition
/// on `domain_id` could steer SQLite to the domain's index, every role of the domain.
fn held_cte(tiers: &[Tier], actions: &[String], p: &mut Params) -> String {
    let selects: Vec<String> = tiers
        .iter()
        .map(|tier| {
            let providers = p.list(&tier.providers);
            let provider = match tier.access {
                Access::Direct => "''",
                _ => "r.entity_id",
            };
            let reaches = match tier.reaching() {
                None => String::new(),
                Some(list) => format!(
                    " AND EXISTS (SELECT 1 FROM role_actions a WHERE a.role_id = r.id \
                     AND a.action IN ({}))",
                    p.list(&list)
                ),
            };
            let fits = if actions.is_empty() {
                "1".to_string()
            } else {
                format!(
                    "CASE WHEN (SELECT COUNT(DISTINCT a.action) FROM role_actions a \
                     WHERE a.role_id = r.id AND a.action IN ({})) = {} THEN 1 ELSE 0 END",
                    p.list(&tier.named(actions)),
                    actions.len()
                )
            };
            format!(
                "SELECT m.member_id, r.id AS role_id, r.name AS role_name, \
                 '{access}' AS access_type, {provider} AS provider, {fits} AS fits \
                 FROM roles r JOIN role_members m ON m.role_id = r.id \
                 WHERE r.entity_id IN ({providers}){reaches}",
                access = tier.access.as_str(),
            )
        })
        .collect();
    format!("WITH held AS ({})", selects.join(" UNION ALL "))
}

/// The condition on `held` of the filter's other fields.
fn matching(f: &MemberFilter, p: &mut Params) -> String {
    let mut conds = vec!["fits = 1".to_string()];
    let fields = [
        ("role_id", f.role_id.as_str()),
        ("role_name", f.role_name.as_str()),
        ("access_type", f.access.map(Access::as_str).unwrap_or("")),
        ("provider", f.access_provider_id.as_str()),
    ];
    for (column, value) in fields.into_iter().filter(|(_, v)| !v.is_empty()) {
        conds.push(format!("{column} = {}", p.one(value)));
    }
    conds.join(" AND ")
}

impl Store {
    /// A page of the members reaching an entity through `tiers` that `filter` selects, and their total; each member with every role of theirs
    /// reaching the entity. One snapshot: the total, the page, its roles and their
    /// actions agree.
    pub async fn entity_members(
        &self,
        tiers: &[Tier],
        filter: &MemberFilter,
        offset: u64,
        limit: u64,
    ) -> Result<(u64, Vec<EntityMember>)> {
        let mut p = Params::default();
        let held = held_cte(tiers, &filter.actions, &mut p);
        let cond = matching(filter, &mut p);
        let (agg, dir) = match filter.descending {
            true => ("MAX", "DESC"),
            false => ("MIN", "ASC"),
        };
        let count = format!("{held} SELECT COUNT(DISTINCT member_id) FROM held WHERE {cond}");
        let page = format!(
            "{held} SELECT member_id FROM held WHERE {cond} GROUP BY member_id \
             ORDER BY {agg}({}) {dir}, member_id {dir} LIMIT {limit} OFFSET {offset}",
            filter.order.column()
        );
        let binds = p.0;
        macro_rules! bound {
            ($query:expr, $extra:expr) => {{
                let mut q = $query;
                for b in binds.iter().chain($extra) {
                    q = q.bind(b);
                }
                q
            }};
        }
        let (total, rows, actions) = magnetite_db::db_snapshot!(self.db(), tx => {
            let none: &[String] = &[];
            let total: i64 = bound!(sqlx::query_scalar(&count), none).fetch_one(&mut *tx).await?;
            let members: Vec<String> =
                bound!(sqlx::query_scalar(&page), none).fetch_all(&mut *tx).await?;
            let mut rows: Vec<(String, String, String, String, String)> = Vec::new();
            let mut actions: Vec<(String, String)> = Vec::new();
            if !members.is_empty() {
                // The page's ids follow the CTE's parameters.
                let mut more = Params(binds.clone());
                let ids = more.list(&members);
                let of_page = format!(
                    "{held} SELECT member_id, role_id, role_name, access_type, provider \
                     FROM held WHERE member_id IN ({ids})"
                );
                rows = bound!(sqlx::query_as(&of_page), &members).fetch_all(&mut *tx).await?;
                let role_actions = format!(
                    "{held} SELECT a.role_id, a.action FROM role_actions a WHERE a.role_id IN \
                     (SELECT role_id FROM held WHERE member_id IN ({ids})) ORDER BY a.action"
                );
                actions = bound!(sqlx::query_as(&role_actions), &members)
                    .fetch_all(&mut *tx)
                    .await?;
                rows = order_like(&members, rows);
            }
            (total, rows, actions)
        });
        Ok((total.max(0) as u64, group_members(rows, &actions)))
    }
}

/// The page's rows in the page's member order, each member's roles by name, how they
/// reach the entity and the providing entity.
fn order_like(
    members: &[String],
    mut rows: Vec<(String, String, String, String, String)>,
) -> Vec<(String, String, String, String, String)> {
    let rank = |m: &str| members.iter().position(|x| x == m).unwrap_or(usize::MAX);
    rows.sort_by(|a, b| {
        (rank(&a.0), &a.2, &a.3, &a.4, &a.1).cmp(&(rank(&b.0), &b.2, &b.3, &b.4, &b.1))
    });
    rows.dedup();
    rows
}

/// Rows `(member, role id, role name, access type, provider)` in page order, with the
/// roles' `(role id, action)` pairs, as members with their roles.
fn group_members(
    rows: Vec<(String, String, String, String, String)>,
    actions: &[(String, String)],
) -> Vec<EntityMember> {
    let mut out: Vec<EntityMember> = Vec::new();
    for (member, role_id, role_name, access, provider) in rows {
        let Some(access) = Access::parse(&access) else {
            continue;
        };
        let role = ReachingRole {
            actions: actions
                .iter()
                .filter(|(r, _)| *r == role_id)
                .map(|(_, a)| a.clone())
                .collect(),
            role_id,
            role_name,
            access,
            provider,
        };
        match out.last_mut() {
            Some((last, roles)) if *last == member => roles.push(role),
            _ => out.push((member, vec![role])),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roles::decide::Target;
    use crate::roles::reach::tiers;
    use crate::roles::EntityType;

    #[test]
    fn the_query_names_each_tier_once_with_its_own_action_names() {
        let chain = ["g1".to_string(), "g2".to_string()];
        let client = Target {
            kind: EntityType::Client,
            id: "c",
            domain_id: "d",
            ancestors: &chain,
        };
        let mut p = Params::default();
        let sql = held_cte(&tiers(&client), &["update".to_string()], &mut p);
        assert_eq!(sql.matches("SELECT m.member_id").count(), 4, "{sql}");
        for access in ["direct", "direct_group", "indirect_group", "domain"] {
            assert!(sql.contains(&format!("'{access}' AS access_type")), "{sql}");
        }
        for wanted in ["update", "client_update", "subgroup_client_update"] {
            assert!(p.0.contains(&wanted.to_string()), "{wanted}: {:?}", p.0);
        }
        // Every `$n` has its value, and user input is only ever a parameter.
        let last = format!("${}", p.0.len());
        assert!(sql.contains(&last) && !sql.contains(&format!("${}", p.0.len() + 1)));
        let f = MemberFilter {
            role_name: "x' OR 1=1 --".into(),
            ..MemberFilter::default()
        };
        let cond = matching(&f, &mut p);
        assert!(!cond.contains("OR 1=1"), "{cond}");
    }

    #[test]
    fn rows_become_members_in_page_order_with_their_actions() {
        let row = |m: &str, r: &str, name: &str, access: &str| {
            let provider = if access == "direct" { "" } else { "g" };
            (
                m.into(),
                r.into(),
                name.into(),
                access.into(),
                provider.into(),
            )
        };
        let rows = vec![
            row("u1", "r2", "b", "domain"),
            row("u2", "r1", "a", "direct"),
            row("u1", "r1", "a", "direct"),
            row("u1", "r1", "a", "direct"),
        ];
        let page = ["u2".to_string(), "u1".to_string()];
        let actions = [("r1".into(), "read".into()), ("r1".into(), "update".into())];
        let members = group_members(order_like(&page, rows), &actions);
        let summary: Vec<(String, Vec<(String, usize)>)> = members
            .iter()
            .map(|(m, roles)| {
                let roles = roles.iter().map(|r| (r.role_name.clone(), r.actions.len()));
                (m.clone(), roles.collect())
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                ("u2".to_string(), vec![("a".to_string(), 2)]),
                (
                    "u1".to_string(),
                    vec![("a".to_string(), 2), ("b".to_string(), 0)]
                ),
            ]
        );
        assert_eq!(
            MemberOrder::parse("role_name").ok(),
            Some(MemberOrder::RoleName)
        );
        assert!(MemberOrder::parse("created_at").is_err());
    }
}
