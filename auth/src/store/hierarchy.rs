//! Reading a group hierarchy level by level (`GET /{d}/groups/{id}/hierarchy`). Every
//! query is bounded by the caller: a number of levels up (one chain) or a row limit per
//! level down, so a wide or deep tree costs at most what was asked for.

use super::entities::entity_from_row;
use super::Store;
use crate::error::Result;
use crate::model::{Entity, Kind};

/// The group and the groups above it in `domain_id`, nearest first, at most `levels`
/// above; cycle-safe (`UNION` drops a repeated row, and the depth bounds the climb).
const ANCESTOR_CHAIN: &str = "WITH RECURSIVE up(id, depth) AS ( \
     SELECT id, 0 FROM groups WHERE id = $1 AND domain_id = $2 \
     UNION \
     SELECT g.parent_id, up.depth + 1 FROM groups g JOIN up ON g.id = up.id \
     WHERE g.parent_id IS NOT NULL AND g.domain_id = $2 AND up.depth < $3) \
   SELECT g.* FROM groups g \
   JOIN (SELECT id, MIN(depth) AS depth FROM up GROUP BY id) d ON d.id = g.id \
   WHERE g.domain_id = $2 ORDER BY d.depth";

impl Store {
    /// The group `id` and its ancestors up to `levels` above it, nearest first.
    pub async fn group_chain_up(
        &self,
        domain_id: &str,
        id: &str,
        levels: u32,
    ) -> Result<Vec<Entity>> {
        magnetite_db::db_read!(self.db(), pool => {
            let rows = sqlx::query(ANCESTOR_CHAIN)
                .bind(id)
                .bind(domain_id)
                .bind(i64::from(levels))
                .fetch_all(pool)
                .await?;
            rows.iter().map(|r| entity_from_row(Kind::Group, r)).collect()
        })
    }

    /// The groups of `domain_id` whose parent is one of `parents` (at most 1000 ids),
    /// at most `limit` of them, oldest first.
    pub async fn child_groups_of(
        &self,
        domain_id: &str,
        parents: &[String],
        limit: u64,
    ) -> Result<Vec<Entity>> {
        if parents.is_empty() {
            return Ok(Vec::new());
        }
        let list: Vec<String> = (2..parents.len() + 2).map(|n| format!("${n}")).collect();
        let sql = format!(
            "SELECT * FROM groups WHERE domain_id = $1 AND parent_id IN ({}) \
             ORDER BY created_at, id LIMIT {limit}",
            list.join(", ")
        );
        magnetite_db::db_read!(self.db(), pool => {
            let mut q = sqlx::query(&sql).bind(domain_id);
            for p in parents {
                q = q.bind(p);
            }
            let rows = q.fetch_all(pool).await?;
            rows.iter().map(|r| entity_from_row(Kind::Group, r)).collect()
        })
    }
}
