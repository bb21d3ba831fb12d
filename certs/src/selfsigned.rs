//! `--tls-self-signed`: a server certificate from the platform CA, so TLS works out of
//! the box and devices need to trust only `ca.crt` (the same file that anchors their
//! client certificates), not a one-off self-signed leaf.

use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType, PKCS_ECDSA_P256_SHA256,
};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::ca::{to_time, Ca, CA_CERT_FILE};
use crate::error::Result;
use crate::files::{self, Mode};
use crate::issue::random_serial;

/// Server certificate file in the data directory.
pub const SERVER_CERT_FILE: &str = "server.crt";
/// Server key file in the data directory (mode 0600).
pub const SERVER_KEY_FILE: &str = "server.key";

const SERVER_VALIDITY_DAYS: i64 = 365;
/// A kept server certificate older than this (by file time) is replaced, a month
/// before its year runs out, so a long-running deployment never serves an expired one.
const RENEW_AFTER: Duration = Duration::from_secs(335 * 86_400);

/// Where the TLS listener finds its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelfSigned {
    /// The CA certificate clients should trust.
    pub ca_path: PathBuf,
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
}

/// Loads (or creates) the CA of `dir`, then makes sure `dir` holds a server certificate
/// for `localhost`, `127.0.0.1`, `::1` and this machine's hostname. Existing files are
/// kept (restarts do not change what clients pinned) unless close to expiry.
pub fn generate_self_signed(dir: &Path, passphrase: &[u8]) -> Result<SelfSigned> {
    let ca = Ca::load_or_create(dir, passphrase)?;
    ca.ensure_server_cert(dir)
}

impl Ca {
    /// The server certificate half of [`generate_self_signed`], for callers that
    /// already hold the CA.
    pub fn ensure_server_cert(&self, dir: &Path) -> Result<SelfSigned> {
        let out = SelfSigned {
            ca_path: dir.join(CA_CERT_FILE),
            cert_path: dir.join(SERVER_CERT_FILE),
            key_path: dir.join(SERVER_KEY_FILE),
        };
        if out.key_path.exists() && is_fresh(&out.cert_path) {
            return Ok(out);
        }
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let cert = server_params(&server_names())?.signed_by(&key, self.issuer(), self.key())?;
        // Key first: the listener's hot reload watches the certificate.
        files::write_atomic(&out.key_path, key.serialize_pem().as_bytes(), Mode::Private)?;
        files::write_atomic(&out.cert_path, cert.pem().as_bytes(), Mode::Public)?;
        tracing::info!(path = %out.cert_path.display(), "generated the TLS server certificate");
        Ok(out)
    }
}

fn is_fresh(cert: &Path) -> bool {
    std::fs::metadata(cert)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .is_some_and(|age| age < RENEW_AFTER)
}

fn server_params(names: &[SanType]) -> Result<CertificateParams> {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "localhost");
    params.distinguished_name = dn;
    params.subject_alt_names = names.to_vec();
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    let now = chrono::Utc::now().timestamp();
    params.not_before = to_time(now - 60)?;
    params.not_after = to_time(now + SERVER_VALIDITY_DAYS * 86_400)?;
    params.serial_number = Some(random_serial().0);
    Ok(params)
}

/// localhost, the loopback addresses, and the hostname when it is a usable DNS name.
fn server_names() -> Vec<SanType> {
    let mut names = vec![
        SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        SanType::IpAddress(IpAddr::V6(Ipv6Addr::LOCALHOST)),
    ];
    let mut dns = vec!["localhost".to_string()];
    if let Some(host) = hostname().filter(|h| !dns.contains(h)) {
        dns.push(host);
    }
    for name in dns {
        match name.as_str().try_into() {
            Ok(ia5) => names.push(SanType::DnsName(ia5)),
            Err(_) => {
                tracing::warn!(%name, "hostname is not a DNS name: left out of the certificate")
            }
        }
    }
    names
}

/// The machine's hostname (Linux: the kernel's; elsewhere `$HOSTNAME`), lowercased.
fn hostname() -> Option<String> {
    let raw = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())?;
    let host = raw.trim().to_ascii_lowercase();
    let valid = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    valid.then_some(host)
}
