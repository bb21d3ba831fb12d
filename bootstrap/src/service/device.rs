//! The device side: `GET /clients/bootstrap[/secure]/{external_id}` with
//! `Authorization: Client <external key>` (hex of the encrypted key for `secure`).
//!
//! External ids are unique only per domain, so the device is identified by its
//! external id *and* key: the config whose `(external_id, keyed hash of the key)`
//! matches (the store holds that pair unique platform-wide). An unknown external id and
//! a wrong key are the same answer (403), so nobody — another tenant included — learns
//! from this endpoint whether an external id exists.
//!
//! Checks run in this order, each with its own status and nothing changed on failure:
//! external id longer than [`MAX_EXTERNAL_ID_LEN`] 400 (before any work), no `Client`
//! credentials 401, malformed encrypted key 400, no config with this external id and
//! key 403. After five failed attempts in a row for one external id (wrong keys, unknown
//! ids, and config creations naming it — see `manage`), that id is answered 429 (with
//! `Retry-After`, doubling from 1 s to 5 min) without checking anything until the delay
//! is over; guesses are counted as they start.
//!
//! A failed attempt records `client.bootstrap` (`success: false`) in the domain of each
//! config with this external id; the key is never in it (nor in logs or messages).
//! Attempts for external ids that no domain has record nothing: they concern no device,
//! and recording them would let anyone without credentials grow the outbox (and every
//! sink's stream) without bound with junk ids. They are counted on `/metrics`
//! (`magnetite_bootstrap_unknown_id_total`) instead. Failed events for real configs stay
//! bounded by the throttle (a handful per external id per delay period).

use magnetite_events::model::bootstrap as bev;
use magnetite_events::Event;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::Result;
use crate::crypto::{decrypt_external_key, encrypt_cfb};
use crate::error::BootstrapError;
use crate::model::{Channel, Config};
use crate::BootstrapService;

/// At most this many `client.bootstrap` failure events per attempt (one per domain
/// with a config of the external id): a bound on one request's writes.
const MAX_FAILURE_EVENTS: i64 = 16;

/// How the device sent its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyForm {
    /// In clear.
    Plain,
    /// AES-256-CFB encrypted, hex (see [`crate::crypto`]).
    Encrypted,
}

/// The longest external id accepted (what config creation allows, see `manage`):
/// longer ones are refused before any lookup or bookkeeping.
pub const MAX_EXTERNAL_ID_LEN: usize = 1024;

/// `client.bootstrap` with `success: false` for an existing config: the external id and
/// the client id; nothing of what the device sent.
fn failed_event(external_id: &str, config: &Config) -> Event {
    let snapshot = bev::Config {
        client_id: config.client_id.clone(),
        external_id: Some(external_id.to_string()),
        ..Default::default()
    };
    bev::client_bootstrap(&snapshot, false)
}

impl BootstrapService {
    /// Checks the device's credentials and returns what it needs as JSON.
    pub async fn bootstrap(
        &self,
        external_id: &str,
        credentials: Option<&str>,
        form: KeyForm,
    ) -> Result<Value> {
        if form == KeyForm::Encrypted && self.encrypt_key.is_none() {
            return Err(BootstrapError::NotConfigured(
                "secure bootstrap is not configured (MAGNETITE_BOOTSTRAP_ENCRYPT_KEY)",
            ));
        }
        if external_id.len() > MAX_EXTERNAL_ID_LEN {
            return Err(BootstrapError::bad_request(format!(
                "external_id is longer than {MAX_EXTERNAL_ID_LEN} bytes"
            )));
        }
        let attempt = self.attempts.begin(external_id, Instant::now())?;
        let outcome = self.authenticate(external_id, credentials, form).await;
        match &outcome {
            Ok(_) => attempt.succeeded(),
            // Guesses: a wrong key or an unknown id (the attempt stays counted). Missing
            // or malformed credentials guess nothing.
            Err(BootstrapError::Forbidden(_)) => drop(attempt),
            Err(_) => attempt.not_a_guess(),
        }
        let config = match outcome {
            Ok(c) => c,
            Err(e) => {
                self.record_failure(external_id).await?;
                return Err(e);
            }
        };
        let ev = bev::client_bootstrap(&config.bootstrap_event(), true);
        self.record(&ev.in_domain(&config.domain_id)).await?;
        tracing::info!(client_id = %config.client_id, external_id, "bootstrap: device bootstrapped");
        self.device_view(&config)
    }

    /// A failed attempt is the business of every domain with a config of this external
    /// id (each sees its own config's client id, never the others'); with none it is
    /// only counted (see the module doc). One commit whatever the number,
    /// so the answer takes no longer when more domains use the id.
    async fn record_failure(&self, external_id: &str) -> Result<()> {
        let named = self
            .store
            .with_external_id(external_id, MAX_FAILURE_EVENTS)
            .await?;
        if named.is_empty() {
            self.unknown_attempts.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        let events: Vec<Event> = named
            .iter()
            .map(|c| failed_event(external_id, c).in_domain(&c.domain_id))
            .collect();
        self.store.record_all(&events).await
    }

    /// The encrypted variant: `IV || AES-256-CFB(json)`.
    pub async fn bootstrap_secure(
        &self,
        external_id: &str,
        credentials: Option<&str>,
    ) -> Result<Vec<u8>> {
        let body = self
            .bootstrap(external_id, credentials, KeyForm::Encrypted)
            .await?;
        let key = self
            .encrypt_key
            .as_ref()
            .ok_or(BootstrapError::NotConfigured(
                "secure bootstrap is not configured",
            ))?;
        Ok(encrypt_cfb(key, body.to_string().as_bytes()))
    }

    /// The config whose external id and key the device sent, or 403 (unknown id and
    /// wrong key alike). The store matches on the keyed hash of the key; the stored
    /// hash is then verified in constant time, so the decision never rests on the
    /// database's string comparison.
    async fn authenticate(
        &self,
        external_id: &str,
        credentials: Option<&str>,
        form: KeyForm,
    ) -> Result<Config> {
        let sent = credentials
            .ok_or_else(|| BootstrapError::Unauthorized("missing Client credentials".into()))?;
        let key = match (form, &self.encrypt_key) {
            (KeyForm::Encrypted, Some(k)) => decrypt_external_key(k, sent)?,
            (KeyForm::Encrypted, None) => {
                return Err(BootstrapError::NotConfigured(
                    "secure bootstrap is not configured",
                ))
            }
            (KeyForm::Plain, _) => sent.as_bytes().to_vec(),
        };
        let refused = || BootstrapError::Forbidden("invalid external id or external key".into());
        // Keys are stored as the hash of the trimmed text they were created with; bytes
        // that are not text match no config.
        let Ok(key) = std::str::from_utf8(&key).map(str::trim) else {
            return Err(refused());
        };
        let keys = &self.platform.keys;
        let found = self
            .store
            .by_external_key(external_id, &keys.hash_secret(key))
            .await?;
        found
            .filter(|c| keys.verify_secret(key.as_bytes(), &c.external_key_hash))
            .ok_or_else(refused)
    }

    /// `{client_id, client_secret, channels, content, client_cert, client_key, ca_cert}`.
    fn device_view(&self, c: &Config) -> Result<Value> {
        let secret = self.storage.open(&c.client_id, &c.client_secret_sealed)?;
        let key = self.storage.open(&c.client_id, &c.client_key_sealed)?;
        Ok(json!({
            "client_id": c.client_id,
            "client_secret": secret,
            "channels": c.channels.iter().map(Channel::to_json).collect::<Vec<_>>(),
            "content": c.content,
            "client_cert": c.client_cert,
            "client_key": key,
            "ca_cert": c.ca_cert,
        }))
    }
}
