//! The platform CA: one ECDSA P-256 key and self-signed certificate per data directory.
//!
//! `ca.crt` (PEM) is public: devices and the broker's TLS listener trust it. The key is
//! kept only in `ca.key.enc`, encrypted under the operator's passphrase (format in
//! [`crate::sealed`]), because whoever holds it can mint a certificate for any client.
//!
//! rcgen cannot parse an existing certificate without its `x509-parser` feature, so on a
//! later start the issuer is rebuilt from the decrypted key and the fixed CA subject:
//! children are signed with the same issuer name and the same authority key identifier
//! (SHA-256 of the public key) as the stored certificate carries, which is all chain
//! building looks at. The stored `ca.crt` is what is served and trusted.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair, KeyUsagePurpose,
    PKCS_ECDSA_P256_SHA256,
};
use std::path::{Path, PathBuf};

use crate::error::{CertsError, Result};
use crate::files::{self, Mode};
use crate::sealed;

/// Subject common name of the CA (part of every issued certificate's issuer name).
pub const CA_COMMON_NAME: &str = "Magnetite CA";
/// CA certificate file in the data directory.
pub const CA_CERT_FILE: &str = "ca.crt";
/// Encrypted CA key file in the data directory.
pub const CA_KEY_FILE: &str = "ca.key.enc";

const CA_VALIDITY_DAYS: i64 = 3650;

/// The loaded CA: its certificate as stored, and the key to sign with.
pub struct Ca {
    key: KeyPair,
    /// rcgen's issuer view (subject + key identifier); see the module doc.
    issuer: rcgen::Certificate,
    cert_pem: String,
    cert_der: Vec<u8>,
}

/// Never prints the key.
impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca")
            .field("subject", &CA_COMMON_NAME)
            .finish_non_exhaustive()
    }
}

impl Ca {
    /// Loads the CA of `dir`, creating it on first start.
    ///
    /// Refuses (rather than replaces) a half-present pair: a new CA would silently
    /// invalidate every certificate already issued. A wrong passphrase is
    /// [`CertsError::WrongPassphrase`]. Runs Argon2 (tens of milliseconds): call it
    /// from `spawn_blocking` or before the runtime gets busy.
    pub fn load_or_create(dir: &Path, passphrase: &[u8]) -> Result<Ca> {
        if passphrase.is_empty() {
            return Err(CertsError::bad_request(
                "the CA passphrase must not be empty",
            ));
        }
        files::ensure_dir(dir)?;
        let (crt, enc) = (dir.join(CA_CERT_FILE), dir.join(CA_KEY_FILE));
        match (crt.exists(), enc.exists()) {
            (true, true) => Ca::load(&crt, &enc, passphrase),
            (false, false) => Ca::create(&crt, &enc, passphrase),
            (true, false) => Err(half_pair(&enc)),
            (false, true) => Err(half_pair(&crt)),
        }
    }

    /// The CA certificate, PEM (what devices and the TLS listener trust).
    pub fn certificate_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA certificate, DER.
    pub fn certificate_der(&self) -> &[u8] {
        &self.cert_der
    }

    pub(crate) fn key(&self) -> &KeyPair {
        &self.key
    }

    pub(crate) fn issuer(&self) -> &rcgen::Certificate {
        &self.issuer
    }

    fn create(crt: &Path, enc: &Path, passphrase: &[u8]) -> Result<Ca> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let now = chrono::Utc::now().timestamp();
        let cert = ca_params(now - 60, now + CA_VALIDITY_DAYS * 86_400)?.self_signed(&key)?;
        let sealed = sealed::seal(key.serialize_pem().as_bytes(), passphrase)?;
        // Key first: a crash in between leaves a key without a certificate, which the
        // next start reports instead of generating a second CA.
        files::write_atomic(enc, sealed.as_bytes(), Mode::Private)?;
        files::write_atomic(crt, cert.pem().as_bytes(), Mode::Public)?;
        tracing::info!(path = %crt.display(), "created the platform CA");
        Ok(Ca {
            cert_pem: cert.pem(),
            cert_der: cert.der().to_vec(),
            issuer: cert,
            key,
        })
    }

    fn load(crt: &Path, enc: &Path, passphrase: &[u8]) -> Result<Ca> {
        let key_pem = sealed::open(&files::read_text(enc)?, passphrase, enc)?;
        let key_pem = String::from_utf8(key_pem).map_err(|_| not_a_key(enc))?;
        let key = KeyPair::from_pem(&key_pem).map_err(|_| not_a_key(enc))?;
        let cert_pem = files::read_text(crt)?;
        let cert_der = pem_to_der(&cert_pem, crt)?;
        if !contains(&cert_der, key.public_key_raw()) {
            return Err(CertsError::CaFiles {
                path: crt.to_path_buf(),
                reason: format!("does not belong to the key in {CA_KEY_FILE}"),
            });
        }
        let issuer = ca_params(0, 1)?.self_signed(&key)?;
        tracing::info!(path = %crt.display(), "loaded the platform CA");
        Ok(Ca {
            key,
            issuer,
            cert_pem,
            cert_der,
        })
    }
}

/// The CA's parameters; validity in Unix seconds. Path length 0: it signs end-entity
/// certificates only, never another CA.
fn ca_params(not_before: i64, not_after: i64) -> Result<CertificateParams> {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, CA_COMMON_NAME);
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = to_time(not_before)?;
    params.not_after = to_time(not_after)?;
    Ok(params)
}

/// Unix seconds -> the `time` type rcgen wants.
pub(crate) fn to_time(unix: i64) -> Result<time::OffsetDateTime> {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .map_err(|_| CertsError::bad_request("validity out of range"))
}

/// The first certificate of a PEM text, DER.
pub(crate) fn pem_to_der(pem: &str, path: &Path) -> Result<Vec<u8>> {
    let mut reader = pem.as_bytes();
    let first = rustls_pemfile::certs(&mut reader).next();
    match first {
        Some(Ok(der)) => Ok(der.to_vec()),
        _ => Err(CertsError::CaFiles {
            path: path.to_path_buf(),
            reason: "no PEM certificate in it".into(),
        }),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

fn half_pair(missing: &Path) -> CertsError {
    CertsError::CaFiles {
        path: missing.to_path_buf(),
        reason: format!(
            "missing while the other CA file exists; refusing to create a new CA \
             (restore it, or remove both {CA_CERT_FILE} and {CA_KEY_FILE} to start over)"
        ),
    }
}

fn not_a_key(path: &Path) -> CertsError {
    CertsError::CaFiles {
        path: PathBuf::from(path),
        reason: "decrypted content is not a private key".into(),
    }
}
