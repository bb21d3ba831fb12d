//! Shared test setup: a platform on a SQLite file in a temp dir, and a CA.
#![allow(dead_code)]

use magnetite_auth::bootstrap_admin::ensure_admin;
use magnetite_auth::crypto::Keys;
use magnetite_auth::{Platform, PlatformConfig, Store};
use magnetite_certs::{Ca, CertsService};
use magnetite_db::Db;
use magnetite_events::Events;
use std::path::Path;
use std::sync::Arc;

pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "admin-password-123";
pub const PASSPHRASE: &[u8] = b"correct horse battery staple";

/// A platform (with its admin) on `db`.
pub async fn platform_on(db: Db, dir: &Path) -> Arc<Platform> {
    Events::start(db.clone(), Default::default()).await.unwrap();
    let store = Store::open(db).await.unwrap();
    let keys = Keys::from_master(b"0123456789abcdef0123456789abcdef");
    let config = PlatformConfig {
        mailer: magnetite_auth::mail::Mailer::files(dir.join("mail")),
        ..PlatformConfig::default()
    };
    let platform = Arc::new(Platform::new(store, keys, config));
    ensure_admin(
        &platform,
        Some(ADMIN_EMAIL.into()),
        Some(ADMIN_PASSWORD.into()),
    )
    .await
    .unwrap();
    platform
}

pub async fn sqlite(dir: &Path) -> Db {
    Db::open(&format!("sqlite://{}/magnetite.db", dir.display()))
        .await
        .unwrap()
}

/// The certificate service on `db`, its CA in `dir/ca`.
pub async fn service_on(db: Db, dir: &Path) -> Arc<CertsService> {
    let platform = platform_on(db.clone(), dir).await;
    let ca = Ca::load_or_create(&dir.join("ca"), PASSPHRASE).unwrap();
    Arc::new(CertsService::open(db, ca, platform).await.unwrap())
}

/// DER of the first certificate in a PEM text.
pub fn der_of(pem: &str) -> Vec<u8> {
    let mut reader = pem.as_bytes();
    let first = rustls_pemfile::certs(&mut reader).next();
    first.unwrap().unwrap().to_vec()
}

/// Whether the DER carries `value` as a subject/issuer CN (OID 2.5.4.3, UTF8String).
pub fn has_common_name(der: &[u8], value: &str) -> bool {
    let mut needle = vec![0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, value.len() as u8];
    needle.extend_from_slice(value.as_bytes());
    der.windows(needle.len()).any(|w| w == needle)
}
