//! The group ancestry an event is recorded under (`Event::ancestors`, see
//! `magnetite_events::scopes`), resolved on the writing transaction's connection so it
//! is the hierarchy at the moment of the change ([`EventAncestry`], also the door for
//! bootstrap's writes, re-exported as `magnetite_auth::EventAncestry`), or for a batch
//! of MQTT events in one query ([`ClientAncestry`]); and the domain of an entity named
//! by id alone (event consumers name their target by id).

use magnetite_events::scopes::subjects;
use magnetite_events::Event;
use sqlx::{PgConnection, SqliteConnection};

use super::Store;
use crate::error::Result;
use crate::model::Kind;
use magnetite_events::writer::{AncestryFuture, ClientAncestry};
use std::collections::HashMap;

/// The recursive part of the ancestry queries: `anc(id, depth)` = the groups above one
/// entity (client, channel or group, `$1`) and how far up; depth-bounded and
/// cycle-safe (`UNION` drops a repeated row, which ends the recursion).
macro_rules! ancestors_cte {
    () => {
        "WITH RECURSIVE anc(id, depth) AS ( \
         SELECT parent_id, 1 FROM ( \
           SELECT parent_id FROM clients WHERE id = $1 \
           UNION ALL SELECT parent_id FROM channels WHERE id = $1 \
           UNION ALL SELECT parent_id FROM groups WHERE id = $1) seed \
         WHERE parent_id IS NOT NULL \
         UNION \
         SELECT g.parent_id, anc.depth + 1 FROM groups g JOIN anc ON g.id = anc.id \
         WHERE g.parent_id IS NOT NULL AND anc.depth < 64)"
    };
}

/// The groups above one entity.
const ANCESTORS: &str = concat!(ancestors_cte!(), " SELECT DISTINCT id FROM anc");

/// The groups above one entity, nearest first (what authorization walks).
pub(crate) const ANCESTORS_NEAREST_FIRST: &str = concat!(
    ancestors_cte!(),
    " SELECT id FROM anc GROUP BY id ORDER BY MIN(depth)"
);

/// Fills `Event::ancestors` on an open transaction's connection.
#[allow(async_fn_in_trait)] // called on the concrete connection types only
pub trait EventAncestry {
    /// `ev` with the groups above each of its subjects, as the hierarchy is now (call it
    /// before a delete removes the row that holds the parent).
    async fn with_ancestors(&mut self, ev: &Event) -> Result<Event>;
}

macro_rules! impl_event_ancestry {
    ($conn:ty) => {
        impl EventAncestry for $conn {
            async fn with_ancestors(&mut self, ev: &Event) -> Result<Event> {
                let mut out = ev.clone();
                for subject in subjects(ev) {
                    let ids: Vec<String> = sqlx::query_scalar(ANCESTORS)
                        .bind(&subject)
                        .fetch_all(&mut *self)
                        .await?;
                    for id in ids {
                        if !out.ancestors.contains(&id) {
                            out.ancestors.push(id);
                        }
                    }
                }
                Ok(out)
            }
        }
    };
}
impl_event_ancestry!(SqliteConnection);
impl_event_ancestry!(PgConnection);

/// The groups above each of many clients, in one query: `(client, group)` pairs.
/// Seeded by the clients' parents, then climbing like [`ANCESTORS`]; the list of ids
/// is appended as `$1, $2, ...`.
const CLIENTS_ANCESTORS: &str = "WITH RECURSIVE anc(client, id, depth) AS ( \
     SELECT id, parent_id, 1 FROM clients WHERE parent_id IS NOT NULL AND id IN ({ids}) \
     UNION \
     SELECT anc.client, g.parent_id, anc.depth + 1 FROM groups g JOIN anc ON g.id = anc.id \
     WHERE g.parent_id IS NOT NULL AND anc.depth < 64) \
   SELECT DISTINCT client, id FROM anc";

impl Store {
    /// The groups above each of `client_ids` (at most the MQTT writer's batch, 1000)
    /// as the hierarchy is now, in one query; clients without a group are absent.
    pub async fn clients_ancestors(
        &self,
        client_ids: &[String],
    ) -> Result<HashMap<String, Vec<String>>> {
        let ids = &client_ids[..client_ids.len().min(magnetite_events::writer::MAX_BATCH)];
        let mut out: HashMap<String, Vec<String>> = HashMap::new();
        if ids.is_empty() {
            return Ok(out);
        }
        let list: Vec<String> = (1..=ids.len()).map(|n| format!("${n}")).collect();
        let sql = CLIENTS_ANCESTORS.replace("{ids}", &list.join(", "));
        let pairs: Vec<(String, String)> = magnetite_db::db_read!(self.db(), pool => {
            let mut q = sqlx::query_as(&sql);
            for id in ids {
                q = q.bind(id);
            }
            q.fetch_all(pool).await?
        });
        for (client, group) in pairs {
            out.entry(client).or_default().push(group);
        }
        Ok(out)
    }

    /// The domain of the `kind` entity with this id (ids only, never routes), `None`
    /// when there is none.
    pub async fn entity_domain(&self, kind: Kind, id: &str) -> Result<Option<String>> {
        let sql = format!("SELECT domain_id FROM {} WHERE id = $1", kind.table());
        let domain = magnetite_db::db_read!(self.db(), pool => {
            sqlx::query_scalar(&sql).bind(id).fetch_optional(pool).await?
        });
        Ok(domain)
    }
}

/// The MQTT batching writer's lookup (`magnetite_events::writer`): one query per batch.
impl ClientAncestry for Store {
    fn ancestors<'a>(&'a self, client_ids: &'a [String]) -> AncestryFuture<'a> {
        Box::pin(async move {
            self.clients_ancestors(client_ids)
                .await
                .map_err(|e| e.to_string())
        })
    }
}
