//! One read of an [`crate::reader::OutboxReader`]: every id after its cursor (the gap
//! rule needs them all, [`crate::reader`]) and, whole, only the rows it wants.
//!
//! # Why the filter is in the query
//! Every MQTT connect and disconnect writes an outbox row, and every reader follows the
//! whole outbox. Most readers want few of those rows (the notifications only the
//! `users` and `clients` streams, the cross-instance invalidation only rows another
//! instance wrote, the consumers' horizon none), yet a read that brought every row with
//! its payload copied each one out of SQLite and into a `String` per reader: a large
//! share of a connect storm's user-space CPU. Here the rows a reader does not want come
//! back as their id alone (`CASE WHEN <wanted> ...` leaves their columns unread), and the
//! rows it wants carry their `domain` too, so the journal needs no second query for it.

use crate::error::EventsError;
use crate::outbox::OutboxRow;
use magnetite_db::{db_read, Db};

/// Which rows a reader is handed; the others are read as ids only, for the gap rule,
/// and passed over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rows {
    /// Every row, with its writing instance and domain.
    All,
    /// Only the rows of these streams (none: ids only, e.g. the consumers' horizon).
    Streams(Vec<String>),
    /// Only rows another instance wrote, and rows older than the `instance` column
    /// (who wrote them is unknown, so they count as another's).
    WrittenByOthers(String),
}

impl Rows {
    /// The rows of one stream.
    pub fn stream(name: &str) -> Rows {
        Rows::Streams(vec![name.to_string()])
    }

    /// Whether a row is wanted, as SQL over the outbox columns; parameters from `$3`.
    fn condition(&self) -> String {
        match self {
            Rows::All => "1 = 1".to_string(),
            Rows::Streams(s) if s.is_empty() => "1 = 0".to_string(),
            Rows::Streams(s) => {
                let list: Vec<String> = (3..3 + s.len()).map(|i| format!("${i}")).collect();
                format!("stream IN ({})", list.join(", "))
            }
            Rows::WrittenByOthers(_) => "(instance IS NULL OR instance <> $3)".to_string(),
        }
    }

    /// The values of [`Rows::condition`]'s parameters, in order.
    fn values(&self) -> &[String] {
        match self {
            Rows::All => &[],
            Rows::Streams(s) => s,
            Rows::WrittenByOthers(instance) => std::slice::from_ref(instance),
        }
    }

    /// `id, stream, payload, created_at, instance, domain` of up to `$2` rows after `$1`,
    /// every column but the id and `created_at` NULL on the rows not wanted. One level,
    /// the condition repeated per column: as a subquery with a `wanted` column, SQLite's
    /// plan (`EXPLAIN`, 3.40) was a co-routine that read every payload and a temporary
    /// B-tree sorting the window again; this way it reads a payload only when the row
    /// is wanted and streams the rows in rowid order.
    fn sql(&self) -> String {
        let wanted = self.condition();
        let column = |name: &str| format!("CASE WHEN {wanted} THEN {name} END AS {name}");
        format!(
            "SELECT id, {}, {}, created_at, {}, {} \
             FROM events_outbox WHERE id > $1 ORDER BY id LIMIT $2",
            column("stream"),
            column("payload"),
            column("instance"),
            column("domain"),
        )
    }
}

/// What one read found.
#[derive(Debug, Default)]
pub struct Window {
    /// Every id read, ascending.
    pub ids: Vec<i64>,
    /// The wanted rows among them, in id order.
    pub rows: Vec<OutboxRow>,
}

/// A row as the window query returns it: `stream` is NULL on a row not wanted.
#[derive(sqlx::FromRow)]
struct WindowRow {
    id: i64,
    stream: Option<String>,
    payload: Option<String>,
    created_at: i64,
    instance: Option<String>,
    domain: Option<String>,
}

/// Up to `limit` rows after `after`: every id, the rows `rows` wants whole.
pub async fn fetch_window(
    db: &Db,
    after: i64,
    rows: &Rows,
    limit: i64,
) -> Result<Window, EventsError> {
    let sql = rows.sql();
    let read: Vec<WindowRow> = db_read!(db, pool => {
        let mut q = sqlx::query_as(&sql).bind(after).bind(limit);
        for value in rows.values() {
            q = q.bind(value.as_str());
        }
        q.fetch_all(pool).await?
    });
    let mut window = Window {
        ids: Vec::with_capacity(read.len()),
        rows: Vec::new(),
    };
    for row in read {
        window.ids.push(row.id);
        if let Some(stream) = row.stream {
            window.rows.push(OutboxRow {
                id: row.id,
                stream,
                payload: row.payload.unwrap_or_default(),
                created_at: row.created_at,
                instance: row.instance,
                domain: row.domain,
            });
        }
    }
    Ok(window)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_filter_numbers_its_parameters_after_the_cursor_and_limit() {
        let two = Rows::Streams(vec!["users".into(), "clients".into()]);
        assert!(two
            .sql()
            .contains("CASE WHEN stream IN ($3, $4) THEN payload END"));
        assert_eq!(two.values(), ["users", "clients"]);
        let others = Rows::WrittenByOthers("i1".into());
        assert!(others.sql().contains("instance <> $3"));
        assert_eq!(others.values(), ["i1"]);
        assert!(Rows::All.values().is_empty());
    }

    #[test]
    fn no_stream_wants_no_row_and_binds_nothing() {
        let none = Rows::Streams(Vec::new());
        assert!(none.sql().contains("CASE WHEN 1 = 0 THEN stream END"));
        assert!(none.values().is_empty());
    }
}
