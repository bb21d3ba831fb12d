//! The two ciphers of bootstrap.
//!
//! ## Secure bootstrap (wire format shared with firmware; Magistrala's scheme)
//!
//! `GET /clients/bootstrap/secure/{external_id}` uses AES-256 in CFB mode (full-block
//! CFB-128 as in NIST SP 800-38A and Go's `cipher.NewCFBEncrypter`; no padding, the
//! last partial block is XORed with the truncated keystream) under the bootstrap
//! encrypt key `K` (`MAGNETITE_BOOTSTRAP_ENCRYPT_KEY`: 64 hex characters = 32 bytes, or
//! a 32-byte string taken as its bytes):
//!
//! - request: `Authorization: Client <hex(IV || AES-256-CFB(K, IV, external_key))>`,
//!   `IV` = 16 random bytes chosen by the device, hex in either case;
//! - response body (`application/octet-stream`, raw bytes, no hex or base64):
//!   `IV' || AES-256-CFB(K, IV', json)`, `IV'` = 16 fresh random bytes, `json` = the
//!   same JSON object the plain endpoint returns.
//!
//! CFB gives confidentiality only (no integrity): this is compatibility with the
//! Magistrala agent and firmware, not a substitute for TLS.
//!
//! ## Client secrets and private keys at rest
//!
//! The device must receive its client secret in clear, but auth keeps client secrets
//! only as keyed hashes; so bootstrap stores the secret (and the device's private
//! key) sealed with AES-256-GCM under its own storage key, a 32-byte random key kept in
//! a file in the data dir (hex, mode 0600, created on first start; see
//! [`StorageKey::load_or_create`]). It is deliberately *not* derived from the encrypt
//! key: that key is baked into every device's firmware, so anyone who dumps one device
//! would otherwise be able to open every secret of a leaked database. The row's
//! client id is the GCM associated data, so a ciphertext moved to another row fails.

use aes::Aes256;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use cfb_mode::cipher::{AsyncStreamCipher, KeyIvInit};
use rand::RngCore;
use std::path::Path;

use crate::error::BootstrapError;

/// AES block = CFB IV length.
pub const IV_LEN: usize = 16;
const GCM_NONCE_LEN: usize = 12;

/// Parses `MAGNETITE_BOOTSTRAP_ENCRYPT_KEY`: 64 hex characters, or exactly 32 bytes of
/// text used as they are (Magistrala's `MG_BOOTSTRAP_ENCRYPT_KEY` form).
pub fn parse_encrypt_key(text: &str) -> Result<[u8; 32], BootstrapError> {
    let bad = || {
        BootstrapError::bad_request(
            "bootstrap encrypt key must be 64 hex characters or a 32-byte string",
        )
    };
    let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        hex::decode(text).map_err(|_| bad())?
    } else {
        text.as_bytes().to_vec()
    };
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| bad())
}

/// `IV || AES-256-CFB(key, IV, plain)` with a random IV.
pub fn encrypt_cfb(key: &[u8; 32], plain: &[u8]) -> Vec<u8> {
    let mut iv = [0u8; IV_LEN];
    rand::thread_rng().fill_bytes(&mut iv);
    let mut out = Vec::with_capacity(IV_LEN + plain.len());
    out.extend_from_slice(&iv);
    out.extend_from_slice(plain);
    cfb_mode::Encryptor::<Aes256>::new(key.into(), (&iv).into()).encrypt(&mut out[IV_LEN..]);
    out
}

/// Inverse of [`encrypt_cfb`]; `None` when `data` is no longer than an IV.
pub fn decrypt_cfb(key: &[u8; 32], data: &[u8]) -> Option<Vec<u8>> {
    if data.len() <= IV_LEN {
        return None;
    }
    let (iv, body) = data.split_at(IV_LEN);
    let iv: [u8; IV_LEN] = iv.try_into().ok()?;
    let mut plain = body.to_vec();
    cfb_mode::Decryptor::<Aes256>::new(key.into(), (&iv).into()).decrypt(&mut plain);
    Some(plain)
}

/// The external key a device sent encrypted (the hex after `Client `), as bytes. Not
/// hex or no longer than an IV is a 400; a well-formed ciphertext under a wrong key or
/// of a wrong external key decrypts to other bytes and is then refused (403) like any
/// wrong key.
pub fn decrypt_external_key(key: &[u8; 32], hex_text: &str) -> Result<Vec<u8>, BootstrapError> {
    let malformed = || BootstrapError::bad_request("malformed encrypted external key");
    let data = hex::decode(hex_text.trim()).map_err(|_| malformed())?;
    decrypt_cfb(key, &data).ok_or_else(malformed)
}

/// The AES-256-GCM key that seals client secrets and private keys at rest.
#[derive(Clone)]
pub struct StorageKey([u8; 32]);

impl std::fmt::Debug for StorageKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StorageKey(..)")
    }
}

impl StorageKey {
    /// A key from bytes (tests, or a key the caller manages).
    pub fn from_bytes(bytes: [u8; 32]) -> StorageKey {
        StorageKey(bytes)
    }

    /// Reads the key from `path` (64 hex characters), creating it with a random key
    /// (mode 0600) on first start. Losing the file makes stored secrets unreadable.
    pub fn load_or_create(path: &Path) -> Result<StorageKey, BootstrapError> {
        let io = |e: std::io::Error| {
            BootstrapError::Internal(format!("bootstrap key file {}: {e}", path.display()))
        };
        if path.exists() {
            let text = std::fs::read_to_string(path).map_err(io)?;
            let bytes = hex::decode(text.trim()).ok();
            let key = bytes.and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok());
            return key.map(StorageKey).ok_or_else(|| {
                BootstrapError::Internal(format!(
                    "bootstrap key file {} must hold 64 hex characters",
                    path.display()
                ))
            });
        }
        let mut key = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut key);
        magnetite_auth::crypto::write_private(path, hex::encode(key).as_bytes()).map_err(io)?;
        Ok(StorageKey(key))
    }

    /// `hex(nonce || GCM(plain, aad))`; the empty string stays empty (nothing to hide).
    pub fn seal(&self, aad: &str, plain: &str) -> Result<String, BootstrapError> {
        if plain.is_empty() {
            return Ok(String::new());
        }
        let mut nonce = [0u8; GCM_NONCE_LEN];
        rand::thread_rng().fill_bytes(&mut nonce);
        let payload = Payload {
            msg: plain.as_bytes(),
            aad: aad.as_bytes(),
        };
        let sealed = self
            .cipher()
            .encrypt(Nonce::from_slice(&nonce), payload)
            .map_err(|_| BootstrapError::Internal("sealing a secret failed".into()))?;
        Ok(hex::encode([nonce.as_slice(), &sealed].concat()))
    }

    /// Opens what [`StorageKey::seal`] produced for the same `aad`.
    pub fn open(&self, aad: &str, sealed_hex: &str) -> Result<String, BootstrapError> {
        if sealed_hex.is_empty() {
            return Ok(String::new());
        }
        let broken =
            || BootstrapError::Internal(format!("stored secret of {aad} cannot be opened"));
        let data = hex::decode(sealed_hex).map_err(|_| broken())?;
        if data.len() < GCM_NONCE_LEN {
            return Err(broken());
        }
        let (nonce, body) = data.split_at(GCM_NONCE_LEN);
        let payload = Payload {
            msg: body,
            aad: aad.as_bytes(),
        };
        let plain = self
            .cipher()
            .decrypt(Nonce::from_slice(nonce), payload)
            .map_err(|_| broken())?;
        String::from_utf8(plain).map_err(|_| broken())
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new((&self.0).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// NIST SP 800-38A F.3.17 (CFB128-AES256.Encrypt), first two blocks: the scheme is
    /// the standard full-block CFB that Go's `NewCFBEncrypter` implements.
    #[test]
    fn cfb_matches_nist_vector() {
        let key: [u8; 32] =
            hex::decode("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4")
                .unwrap()
                .try_into()
                .unwrap();
        let iv = hex::decode("000102030405060708090a0b0c0d0e0f").unwrap();
        let plain = hex::decode("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51")
            .unwrap();
        let data = [iv.as_slice(), &plain].concat();
        let mut buf = data[IV_LEN..].to_vec();
        let iv16: [u8; 16] = iv.clone().try_into().unwrap();
        cfb_mode::Encryptor::<Aes256>::new((&key).into(), (&iv16).into()).encrypt(&mut buf);
        assert_eq!(
            hex::encode(&buf),
            "dc7e84bfda79164b7ecd8486985d386039ffed143b28b1c832113c6331e5407b"
        );
        let mut sealed = iv.clone();
        sealed.extend_from_slice(&buf);
        assert_eq!(decrypt_cfb(&key, &sealed).unwrap(), plain);
    }

    #[test]
    fn cfb_round_trip_odd_length_and_fresh_iv() {
        let key = [7u8; 32];
        let a = encrypt_cfb(&key, b"external-key-1");
        let b = encrypt_cfb(&key, b"external-key-1");
        assert_ne!(a, b, "a fresh IV each time");
        assert_eq!(a.len(), IV_LEN + 14);
        assert_eq!(decrypt_cfb(&key, &a).unwrap(), b"external-key-1");
        let k = decrypt_external_key(&key, &hex::encode(&a)).unwrap();
        assert_eq!(k, b"external-key-1");
        assert!(decrypt_external_key(&key, "zz").is_err());
        assert!(decrypt_external_key(&key, &hex::encode([0u8; 16])).is_err());
    }

    #[test]
    fn encrypt_key_forms() {
        let hex64 = "00".repeat(31) + "ff";
        assert_eq!(parse_encrypt_key(&hex64).unwrap()[31], 0xff);
        let s = "v7aT0HGxJxt2gULzr3RHwf4WIf6DusPp";
        assert_eq!(&parse_encrypt_key(s).unwrap(), s.as_bytes());
        assert!(parse_encrypt_key("short").is_err());
    }

    #[test]
    fn storage_seal_binds_the_row() {
        let k = StorageKey::from_bytes([1u8; 32]);
        let sealed = k.seal("client-a", "secret").unwrap();
        assert!(!sealed.contains("secret"));
        assert_eq!(k.open("client-a", &sealed).unwrap(), "secret");
        assert!(k.open("client-b", &sealed).is_err());
        assert_eq!(k.seal("x", "").unwrap(), "");
        let other = StorageKey::from_bytes([2u8; 32]);
        assert!(other.open("client-a", &sealed).is_err());
    }

    #[test]
    fn storage_key_file_is_created_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bootstrap.key");
        let a = StorageKey::load_or_create(&path).unwrap();
        let b = StorageKey::load_or_create(&path).unwrap();
        let sealed = a.seal("c", "s").unwrap();
        assert_eq!(b.open("c", &sealed).unwrap(), "s");
        std::fs::write(&path, "not hex").unwrap();
        assert!(StorageKey::load_or_create(&path).is_err());
    }
}
