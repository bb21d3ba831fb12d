//! Settings that come from the environment only: secrets (never flags, so they stay out
//! of `ps` and shell history; never TOML keys, so they stay out of config files that get
//! copied around) and the first-start admin e-mail that goes with the admin password.
//!
//! This is the one place the process reads its `MAGNETITE_*` secrets. They are held as
//! [`SecretString`], whose `Debug` prints `[REDACTED]`, so a settings dump in a log or a
//! panic message shows that a secret is set, never what it is.

use std::path::Path;

use anyhow::Context;
use magnetite_auth::crypto::Keys;
use secrecy::{ExposeSecret, SecretString};

/// The environment-only settings, read once when the command line is parsed.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    /// `MAGNETITE_AUTH_KEY`: master key for token signing and client-secret hashing.
    pub auth_key: Option<SecretString>,
    /// `MAGNETITE_ADMIN_EMAIL`: the platform admin created on the first start.
    pub admin_email: Option<String>,
    /// `MAGNETITE_ADMIN_PASSWORD`: that admin's password.
    pub admin_password: Option<SecretString>,
    /// `MAGNETITE_CA_KEY_PASSPHRASE`: encrypts the platform CA key at rest.
    pub ca_key_passphrase: Option<SecretString>,
    /// `MAGNETITE_BOOTSTRAP_ENCRYPT_KEY`: AES key (hex) of secure bootstrap.
    pub bootstrap_encrypt_key: Option<SecretString>,
}

impl Secrets {
    /// Reads the variables; an unset, empty or non-UTF-8 variable counts as not set.
    pub fn from_env() -> Secrets {
        Secrets {
            auth_key: secret("MAGNETITE_AUTH_KEY"),
            admin_email: var("MAGNETITE_ADMIN_EMAIL"),
            admin_password: secret("MAGNETITE_ADMIN_PASSWORD"),
            ca_key_passphrase: secret("MAGNETITE_CA_KEY_PASSPHRASE"),
            bootstrap_encrypt_key: secret("MAGNETITE_BOOTSTRAP_ENCRYPT_KEY"),
        }
    }

    /// Auth's keys: from `MAGNETITE_AUTH_KEY`, else the key file in the data dir
    /// (created on first start). `serve` and `magnetite certs` both come here, so
    /// both hash client secrets and sign tokens with the same key.
    pub fn auth_keys(&self, data_dir: &Path) -> anyhow::Result<Keys> {
        match &self.auth_key {
            Some(key) => Ok(Keys::from_master(key.expose_secret().trim().as_bytes())),
            None => {
                let path = data_dir.join("auth.key");
                Keys::load_or_create(&path).with_context(|| format!("auth key {}", path.display()))
            }
        }
    }
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

fn secret(name: &str) -> Option<SecretString> {
    var(name).map(SecretString::from)
}

/// Clap value parser for a secret given as a setting (e.g. `--smtp-url`, whose URL may
/// carry a password).
pub fn parse_secret(text: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_a_secret() {
        let secrets = Secrets {
            auth_key: Some(SecretString::from("auth-key-value")),
            admin_password: Some(SecretString::from("admin-password-value")),
            ca_key_passphrase: Some(SecretString::from("ca-passphrase-value")),
            bootstrap_encrypt_key: Some(SecretString::from("encrypt-key-value")),
            admin_email: Some("admin@example.com".into()),
        };
        let shown = format!("{secrets:?}");
        for value in [
            "auth-key-value",
            "admin-password-value",
            "ca-passphrase-value",
            "encrypt-key-value",
        ] {
            assert!(!shown.contains(value), "{shown}");
        }
        assert!(shown.contains("admin@example.com"), "{shown}");
    }
}
