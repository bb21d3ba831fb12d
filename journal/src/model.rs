//! What the journal keeps and answers, in the shapes of SuperMQ's `journal.yaml`.

use serde::Serialize;
use serde_json::{Map, Value};

/// What a journal is kept per (SuperMQ's `entity_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntityType {
    User,
    Group,
    Client,
    Channel,
}

impl EntityType {
    /// The name in paths and in the `journal_entities` table.
    pub fn as_str(self) -> &'static str {
        match self {
            EntityType::User => "user",
            EntityType::Group => "group",
            EntityType::Client => "client",
            EntityType::Channel => "channel",
        }
    }

    /// The types `GET /{domain}/journal/{entity_type}/{id}` takes (users have their own
    /// route, outside any domain).
    pub fn in_domain(name: &str) -> Option<EntityType> {
        match name {
            "group" => Some(EntityType::Group),
            "client" => Some(EntityType::Client),
            "channel" => Some(EntityType::Channel),
            _ => None,
        }
    }
}

/// Sort order of a page (by when the events occurred).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Asc,
    Desc,
}

impl Direction {
    /// The SQL keyword.
    pub fn sql(self) -> &'static str {
        match self {
            Direction::Asc => "ASC",
            Direction::Desc => "DESC",
        }
    }
}

/// One page request: the query parameters of the journal routes, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalQuery {
    pub offset: u64,
    pub limit: u64,
    /// Only this operation (`client.update`, `mqtt.client_connect`, ...).
    pub operation: Option<String>,
    /// Inclusive bounds on `occurred_at`, Unix nanoseconds.
    pub from_ns: i64,
    pub to_ns: i64,
    pub with_attributes: bool,
    pub with_metadata: bool,
    pub dir: Direction,
}

/// One journal entry as stored: an outbox event, split as SuperMQ's journal splits it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The outbox row's id (so a window read twice stores nothing twice).
    pub id: i64,
    pub operation: String,
    /// Unix nanoseconds.
    pub occurred_at: i64,
    /// The tenant the event belongs to (none for platform-level events).
    pub domain: Option<String>,
    /// Every field but `operation`, `occurred_at` and `metadata`.
    pub attributes: Map<String, Value>,
    /// The event's `metadata` object (empty when it has none).
    pub metadata: Map<String, Value>,
}

/// An entry as `GET .../journal/...` answers it (`Journal` of the OpenAPI):
/// `attributes` and `metadata` only when asked for.
#[derive(Debug, Clone, Serialize)]
pub struct JournalView {
    pub operation: String,
    /// RFC 3339, UTC, nanoseconds.
    pub occurred_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attributes: Option<Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
}

impl JournalView {
    /// `entry` as shown for `query`.
    pub fn of(entry: Entry, query: &JournalQuery) -> JournalView {
        JournalView {
            operation: entry.operation,
            occurred_at: rfc3339(entry.occurred_at),
            domain: entry.domain,
            attributes: query.with_attributes.then_some(entry.attributes),
            metadata: query.with_metadata.then_some(entry.metadata),
        }
    }
}

/// A page (`JournalPage` of the OpenAPI).
#[derive(Debug, Clone, Serialize)]
pub struct JournalPage {
    pub journals: Vec<JournalView>,
    pub total: u64,
    pub offset: u64,
    pub limit: u64,
}

/// A client's MQTT telemetry as stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TelemetryRow {
    pub inbound: i64,
    pub outbound: i64,
    pub first_seen: Option<i64>,
    pub last_seen: Option<i64>,
    pub subscriptions: i64,
}

/// `Telemetry` of the OpenAPI. `first_seen` / `last_seen` are `null` for a client
/// that never connected.
#[derive(Debug, Clone, Serialize)]
pub struct Telemetry {
    pub client_id: String,
    pub domain_id: String,
    pub subscriptions: u64,
    pub inbound_messages: u64,
    pub outbound_messages: u64,
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
}

impl Telemetry {
    /// The answer for `client_id` of `domain_id` from what is stored.
    pub fn of(client_id: &str, domain_id: &str, row: TelemetryRow) -> Telemetry {
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        Telemetry {
            client_id: client_id.to_string(),
            domain_id: domain_id.to_string(),
            subscriptions: count(row.subscriptions),
            inbound_messages: count(row.inbound),
            outbound_messages: count(row.outbound),
            first_seen: row.first_seen.map(rfc3339),
            last_seen: row.last_seen.map(rfc3339),
        }
    }
}

/// Unix nanoseconds as RFC 3339 in UTC with nanoseconds (Go's `time.Time` JSON form).
pub fn rfc3339(ns: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(ns).to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(
            rfc3339(1_700_000_000_123_456_789),
            "2023-11-14T22:13:20.123456789Z"
        );
    }

    #[test]
    fn attributes_and_metadata_only_when_asked() {
        let entry = Entry {
            id: 1,
            operation: "client.create".into(),
            occurred_at: 0,
            domain: Some("d".into()),
            attributes: Map::from_iter([("id".to_string(), Value::from("c"))]),
            metadata: Map::new(),
        };
        let query = JournalQuery {
            offset: 0,
            limit: 10,
            operation: None,
            from_ns: 0,
            to_ns: i64::MAX,
            with_attributes: true,
            with_metadata: false,
            dir: Direction::Desc,
        };
        let shown = serde_json::to_value(JournalView::of(entry, &query)).unwrap();
        assert_eq!(shown["attributes"]["id"], "c");
        assert!(shown.get("metadata").is_none());
        assert_eq!(shown["domain"], "d");
    }
}
