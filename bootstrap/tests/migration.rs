//! A database from before per-domain external ids (a platform-wide UNIQUE on
//! `external_id`) is migrated on open, on SQLite (table rebuilt) and PostgreSQL
//! (constraint dropped): rows are kept, and the new uniqueness rules hold.

use magnetite_bootstrap::store::ConfigStore;
use magnetite_db::Db;

/// The table as the previous release created it.
const OLD_TABLE: &str = "CREATE TABLE bootstrap_configs (client_id TEXT PRIMARY KEY, \
     domain_id TEXT NOT NULL, external_id TEXT NOT NULL UNIQUE, external_key_hash TEXT NOT NULL, \
     client_secret_sealed TEXT NOT NULL, name TEXT NOT NULL, content TEXT NOT NULL, \
     client_cert TEXT NOT NULL, client_key_sealed TEXT NOT NULL, ca_cert TEXT NOT NULL, \
     state BIGINT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT)";
const OLD_INDEX: &str = "CREATE INDEX bootstrap_configs_by_domain ON bootstrap_configs (domain_id)";

const INSERT: &str = "INSERT INTO bootstrap_configs (client_id, domain_id, external_id, \
     external_key_hash, client_secret_sealed, name, content, client_cert, client_key_sealed, \
     ca_cert, state, created_at) VALUES ($1, $2, $3, $4, '', 'n', 'kept', '', '', '', 1, 't')";

async fn exec(db: &Db, sql: &str, binds: &[&str]) -> Result<u64, sqlx::Error> {
    macro_rules! run {
        ($pool:expr) => {{
            let mut q = sqlx::query(sql);
            for b in binds {
                q = q.bind(*b);
            }
            q.execute($pool).await.map(|r| r.rows_affected())
        }};
    }
    match db {
        Db::Sqlite(p) => run!(p),
        Db::Postgres(p) => run!(p),
    }
}

async fn migrates_an_old_table(url: &str) {
    let db = Db::open(url).await.unwrap();
    exec(&db, OLD_TABLE, &[]).await.unwrap();
    exec(&db, OLD_INDEX, &[]).await.unwrap();
    exec(&db, INSERT, &["c1", "d1", "X", "h1"]).await.unwrap();
    assert!(
        exec(&db, INSERT, &["c2", "d2", "X", "h2"]).await.is_err(),
        "the old table refuses X in a second domain"
    );

    for _ in 0..2 {
        // Opening migrates once and is idempotent afterwards.
        let store = ConfigStore::open(db.clone()).await.unwrap();
        let kept = store
            .get_any("c1")
            .await
            .unwrap()
            .expect("the old row is kept");
        assert_eq!(
            (
                kept.domain_id.as_str(),
                kept.external_id.as_str(),
                kept.content.as_str()
            ),
            ("d1", "X", "kept")
        );
    }
    exec(&db, INSERT, &["c2", "d2", "X", "h2"])
        .await
        .expect("X in a second domain");
    let same_domain = exec(&db, INSERT, &["c3", "d1", "X", "h3"]).await;
    assert!(same_domain.is_err(), "X twice in one domain");
    let same_key = exec(&db, INSERT, &["c4", "d3", "X", "h1"]).await;
    assert!(
        same_key.is_err(),
        "X with the same key hash in another domain"
    );
    let store = ConfigStore::open(db.clone()).await.unwrap();
    let found = store
        .by_external_key("X", "h2")
        .await
        .unwrap()
        .expect("by id and key");
    assert_eq!(found.client_id, "c2");
    assert!(store.by_external_key("X", "h3").await.unwrap().is_none());
}

#[tokio::test]
async fn sqlite_database_is_migrated() {
    let dir = tempfile::tempdir().unwrap();
    migrates_an_old_table(&format!("sqlite://{}/old.db", dir.path().display())).await;
}

#[tokio::test]
async fn postgres_database_is_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let pg = magnetite_testkit::servers::postgres(dir.path());
    migrates_an_old_table(&format!(
        "postgres://postgres@127.0.0.1:{}/postgres",
        pg.port
    ))
    .await;
}
