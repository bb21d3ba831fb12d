//! Multi-row statements: many rows written with few statements, in texts the
//! prepared-statement cache keeps.
//!
//! # Why
//! Each statement is a round trip to sqlx's SQLite worker thread (a channel send, a
//! wake-up, a statement reset) and a B-tree descent. Writers that store one row per
//! event (the outbox, the journal) paid that per row; a batch cut into multi-row
//! `INSERT`s pays it once per chunk.
//!
//! Statement sizes are powers of two up to [`CHUNK`] (45 rows are 32 + 8 + 4 + 1), so
//! at most seven distinct texts per statement reach the prepared-statement cache
//! instead of one per batch size. Placeholders are numbered (`$1`), which both engines
//! accept.

use std::sync::OnceLock;

/// Most rows one statement writes (six parameters each at most today: far below
/// SQLite's 32,766 and PostgreSQL's 65,535 bound parameters).
pub const CHUNK: usize = 64;

/// `items` cut into slices of [`CHUNK`], then the rest in decreasing powers of two.
pub fn pow2_chunks<T>(items: &[T]) -> impl Iterator<Item = &[T]> {
    let mut rest = items;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let take = CHUNK.min(1 << rest.len().ilog2());
        let (head, tail) = rest.split_at(take);
        rest = tail;
        Some(head)
    })
}

/// One multi-row statement in every power-of-two size up to [`CHUNK`], made once per
/// process on first use. Declare it as a `static`:
///
/// ```
/// use magnetite_db::multi_row::MultiRowSql;
/// static INSERT: MultiRowSql = MultiRowSql::new(2, |values| format!("INSERT INTO t (a, b) VALUES {values}"));
/// assert_eq!(INSERT.sql(2), "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4)");
/// ```
pub struct MultiRowSql {
    columns: usize,
    statement: fn(&str) -> String,
    texts: OnceLock<Vec<String>>,
}

impl MultiRowSql {
    /// `statement` turns a `VALUES` list (`($1, $2), ($3, $4)`) into the statement;
    /// each row binds `columns` parameters.
    pub const fn new(columns: usize, statement: fn(&str) -> String) -> MultiRowSql {
        MultiRowSql {
            columns,
            statement,
            texts: OnceLock::new(),
        }
    }

    /// The statement for `rows` rows (a power of two up to [`CHUNK`], as
    /// [`pow2_chunks`] cuts them).
    pub fn sql(&'static self, rows: usize) -> &'static str {
        let texts = self.texts.get_or_init(|| {
            (0..=CHUNK.ilog2())
                .map(|p| (self.statement)(&values_list(1 << p, self.columns)))
                .collect()
        });
        let index = rows.max(1).ilog2() as usize;
        texts.get(index).map(String::as_str).unwrap_or_default()
    }
}

/// `($1, $2), ($3, $4)` for 2 rows of 2 columns.
pub fn values_list(rows: usize, columns: usize) -> String {
    let row = |r: usize| {
        let params: Vec<String> = (1..=columns)
            .map(|c| format!("${}", r * columns + c))
            .collect();
        format!("({})", params.join(", "))
    };
    let all: Vec<String> = (0..rows).map(row).collect();
    all.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_split_into_powers_of_two_up_to_the_chunk() {
        let items: Vec<u32> = (0..(2 * CHUNK as u32 + 45)).collect();
        let sizes: Vec<usize> = pow2_chunks(&items).map(<[u32]>::len).collect();
        assert_eq!(sizes, vec![CHUNK, CHUNK, 32, 8, 4, 1]);
        let rejoined: Vec<u32> = pow2_chunks(&items).flatten().copied().collect();
        assert_eq!(rejoined, items, "every item once, in order");
        assert_eq!(pow2_chunks::<u32>(&[]).count(), 0);
    }

    #[test]
    fn statements_number_every_parameter_once() {
        static SQL: MultiRowSql = MultiRowSql::new(3, |v| format!("INSERT INTO t VALUES {v}"));
        assert_eq!(values_list(2, 3), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(SQL.sql(1), "INSERT INTO t VALUES ($1, $2, $3)");
        assert!(SQL.sql(4).ends_with("($10, $11, $12)"));
        assert!(SQL.sql(CHUNK).ends_with(&format!("${})", CHUNK * 3)));
    }
}
