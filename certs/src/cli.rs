//! What the operator CLI (`magnetite certs issue|revoke`) runs: straight on the
//! database and the CA, no HTTP and no token, for provisioning from the server host.
//!
//! Run from a separate process, a revocation here cannot end the live sessions the
//! running server holds; that server stops accepting the certificate on new connections
//! once its identify cache entry ages out (`service::CACHE_TTL`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::ca::CA_CERT_FILE;
use crate::error::{CertsError, Result};
use crate::files::{self, Mode};
use crate::issue::check_client_id;
use crate::service::CertsService;
use crate::store;

/// The files [`issue_to_files`] wrote, and what the operator wants to see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedFiles {
    pub cert_path: PathBuf,
    /// Mode 0600.
    pub key_path: PathBuf,
    pub ca_path: PathBuf,
    pub serial_number: String,
    pub expires_at: String,
}

/// Issues a certificate for `client_id` (in the domain the client belongs to) and
/// writes `<client_id>.crt`, `<client_id>.key` and `ca.crt` into `out_dir`.
pub async fn issue_to_files(
    service: &CertsService,
    client_id: &str,
    ttl: Duration,
    out_dir: &Path,
) -> Result<IssuedFiles> {
    // Validated first: the id becomes a file name.
    check_client_id(client_id)?;
    let domain_id = client_domain(service, client_id).await?;
    let issued = service.issue(&domain_id, client_id, ttl).await?;
    files::ensure_dir(out_dir)?;
    let out = IssuedFiles {
        cert_path: out_dir.join(format!("{client_id}.crt")),
        key_path: out_dir.join(format!("{client_id}.key")),
        ca_path: out_dir.join(CA_CERT_FILE),
        serial_number: issued.serial_number.clone(),
        expires_at: issued.expires_at.clone(),
    };
    files::write_atomic(&out.key_path, issued.key_pem.as_bytes(), Mode::Private)?;
    files::write_atomic(
        &out.cert_path,
        issued.certificate_pem.as_bytes(),
        Mode::Public,
    )?;
    let ca = service.ca().certificate_pem().as_bytes();
    files::write_atomic(&out.ca_path, ca, Mode::Public)?;
    Ok(out)
}

/// What `magnetite certs revoke` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeTarget<'a> {
    /// `--serial S`: one certificate.
    Serial(&'a str),
    /// `--client ID`: every certificate of the client.
    Client(&'a str),
}

/// Revokes what `target` names; returns how many certificates changed state. An unknown
/// serial is [`CertsError::NotFound`]; a client without certificates revokes nothing.
pub async fn revoke(service: &CertsService, target: RevokeTarget<'_>) -> Result<usize> {
    match target {
        RevokeTarget::Serial(serial) => {
            let row = store::find(service.db(), serial)
                .await?
                .ok_or(CertsError::NotFound("certificate"))?;
            let already = row.revoked_at.is_some();
            service.revoke(&row.domain_id, serial).await?;
            Ok(usize::from(!already))
        }
        RevokeTarget::Client(client_id) => {
            let mut count = 0;
            for domain_id in store::domains_of_client(service.db(), client_id).await? {
                count += service.revoke_client(&domain_id, client_id).await?;
            }
            Ok(count)
        }
    }
}

/// The domain of a platform client (from the auth store's `clients` table).
async fn client_domain(service: &CertsService, client_id: &str) -> Result<String> {
    use sqlx::Row;
    let sql = "SELECT domain_id FROM clients WHERE id = $1";
    let domain: Option<String> = magnetite_db::db_read!(service.db(), pool => {
        let row = sqlx::query(sql).bind(client_id).fetch_optional(pool).await?;
        row.map(|r| r.try_get::<String, _>(0)).transpose()?
    });
    domain.ok_or(CertsError::NotFound("client"))
}
