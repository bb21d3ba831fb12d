//! The kit on a real SQLite file: transactions commit or roll back as a whole, a
//! duplicate key is recognised, and a bad URL is refused without repeating it.

use magnetite_db::{db_read, db_tx, is_unique_violation, Db, DbError};

async fn open_temp(dir: &tempfile::TempDir) -> Db {
    let url = format!("sqlite://{}/kit.db", dir.path().display());
    let db = Db::open(&url).await.expect("open sqlite");
    let create = "CREATE TABLE t (k TEXT PRIMARY KEY)";
    db_read!(&db, pool => { sqlx::query(create).execute(pool).await.expect("create"); });
    db
}

async fn count(db: &Db) -> i64 {
    db_read!(db, pool => {
        sqlx::query_scalar("SELECT COUNT(*) FROM t").fetch_one(pool).await.expect("count")
    })
}

async fn insert_two(db: &Db, second: &str) -> Result<(), sqlx::Error> {
    db_tx!(db, tx => {
        sqlx::query("INSERT INTO t (k) VALUES ($1)").bind("a").execute(&mut *tx).await?;
        sqlx::query("INSERT INTO t (k) VALUES ($1)").bind(second).execute(&mut *tx).await?;
    });
    Ok(())
}

#[tokio::test]
async fn a_transaction_commits_whole_or_not_at_all() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open_temp(&dir).await;
    let err = insert_two(&db, "a").await.expect_err("duplicate key");
    assert!(is_unique_violation(&err), "not a unique violation: {err}");
    assert_eq!(count(&db).await, 0, "the first insert was rolled back");
    insert_two(&db, "b").await.expect("two distinct keys");
    assert_eq!(count(&db).await, 2);
}

#[tokio::test]
async fn other_errors_are_not_unique_violations() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open_temp(&dir).await;
    let err = db_read!(&db, pool => {
        sqlx::query("SELECT nope FROM t").execute(pool).await.expect_err("no such column")
    });
    assert!(!is_unique_violation(&err));
    assert!(!is_unique_violation(&sqlx::Error::RowNotFound));
}

#[tokio::test]
async fn an_unknown_engine_is_refused_without_echoing_the_url() {
    let err = Db::open("mysql://root:hunter2@db/x")
        .await
        .expect_err("refused");
    assert!(matches!(err, DbError::UnknownEngine));
    assert!(!err.to_string().contains("hunter2"), "{err}");
}
