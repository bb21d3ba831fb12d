//! Storing one window of journal entries with few statements.
//!
//! # Why
//! The copier journals every MQTT connect and disconnect of the fleet. Storing an entry
//! took three statements (the entry, its index row, the client's telemetry), each a
//! round trip to sqlx's SQLite worker: in a connect storm under `--auth platform` that
//! was most of the SQLite work of a *warm* connect (BENCHMARKS.md, 2026-12-01). Here a
//! window is a few multi-row statements ([`magnetite_db::multi_row`]):
//!
//! 1. the entries, `ON CONFLICT (id) DO NOTHING RETURNING id`: the ids that come back
//!    are the entries stored now (a window re-read after a crash returns none of them);
//! 2. the index rows of those entries;
//! 3. the subscriptions the new entries add or drop, one statement each and in order
//!    (rare: one per SUBSCRIBE / UNSUBSCRIBE / session end, not per connect);
//! 4. the telemetry, summed per client over the window ([`telemetry_totals`]): one row
//!    per client, because one statement must not update a row twice (PostgreSQL
//!    refuses it) — and the sum, minimum and maximum come out as the per-entry updates
//!    did.

use std::collections::HashSet;

use magnetite_db::multi_row::{pow2_chunks, MultiRowSql};
use magnetite_db::{db_tx, Db};
use serde_json::{Map, Value};
use sqlx::Row;

use crate::derive::{Change, Derived, TelemetryChange};
use crate::error::Result;

static ENTRIES: MultiRowSql = MultiRowSql::new(6, |values| {
    format!(
        "INSERT INTO journal (id, operation, occurred_at, domain, attributes, metadata) \
         VALUES {values} ON CONFLICT (id) DO NOTHING RETURNING id"
    )
});
static ENTITIES: MultiRowSql = MultiRowSql::new(4, |values| {
    format!(
        "INSERT INTO journal_entities (entity_type, entity_id, occurred_at, journal_id) \
         VALUES {values} ON CONFLICT DO NOTHING"
    )
});
/// Counts add up; first seen only moves back, last seen only forward (events of
/// several instances may be written out of their time order).
static TELEMETRY: MultiRowSql = MultiRowSql::new(6, |values| {
    format!(
        "INSERT INTO journal_telemetry \
         (client_id, domain_id, inbound, outbound, first_seen, last_seen) \
         VALUES {values} ON CONFLICT (client_id) DO UPDATE SET \
         inbound = journal_telemetry.inbound + excluded.inbound, \
         outbound = journal_telemetry.outbound + excluded.outbound, \
         first_seen = CASE WHEN excluded.first_seen < journal_telemetry.first_seen \
           THEN excluded.first_seen ELSE journal_telemetry.first_seen END, \
         last_seen = CASE WHEN excluded.last_seen > journal_telemetry.last_seen \
           THEN excluded.last_seen ELSE journal_telemetry.last_seen END"
    )
});
const ADD_SUBSCRIPTION: &str = "INSERT INTO journal_subscriptions \
     (client_id, subscriber_id, topic) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";
const DROP_SUBSCRIPTION: &str = "DELETE FROM journal_subscriptions \
     WHERE client_id = $1 AND subscriber_id = $2 AND topic = $3";
const DROP_SESSION: &str =
    "DELETE FROM journal_subscriptions WHERE client_id = $1 AND subscriber_id = $2";

/// One entry as bound: its JSON texts made once, before the transaction.
struct EntryRow<'a> {
    id: i64,
    operation: &'a str,
    occurred_at: i64,
    domain: Option<&'a str>,
    attributes: String,
    metadata: String,
}

impl<'a> EntryRow<'a> {
    fn of(d: &'a Derived) -> EntryRow<'a> {
        let e = &d.entry;
        EntryRow {
            id: e.id,
            operation: &e.operation,
            occurred_at: e.occurred_at,
            domain: e.domain.as_deref(),
            attributes: json_text(&e.attributes),
            metadata: json_text(&e.metadata),
        }
    }
}

/// The JSON text of an object (serializing a map of JSON values cannot fail: its keys
/// are strings).
fn json_text(map: &Map<String, Value>) -> String {
    serde_json::to_string(map).unwrap_or_else(|_| "{}".to_string())
}

/// A client's telemetry change summed over a window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TelemetryTotal<'a> {
    pub client_id: &'a str,
    /// The domain of the client's first change (a client belongs to one domain; an
    /// existing row keeps its own, as before).
    pub domain_id: &'a str,
    pub inbound: i64,
    pub outbound: i64,
    pub first_seen: i64,
    pub last_seen: i64,
}

/// One total per client, in the order clients first appear.
pub(crate) fn telemetry_totals<'a>(
    changes: impl IntoIterator<Item = &'a TelemetryChange>,
) -> Vec<TelemetryTotal<'a>> {
    let mut totals: Vec<TelemetryTotal<'a>> = Vec::new();
    let mut index = std::collections::HashMap::new();
    for t in changes {
        let (inbound, outbound) = t.counts();
        match index.get(t.client_id.as_str()) {
            Some(&i) => {
                let total: &mut TelemetryTotal<'a> = &mut totals[i];
                total.inbound += inbound;
                total.outbound += outbound;
                total.first_seen = total.first_seen.min(t.at);
                total.last_seen = total.last_seen.max(t.at);
            }
            None => {
                index.insert(t.client_id.as_str(), totals.len());
                totals.push(TelemetryTotal {
                    client_id: &t.client_id,
                    domain_id: &t.domain_id,
                    inbound,
                    outbound,
                    first_seen: t.at,
                    last_seen: t.at,
                });
            }
        }
    }
    totals
}

impl TelemetryChange {
    /// `(inbound, outbound)` PUBLISHes this change adds.
    fn counts(&self) -> (i64, i64) {
        match self.kind {
            Change::SessionEnded {
                inbound, outbound, ..
            } => (inbound, outbound),
            _ => (0, 0),
        }
    }
}

/// `(entity type, entity id, occurred at, journal id)` of every index row of `entries`.
fn index_rows<'a>(entries: &[&'a Derived]) -> Vec<(&'static str, &'a str, i64, i64)> {
    entries
        .iter()
        .flat_map(|d| {
            let e = &d.entry;
            d.entities
                .iter()
                .map(move |(kind, id)| (kind.as_str(), id.as_str(), e.occurred_at, e.id))
        })
        .collect()
}

/// Applies the subscription a telemetry change adds or drops on `$tx` (either engine's
/// transaction).
macro_rules! apply_subscription {
    ($tx:ident, $t:expr) => {{
        let t: &TelemetryChange = $t;
        match &t.kind {
            Change::Subscribed { subscriber, topic } => {
                let q = sqlx::query(ADD_SUBSCRIPTION).bind(&t.client_id);
                q.bind(subscriber).bind(topic).execute(&mut *$tx).await?;
            }
            Change::Unsubscribed { subscriber, topic } => {
                let q = sqlx::query(DROP_SUBSCRIPTION).bind(&t.client_id);
                q.bind(subscriber).bind(topic).execute(&mut *$tx).await?;
            }
            Change::SessionEnded { subscriber, .. } => {
                let q = sqlx::query(DROP_SESSION).bind(&t.client_id);
                q.bind(subscriber).execute(&mut *$tx).await?;
            }
            Change::Seen => {}
        }
    }};
}

/// Stores a window's entries, their entity index and, for entries not stored before,
/// their telemetry changes: one transaction. Returns how many entries were new.
pub async fn store_window(db: &Db, window: &[Derived]) -> Result<u64> {
    if window.is_empty() {
        return Ok(0);
    }
    let rows: Vec<EntryRow<'_>> = window.iter().map(EntryRow::of).collect();
    db_tx!(db, tx => {
        let mut stored = HashSet::with_capacity(rows.len());
        for chunk in pow2_chunks(&rows) {
            let mut q = sqlx::query(ENTRIES.sql(chunk.len()));
            for r in chunk {
                q = q.bind(r.id).bind(r.operation).bind(r.occurred_at).bind(r.domain);
                q = q.bind(r.attributes.as_str()).bind(r.metadata.as_str());
            }
            for r in q.fetch_all(&mut *tx).await? {
                stored.insert(r.try_get::<i64, _>(0)?);
            }
        }
        let new: Vec<&Derived> = window.iter().filter(|d| stored.contains(&d.entry.id)).collect();
        for chunk in pow2_chunks(&index_rows(&new)) {
            let mut q = sqlx::query(ENTITIES.sql(chunk.len()));
            for (kind, id, at, journal_id) in chunk {
                q = q.bind(*kind).bind(*id).bind(*at).bind(*journal_id);
            }
            q.execute(&mut *tx).await?;
        }
        let changes: Vec<&TelemetryChange> = new.iter().filter_map(|d| d.telemetry.as_ref()).collect();
        for t in &changes {
            apply_subscription!(tx, t);
        }
        for chunk in pow2_chunks(&telemetry_totals(changes)) {
            let mut q = sqlx::query(TELEMETRY.sql(chunk.len()));
            for t in chunk {
                q = q.bind(t.client_id).bind(t.domain_id).bind(t.inbound).bind(t.outbound);
                q = q.bind(t.first_seen).bind(t.last_seen);
            }
            q.execute(&mut *tx).await?;
        }
        Ok(new.len() as u64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(client: &str, at: i64, kind: Change) -> TelemetryChange {
        TelemetryChange {
            client_id: client.to_string(),
            domain_id: "d1".to_string(),
            at,
            kind,
        }
    }

    fn ended(inbound: i64, outbound: i64) -> Change {
        Change::SessionEnded {
            subscriber: "s".to_string(),
            inbound,
            outbound,
        }
    }

    #[test]
    fn totals_sum_counts_and_span_the_times_per_client() {
        let changes = [
            change("c1", 20, Change::Seen),
            change("c2", 5, ended(1, 2)),
            change("c1", 10, ended(3, 4)),
            change("c1", 30, ended(5, 0)),
        ];
        let totals = telemetry_totals(&changes);
        let c1 = TelemetryTotal {
            client_id: "c1",
            domain_id: "d1",
            inbound: 8,
            outbound: 4,
            first_seen: 10,
            last_seen: 30,
        };
        let c2 = TelemetryTotal {
            client_id: "c2",
            domain_id: "d1",
            inbound: 1,
            outbound: 2,
            first_seen: 5,
            last_seen: 5,
        };
        assert_eq!(totals, vec![c1, c2], "one row per client, first-seen order");
    }

    #[test]
    fn no_changes_no_totals() {
        assert!(telemetry_totals(&[]).is_empty());
    }
}
