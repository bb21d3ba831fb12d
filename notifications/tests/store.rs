//! The notifications' SQL on both engines: SQLite (a temp file) and PostgreSQL (a real
//! server started here): idempotent storing, the per-user bound, owner-only
//! acknowledgement, once-only certificate notices, and the certs store's expiry query.

use magnetite_db::Db;
use magnetite_notifications::store::{self, Stored};
use magnetite_notifications::{Draft, Ref, Variant};

fn draft(user: &str, source: &str) -> Draft {
    Draft {
        user_id: user.to_string(),
        source: source.to_string(),
        variant: Variant::PermissionGranted,
        message: format!("notice {source}"),
        refs: vec![Ref::new("domain", "Plant", "d1")],
    }
}

fn stored_as(created: u64, dropped: u64) -> Stored {
    Stored { created, dropped }
}

async fn scenario(db: &Db) {
    store::migrate(db).await.expect("migrate");
    store::migrate(db).await.expect("migrate twice");
    assert_eq!(store::outbox_progress(db).await.expect("progress"), 0);
    let drafts: Vec<Draft> = ["s1", "s2"].iter().map(|s| draft("u1", s)).collect();
    let stored = store::store_outbox(db, 7, &drafts, 2).await.expect("store");
    assert_eq!(stored, stored_as(2, 0));
    assert_eq!(store::outbox_progress(db).await.expect("progress"), 7);
    // The same sources again: nothing new; the progress never goes back.
    let again = store::store_outbox(db, 5, &drafts, 2)
        .await
        .expect("store again");
    assert_eq!(again, stored_as(0, 0));
    assert_eq!(store::outbox_progress(db).await.expect("progress"), 7);
    // One more than the bound: the oldest goes.
    let third = store::store(db, &[draft("u1", "s3")], 2)
        .await
        .expect("third");
    assert_eq!(third, stored_as(1, 1));

    let (total, page) = store::list(db, "u1", 0, 10).await.expect("list");
    assert_eq!(total, 2);
    let messages: Vec<&str> = page.iter().map(|n| n.message.as_str()).collect();
    assert_eq!(
        messages,
        ["notice s3", "notice s2"],
        "newest first, oldest dropped"
    );
    assert_eq!(page[0].refs, vec![Ref::new("domain", "Plant", "d1")]);
    assert_eq!(page[0].variant, "permission_granted");

    let ids: Vec<String> = page.iter().map(|n| n.id.clone()).collect();
    let foreign = store::acknowledge(db, "u2", &ids).await.expect("ack as u2");
    assert_eq!(foreign, 0, "another user's ids are not acknowledged");
    let unknown = vec!["nope".to_string(), ids[0].clone()];
    assert_eq!(
        store::acknowledge(db, "u1", &unknown).await.expect("ack"),
        1
    );
    let (total, _) = store::list(db, "u1", 0, 10).await.expect("list");
    assert_eq!(total, 1);

    let notice = [draft("admin", "cert:serial-1")];
    assert!(!store::cert_noticed(db, "serial-1").await.expect("noticed?"));
    let first = store::store_cert_notice(db, "serial-1", &notice, 10).await;
    assert_eq!(first.expect("notice"), Some(stored_as(1, 0)));
    let second = store::store_cert_notice(db, "serial-1", &notice, 10).await;
    assert_eq!(second.expect("notice again"), None);
    assert!(store::cert_noticed(db, "serial-1").await.expect("noticed?"));

    magnetite_certs::store::migrate(db)
        .await
        .expect("certs table");
    let after = ("2030-01-01T00:00:00Z".to_string(), "x".to_string());
    let none = magnetite_certs::store::expiring(
        db,
        "2030-01-01T00:00:00Z",
        "2030-02-01T00:00:00Z",
        Some(&after),
        10,
    );
    assert!(none.await.expect("expiring query").is_empty());
}

#[tokio::test]
async fn the_store_works_on_sqlite_and_postgres() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = format!("sqlite://{}/n.db", dir.path().display());
    scenario(&Db::open(&sqlite).await.expect("sqlite")).await;

    let pg = magnetite_testkit::servers::postgres(dir.path());
    let url = format!("postgres://postgres@127.0.0.1:{}/postgres", pg.port);
    scenario(&Db::open(&url).await.expect("postgres")).await;
}
