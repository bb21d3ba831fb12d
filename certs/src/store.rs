//! Issued certificates on SQLite or PostgreSQL (the platform's database), one set of
//! SQL for both: `$n` parameters and TEXT columns are valid on either engine, and the
//! `magnetite_db::db_tx!` / `db_read!` macros expand one body per pool type (rows read
//! through `magnetite_db::Cols`).
//!
//! Only public material is stored: the certificate, its SHA-256 fingerprint (how a TLS
//! peer is identified) and who it belongs to. Never the client's private key.

use magnetite_auth::access::ReadableClients;
use magnetite_db::{Cols, Db};
use serde_json::{json, Value};
use sqlx::Row;

use crate::error::{CertsError, Result};
use crate::issue::{fingerprint, Issued};

const SCHEMA: [&str; 2] = [
    "CREATE TABLE IF NOT EXISTS certs (serial TEXT PRIMARY KEY, \
     fingerprint TEXT NOT NULL UNIQUE, client_id TEXT NOT NULL, domain_id TEXT NOT NULL, \
     certificate TEXT NOT NULL, expires_at TEXT NOT NULL, revoked_at TEXT)",
    "CREATE INDEX IF NOT EXISTS certs_by_client ON certs (client_id)",
];

const COLUMNS: &str =
    "serial, fingerprint, client_id, domain_id, certificate, expires_at, revoked_at";

/// Largest page a list returns.
pub const MAX_LIMIT: u64 = 100;

/// One stored certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertRow {
    pub serial: String,
    pub fingerprint: String,
    pub client_id: String,
    pub domain_id: String,
    /// PEM.
    pub certificate: String,
    /// RFC 3339.
    pub expires_at: String,
    pub revoked_at: Option<String>,
}

impl CertRow {
    /// The API view (no key: the platform never has it after issuing).
    /// Magistrala's names (`serial_number`, `expiry_time`) plus `expires_at`, the
    /// name this API used first, kept as an alias.
    pub fn to_json(&self) -> Value {
        json!({
            "serial_number": self.serial,
            "client_id": self.client_id,
            "domain_id": self.domain_id,
            "certificate": self.certificate,
            "fingerprint": self.fingerprint,
            "expiry_time": self.expires_at,
            "expires_at": self.expires_at,
            "revoked": self.revoked_at.is_some(),
            "revoked_at": self.revoked_at,
        })
    }

    /// Not revoked and not past `expires_at` (unparsable dates count as expired).
    pub fn is_valid_at(&self, now: chrono::DateTime<chrono::Utc>) -> bool {
        self.revoked_at.is_none()
            && chrono::DateTime::parse_from_rfc3339(&self.expires_at).is_ok_and(|t| t > now)
    }
}

/// Whom a client certificate authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertIdentity {
    pub client_id: String,
    pub domain_id: String,
}

/// A page request: `offset`, `limit` (1..=[`MAX_LIMIT`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub offset: u64,
    pub limit: u64,
}

impl Default for Page {
    fn default() -> Self {
        Page {
            offset: 0,
            limit: 10,
        }
    }
}

/// A stored certificate from either engine's row.
fn cert_from_row(r: &impl Cols) -> Result<CertRow> {
    Ok(CertRow {
        serial: r.text("serial")?,
        fingerprint: r.text("fingerprint")?,
        client_id: r.text("client_id")?,
        domain_id: r.text("domain_id")?,
        certificate: r.text("certificate")?,
        expires_at: r.text("expires_at")?,
        revoked_at: r.opt_text("revoked_at")?,
    })
}

/// Creates the table and index if missing (idempotent; run at every start).
pub async fn migrate(db: &Db) -> Result<()> {
    for sql in SCHEMA {
        magnetite_db::db_read!(db, pool => { sqlx::query(sql).execute(pool).await?; });
    }
    Ok(())
}

/// Records an issued certificate of `domain_id` (the key is not stored).
pub async fn insert(db: &Db, domain_id: &str, issued: &Issued) -> Result<()> {
    let sql = format!("INSERT INTO certs ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, NULL)");
    magnetite_db::db_tx!(db, tx => {
        sqlx::query(&sql)
            .bind(&issued.serial_number)
            .bind(&issued.fingerprint)
            .bind(&issued.client_id)
            .bind(domain_id)
            .bind(&issued.certificate_pem)
            .bind(&issued.expires_at)
            .execute(&mut *tx)
            .await?;
    });
    Ok(())
}

/// The certificate `serial` in any domain (operator tools), if any.
pub async fn find(db: &Db, serial: &str) -> Result<Option<CertRow>> {
    one(
        db,
        &format!("SELECT {COLUMNS} FROM certs WHERE serial = $1"),
        serial,
    )
    .await
}

/// The certificate `serial` of `domain_id`; 404 when it is not there.
pub async fn get(db: &Db, domain_id: &str, serial: &str) -> Result<CertRow> {
    match find(db, serial).await? {
        Some(row) if row.domain_id == domain_id => Ok(row),
        _ => Err(CertsError::NotFound("certificate")),
    }
}

/// The certificate with this fingerprint, whatever its state.
pub async fn by_fingerprint(db: &Db, fingerprint: &str) -> Result<Option<CertRow>> {
    let sql = format!("SELECT {COLUMNS} FROM certs WHERE fingerprint = $1");
    one(db, &sql, fingerprint).await
}

async fn one(db: &Db, sql: &str, key: &str) -> Result<Option<CertRow>> {
    magnetite_db::db_read!(db, pool => {
        let row = sqlx::query(sql).bind(key).fetch_optional(pool).await?;
        row.as_ref().map(cert_from_row).transpose()
    })
}

/// The client (and domain) a presented certificate (DER) authenticates: `None` for an
/// unknown, revoked or expired one.
pub async fn identify(db: &Db, der: &[u8]) -> Result<Option<CertIdentity>> {
    let row = by_fingerprint(db, &fingerprint(der)).await?;
    Ok(row
        .filter(|r| r.is_valid_at(chrono::Utc::now()))
        .map(|r| CertIdentity {
            client_id: r.client_id,
            domain_id: r.domain_id,
        }))
}

/// A page of `domain_id`'s certificates (of one client when `client_id` is given),
/// latest expiry first, and the total.
pub async fn list(
    db: &Db,
    domain_id: &str,
    client_id: Option<&str>,
    page: Page,
) -> Result<(u64, Vec<CertRow>)> {
    list_readable(db, domain_id, client_id, &ReadableClients::All, page).await
}

/// [`list`] narrowed to the certificates whose client `readable` lets the caller see;
/// the page and the total come from one snapshot and one condition.
pub async fn list_readable(
    db: &Db,
    domain_id: &str,
    client_id: Option<&str>,
    readable: &ReadableClients,
    page: Page,
) -> Result<(u64, Vec<CertRow>)> {
    let mut filter = match client_id {
        Some(_) => "domain_id = $1 AND client_id = $2".to_string(),
        None => "domain_id = $1 AND $2 = ''".to_string(),
    };
    let (only, binds) = readable.sql("client_id", 2).unwrap_or_default();
    if !only.is_empty() {
        filter = format!("{filter} AND {only}");
    }
    let count = format!("SELECT COUNT(*) FROM certs WHERE {filter}");
    let (l, o) = (binds.len() + 3, binds.len() + 4);
    let select = format!(
        "SELECT {COLUMNS} FROM certs WHERE {filter} \
         ORDER BY expires_at DESC, serial LIMIT ${l} OFFSET ${o}"
    );
    let client = client_id.unwrap_or("");
    let limit = i64::try_from(page.limit.clamp(1, MAX_LIMIT)).unwrap_or(10);
    let offset = i64::try_from(page.offset).unwrap_or(i64::MAX);
    magnetite_db::db_snapshot!(db, tx => {
        let mut count = sqlx::query(&count).bind(domain_id).bind(client);
        let mut select = sqlx::query(&select).bind(domain_id).bind(client);
        for b in &binds {
            count = count.bind(b);
            select = select.bind(b);
        }
        let total: i64 = count.fetch_one(&mut *tx).await?.try_get(0)?;
        let rows = select.bind(limit).bind(offset).fetch_all(&mut *tx).await?;
        let certs = rows.iter().map(cert_from_row).collect::<Result<Vec<_>>>()?;
        Ok((u64::try_from(total).unwrap_or(0), certs))
    })
}

/// Whether `domain_id` has issued any certificate to `client_id` (a deleted client's
/// included).
pub async fn issued_to(db: &Db, domain_id: &str, client_id: &str) -> Result<bool> {
    let sql = "SELECT COUNT(*) FROM certs WHERE domain_id = $1 AND client_id = $2";
    magnetite_db::db_read!(db, pool => {
        let n: i64 = sqlx::query(sql)
            .bind(domain_id)
            .bind(client_id)
            .fetch_one(pool)
            .await?
            .try_get(0)?;
        Ok(n > 0)
    })
}

/// Revokes `serial` of `domain_id` (404 if not there); revoking twice keeps the first
/// time. Returns the row as now stored.
pub async fn revoke(db: &Db, domain_id: &str, serial: &str) -> Result<CertRow> {
    let now = crate::now_rfc3339();
    let select = format!("SELECT {COLUMNS} FROM certs WHERE serial = $1 AND domain_id = $2");
    let update = "UPDATE certs SET revoked_at = $1 WHERE serial = $2 AND revoked_at IS NULL";
    magnetite_db::db_tx!(db, tx => {
        let row = sqlx::query(&select)
            .bind(serial)
            .bind(domain_id)
            .fetch_optional(&mut *tx)
            .await?;
        let mut cert = row
            .as_ref()
            .map(cert_from_row)
            .transpose()?
            .ok_or(CertsError::NotFound("certificate"))?;
        if cert.revoked_at.is_none() {
            sqlx::query(update).bind(&now).bind(serial).execute(&mut *tx).await?;
            cert.revoked_at = Some(now);
        }
        Ok::<_, CertsError>(cert)
    })
}

/// Where a page of [`expiring`] resumes: after this `(expires_at, serial)`.
pub type ExpiringAfter = (String, String);

/// Up to `limit` certificates that are not revoked, expire after `now` and at or before
/// `horizon` (RFC 3339 as stored, e.g. [`crate::issue`]'s second precision, so text
/// order is time order), and whose client has no other unrevoked certificate of the
/// same domain valid past `horizon` (a renewed certificate is not about to lapse). In
/// `(expires_at, serial)` order after `after`: the expiry notices' sweep pages with it.
pub async fn expiring(
    db: &Db,
    now: &str,
    horizon: &str,
    after: Option<&ExpiringAfter>,
    limit: u32,
) -> Result<Vec<CertRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM certs c WHERE c.revoked_at IS NULL \
         AND c.expires_at > $1 AND c.expires_at <= $2 \
         AND (c.expires_at > $3 OR (c.expires_at = $3 AND c.serial > $4)) \
         AND NOT EXISTS (SELECT 1 FROM certs r WHERE r.client_id = c.client_id \
           AND r.domain_id = c.domain_id AND r.revoked_at IS NULL AND r.expires_at > $2) \
         ORDER BY c.expires_at, c.serial LIMIT $5"
    );
    let (after_expiry, after_serial) = match after {
        Some((e, s)) => (e.as_str(), s.as_str()),
        None => ("", ""),
    };
    magnetite_db::db_read!(db, pool => {
        let rows = sqlx::query(&sql)
            .bind(now)
            .bind(horizon)
            .bind(after_expiry)
            .bind(after_serial)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?;
        rows.iter().map(cert_from_row).collect()
    })
}

/// The domains holding certificates of `client_id` (client ids are unique platform-wide;
/// this still works after the client was deleted).
pub async fn domains_of_client(db: &Db, client_id: &str) -> Result<Vec<String>> {
    let sql = "SELECT DISTINCT domain_id FROM certs WHERE client_id = $1";
    magnetite_db::db_read!(db, pool => {
        let rows = sqlx::query(sql).bind(client_id).fetch_all(pool).await?;
        rows.iter()
            .map(|r| r.try_get::<String, _>(0).map_err(CertsError::from))
            .collect()
    })
}

/// Revokes every unrevoked certificate of `client_id` in `domain_id`; returns the
/// fingerprints that changed state (for cache invalidation).
pub async fn revoke_client(db: &Db, domain_id: &str, client_id: &str) -> Result<Vec<String>> {
    let now = crate::now_rfc3339();
    let sql = "UPDATE certs SET revoked_at = $1 \
               WHERE domain_id = $2 AND client_id = $3 AND revoked_at IS NULL \
               RETURNING fingerprint";
    magnetite_db::db_tx!(db, tx => {
        let rows = sqlx::query(sql)
            .bind(&now)
            .bind(domain_id)
            .bind(client_id)
            .fetch_all(&mut *tx)
            .await?;
        rows.iter()
            .map(|r| r.try_get::<String, _>(0).map_err(CertsError::from))
            .collect::<Result<Vec<_>>>()
    })
}
