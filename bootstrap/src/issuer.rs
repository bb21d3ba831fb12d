//! Where device certificates come from when a config asks for them (`"issue_cert": true`).
//!
//! Bootstrap does not depend on the certs crate (DESIGN §1: the lower crate takes a
//! small trait and the root plugs the higher one in), so the binary implements
//! [`CertIssuer`] over its CA and hands it to [`crate::BootstrapService::start`].

use std::future::Future;
use std::pin::Pin;

/// A freshly issued device certificate, PEM encoded.
#[derive(Clone)]
pub struct IssuedCert {
    /// The device certificate.
    pub certificate: String,
    /// The device private key.
    pub key: String,
    /// The CA certificate the device should trust.
    pub ca: String,
}

/// The key is private: never print it.
impl std::fmt::Debug for IssuedCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedCert")
            .field("certificate", &self.certificate.len())
            .field("key", &"..")
            .field("ca", &self.ca.len())
            .finish()
    }
}

/// The future [`CertIssuer::issue`] returns (boxed: no async-trait dependency).
pub type IssueFuture<'a> = Pin<Box<dyn Future<Output = Result<IssuedCert, String>> + Send + 'a>>;

/// Issues a client certificate for a platform client id. The error string is logged,
/// never returned to the HTTP caller, so it must not contain key material either.
pub trait CertIssuer: Send + Sync {
    /// Issues a certificate whose identity is `client_id`, recorded in `domain_id`.
    /// The client may not be committed yet (it is created in the config's transaction),
    /// so the issuer must not look it up.
    fn issue<'a>(&'a self, domain_id: &'a str, client_id: &'a str) -> IssueFuture<'a>;
}
