//! The group ancestry an event is recorded under (`Event::ancestors`, see
//! `magnetite_events::scopes`), resolved on the writing transaction's connection so it
//! is the hierarchy at the moment of the change, and the domain of an entity named by
//! id alone (event consumers name their target by id).

use magnetite_events::scopes::subjects;
use magnetite_events::Event;
use sqlx::{PgConnection, SqliteConnection};

use super::Store;
use crate::error::Result;
use crate::model::Kind;

/// The groups above one entity (client, channel or group), nearest first; depth-bounded
/// and cycle-safe (`UNION` drops a repeated row, which ends the recursion).
const ANCESTORS: &str = "WITH RECURSIVE anc(id, depth) AS ( \
     SELECT parent_id, 1 FROM ( \
       SELECT parent_id FROM clients WHERE id = $1 \
       UNION ALL SELECT parent_id FROM channels WHERE id = $1 \
       UNION ALL SELECT parent_id FROM groups WHERE id = $1) seed \
     WHERE parent_id IS NOT NULL \
     UNION \
     SELECT g.parent_id, anc.depth + 1 FROM groups g JOIN anc ON g.id = anc.id \
     WHERE g.parent_id IS NOT NULL AND anc.depth < 64) \
   SELECT DISTINCT id FROM anc";

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

impl Store {
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
