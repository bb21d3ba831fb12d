//! The certificate service: issuing, listing, revoking, and identifying a TLS peer.
//!
//! `identify` runs on every mTLS CONNECT, so its answers are cached in memory by
//! fingerprint. Revocation here removes the entries it affects at once; entries also
//! age out after [`CACHE_TTL`], which bounds how long a revocation made by *another*
//! instance (PostgreSQL scale-out) can go unnoticed by this one.

use chrono::{DateTime, Utc};
use dashmap::DashMap;
use magnetite_auth::access::ReadableClients;
use magnetite_auth::{AuthError, Platform};
use magnetite_db::Db;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::ca::Ca;
use crate::error::{CertsError, Result};
use crate::issue::{fingerprint, Issued};
use crate::store::{self, CertIdentity, CertRow, Page};

/// How long an `identify` answer is reused without asking the database.
pub const CACHE_TTL: Duration = Duration::from_secs(60);
/// The cache is dropped whole beyond this many entries (a flood of distinct
/// certificates must not grow memory without bound).
const CACHE_MAX: usize = 100_000;

#[derive(Debug, Clone)]
struct Cached {
    /// The identity and when its certificate expires; `None` = refused.
    answer: Option<(CertIdentity, DateTime<Utc>)>,
    at: Instant,
}

/// Issues and revokes client certificates and tells who presented one.
pub struct CertsService {
    db: Db,
    ca: Ca,
    platform: Arc<Platform>,
    cache: DashMap<String, Cached>,
    /// Bumped by every revocation: an `identify` that started before it does not cache
    /// what it read (it may predate the revocation).
    epoch: AtomicU64,
}

impl std::fmt::Debug for CertsService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertsService")
            .field("ca", &self.ca)
            .field("cached", &self.cache.len())
            .finish_non_exhaustive()
    }
}

impl CertsService {
    /// Creates the `certs` table if missing and wraps the pieces. `db` is the
    /// platform's database (the one `platform.store` uses).
    pub async fn open(db: Db, ca: Ca, platform: Arc<Platform>) -> Result<CertsService> {
        store::migrate(&db).await?;
        Ok(CertsService {
            db,
            ca,
            platform,
            cache: DashMap::new(),
            epoch: AtomicU64::new(0),
        })
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn ca(&self) -> &Ca {
        &self.ca
    }

    pub fn platform(&self) -> &Arc<Platform> {
        &self.platform
    }

    /// Issues a certificate for `client_id` of `domain_id` and records it. The caller
    /// has checked that the client exists there.
    pub async fn issue(&self, domain_id: &str, client_id: &str, ttl: Duration) -> Result<Issued> {
        let issued = self.ca.issue_client(client_id, ttl)?;
        store::insert(&self.db, domain_id, &issued).await?;
        tracing::info!(
            client_id,
            domain_id,
            serial = %issued.serial_number,
            expires_at = %issued.expires_at,
            "issued a client certificate"
        );
        Ok(issued)
    }

    /// One certificate of `domain_id` (404 otherwise).
    pub async fn get(&self, domain_id: &str, serial: &str) -> Result<CertRow> {
        store::get(&self.db, domain_id, serial).await
    }

    /// A page of `domain_id`'s certificates, of one client if given; and the total.
    pub async fn list(
        &self,
        domain_id: &str,
        client_id: Option<&str>,
        page: Page,
    ) -> Result<(u64, Vec<CertRow>)> {
        store::list(&self.db, domain_id, client_id, page).await
    }

    /// [`CertsService::list`] of the certificates whose client `readable` lets the
    /// caller see (the HTTP list).
    pub async fn list_readable(
        &self,
        domain_id: &str,
        client_id: Option<&str>,
        readable: &ReadableClients,
        page: Page,
    ) -> Result<(u64, Vec<CertRow>)> {
        store::list_readable(&self.db, domain_id, client_id, readable, page).await
    }

    /// Revokes one certificate (404 if not in `domain_id`) and ends its client's live
    /// MQTT sessions at once, so the revoked certificate is not left connected.
    pub async fn revoke(&self, domain_id: &str, serial: &str) -> Result<CertRow> {
        let row = store::revoke(&self.db, domain_id, serial).await?;
        self.forget(std::slice::from_ref(&row.fingerprint));
        self.platform.revoke(std::slice::from_ref(&row.client_id));
        tracing::info!(client_id = %row.client_id, domain_id, serial, "revoked a client certificate");
        Ok(row)
    }

    /// Revokes every certificate of `client_id` in `domain_id`; returns how many were
    /// still valid, and ends the client's live sessions. The client must belong to the
    /// domain: a client of it, or one the domain issued certificates to (a deleted
    /// client's can still be revoked). Anything else is a 404 that touches nothing, so
    /// another tenant's client is never revoked nor disconnected.
    pub async fn revoke_client(&self, domain_id: &str, client_id: &str) -> Result<usize> {
        if !self.belongs(domain_id, client_id).await? {
            return Err(CertsError::NotFound("client"));
        }
        let fingerprints = store::revoke_client(&self.db, domain_id, client_id).await?;
        self.forget(&fingerprints);
        self.platform.revoke(&[client_id.to_string()]);
        tracing::info!(
            client_id,
            domain_id,
            count = fingerprints.len(),
            "revoked the client's certificates"
        );
        Ok(fingerprints.len())
    }

    /// `client_id` is a client of `domain_id`, or has a certificate recorded there.
    pub async fn belongs(&self, domain_id: &str, client_id: &str) -> Result<bool> {
        match self.platform.clients().get(domain_id, client_id).await {
            Ok(_) => return Ok(true),
            Err(AuthError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
        store::issued_to(&self.db, domain_id, client_id).await
    }

    /// The client a presented certificate (DER) authenticates: `None` when unknown,
    /// revoked or expired, and also when the database cannot be asked (fail closed).
    pub async fn identify(&self, der: &[u8]) -> Option<CertIdentity> {
        let fp = fingerprint(der);
        if let Some(answer) = self.cached(&fp) {
            return answer;
        }
        let epoch = self.epoch.load(Ordering::SeqCst);
        let row = match store::by_fingerprint(&self.db, &fp).await {
            Ok(row) => row,
            Err(e) => {
                tracing::warn!(error = %e, fingerprint = %fp, "certificate lookup failed: refusing");
                return None;
            }
        };
        let answer = row.and_then(|r| {
            let expires = DateTime::parse_from_rfc3339(&r.expires_at).ok()?;
            r.revoked_at.is_none().then(|| {
                let id = CertIdentity {
                    client_id: r.client_id,
                    domain_id: r.domain_id,
                };
                (id, expires.with_timezone(&Utc))
            })
        });
        self.remember(fp, answer.clone(), epoch);
        answer
            .filter(|(_, exp)| *exp > Utc::now())
            .map(|(id, _)| id)
    }

    /// [`CertsService::identify`], reduced to the client id (what the MQTT hook needs).
    pub async fn identify_der(&self, der: &[u8]) -> Option<String> {
        self.identify(der).await.map(|id| id.client_id)
    }

    /// A fresh cached answer: `Some(answer)`; nothing usable: `None`.
    fn cached(&self, fp: &str) -> Option<Option<CertIdentity>> {
        let hit = self.cache.get(fp)?;
        if hit.at.elapsed() >= CACHE_TTL {
            return None;
        }
        let answer = match &hit.answer {
            Some((id, expires)) if *expires > Utc::now() => Some(id.clone()),
            _ => None,
        };
        Some(answer)
    }

    /// Caches `answer` unless a revocation happened since `epoch` was read. The check
    /// runs under the entry's shard lock, which `forget` also takes, so a revocation
    /// either sees this entry and removes it or is seen here.
    fn remember(&self, fp: String, answer: Option<(CertIdentity, DateTime<Utc>)>, epoch: u64) {
        if self.cache.len() >= CACHE_MAX {
            self.cache.clear();
        }
        let entry = self.cache.entry(fp);
        if self.epoch.load(Ordering::SeqCst) == epoch {
            entry.insert(Cached {
                answer,
                at: Instant::now(),
            });
        }
    }

    fn forget(&self, fingerprints: &[String]) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        for fp in fingerprints {
            self.cache.remove(fp);
        }
    }
}
