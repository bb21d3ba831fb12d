//! The platform service object every HTTP handler and the MQTT gate share.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use crate::crypto::Keys;
use crate::error::Result;
use crate::login_throttle::LoginThrottle;
use crate::mail::Mailer;
use crate::mqtt::cache::AccessCache;
pub use crate::mqtt::live_sessions::LiveSessions;
use crate::mqtt::revocation::{AccessChange, Effect, Targets};
use crate::mqtt::throttle::ConnectThrottle;
use crate::reset_throttle::ResetThrottle;
use crate::store::Store;

/// Token lifetimes and where password-reset mail goes.
#[derive(Debug, Clone)]
pub struct PlatformConfig {
    pub access_ttl_secs: i64,
    pub refresh_ttl_secs: i64,
    pub reset_ttl_secs: i64,
    /// Where password-reset mail goes (SMTP, or `.eml` files in the mail dir): the link
    /// carries a secret, so it never goes to the log.
    pub mailer: Mailer,
    /// The base of links in mail (`--public-url`), e.g. `https://iot.example.com`. Set
    /// by the operator, never taken from a request: a reset link pointing at a host
    /// from the (unauthenticated) request would hand the token to whoever chose it.
    pub public_url: String,
    /// Further UI bases (`--ui-host`) a reset request's `Referer` may choose as the
    /// link base instead of `public_url`: SuperMQ's UI names itself that way. Only a
    /// configured base is ever written into a link, never the request's text.
    pub ui_hosts: Vec<String>,
    /// Kaa endpoint events of client changes (`--kaa-events`); `None` = off.
    pub kaa: Option<crate::kaa::KaaSettings>,
    /// Most endpoints one MQTT connection may serve: itself and the devices a gateway
    /// declares (`--kaa-max-endpoints`, with or without Kaa events).
    pub max_endpoints: usize,
    /// `POST /users` without a token creates a plain user (`--allow-self-register`).
    pub allow_self_register: bool,
}

impl Default for PlatformConfig {
    fn default() -> Self {
        PlatformConfig {
            access_ttl_secs: 3600,
            refresh_ttl_secs: 24 * 3600,
            reset_ttl_secs: 900,
            mailer: Mailer::files("data/mail"),
            public_url: "http://127.0.0.1:9000".into(),
            ui_hosts: Vec::new(),
            kaa: None,
            max_endpoints: crate::kaa::DEFAULT_MAX_ENDPOINTS,
            allow_self_register: false,
        }
    }
}

/// Maps the DER of a client certificate (already verified by TLS) to the platform
/// client it was issued to, or `None` (unknown, revoked, expired). Plugged in by the
/// binary from the certs service: auth does not depend on certs.
pub type CertResolver =
    Arc<dyn Fn(Vec<u8>) -> Pin<Box<dyn Future<Output = Option<String>> + Send>> + Send + Sync>;

/// Ends one MQTT session of a client, connected or persisted, because its access
/// shrank: called with (client id, MQTT client id), returns whether there was such a
/// session. Plugged in by the binary from the running broker: auth does not depend on
/// the broker.
pub type SessionEnder = Arc<dyn Fn(&str, &str) -> bool + Send + Sync>;

pub struct Platform {
    pub store: Store,
    pub keys: Keys,
    pub cache: AccessCache,
    /// Cached HTTP authorization decisions (`crate::access`, `crate::roles::cache`).
    pub decisions: crate::roles::cache::DecisionCache,
    /// Verified personal access tokens (`crate::pats::cache`).
    pub pat_cache: crate::pats::PatCache,
    pub sessions: LiveSessions,
    pub login_throttle: LoginThrottle,
    pub reset_throttle: ResetThrottle,
    /// Verification mail per e-mail and per source address (the reset budgets).
    pub verify_throttle: ResetThrottle,
    /// Wrong-secret MQTT CONNECTs per client id and per source address.
    pub connect_throttle: ConnectThrottle,
    pub config: PlatformConfig,
    session_ender: OnceLock<SessionEnder>,
    cert_resolver: OnceLock<CertResolver>,
    /// Access changes applied, by where they were made (`/metrics`).
    applied: AppliedChanges,
}

/// Where an applied access change was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Through this instance's API (or its bootstrap / certs services).
    Local,
    /// On another instance, read from the shared outbox ([`crate::mqtt::remote`]).
    Remote,
}

/// Counts of [`Platform::apply`], so an operator (and the cluster test) sees that every
/// change is applied once per instance: never twice where it was made.
#[derive(Debug, Default)]
struct AppliedChanges {
    local: AtomicU64,
    remote: AtomicU64,
}

impl Platform {
    pub fn new(store: Store, keys: Keys, config: PlatformConfig) -> Platform {
        Platform {
            store,
            keys,
            cache: AccessCache::default(),
            decisions: Default::default(),
            pat_cache: crate::pats::PatCache::default(),
            sessions: LiveSessions::default(),
            login_throttle: LoginThrottle::default(),
            reset_throttle: ResetThrottle::default(),
            verify_throttle: ResetThrottle::default(),
            connect_throttle: ConnectThrottle::default(),
            config,
            session_ender: OnceLock::new(),
            cert_resolver: OnceLock::new(),
            applied: AppliedChanges::default(),
        }
    }

    /// Plugs in the running broker's session ending, so revocations reach live and
    /// persisted sessions.
    pub fn set_session_ender(&self, ender: SessionEnder) {
        let _ = self.session_ender.set(ender);
    }

    /// Plugs in the certificate -> client lookup (the certs service).
    pub fn set_cert_resolver(&self, resolver: CertResolver) {
        let _ = self.cert_resolver.set(resolver);
    }

    /// The client a verified peer certificate identifies, if any.
    pub async fn client_of_certificate(&self, der: &[u8]) -> Option<String> {
        let resolver = self.cert_resolver.get()?;
        resolver(der.to_vec()).await
    }

    /// Access of these clients may have grown: forget what the cache knows.
    pub fn refresh(&self, client_ids: &[String]) {
        for id in client_ids {
            self.cache.invalidate(id);
        }
    }

    /// Access of these clients may have shrunk: forget the cache entries and end their
    /// MQTT sessions (connected or persisted); they are re-checked when they come back.
    pub fn revoke(&self, client_ids: &[String]) {
        for id in client_ids {
            self.cache.invalidate(id);
            let Some(end_session) = self.session_ender.get() else {
                continue;
            };
            // The broker keys sessions by (platform client id, MQTT client id).
            for mqtt_client_id in self.sessions.of(id) {
                if end_session(id, &mqtt_client_id) {
                    tracing::info!(client_id = %id, %mqtt_client_id, "access revoked: session ended");
                }
            }
        }
    }

    /// The clients an access change targets, read now: the connected ones of a channel
    /// from the store, plus those whose cached access names it (after a deletion the
    /// store has forgotten them, the cache has not). Call it before the write that
    /// removes what it reads.
    pub async fn clients_of(&self, targets: &Targets) -> Result<Vec<String>> {
        match targets {
            Targets::Clients(ids) => Ok(ids.clone()),
            Targets::Channel(id) => {
                let mut clients = self.store.channel_client_ids(id).await?;
                for cached in self.cache.clients_using(id) {
                    if !clients.contains(&cached) {
                        clients.push(cached);
                    }
                }
                Ok(clients)
            }
            Targets::Domain(id) => self.store.domain_client_ids(id).await,
        }
    }

    /// Applies `change` to `clients` (resolved by [`Platform::clients_of`]): the one
    /// door through which an event revokes or refreshes access, on the instance that
    /// made it and on every other one.
    pub fn apply(&self, change: &AccessChange, clients: &[String], origin: Origin) {
        match change.effect {
            Effect::Revoke => self.revoke(clients),
            Effect::Refresh => self.refresh(clients),
        }
        let counter = match origin {
            Origin::Local => &self.applied.local,
            Origin::Remote => &self.applied.remote,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Resolves and applies the access change `fields` (an event's) stand for, if any.
    pub async fn apply_event(
        &self,
        fields: &serde_json::Map<String, serde_json::Value>,
        origin: Origin,
    ) -> Result<()> {
        self.pat_cache.forget_event(fields);
        let Some(change) = crate::mqtt::revocation::access_change(fields) else {
            return Ok(());
        };
        let clients = self.clients_of(&change.targets).await?;
        self.apply(&change, &clients, origin);
        Ok(())
    }

    /// Revokes every client connected to `channel_id`.
    pub async fn revoke_channel(&self, channel_id: &str) -> Result<()> {
        let clients = self.store.channel_client_ids(channel_id).await?;
        self.revoke(&clients);
        Ok(())
    }
}

/// The platform's `/metrics` families, read at each scrape: the failed-login table and
/// the MQTT CONNECT throttle, so an operator sees a guessing flood and that memory stays
/// bounded.
pub struct PlatformCollector(pub Arc<Platform>);

impl std::fmt::Debug for PlatformCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PlatformCollector")
    }
}

impl PlatformCollector {
    fn encode_applied(&self, encoder: &mut DescriptorEncoder) -> std::fmt::Result {
        let mut family = encoder.encode_descriptor(
            "magnetite_access_changes_applied",
            "Access changes (revocations and refreshes) applied to the MQTT cache and sessions, by where they were made.",
            None,
            MetricType::Counter,
        )?;
        let applied = &self.0.applied;
        for (origin, n) in [("local", &applied.local), ("remote", &applied.remote)] {
            let counter = ConstCounter::new(n.load(Ordering::Relaxed));
            counter.encode(family.encode_family(&[("origin", origin)])?)?;
        }
        Ok(())
    }
}

impl Collector for PlatformCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let entries = ConstGauge::new(self.0.login_throttle.len() as u64);
        entries.encode(encoder.encode_descriptor(
            "magnetite_login_throttle_entries",
            "Logins with recent failed attempts (bounded).",
            None,
            MetricType::Gauge,
        )?)?;
        let pats = ConstGauge::new(self.0.pat_cache.len() as u64);
        pats.encode(encoder.encode_descriptor(
            "magnetite_pat_cache_entries",
            "Verified personal access tokens held in memory (bounded; unknown tokens never enter).",
            None,
            MetricType::Gauge,
        )?)?;
        self.encode_applied(&mut encoder)?;
        self.0.connect_throttle.encode_metrics(&mut encoder)
    }
}
