//! The commit signal (`magnetite_db::commits`), alone in its test binary: the counter is
//! process-wide, so no other test may commit while this one watches it.

use magnetite_db::{db_read, db_tx, Db};

async fn insert(db: &Db, keys: &[&str]) -> Result<(), sqlx::Error> {
    db_tx!(db, tx => {
        for k in keys {
            sqlx::query("INSERT INTO t (k) VALUES ($1)").bind(*k).execute(&mut *tx).await?;
        }
    });
    Ok(())
}

#[tokio::test]
async fn a_commit_is_signalled_and_a_rollback_is_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}/commits.db", dir.path().display());
    let db = Db::open(&url).await.expect("open sqlite");
    let create = "CREATE TABLE t (k TEXT PRIMARY KEY)";
    db_read!(&db, pool => { sqlx::query(create).execute(pool).await.expect("create"); });
    let mut commits = magnetite_db::commits().subscribe();
    commits.borrow_and_update();

    insert(&db, &["a", "a"]).await.expect_err("duplicate key");
    assert!(
        !commits.has_changed().expect("the sender lives"),
        "a rolled-back transaction is no commit"
    );
    insert(&db, &["a", "b"]).await.expect("two distinct keys");
    assert!(commits.has_changed().expect("the sender lives"));
}
