//! One error type for the CA, the store, the service and the HTTP layer.
//!
//! Messages never carry a secret: the CA passphrase and private keys are never
//! formatted into an error, and failures that could only be explained by their content
//! (a wrong passphrase, a tampered key file) say so without echoing anything back.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use magnetite_auth::AuthError;
use magnetite_httpkit::ApiError;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum CertsError {
    /// The request or the operator's input is invalid (400).
    #[error("{0}")]
    BadRequest(String),
    /// The named thing does not exist (404).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The CA key file does not open with this passphrase (or was altered).
    #[error("cannot decrypt the CA key {0}: wrong passphrase or corrupted file")]
    WrongPassphrase(PathBuf),
    /// The CA files are unusable: missing half of the pair, malformed, mismatched.
    #[error("CA file {path}: {reason}")]
    CaFiles { path: PathBuf, reason: String },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Certificate or key generation failed (never includes key material).
    #[error("certificate generation failed: {0}")]
    Rcgen(#[from] rcgen::Error),
    /// Key derivation or encryption failed for a reason other than the passphrase.
    #[error("CA key encryption failed: {0}")]
    Crypto(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Authentication / authorization / platform store errors keep their own response.
    #[error(transparent)]
    Auth(#[from] AuthError),
}

pub type Result<T, E = CertsError> = std::result::Result<T, E>;

impl CertsError {
    pub fn bad_request(msg: impl Into<String>) -> Self {
        CertsError::BadRequest(msg.into())
    }

    /// Wraps an I/O error with the path it concerns (paths are not secrets).
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> CertsError {
        let path = path.into();
        move |source| CertsError::Io { path, source }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            CertsError::BadRequest(_) => StatusCode::BAD_REQUEST,
            CertsError::NotFound(_) => StatusCode::NOT_FOUND,
            CertsError::Auth(e) => e.status(),
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// Rendered through the shared [`ApiError`]: auth's errors keep auth's answer; the
/// CA, crypto, file and store failures are logged with detail and answered generically.
impl From<CertsError> for ApiError {
    fn from(error: CertsError) -> Self {
        match error {
            CertsError::Auth(e) => e.into(),
            CertsError::BadRequest(_) | CertsError::NotFound(_) => {
                ApiError::new(error.status(), error.to_string())
            }
            other => ApiError::internal(&other),
        }
    }
}

impl IntoResponse for CertsError {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}
