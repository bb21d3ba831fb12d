//! Client certificates: what a device presents on an mTLS CONNECT instead of a secret.
//!
//! The key pair is generated here and handed out once (the platform keeps only the
//! certificate and its fingerprint), which keeps provisioning a single call for devices
//! that cannot produce a CSR. The client id is both the subject CN (what humans and
//! most tools show) and a SAN URI `urn:magnetite:client:<id>` (what RFC 6125-minded
//! verifiers use); identification itself goes by the certificate's SHA-256 fingerprint.

use rand::rngs::OsRng;
use rand::RngCore;
use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType, SerialNumber, PKCS_ECDSA_P256_SHA256,
};
use sha2::{Digest, Sha256};
use std::time::Duration;

use crate::ca::{to_time, Ca};
use crate::error::{CertsError, Result};

/// Longest certificate lifetime accepted: 10 years.
pub const MAX_TTL: Duration = Duration::from_secs(3650 * 86_400);
/// Lifetime when the request names none: 90 days.
pub const DEFAULT_TTL: Duration = Duration::from_secs(90 * 86_400);
/// Prefix of the SAN URI that carries the client id.
pub const CLIENT_URN_PREFIX: &str = "urn:magnetite:client:";

/// A freshly issued certificate and its private key (the only time the key exists
/// outside the device).
#[derive(Clone)]
pub struct Issued {
    /// 16 random bytes, lowercase hex (exactly the certificate's serial number).
    pub serial_number: String,
    pub client_id: String,
    pub certificate_pem: String,
    /// PKCS#8 PEM. Secret: never logged, never stored.
    pub key_pem: String,
    /// RFC 3339, UTC, whole seconds (the certificate's notAfter).
    pub expires_at: String,
    /// Lowercase hex SHA-256 of the certificate DER.
    pub fingerprint: String,
}

/// Never prints the key.
impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("serial_number", &self.serial_number)
            .field("client_id", &self.client_id)
            .field("expires_at", &self.expires_at)
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl Ca {
    /// Issues a client certificate valid from a minute ago (clock skew between this
    /// host and the device) for `ttl` (1 s ..= [`MAX_TTL`]).
    pub fn issue_client(&self, client_id: &str, ttl: Duration) -> Result<Issued> {
        check_ttl(ttl)?;
        let now = chrono::Utc::now().timestamp();
        let secs = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
        self.issue_client_between(client_id, now - 60, now.saturating_add(secs))
    }

    /// Issues with an explicit validity (Unix seconds). For tests that need an expired
    /// certificate; the service always goes through [`Ca::issue_client`].
    #[doc(hidden)]
    pub fn issue_client_between(
        &self,
        client_id: &str,
        not_before: i64,
        not_after: i64,
    ) -> Result<Issued> {
        check_client_id(client_id)?;
        if not_after <= not_before {
            return Err(CertsError::bad_request("the validity period is empty"));
        }
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let (params, serial_number) = client_params(client_id, not_before, not_after)?;
        let cert = params.signed_by(&key, self.issuer(), self.key())?;
        Ok(Issued {
            serial_number,
            client_id: client_id.to_string(),
            certificate_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            expires_at: rfc3339(not_after),
            fingerprint: fingerprint(cert.der()),
        })
    }
}

fn client_params(
    client_id: &str,
    not_before: i64,
    not_after: i64,
) -> Result<(CertificateParams, String)> {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, client_id);
    params.distinguished_name = dn;
    let urn = format!("{CLIENT_URN_PREFIX}{client_id}");
    params.subject_alt_names = vec![SanType::URI(urn.as_str().try_into()?)];
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.use_authority_key_identifier_extension = true;
    params.not_before = to_time(not_before)?;
    params.not_after = to_time(not_after)?;
    let (serial, hex) = random_serial();
    params.serial_number = Some(serial);
    Ok((params, hex))
}

/// 16 random bytes, first byte in 0x01..=0x7f: a positive DER INTEGER with no leading
/// zero to strip, so the hex we store is exactly what the certificate carries.
pub(crate) fn random_serial() -> (SerialNumber, String) {
    let mut bytes = [0u8; 16];
    OsRng.fill_bytes(&mut bytes);
    bytes[0] &= 0x7f;
    if bytes[0] == 0 {
        bytes[0] = 1;
    }
    (SerialNumber::from_slice(&bytes), hex::encode(bytes))
}

/// Lowercase hex SHA-256 of a DER certificate: the identity key of the store.
pub fn fingerprint(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

/// Unix seconds as RFC 3339 UTC with whole seconds (X.509 times have no fraction).
pub(crate) fn rfc3339(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn check_ttl(ttl: Duration) -> Result<()> {
    if ttl.as_secs() == 0 {
        return Err(CertsError::bad_request("ttl must be at least 1 second"));
    }
    if ttl > MAX_TTL {
        return Err(CertsError::bad_request("ttl must be at most 10 years"));
    }
    Ok(())
}

/// Client ids go into a URI: only RFC 3986 unreserved characters (UUIDs and the usual
/// device names qualify), 1..=256 of them.
pub(crate) fn check_client_id(client_id: &str) -> Result<()> {
    let ok = !client_id.is_empty()
        && client_id.len() <= 256
        && client_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(CertsError::bad_request(
            "client_id must be 1 to 256 characters of A-Z a-z 0-9 - . _ ~",
        ))
    }
}

/// Parses a lifetime: `"3600s"`, `"90m"`, `"24h"`, `"30d"`, `"1y"` (365 days) or plain
/// seconds (`"3600"`). Bounds are checked at issue time.
pub fn parse_ttl(text: &str) -> Result<Duration> {
    let text = text.trim();
    let bad = || CertsError::bad_request(format!("invalid ttl {text:?}: use e.g. 3600s, 24h, 30d"));
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let unit_secs = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "y" => 365 * 86_400,
        _ => return Err(bad()),
    };
    n.checked_mul(unit_secs)
        .map(Duration::from_secs)
        .ok_or_else(bad)
}
