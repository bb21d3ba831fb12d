//! The store and `identify` on both engines: the same scenario against a SQLite file
//! and a real PostgreSQL server (started here; the test fails if it cannot start).

mod common;

use common::{der_of, service_on};
use magnetite_certs::store::{self, Page};
use magnetite_certs::{CertIdentity, CertsError};
use magnetite_db::Db;
use std::time::Duration;

const DAY: Duration = Duration::from_secs(86_400);

async fn scenario(db: Db, dir: &std::path::Path) {
    let svc = service_on(db.clone(), dir).await;
    // The table creation is idempotent.
    store::migrate(&db).await.unwrap();

    let a1 = svc.issue("dom-1", "client-a", DAY).await.unwrap();
    let a2 = svc.issue("dom-1", "client-a", 2 * DAY).await.unwrap();
    let b1 = svc.issue("dom-1", "client-b", DAY).await.unwrap();
    let other = svc.issue("dom-2", "client-c", DAY).await.unwrap();
    check_reads(&db, &a1, &a2, &b1).await;
    check_no_private_key(&svc).await;
    let dup = store::insert(&db, "dom-1", &a1).await.unwrap_err();
    assert!(matches!(dup, CertsError::Database(_)), "{dup}");

    // identify: known -> the client; cached answers follow revocation at once.
    let der_a1 = der_of(&a1.certificate_pem);
    let who = svc.identify(&der_a1).await.unwrap();
    assert_eq!(
        who,
        CertIdentity {
            client_id: "client-a".into(),
            domain_id: "dom-1".into()
        }
    );
    assert_eq!(svc.identify_der(&der_a1).await.as_deref(), Some("client-a"));
    assert_eq!(
        store::identify(&db, &der_a1)
            .await
            .unwrap()
            .unwrap()
            .client_id,
        "client-a"
    );
    let revoked = svc.revoke("dom-1", &a1.serial_number).await.unwrap();
    assert!(revoked.revoked_at.is_some());
    assert_eq!(
        svc.identify_der(&der_a1).await,
        None,
        "revoked (cache invalidated)"
    );
    assert_eq!(store::identify(&db, &der_a1).await.unwrap(), None);
    // Revoking again keeps the first time; another domain cannot see it.
    let again = svc.revoke("dom-1", &a1.serial_number).await.unwrap();
    assert_eq!(again.revoked_at, revoked.revoked_at);
    let err = svc.revoke("dom-2", &a2.serial_number).await.unwrap_err();
    assert!(matches!(err, CertsError::NotFound(_)));

    // Unknown and expired certificates are refused.
    assert_eq!(svc.identify_der(svc.ca().certificate_der()).await, None);
    assert_eq!(svc.identify_der(b"not a certificate").await, None);
    let now = chrono::Utc::now().timestamp();
    let expired = svc
        .ca()
        .issue_client_between("client-a", now - 7200, now - 60)
        .unwrap();
    store::insert(&db, "dom-1", &expired).await.unwrap();
    assert_eq!(
        svc.identify_der(&der_of(&expired.certificate_pem)).await,
        None
    );
    assert_eq!(
        store::identify(&db, &der_of(&expired.certificate_pem))
            .await
            .unwrap(),
        None
    );

    // Revoke all of a client's: only the still-valid ones change.
    let der_a2 = der_of(&a2.certificate_pem);
    assert!(svc.identify_der(&der_a2).await.is_some());
    assert_eq!(svc.revoke_client("dom-1", "client-a").await.unwrap(), 2);
    assert_eq!(svc.identify_der(&der_a2).await, None);
    assert_eq!(svc.revoke_client("dom-1", "client-a").await.unwrap(), 0);
    assert!(svc
        .identify_der(&der_of(&b1.certificate_pem))
        .await
        .is_some());
    assert!(svc
        .identify_der(&der_of(&other.certificate_pem))
        .await
        .is_some());
    assert_eq!(
        store::domains_of_client(&db, "client-c").await.unwrap(),
        vec!["dom-2".to_string()]
    );
}

async fn check_reads(
    db: &Db,
    a1: &magnetite_certs::Issued,
    a2: &magnetite_certs::Issued,
    b1: &magnetite_certs::Issued,
) {
    let row = store::get(db, "dom-1", &a1.serial_number).await.unwrap();
    assert_eq!(row.client_id, "client-a");
    assert_eq!(row.fingerprint, a1.fingerprint);
    assert_eq!(row.certificate, a1.certificate_pem);
    assert_eq!(row.expires_at, a1.expires_at);
    assert_eq!(row.revoked_at, None);
    assert!(matches!(
        store::get(db, "dom-2", &a1.serial_number).await,
        Err(CertsError::NotFound(_))
    ));
    assert!(store::find(db, "ffff").await.unwrap().is_none());

    let page = Page {
        offset: 0,
        limit: 10,
    };
    let (total, rows) = store::list(db, "dom-1", Some("client-a"), page)
        .await
        .unwrap();
    assert_eq!(total, 2);
    // Latest expiry first.
    assert_eq!(rows[0].serial, a2.serial_number);
    assert_eq!(rows[1].serial, a1.serial_number);
    let one = Page {
        offset: 1,
        limit: 1,
    };
    let (total, rows) = store::list(db, "dom-1", Some("client-a"), one)
        .await
        .unwrap();
    assert_eq!((total, rows.len()), (2, 1));
    assert_eq!(rows[0].serial, a1.serial_number);
    let (total, _) = store::list(db, "dom-1", None, page).await.unwrap();
    assert_eq!(total, 3);
    let (total, rows) = store::list(db, "dom-1", Some("nobody"), page)
        .await
        .unwrap();
    assert_eq!((total, rows.len()), (0, 0));
    assert_eq!(
        store::list(db, "dom-1", Some(&b1.client_id), page)
            .await
            .unwrap()
            .0,
        1
    );
}

/// Nothing the store keeps contains a private key.
async fn check_no_private_key(svc: &magnetite_certs::CertsService) {
    let page = Page {
        offset: 0,
        limit: 100,
    };
    for domain in ["dom-1", "dom-2"] {
        let (_, rows) = svc.list(domain, None, page).await.unwrap();
        for row in rows {
            assert!(!row.to_json().to_string().contains("PRIVATE KEY"));
            assert!(!row.certificate.contains("PRIVATE KEY"));
        }
    }
}

#[tokio::test]
async fn sqlite_store() {
    let dir = tempfile::tempdir().unwrap();
    let db = common::sqlite(dir.path()).await;
    scenario(db, dir.path()).await;
}

#[tokio::test]
async fn postgres_store() {
    let dir = tempfile::tempdir().unwrap();
    let pg = magnetite_testkit::servers::postgres(dir.path());
    let url = format!("postgres://postgres@127.0.0.1:{}/postgres", pg.port);
    scenario(Db::open(&url).await.unwrap(), dir.path()).await;
}
