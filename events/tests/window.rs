//! A reader's window query on both databases: every id after the cursor, whole rows only
//! for the rows the reader wants (by stream, or written by another instance, rows older
//! than the `instance` column included), each with its domain and instance.

mod common;

use common::{postgres, postgres_url, sqlite_db};
use magnetite_db::Db;
use magnetite_events::window::{fetch_window, Rows};
use magnetite_events::{OutboxDb, OutboxRow};

/// `(stream, instance, domain)` of the rows written, ids 1 to 4 in this order.
const ROWS: [(&str, Option<&str>, Option<&str>); 4] = [
    ("mqtt", Some("a"), None),
    ("clients", Some("b"), Some("d1")),
    // Written before the `instance` column existed.
    ("users", None, Some("d2")),
    ("bootstrap", Some("a"), Some("d1")),
];

const INSERT: &str = "INSERT INTO events_outbox (stream, payload, created_at, domain, instance) \
     VALUES ($1, $2, $3, $4, $5)";

async fn write_rows(db: &Db) {
    for (i, (stream, instance, domain)) in ROWS.iter().enumerate() {
        let payload = format!("{{\"n\":{}}}", i + 1);
        let created_at = 10 + i as i64;
        magnetite_db::db_read!(db, pool => {
            sqlx::query(INSERT)
                .bind(stream)
                .bind(&payload)
                .bind(created_at)
                .bind(domain)
                .bind(instance)
                .execute(pool)
                .await
                .map(drop)
        })
        .expect("insert an outbox row");
    }
}

/// The rows of `ids` as written, with their domain and instance.
fn expected(ids: &[i64]) -> Vec<OutboxRow> {
    ids.iter()
        .map(|&id| {
            let (stream, instance, domain) = ROWS[(id - 1) as usize];
            OutboxRow {
                id,
                stream: stream.to_string(),
                payload: format!("{{\"n\":{id}}}"),
                created_at: 9 + id,
                instance: instance.map(str::to_string),
                domain: domain.map(str::to_string),
            }
        })
        .collect()
}

async fn every_filter_reads_every_id_and_only_wanted_rows(db: &Db) {
    write_rows(db).await;
    let cases = [
        (Rows::All, vec![1, 2, 3, 4]),
        (
            Rows::Streams(vec!["users".into(), "clients".into()]),
            vec![2, 3],
        ),
        (Rows::stream("bootstrap"), vec![4]),
        (Rows::Streams(Vec::new()), vec![]),
        (Rows::WrittenByOthers("a".into()), vec![2, 3]),
        (Rows::WrittenByOthers("b".into()), vec![1, 3, 4]),
    ];
    for (rows, wanted) in cases {
        let window = fetch_window(db, 0, &rows, 100).await.expect("window");
        assert_eq!(window.ids, [1, 2, 3, 4], "{rows:?}: every id");
        assert_eq!(window.rows, expected(&wanted), "{rows:?}: the wanted rows");
    }
    let page = fetch_window(db, 1, &Rows::stream("users"), 2)
        .await
        .expect("window");
    assert_eq!(page.ids, [2, 3], "after the cursor, at most the limit");
    assert_eq!(page.rows, expected(&[3]));
}

#[tokio::test]
async fn sqlite_window() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (db, _) = sqlite_db(dir.path()).await;
    every_filter_reads_every_id_and_only_wanted_rows(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_window() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pg = postgres(dir.path());
    let db = Db::open(&postgres_url(&pg)).await.expect("open postgres");
    db.ensure_schema().await.expect("schema");
    every_filter_reads_every_id_and_only_wanted_rows(&db).await;
}
