//! Keys, password hashing, client secrets and signed tokens.
//!
//! One master key (a file in the data dir, or `MAGNETITE_AUTH_KEY`) is never used
//! directly: it derives a token-signing key and a secret-hashing key, so rotating how
//! one is used never weakens the other. Client secrets are stored as an HMAC under the
//! hashing key: a leaked database does not yield usable secrets, and a lookup is one
//! cheap keyed hash (fast enough for connect storms, unlike a password hash).

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::path::Path;

use crate::error::{AuthError, Result};

type HmacSha256 = Hmac<Sha256>;

/// Keys derived from the master key.
#[derive(Clone)]
pub struct Keys {
    token: [u8; 32],
    secrets: [u8; 32],
    /// Signs the replies event consumers hand out (`magnetite-consumers`): a key of
    /// its own, so a reply can never pass for a secret hash or a token, nor the reverse.
    replies: [u8; 32],
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(..)")
    }
}

fn derive(master: &[u8], label: &str) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(master).unwrap_or_else(|_| unreachable_hmac());
    mac.update(label.as_bytes());
    mac.finalize().into_bytes().into()
}

/// A client secret's stored form (hex in the store) decoded once, for the MQTT access
/// cache: 33 bytes in place of a 64-character string on the heap per cached client.
/// `None` when the stored text is not a 32-byte hex tag (empty: no secret), which no
/// secret can match, as [`Keys::verify_secret`] refuses it.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct SecretMac(Option<[u8; 32]>);

impl SecretMac {
    pub fn from_hex(stored_hex: &str) -> SecretMac {
        let mut tag = [0u8; 32];
        SecretMac(
            hex::decode_to_slice(stored_hex, &mut tag)
                .is_ok()
                .then_some(tag),
        )
    }
}

/// Never printed: the tag is as good as the stored hash.
impl std::fmt::Debug for SecretMac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretMac(..)")
    }
}

/// Constant-time check (`verify_slice`) of a hex HMAC-SHA256 of `message` under `key`.
fn verify_hex_mac(key: &[u8; 32], message: &[u8], tag_hex: &str) -> bool {
    let Ok(tag) = hex::decode(tag_hex) else {
        return false;
    };
    let mut mac = HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable_hmac());
    mac.update(message);
    mac.verify_slice(&tag).is_ok()
}

/// HMAC accepts keys of any length; this never runs.
fn unreachable_hmac() -> HmacSha256 {
    unreachable!("HMAC-SHA256 takes keys of any length")
}

impl Keys {
    pub fn from_master(master: &[u8]) -> Keys {
        Keys {
            token: derive(master, "magnetite token signing v1"),
            secrets: derive(master, "magnetite client secret hashing v1"),
            replies: derive(master, "magnetite consumer reply signing v1"),
        }
    }

    /// Reads the master key from `path` (hex), creating it (mode 0600) on first start.
    pub fn load_or_create(path: &Path) -> Result<Keys> {
        let io =
            |e: std::io::Error| AuthError::Internal(format!("key file {}: {e}", path.display()));
        if path.exists() {
            let text = std::fs::read_to_string(path).map_err(io)?;
            let master = hex::decode(text.trim()).map_err(|_| {
                AuthError::Internal(format!("key file {} is not hex", path.display()))
            })?;
            if master.len() < 32 {
                return Err(AuthError::Internal(format!(
                    "key file {} holds fewer than 32 bytes",
                    path.display()
                )));
            }
            return Ok(Keys::from_master(&master));
        }
        let mut master = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut master);
        write_private(path, hex::encode(master).as_bytes()).map_err(io)?;
        Ok(Keys::from_master(&master))
    }

    /// The stored form of a client secret.
    pub fn hash_secret(&self, secret: &str) -> String {
        let mut mac =
            HmacSha256::new_from_slice(&self.secrets).unwrap_or_else(|_| unreachable_hmac());
        mac.update(secret.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// Constant-time check of `secret` against its stored form.
    pub fn verify_secret(&self, secret: &[u8], stored_hex: &str) -> bool {
        verify_hex_mac(&self.secrets, secret, stored_hex)
    }

    /// [`Keys::verify_secret`] against the decoded stored form.
    pub fn verify_secret_mac(&self, secret: &[u8], stored: &SecretMac) -> bool {
        let Some(tag) = &stored.0 else {
            return false;
        };
        let mut mac =
            HmacSha256::new_from_slice(&self.secrets).unwrap_or_else(|_| unreachable_hmac());
        mac.update(secret);
        mac.verify_slice(tag).is_ok()
    }

    /// HMAC-SHA256 of `message` under the consumer-reply key, hex.
    pub fn sign_reply(&self, message: &[u8]) -> String {
        let mut mac =
            HmacSha256::new_from_slice(&self.replies).unwrap_or_else(|_| unreachable_hmac());
        mac.update(message);
        hex::encode(mac.finalize().into_bytes())
    }

    /// Constant-time check of a [`Keys::sign_reply`] tag (`verify_slice`).
    pub fn verify_reply(&self, message: &[u8], tag_hex: &str) -> bool {
        verify_hex_mac(&self.replies, message, tag_hex)
    }

    /// Signs `claims` as a compact HS256 JWT.
    pub fn sign_token(&self, claims: &Claims) -> Result<String> {
        let key = jsonwebtoken::EncodingKey::from_secret(&self.token);
        jsonwebtoken::encode(&jsonwebtoken::Header::new(TOKEN_ALGORITHM), claims, &key)
            .map_err(|e| AuthError::Internal(format!("signing a token: {e}")))
    }

    /// Verifies signature and expiry; the caller checks the token kind.
    ///
    /// Only HS256 is accepted (a token naming another algorithm, `none` included, is
    /// refused before its signature is looked at). No leeway: a token is dead from the
    /// second its `exp` names, as it was before the library did the checking.
    pub fn verify_token(&self, token: &str) -> Result<Claims> {
        let invalid = || AuthError::Unauthorized("invalid or expired token".into());
        let key = jsonwebtoken::DecodingKey::from_secret(&self.token);
        let mut validation = jsonwebtoken::Validation::new(TOKEN_ALGORITHM);
        validation.leeway = 0;
        let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .map_err(|_| invalid())?
            .claims;
        // The library still accepts `exp == now`; the platform never did.
        if claims.exp <= chrono::Utc::now().timestamp() {
            return Err(invalid());
        }
        Ok(claims)
    }
}

/// The one signing algorithm: the key is a shared secret that never leaves the server.
const TOKEN_ALGORITHM: jsonwebtoken::Algorithm = jsonwebtoken::Algorithm::HS256;

/// What a token says. `typ` keeps an access token from being used as a refresh token
/// (and a reset token from being either).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub typ: TokenKind,
    pub iat: i64,
    pub exp: i64,
    /// The user's token epoch at issue (see `User::token_epoch`); tokens from before
    /// the field existed read as 0, the epoch every user starts with.
    #[serde(default)]
    pub ep: i64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    Access,
    Refresh,
    Reset,
}

impl Claims {
    pub fn new(user_id: &str, epoch: i64, typ: TokenKind, ttl_secs: i64) -> Claims {
        let now = chrono::Utc::now().timestamp();
        Claims {
            iss: "magnetite".into(),
            sub: user_id.into(),
            typ,
            iat: now,
            exp: now + ttl_secs,
            ep: epoch,
        }
    }
}

/// A new client secret: 192 random bits, hex (safe on any command line).
pub fn generate_secret() -> String {
    let mut bytes = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Argon2id (the crate's defaults: 19 MiB, 2 passes) in PHC string form.
pub fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Internal(format!("password hashing failed: {e}")))
}

pub fn verify_password(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Writes a file readable by its owner only.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decoded_secret_mac_verifies_as_its_hex_does() {
        let keys = Keys::from_master(b"0123456789abcdef0123456789abcdef");
        let stored = keys.hash_secret("device-secret");
        let mac = SecretMac::from_hex(&stored);
        assert!(keys.verify_secret(b"device-secret", &stored));
        assert!(keys.verify_secret_mac(b"device-secret", &mac));
        assert!(!keys.verify_secret_mac(b"device-secreT", &mac));
        let other = Keys::from_master(b"another master key of 32 bytes!!");
        assert!(!other.verify_secret_mac(b"device-secret", &mac));
        // No secret, a truncated tag, non-hex: nothing matches, as with the hex form.
        for bad in [
            "",
            &stored[..62],
            &stored.replace(|c: char| c.is_ascii_digit(), "z"),
        ] {
            assert!(!keys.verify_secret(b"device-secret", bad));
            assert!(!keys.verify_secret_mac(b"device-secret", &SecretMac::from_hex(bad)));
            assert!(!keys.verify_secret_mac(b"", &SecretMac::from_hex(bad)));
        }
        assert_eq!(format!("{mac:?}"), "SecretMac(..)");
    }

    #[test]
    fn token_round_trip_and_tamper() {
        let keys = Keys::from_master(b"0123456789abcdef0123456789abcdef");
        let t = keys
            .sign_token(&Claims::new("u1", 0, TokenKind::Access, 60))
            .unwrap();
        assert_eq!(keys.verify_token(&t).unwrap().sub, "u1");
        let mut forged = t.clone();
        forged.push('x');
        assert!(keys.verify_token(&forged).is_err());
        let other = Keys::from_master(b"another master key of 32 bytes!!");
        assert!(other.verify_token(&t).is_err());
        let expired = keys
            .sign_token(&Claims::new("u1", 0, TokenKind::Access, -1))
            .unwrap();
        assert!(keys.verify_token(&expired).is_err());
    }

    #[test]
    fn tokens_naming_another_algorithm_are_refused() {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine;
        let keys = Keys::from_master(b"0123456789abcdef0123456789abcdef");
        let t = keys
            .sign_token(&Claims::new("u1", 0, TokenKind::Access, 60))
            .unwrap();
        let (_, rest) = t.split_once('.').unwrap();
        let (body, _) = rest.split_once('.').unwrap();
        for alg in ["none", "HS512", "RS256"] {
            let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#));
            assert!(keys.verify_token(&format!("{header}.{body}.")).is_err());
            let resigned = format!("{header}.{}", rest);
            assert!(keys.verify_token(&resigned).is_err(), "{alg}");
        }
    }

    #[test]
    fn replies_verify_only_under_their_own_key() {
        let keys = Keys::from_master(&[7u8; 32]);
        let tag = keys.sign_reply(b"c1|5|salt|u1");
        assert!(keys.verify_reply(b"c1|5|salt|u1", &tag));
        assert!(!keys.verify_reply(b"c1|6|salt|u1", &tag));
        assert!(!keys.verify_reply(b"c1|5|salt|u1", "zz"));
        // Not the secret-hashing key: the same input hashes differently.
        assert_ne!(keys.hash_secret("c1|5|salt|u1"), tag);
    }

    #[test]
    fn secrets_hash_and_verify() {
        let keys = Keys::from_master(b"0123456789abcdef0123456789abcdef");
        let s = generate_secret();
        let h = keys.hash_secret(&s);
        assert_ne!(h, s);
        assert!(keys.verify_secret(s.as_bytes(), &h));
        assert!(!keys.verify_secret(b"wrong", &h));
    }

    #[test]
    fn passwords() {
        let h = hash_password("s3cret-pass").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("s3cret-pass", &h));
        assert!(!verify_password("other", &h));
    }
}
