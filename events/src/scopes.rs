//! Who an outbox row is about: `events_scopes (event_id, entity_id, direct)`, written
//! in the same transaction as the row, read by scoped consumers (`magnetite-consumers`).
//!
//! # Why a table written at append time
//! A group consumer with subresources must see an event of a channel that was in the
//! group's subtree *when the event happened*, and not one of a channel that moved in
//! later. Computing the subtree at read time would answer with today's membership; so
//! the membership is frozen into the scope rows when the event is appended:
//! - direct rows: the entities the event names ([`subjects`]: the entity of an
//!   `<kind>.*` event, the channels and clients of a connection, the client of an MQTT
//!   event, the user of a user event);
//! - indirect rows: [`Event::ancestors`], the groups above those subjects at that
//!   moment, filled in by auth inside the writing transaction.
//!
//! The domain is not a row: `events_outbox.domain` already holds it (a domain consumer
//! with subresources reads by that column).

use crate::error::EventsError;
use crate::model::Event;
use crate::outbox::OutboxRow;
use magnetite_db::{db_read, Db};
use serde_json::Value;
use sqlx::{PgConnection, SqliteConnection};
use std::collections::BTreeMap;

/// The table and its index for pruning (`retention` deletes rows by `event_id`).
pub(crate) const SCHEMA: [&str; 2] = [
    "CREATE TABLE IF NOT EXISTS events_scopes (entity_id TEXT NOT NULL, \
     event_id BIGINT NOT NULL, direct BIGINT NOT NULL, PRIMARY KEY (entity_id, event_id))",
    "CREATE INDEX IF NOT EXISTS events_scopes_event ON events_scopes (event_id)",
];

/// Deletes the scope rows of outbox rows that retention removed (every id below the
/// lowest surviving row, up to `up_to`).
pub(crate) const PRUNE: &str = "DELETE FROM events_scopes WHERE event_id <= $1 AND \
     event_id < (SELECT COALESCE(MIN(id), $1 + 1) FROM events_outbox)";

/// Single-id fields that name what an event is about.
const SUBJECT_FIELDS: [&str; 4] = ["id", "client_id", "channel_id", "group_id"];
/// Id-list fields that name what an event is about (connections).
const SUBJECT_LISTS: [&str; 3] = ["client_ids", "channel_ids", "group_ids"];

/// The ids an event names directly, from its canonical fields, without duplicates.
pub fn subjects(ev: &Event) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |v: &Value| {
        if let Some(s) = v.as_str().filter(|s| !s.is_empty()) {
            if !out.iter().any(|o| o == s) {
                out.push(s.to_string());
            }
        }
    };
    for f in SUBJECT_FIELDS {
        if let Some(v) = ev.fields.get(f) {
            push(v);
        }
    }
    for f in SUBJECT_LISTS {
        if let Some(Value::Array(items)) = ev.fields.get(f) {
            items.iter().for_each(&mut push);
        }
    }
    out
}

/// The scope rows of `ev`: entity id -> direct. A subject that is also an ancestor of
/// another subject stays direct.
pub fn scope_rows(ev: &Event) -> BTreeMap<String, bool> {
    rows_of(subjects(ev), &ev.ancestors)
}

/// The scope rows of an event naming `subjects` below `ancestors` (see [`scope_rows`]).
pub fn rows_of(subjects: Vec<String>, ancestors: &[String]) -> BTreeMap<String, bool> {
    let mut rows: BTreeMap<String, bool> = ancestors.iter().map(|a| (a.clone(), false)).collect();
    for s in subjects {
        rows.insert(s, true);
    }
    rows
}

const INSERT: &str =
    "INSERT INTO events_scopes (entity_id, event_id, direct) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";

macro_rules! write_rows {
    ($conn:expr, $event_id:expr, $ev:expr) => {{
        for (entity, direct) in scope_rows($ev) {
            sqlx::query(INSERT)
                .bind(entity)
                .bind($event_id)
                .bind(i64::from(direct))
                .execute(&mut *$conn)
                .await?;
        }
        Ok(())
    }};
}

/// Writes `ev`'s scope rows for outbox row `event_id` on SQLite (the caller's transaction).
pub async fn write_sqlite(
    conn: &mut SqliteConnection,
    event_id: i64,
    ev: &Event,
) -> Result<(), EventsError> {
    write_rows!(conn, event_id, ev)
}

/// Writes `ev`'s scope rows for outbox row `event_id` on PostgreSQL (the caller's transaction).
pub async fn write_postgres(
    conn: &mut PgConnection,
    event_id: i64,
    ev: &Event,
) -> Result<(), EventsError> {
    write_rows!(conn, event_id, ev)
}

/// Which rows one consumer may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeFilter {
    /// Every row of the domain (`events_outbox.domain`).
    WholeDomain(String),
    /// Rows naming `entity` (and, with `subresources`, rows whose subject had it as an
    /// ancestor), within `domain`: an id named by another tenant's event never leaks in.
    Entity {
        entity: String,
        domain: String,
        subresources: bool,
    },
    /// Platform-level rows (no domain) naming the user `user`.
    User(String),
}

/// Rows after `after` and at most `upto`, `limit` of them, in id order. The filter and
/// the limit are in the query: nothing is fetched that is not returned.
pub async fn fetch_scoped(
    db: &Db,
    filter: &ScopeFilter,
    after: i64,
    upto: i64,
    limit: i64,
) -> Result<Vec<OutboxRow>, EventsError> {
    const COLS: &str = "o.id, o.stream, o.payload, o.created_at";
    let (sql, key, domain): (String, &str, Option<&str>) = match filter {
        ScopeFilter::WholeDomain(d) => (
            format!(
                "SELECT {COLS} FROM events_outbox o WHERE o.domain = $1 \
                 AND o.id > $2 AND o.id <= $3 ORDER BY o.id LIMIT $4"
            ),
            d,
            None,
        ),
        ScopeFilter::Entity {
            entity,
            domain,
            subresources,
        } => {
            let direct = if *subresources {
                ""
            } else {
                " AND s.direct = 1"
            };
            (
                format!(
                    "SELECT {COLS} FROM events_scopes s JOIN events_outbox o ON o.id = s.event_id \
                     WHERE s.entity_id = $1 AND s.event_id > $2 AND s.event_id <= $3{direct} \
                     AND o.domain = $5 ORDER BY s.event_id LIMIT $4"
                ),
                entity,
                Some(domain),
            )
        }
        ScopeFilter::User(u) => (
            format!(
                "SELECT {COLS} FROM events_scopes s JOIN events_outbox o ON o.id = s.event_id \
                 WHERE s.entity_id = $1 AND s.event_id > $2 AND s.event_id <= $3 \
                 AND s.direct = 1 AND o.domain IS NULL ORDER BY s.event_id LIMIT $4"
            ),
            u,
            None,
        ),
    };
    let rows = db_read!(db, pool => {
        let mut q = sqlx::query_as(&sql).bind(key).bind(after).bind(upto).bind(limit);
        if let Some(d) = domain {
            q = q.bind(d);
        }
        q.fetch_all(pool).await?
    });
    Ok(rows)
}

/// The rows with these ids (at most 1000), in id order: redeliveries.
pub async fn fetch_ids(db: &Db, ids: &[i64]) -> Result<Vec<OutboxRow>, EventsError> {
    let ids = &ids[..ids.len().min(1000)];
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list: Vec<String> = (1..=ids.len()).map(|n| format!("${n}")).collect();
    let sql = format!(
        "SELECT id, stream, payload, created_at FROM events_outbox WHERE id IN ({}) ORDER BY id",
        list.join(", ")
    );
    let rows = db_read!(db, pool => {
        let mut q = sqlx::query_as(&sql);
        for id in ids {
            q = q.bind(*id);
        }
        q.fetch_all(pool).await?
    });
    Ok(rows)
}

/// The id of the last row written before `created_before_ns` (0 when none): where a
/// consumer that starts at a time begins.
pub async fn last_id_before(db: &Db, created_before_ns: i64) -> Result<i64, EventsError> {
    let q = "SELECT COALESCE(MAX(id), 0) FROM events_outbox WHERE created_at < $1";
    let v: i64 = db_read!(db, pool => { sqlx::query_scalar(q).bind(created_before_ns).fetch_one(pool).await? });
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Service;
    use serde_json::json;

    #[test]
    fn subjects_come_from_id_fields_and_lists_once() {
        let ev = Event::new(Service::Clients, "channel.connect")
            .with("channel_ids", json!(["ch1", "ch2"]))
            .with("client_ids", json!(["cl1", "ch1"]))
            .with("types", json!(["publish"]));
        assert_eq!(subjects(&ev), vec!["cl1", "ch1", "ch2"]);
        let mqtt = Event::new(Service::Mqtt, "").with("client_id", "c9");
        assert_eq!(subjects(&mqtt), vec!["c9"]);
        let list = Event::new(Service::Clients, "client.list").with("total", 3);
        assert!(subjects(&list).is_empty());
    }

    #[test]
    fn a_subject_that_is_also_an_ancestor_stays_direct() {
        let mut ev = Event::new(Service::Users, "group.update").with("id", "g2");
        ev.ancestors = vec!["g1".into(), "g2".into()];
        let rows: Vec<(String, bool)> = scope_rows(&ev).into_iter().collect();
        assert_eq!(rows, vec![("g1".into(), false), ("g2".into(), true)]);
    }
}
