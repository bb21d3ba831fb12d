//! MQTT over TLS (and the TLS under secure WebSocket): the rustls server configuration,
//! client-certificate verification and hot reload of the server certificate.
//!
//! Certificates are rotated on disk (ACME renewals, a certs service) while clients stay
//! connected for days, so the server key is not baked into the `ServerConfig`: a
//! [`ResolvesServerCert`] hands each new handshake whatever key is current, and a
//! watcher running beside the accept loop swaps in a new one when the files change.
//! Live connections keep the session keys they negotiated and are never touched.
//!
//! The crypto provider is always passed explicitly (ring) instead of relying on
//! rustls' process-wide default, which panics when more than one provider is compiled
//! into the final binary.

use std::fs;
use std::io::{self, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// How often the certificate files are checked when [`TlsSettings`] does not say.
pub const DEFAULT_RELOAD_INTERVAL: Duration = Duration::from_secs(1);

/// Whether clients must present a certificate. Only meaningful with a client CA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuth {
    /// A certificate is asked for and verified if sent; clients without one may still
    /// log in with a password (the hooks see `peer_certificate: None`).
    #[default]
    Optional,
    /// The handshake fails without a certificate signed by a client CA.
    Required,
}

/// Where the TLS material of a listener comes from.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    /// PEM: the server's leaf certificate first, then any intermediates.
    pub cert_path: PathBuf,
    /// PEM: the private key (PKCS#8, PKCS#1 or SEC1).
    pub key_path: PathBuf,
    /// PEM bundle of the CAs that may sign client certificates.
    pub client_ca: Option<PathBuf>,
    /// More client-CA roots as DER, for CAs that live in memory (the platform's own
    /// certificate service) rather than in a file.
    pub client_ca_der: Vec<Vec<u8>>,
    pub client_auth: ClientAuth,
    /// How often the certificate and key files are checked for changes.
    pub reload_interval: Duration,
}

impl TlsSettings {
    /// Server-only TLS (no client certificates) with the default reload interval.
    pub fn new(cert_path: impl Into<PathBuf>, key_path: impl Into<PathBuf>) -> TlsSettings {
        TlsSettings {
            cert_path: cert_path.into(),
            key_path: key_path.into(),
            client_ca: None,
            client_ca_der: Vec::new(),
            client_auth: ClientAuth::Optional,
            reload_interval: DEFAULT_RELOAD_INTERVAL,
        }
    }

    fn has_client_ca(&self) -> bool {
        self.client_ca.is_some() || !self.client_ca_der.is_empty()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {}: {source}", .path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("{}: no certificate found in PEM", .path.display())]
    NoCertificate { path: PathBuf },
    #[error("{}: no private key found in PEM", .path.display())]
    NoPrivateKey { path: PathBuf },
    #[error("{}: unusable private key: {source}", .path.display())]
    BadKey {
        path: PathBuf,
        source: rustls::Error,
    },
    /// `origin` is the file, or `client_ca_der[i]` for a root given in memory.
    #[error("{origin}: bad client CA certificate: {source}")]
    BadCa {
        origin: String,
        source: rustls::Error,
    },
    #[error("client CA: {0}")]
    ClientVerifier(rustls::server::VerifierBuilderError),
    /// Refused rather than silently serving without client authentication.
    #[error("client_auth = required needs a client CA (client_ca or client_ca_der)")]
    RequiredWithoutCa,
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// Everything a TLS listener needs; share it (`Arc`) between a TLS and a WSS listener.
pub struct TlsAcceptorSource {
    acceptor: TlsAcceptor,
    certs: Arc<ReloadingCert>,
    reload_interval: Duration,
}

impl std::fmt::Debug for TlsAcceptorSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsAcceptorSource")
            .field("cert_path", &self.certs.cert_path)
            .field("key_path", &self.certs.key_path)
            .field("reload_interval", &self.reload_interval)
            .finish_non_exhaustive()
    }
}

impl TlsAcceptorSource {
    /// Reads the certificate, key and client CAs and builds the server configuration:
    /// TLS 1.2 and 1.3 only, ring's default (safe) cipher suites, no ALPN required.
    pub fn new(settings: &TlsSettings) -> Result<TlsAcceptorSource, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let certs = Arc::new(ReloadingCert::load(
            &settings.cert_path,
            &settings.key_path,
            Arc::clone(&provider),
        )?);
        let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?;
        let builder = if settings.has_client_ca() {
            let roots = client_roots(settings)?;
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = match settings.client_auth {
                ClientAuth::Optional => verifier.allow_unauthenticated(),
                ClientAuth::Required => verifier,
            };
            builder.with_client_cert_verifier(verifier.build().map_err(TlsError::ClientVerifier)?)
        } else if settings.client_auth == ClientAuth::Required {
            return Err(TlsError::RequiredWithoutCa);
        } else {
            builder.with_no_client_auth()
        };
        let config = builder.with_cert_resolver(Arc::clone(&certs) as Arc<dyn ResolvesServerCert>);
        Ok(TlsAcceptorSource {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            certs,
            reload_interval: settings.reload_interval,
        })
    }

    /// Re-reads the certificate and key if their files changed since the last look.
    /// `Ok(true)`: new handshakes now use the new key. On error the old key stays.
    pub fn reload_if_changed(&self) -> Result<bool, TlsError> {
        self.certs.reload_if_changed()
    }

    /// The leaf certificate new handshakes present (DER).
    pub fn current_certificate(&self) -> Vec<u8> {
        let current = self.certs.current.read();
        current.cert.first().map(|c| c.to_vec()).unwrap_or_default()
    }

    /// Runs the TLS handshake on `stream`; returns the stream and the DER of the
    /// client's leaf certificate, if it sent one. The stream is boxed: a rustls
    /// connection is several KB, and idle connections should stay small inline.
    pub(crate) async fn accept(
        &self,
        stream: TcpStream,
    ) -> io::Result<(Box<TlsStream<TcpStream>>, Option<Vec<u8>>)> {
        let tls = self.acceptor.accept(stream).await?;
        let peer_certificate = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .map(|leaf| leaf.to_vec());
        Ok((Box::new(tls), peer_certificate))
    }

    /// Checks the files every `reload_interval` until the broker shuts down. Several
    /// watchers on one source are harmless: the last-seen contents are shared.
    pub(crate) async fn watch(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        if *shutdown.borrow() {
            return;
        }
        let mut tick = tokio::time::interval(self.reload_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await; // the first tick is immediate; the files were just read
        loop {
            tokio::select! {
                changed = shutdown.changed() => {
                    if changed.is_err() || *shutdown.borrow() {
                        return;
                    }
                }
                _ = tick.tick() => {
                    let certs = Arc::clone(&self.certs);
                    // File reads and key parsing are blocking; keep them off the workers.
                    match tokio::task::spawn_blocking(move || certs.reload_if_changed()).await {
                        Ok(Ok(_)) => {}
                        Ok(Err(err)) => tracing::warn!(
                            error = %err,
                            "new TLS certificate not loaded; keeping the current one"
                        ),
                        Err(err) => tracing::warn!(error = %err, "TLS reload task failed"),
                    }
                }
            }
        }
    }
}

/// The server certificate and key currently handed to new handshakes.
#[derive(Debug)]
struct ReloadingCert {
    cert_path: PathBuf,
    key_path: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
    /// Contents of (cert, key) at the last load attempt, successful or not (`None`:
    /// unreadable), so a bad file is reported once rather than every interval.
    /// Contents, not mtime and length: a renewed certificate usually has the same
    /// length, and a rotation within one timestamp tick would go unnoticed.
    seen: Mutex<(FileContents, FileContents)>,
}

/// A file's bytes, or `None` when it could not be read.
type FileContents = Option<Vec<u8>>;

impl ReloadingCert {
    fn load(
        cert_path: &Path,
        key_path: &Path,
        provider: Arc<CryptoProvider>,
    ) -> Result<ReloadingCert, TlsError> {
        let cert_pem = read_file(cert_path)?;
        let key_pem = read_file(key_path)?;
        let key = certified_key(cert_path, &cert_pem, key_path, &key_pem, &provider)?;
        Ok(ReloadingCert {
            cert_path: cert_path.to_path_buf(),
            key_path: key_path.to_path_buf(),
            provider,
            current: RwLock::new(Arc::new(key)),
            seen: Mutex::new((Some(cert_pem), Some(key_pem))),
        })
    }

    fn reload_if_changed(&self) -> Result<bool, TlsError> {
        let cert_pem = read_file(&self.cert_path);
        let key_pem = read_file(&self.key_path);
        {
            let mut seen = self.seen.lock();
            let now = (cert_pem.as_ref().ok(), key_pem.as_ref().ok());
            if (seen.0.as_ref(), seen.1.as_ref()) == now {
                return Ok(false);
            }
            *seen = (now.0.cloned(), now.1.cloned());
        }
        let (cert_pem, key_pem) = (cert_pem?, key_pem?);
        let key = certified_key(
            &self.cert_path,
            &cert_pem,
            &self.key_path,
            &key_pem,
            &self.provider,
        )?;
        *self.current.write() = Arc::new(key);
        tracing::info!(cert = %self.cert_path.display(), "TLS certificate reloaded");
        Ok(true)
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.current.read()))
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>, TlsError> {
    fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn parse_certs(path: &Path, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = rustls_pemfile::certs(&mut BufReader::new(pem))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::Read {
            path: path.to_path_buf(),
            source,
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

fn parse_key(path: &Path, pem: &[u8]) -> Result<PrivateKeyDer<'static>, TlsError> {
    match rustls_pemfile::private_key(&mut BufReader::new(pem)) {
        Ok(Some(key)) => Ok(key),
        Ok(None) => Err(TlsError::NoPrivateKey {
            path: path.to_path_buf(),
        }),
        Err(source) => Err(TlsError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Parses the chain and key and checks that the key belongs to the leaf certificate,
/// so a half-finished rotation (new cert, old key) is refused instead of served.
fn certified_key(
    cert_path: &Path,
    cert_pem: &[u8],
    key_path: &Path,
    key_pem: &[u8],
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let chain = parse_certs(cert_path, cert_pem)?;
    let key = parse_key(key_path, key_pem)?;
    CertifiedKey::from_der(chain, key, provider).map_err(|source| TlsError::BadKey {
        path: key_path.to_path_buf(),
        source,
    })
}

fn client_roots(settings: &TlsSettings) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    if let Some(path) = &settings.client_ca {
        for cert in parse_certs(path, &read_file(path)?)? {
            roots.add(cert).map_err(|source| TlsError::BadCa {
                origin: path.display().to_string(),
                source,
            })?;
        }
    }
    for (i, der) in settings.client_ca_der.iter().enumerate() {
        roots
            .add(CertificateDer::from(der.as_slice()))
            .map_err(|source| TlsError::BadCa {
                origin: format!("client_ca_der[{i}]"),
                source,
            })?;
    }
    Ok(roots)
}
