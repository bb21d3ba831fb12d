//! TLS for the MQTT listeners: the platform CA (encrypted at rest), `--tls-self-signed`,
//! and the rustls settings handed to the broker.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use magnetite_broker::tls::{ClientAuth, TlsAcceptorSource, TlsSettings};
use magnetite_certs::Ca;
use secrecy::ExposeSecret;

use crate::cli::{Settings, TlsClientAuth};
use crate::secrets::Secrets;

/// The CA passphrase already chosen for `data_dir`: `MAGNETITE_CA_KEY_PASSPHRASE`, or
/// the one a `--tls-self-signed` first run kept in `<data dir>/ca.passphrase`. Shared by
/// `serve` and `magnetite certs`, so both open the same CA.
pub fn saved_ca_passphrase(secrets: &Secrets, data_dir: &Path) -> anyhow::Result<Option<Vec<u8>>> {
    if let Some(p) = &secrets.ca_key_passphrase {
        return Ok(Some(p.expose_secret().as_bytes().to_vec()));
    }
    let path = data_dir.join(CA_PASSPHRASE_FILE);
    if !path.exists() {
        return Ok(None);
    }
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(Some(text.trim().as_bytes().to_vec()))
}

const CA_PASSPHRASE_FILE: &str = "ca.passphrase";

/// [`saved_ca_passphrase`], or for a `--tls-self-signed` first run a random one, kept
/// in `<data dir>/ca.passphrase` (mode 0600) for later starts, with or without the flag.
fn ca_passphrase(settings: &Settings) -> anyhow::Result<Option<Vec<u8>>> {
    let data_dir = &settings.storage.data_dir;
    if let Some(p) = saved_ca_passphrase(&settings.secrets, data_dir)? {
        return Ok(Some(p));
    }
    if !settings.tls.tls_self_signed {
        return Ok(None);
    }
    let generated = magnetite_auth::crypto::generate_secret();
    let path = data_dir.join(CA_PASSPHRASE_FILE);
    magnetite_auth::crypto::write_private(&path, generated.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(Some(generated.into_bytes()))
}

/// The platform CA, when it can be opened; never an unencrypted one.
///
/// Without a passphrase the certs service is off, which is fine for a broker that
/// uses no client certificates. It refuses to start instead when that would break
/// something an operator set up: a CA already in the data dir (its certificates would
/// stop logging in), or `--tls-client-auth required` with no CA to verify devices.
pub fn load_ca(settings: &Settings) -> anyhow::Result<Option<Ca>> {
    let dir = settings.storage.data_dir.join("ca");
    let Some(passphrase) = ca_passphrase(settings)? else {
        refuse_without_passphrase(settings, &dir)?;
        return Ok(None);
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let ca = Ca::load_or_create(&dir, &passphrase)
        .context("opening the platform CA (MAGNETITE_CA_KEY_PASSPHRASE)")?;
    Ok(Some(ca))
}

fn refuse_without_passphrase(settings: &Settings, ca_dir: &Path) -> anyhow::Result<()> {
    if ca_dir.join(magnetite_certs::ca::CA_KEY_FILE).exists() {
        anyhow::bail!(
            "{} holds the platform CA, encrypted: set MAGNETITE_CA_KEY_PASSPHRASE to the passphrase it was created with",
            ca_dir.display()
        );
    }
    // `--tls-self-signed` always has a passphrase, so only `--tls-cert` gets here.
    let required = matches!(settings.tls.tls_client_auth, TlsClientAuth::Required);
    if settings.tls.tls_cert.is_some() && required && settings.tls.tls_client_ca.is_none() {
        anyhow::bail!(
            "--tls-client-auth required needs a CA for client certificates: set MAGNETITE_CA_KEY_PASSPHRASE (the platform CA) or --tls-client-ca"
        );
    }
    Ok(())
}

/// Server certificate and key paths: from the flags, or generated once by the CA.
fn server_files(
    settings: &Settings,
    ca: Option<&Ca>,
) -> anyhow::Result<Option<(PathBuf, PathBuf)>> {
    match (&settings.tls.tls_cert, &settings.tls.tls_key) {
        (Some(cert), Some(key)) => return Ok(Some((cert.clone(), key.clone()))),
        (Some(_), None) | (None, Some(_)) => anyhow::bail!("--tls-cert and --tls-key go together"),
        (None, None) => {}
    }
    if !settings.tls.tls_self_signed {
        return Ok(None);
    }
    let ca = ca.context("--tls-self-signed needs the CA")?;
    let dir = settings.storage.data_dir.join("tls");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let files = ca.ensure_server_cert(&dir)?;
    let ca_file = settings.storage.data_dir.join("ca").join("ca.crt");
    tracing::info!(ca = %ca_file.display(), "self-signed TLS: clients trust this CA file (mosquitto_pub --cafile)");
    eprintln!("TLS CA certificate for clients: {}", ca_file.display());
    Ok(Some((files.cert_path, files.key_path)))
}

/// The TLS acceptor for the MQTT listeners, or `None` when TLS is not configured.
pub fn acceptor(
    settings: &Settings,
    ca: Option<&Ca>,
) -> anyhow::Result<Option<Arc<TlsAcceptorSource>>> {
    let Some((cert_path, key_path)) = server_files(settings, ca)? else {
        return Ok(None);
    };
    let mut tls = TlsSettings::new(cert_path, key_path);
    tls.client_ca = settings.tls.tls_client_ca.clone();
    tls.client_ca_der = ca
        .map(|ca| vec![ca.certificate_der().to_vec()])
        .unwrap_or_default();
    tls.client_auth = match settings.tls.tls_client_auth {
        TlsClientAuth::Optional => ClientAuth::Optional,
        TlsClientAuth::Required => ClientAuth::Required,
    };
    let source = TlsAcceptorSource::new(&tls).context("TLS settings")?;
    Ok(Some(Arc::new(source)))
}
