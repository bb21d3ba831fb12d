//! The CA private key at rest: encrypted under the operator's passphrase.
//!
//! Anyone who reads the data directory (a backup, a copied volume) must not be able to
//! mint client certificates, so `ca.key.enc` only opens with the passphrase. The file is
//! a small JSON document, every binary field base64 (standard alphabet, padded):
//!
//! ```json
//! {
//!   "v": 1,
//!   "kdf": "argon2id", "m_cost": 19456, "t_cost": 2, "p_cost": 1,
//!   "salt": "<16 random bytes>",
//!   "cipher": "aes-256-gcm",
//!   "nonce": "<12 random bytes>",
//!   "ciphertext": "<AES-256-GCM(key PEM) including the 16-byte tag>"
//! }
//! ```
//!
//! The 32-byte AES key is Argon2id(passphrase, salt) with the recorded costs (so they
//! can be raised later without breaking old files). The associated data is
//! [`AAD`], which binds the ciphertext to this format version. GCM authenticates: a
//! wrong passphrase and a modified file both fail the tag check, and are reported the
//! same way ([`CertsError::WrongPassphrase`]) since they cannot be told apart.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rand::rngs::OsRng;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::path::Path;

use crate::error::{CertsError, Result};

/// Associated data of format version 1.
const AAD: &[u8] = b"magnetite-ca-key:v1";

#[derive(Debug, Serialize, Deserialize)]
struct Sealed {
    v: u32,
    kdf: String,
    m_cost: u32,
    t_cost: u32,
    p_cost: u32,
    salt: String,
    cipher: String,
    nonce: String,
    ciphertext: String,
}

/// Encrypts `plaintext` (the CA key PEM) into the JSON document described above.
pub(crate) fn seal(plaintext: &[u8], passphrase: &[u8]) -> Result<String> {
    let mut salt = [0u8; 16];
    let mut nonce = [0u8; 12];
    OsRng.fill_bytes(&mut salt);
    OsRng.fill_bytes(&mut nonce);
    let (m_cost, t_cost, p_cost) = (
        Params::DEFAULT_M_COST,
        Params::DEFAULT_T_COST,
        Params::DEFAULT_P_COST,
    );
    let key = derive_key(passphrase, &salt, m_cost, t_cost, p_cost)?;
    let cipher = Aes256Gcm::new_from_slice(&key).map_err(|e| CertsError::Crypto(e.to_string()))?;
    let payload = Payload {
        msg: plaintext,
        aad: AAD,
    };
    let ciphertext = cipher
        .encrypt(Nonce::from_slice(&nonce), payload)
        .map_err(|_| CertsError::Crypto("AES-GCM encryption failed".into()))?;
    let doc = Sealed {
        v: 1,
        kdf: "argon2id".into(),
        m_cost,
        t_cost,
        p_cost,
        salt: B64.encode(salt),
        cipher: "aes-256-gcm".into(),
        nonce: B64.encode(nonce),
        ciphertext: B64.encode(ciphertext),
    };
    serde_json::to_string_pretty(&doc).map_err(|e| CertsError::Crypto(e.to_string()))
}

/// Decrypts a document written by [`seal`]; `path` is only used in error messages.
pub(crate) fn open(doc: &str, passphrase: &[u8], path: &Path) -> Result<Vec<u8>> {
    let bad = |reason: &str| CertsError::CaFiles {
        path: path.to_path_buf(),
        reason: format!("malformed encrypted key file: {reason}"),
    };
    let sealed: Sealed = serde_json::from_str(doc).map_err(|_| bad("not the expected JSON"))?;
    if sealed.v != 1 || sealed.kdf != "argon2id" || sealed.cipher != "aes-256-gcm" {
        return Err(bad("unsupported version, KDF or cipher"));
    }
    let salt = B64.decode(&sealed.salt).map_err(|_| bad("salt"))?;
    let nonce = B64.decode(&sealed.nonce).map_err(|_| bad("nonce"))?;
    let ciphertext = B64
        .decode(&sealed.ciphertext)
        .map_err(|_| bad("ciphertext"))?;
    if nonce.len() != 12 || salt.len() < 8 {
        return Err(bad("salt or nonce length"));
    }
    let key = derive_key(
        passphrase,
        &salt,
        sealed.m_cost,
        sealed.t_cost,
        sealed.p_cost,
    )?;
    let cipher = Aes256Gcm::new_from_slice(&key).map_err(|e| CertsError::Crypto(e.to_string()))?;
    let payload = Payload {
        msg: &ciphertext,
        aad: AAD,
    };
    cipher
        .decrypt(Nonce::from_slice(&nonce), payload)
        .map_err(|_| CertsError::WrongPassphrase(path.to_path_buf()))
}

/// Argon2id(passphrase, salt) -> 32 bytes. Costs come from the file when opening, so
/// they are bounded to keep a tampered file from asking for gigabytes of memory.
fn derive_key(passphrase: &[u8], salt: &[u8], m: u32, t: u32, p: u32) -> Result<[u8; 32]> {
    if m > 1 << 21 || t > 64 || p > 16 {
        return Err(CertsError::Crypto("Argon2 costs out of range".into()));
    }
    let params = Params::new(m, t, p, Some(32)).map_err(|e| CertsError::Crypto(e.to_string()))?;
    let mut key = [0u8; 32];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(passphrase, salt, &mut key)
        .map_err(|e| CertsError::Crypto(e.to_string()))?;
    Ok(key)
}
