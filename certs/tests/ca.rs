//! The CA on disk (created once, reloaded, key encrypted), issued client certificates
//! verified by rustls as a TLS server would, and the self-signed server certificate.

mod common;

use common::{der_of, has_common_name, PASSPHRASE};
use magnetite_certs::{generate_self_signed, Ca, CertsError};
use rustls::client::danger::ServerCertVerifier;
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;
use std::sync::Arc;
use std::time::Duration;

fn roots(ca: &Ca) -> Arc<RootCertStore> {
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from(ca.certificate_der().to_vec()))
        .unwrap();
    Arc::new(roots)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn client_verifier(ca: &Ca) -> Arc<dyn ClientCertVerifier> {
    WebPkiClientVerifier::builder_with_provider(roots(ca), provider())
        .build()
        .unwrap()
}

#[test]
fn created_once_reloaded_and_encrypted() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::load_or_create(dir.path(), PASSPHRASE).unwrap();
    assert!(ca
        .certificate_pem()
        .starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(has_common_name(ca.certificate_der(), "Magnetite CA"));

    let again = Ca::load_or_create(dir.path(), PASSPHRASE).unwrap();
    assert_eq!(again.certificate_pem(), ca.certificate_pem());
    assert_eq!(again.certificate_der(), ca.certificate_der());

    let enc = std::fs::read_to_string(dir.path().join("ca.key.enc")).unwrap();
    assert!(!enc.contains("PRIVATE KEY"), "the key is not in clear");
    let doc: serde_json::Value = serde_json::from_str(&enc).unwrap();
    assert_eq!(doc["v"], 1);
    assert_eq!(doc["kdf"], "argon2id");
    assert_eq!(doc["cipher"], "aes-256-gcm");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.path().join("ca.key.enc"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn wrong_passphrase_is_an_error_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    Ca::load_or_create(dir.path(), PASSPHRASE).unwrap();
    let err = Ca::load_or_create(dir.path(), b"not the passphrase").unwrap_err();
    assert!(matches!(err, CertsError::WrongPassphrase(_)), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("wrong passphrase"), "{msg}");
    assert!(!msg.contains("not the passphrase"));
    assert!(matches!(
        Ca::load_or_create(dir.path(), b"").unwrap_err(),
        CertsError::BadRequest(_)
    ));
}

#[test]
fn half_a_ca_is_refused_not_replaced() {
    let dir = tempfile::tempdir().unwrap();
    Ca::load_or_create(dir.path(), PASSPHRASE).unwrap();
    std::fs::remove_file(dir.path().join("ca.key.enc")).unwrap();
    let err = Ca::load_or_create(dir.path(), PASSPHRASE).unwrap_err();
    assert!(matches!(err, CertsError::CaFiles { .. }), "{err}");
    assert!(!dir.path().join("ca.key.enc").exists());
}

#[test]
fn tampered_key_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    Ca::load_or_create(dir.path(), PASSPHRASE).unwrap();
    let path = dir.path().join("ca.key.enc");
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let ct = doc["ciphertext"].as_str().unwrap().to_string();
    let flipped = if ct.starts_with('A') { "B" } else { "A" };
    doc["ciphertext"] = format!("{flipped}{}", &ct[1..]).into();
    std::fs::write(&path, doc.to_string()).unwrap();
    let err = Ca::load_or_create(dir.path(), PASSPHRASE).unwrap_err();
    assert!(matches!(err, CertsError::WrongPassphrase(_)), "{err}");
}

#[test]
fn issued_client_cert_verifies_against_the_reloaded_ca() {
    let dir = tempfile::tempdir().unwrap();
    let first = Ca::load_or_create(dir.path(), PASSPHRASE).unwrap();
    // Issued after a restart: the rebuilt issuer must chain to the stored ca.crt.
    let ca = Ca::load_or_create(dir.path(), PASSPHRASE).unwrap();
    let issued = ca
        .issue_client(
            "c0ffee00-1111-2222-3333-444455556666",
            Duration::from_secs(3600),
        )
        .unwrap();
    assert_eq!(issued.serial_number.len(), 32);
    assert!(issued.key_pem.contains("PRIVATE KEY"));
    assert!(
        !format!("{issued:?}").contains("PRIVATE KEY"),
        "Debug hides the key"
    );
    let der = der_of(&issued.certificate_pem);
    assert_eq!(
        issued.fingerprint,
        magnetite_certs::issue::fingerprint(&der)
    );
    assert!(has_common_name(
        &der,
        "c0ffee00-1111-2222-3333-444455556666"
    ));
    let urn = b"urn:magnetite:client:c0ffee00-1111-2222-3333-444455556666";
    assert!(der.windows(urn.len()).any(|w| w == urn));
    assert!(der
        .windows(16)
        .any(|w| w == hex::decode(&issued.serial_number).unwrap()));

    let ee = CertificateDer::from(der);
    for anchor in [&first, &ca] {
        client_verifier(anchor)
            .verify_client_cert(&ee, &[], UnixTime::now())
            .unwrap();
    }
    // Another CA does not accept it.
    let other = tempfile::tempdir().unwrap();
    let stranger = Ca::load_or_create(other.path(), PASSPHRASE).unwrap();
    assert!(client_verifier(&stranger)
        .verify_client_cert(&ee, &[], UnixTime::now())
        .is_err());
}

#[test]
fn expired_and_invalid_requests() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::load_or_create(dir.path(), PASSPHRASE).unwrap();
    let now = chrono::Utc::now().timestamp();
    let old = ca
        .issue_client_between("dev-1", now - 7200, now - 3600)
        .unwrap();
    let ee = CertificateDer::from(der_of(&old.certificate_pem));
    assert!(client_verifier(&ca)
        .verify_client_cert(&ee, &[], UnixTime::now())
        .is_err());
    for bad in ["", "a/b", "a b", "é"] {
        assert!(
            ca.issue_client(bad, Duration::from_secs(60)).is_err(),
            "{bad:?}"
        );
    }
    assert!(ca.issue_client("dev-1", Duration::ZERO).is_err());
    assert!(ca
        .issue_client("dev-1", Duration::from_secs(3651 * 86_400))
        .is_err());
}

#[test]
fn ttl_parsing() {
    use magnetite_certs::parse_ttl;
    assert_eq!(parse_ttl("3600s").unwrap(), Duration::from_secs(3600));
    assert_eq!(parse_ttl("3600").unwrap(), Duration::from_secs(3600));
    assert_eq!(parse_ttl("24h").unwrap(), Duration::from_secs(86_400));
    assert_eq!(parse_ttl("30d").unwrap(), Duration::from_secs(30 * 86_400));
    assert_eq!(parse_ttl("90m").unwrap(), Duration::from_secs(5400));
    for bad in ["", "h", "10x", "-5s", "1.5h", "99999999999999999999d"] {
        assert!(parse_ttl(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn self_signed_server_certificate_is_kept_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let out = generate_self_signed(dir.path(), PASSPHRASE).unwrap();
    assert_eq!(out.ca_path, dir.path().join("ca.crt"));
    let cert = std::fs::read_to_string(&out.cert_path).unwrap();
    let key = std::fs::read_to_string(&out.key_path).unwrap();
    assert!(key.contains("PRIVATE KEY"));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&out.key_path)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    let again = generate_self_signed(dir.path(), PASSPHRASE).unwrap();
    assert_eq!(again, out);
    assert_eq!(
        std::fs::read_to_string(&out.cert_path).unwrap(),
        cert,
        "kept"
    );

    let ca = Ca::load_or_create(dir.path(), PASSPHRASE).unwrap();
    let verifier = WebPkiServerVerifier::builder_with_provider(roots(&ca), provider())
        .build()
        .unwrap();
    let ee = CertificateDer::from(der_of(&cert));
    for name in ["localhost", "127.0.0.1", "::1"] {
        let name = ServerName::try_from(name).unwrap();
        verifier
            .verify_server_cert(&ee, &[], &name, &[], UnixTime::now())
            .unwrap();
    }
    let wrong = ServerName::try_from("example.com").unwrap();
    assert!(verifier
        .verify_server_cert(&ee, &[], &wrong, &[], UnixTime::now())
        .is_err());
}
