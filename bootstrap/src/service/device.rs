//! The device side: `GET /clients/bootstrap[/secure]/{external_id}` with
//! `Authorization: Client <external key>` (hex of the encrypted key for `secure`).
//!
//! Checks run in this order, each with its own status and nothing changed on failure:
//! external id longer than [`MAX_EXTERNAL_ID_LEN`] 400 (before any work), no `Client`
//! credentials 401, unknown external id 404, malformed encrypted key 400, wrong key 403.
//! After five wrong keys (or unknown-id attempts) in a row for one external id, that id
//! is answered 429 (with `Retry-After`, doubling from 1 s to 5 min) without checking
//! anything until the delay is over; guesses are counted as they start.
//!
//! Every attempt against an existing config, failed or not, records `client.bootstrap`
//! with `success`; the key is never in it (nor in logs or messages). Attempts for
//! external ids that have no config record nothing: they concern no device, and
//! recording them would let anyone without credentials grow the outbox (and every
//! sink's stream) without bound with junk ids. They are counted on `/metrics`
//! (`magnetite_bootstrap_unknown_id_total`) instead. Failed events for real configs stay
//! bounded by the throttle (a handful per config per delay period).

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
        let found = self.store.by_external_id(external_id).await?;
        let outcome = self.authenticate(found.as_ref(), credentials, form);
        match &outcome {
            Ok(_) => attempt.succeeded(),
            // Guesses: a wrong key, or an id that does not exist (the attempt stays
            // counted). Missing or malformed credentials guess nothing.
            Err(BootstrapError::Forbidden(_) | BootstrapError::NotFound(_)) => drop(attempt),
            Err(_) => attempt.not_a_guess(),
        }
        let ev = match (&outcome, found.as_ref()) {
            (Ok(c), _) => Some(bev::client_bootstrap(&c.bootstrap_event(), true)),
            (Err(_), Some(config)) => Some(failed_event(external_id, config)),
            (Err(_), None) => None,
        };
        match ev {
            // An attempt on an existing config is its domain's business.
            Some(ev) => {
                let ev = match &found {
                    Some(c) => ev.in_domain(&c.domain_id),
                    None => ev,
                };
                self.record(&ev).await?
            }
            None => {
                self.unknown_attempts.fetch_add(1, Ordering::Relaxed);
            }
        }
        let config = outcome?;
        tracing::info!(client_id = %config.client_id, external_id, "bootstrap: device bootstrapped");
        self.device_view(config)
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

    /// Credentials against the config (no I/O: the outcome decides the event).
    fn authenticate<'a>(
        &self,
        config: Option<&'a Config>,
        credentials: Option<&str>,
        form: KeyForm,
    ) -> Result<&'a Config> {
        let sent = credentials
            .ok_or_else(|| BootstrapError::Unauthorized("missing Client credentials".into()))?;
        let config = config.ok_or(BootstrapError::NotFound("config"))?;
        let key = match (form, &self.encrypt_key) {
            (KeyForm::Encrypted, Some(k)) => decrypt_external_key(k, sent)?,
            (KeyForm::Encrypted, None) => {
                return Err(BootstrapError::NotConfigured(
                    "secure bootstrap is not configured",
                ))
            }
            (KeyForm::Plain, _) => sent.as_bytes().to_vec(),
        };
        let keys = &self.platform.keys;
        if keys.verify_secret(key.trim_ascii(), &config.external_key_hash) {
            Ok(config)
        } else {
            Err(BootstrapError::Forbidden("invalid external key".into()))
        }
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
