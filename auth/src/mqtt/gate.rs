//! The MQTT door of `--auth platform`, in auth's own terms: username = client id,
//! password = client secret (or a certificate we issued); PUBLISH / SUBSCRIBE only on
//! channels the client is connected to for that action.
//!
//! The binary adapts these decisions to the engine's `Hooks` (`src/platform_hooks.rs`);
//! auth itself knows nothing of the broker. Two ids meet here: the *client id* is the
//! platform client (a device) the session authenticated as; the *MQTT client id* is the
//! free text the device sent in CONNECT, which names one of its sessions.

use std::net::IpAddr;
use std::sync::Arc;

use dashmap::DashMap;

use super::routing::{publish_route, subscribe_route, PublishRoute, SubscribeRoute};
use super::sys::{is_sys_filter, sys_subscribe_route};
use super::topic::{parse_publish, parse_subscribe};
use crate::platform::Platform;
use crate::store::connections::ClientAccess;

/// The authenticated platform client behind an MQTT session, held by its connection
/// for its whole life: both ids are the access cache's shared copies (no allocation
/// per connection).
#[derive(Debug, Clone)]
pub struct MqttIdentity {
    /// The platform client id (not the MQTT client id).
    pub client_id: Arc<str>,
    pub domain_id: Arc<str>,
}

/// What a CONNECT offers to prove who it is. The password is borrowed, never stored
/// and never logged.
pub struct MqttLogin<'a> {
    pub username: Option<&'a str>,
    pub password: Option<&'a [u8]>,
    pub peer_ip: IpAddr,
    /// DER of the leaf certificate presented over TLS (already verified by TLS).
    pub peer_certificate: Option<&'a [u8]>,
}

/// Why a CONNECT is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginRefusal {
    /// Unknown client, wrong secret, or no credentials at all.
    BadCredentials,
    /// The client is known but disabled.
    NotAuthorized,
    /// Too many failed attempts for this client id or address: refused unchecked.
    Throttled,
}

/// Decides logins and topic access of MQTT sessions from the store, through the
/// access cache.
#[derive(Clone)]
pub struct MqttGate {
    platform: Arc<Platform>,
    /// (domain, secret hash) -> client id of secrets that named a client. Only a hint:
    /// the login that follows verifies the secret against the client's current access,
    /// so an entry left by a changed secret is refused there (and forgotten).
    secret_owners: Arc<DashMap<String, String>>,
}

/// Secrets remembered by [`MqttGate::login_with_secret`] (bounded: when full, the
/// table is emptied and refills from the store).
const MAX_SECRET_OWNERS: usize = 100_000;

impl MqttGate {
    pub fn new(platform: Arc<Platform>) -> Self {
        MqttGate {
            platform,
            secret_owners: Arc::default(),
        }
    }

    pub(super) fn platform(&self) -> &Platform {
        &self.platform
    }

    /// Who a CONNECT is: a certificate we issued wins; otherwise client id and secret,
    /// throttled per client id and source address.
    pub async fn login(&self, login: MqttLogin<'_>) -> Result<MqttIdentity, LoginRefusal> {
        if let Some(der) = login.peer_certificate {
            if let Some(client_id) = self.platform.client_of_certificate(der).await {
                return self.certificate_login(&client_id, login.username).await;
            }
        }
        let (Some(username), Some(password)) = (login.username, login.password) else {
            return Err(LoginRefusal::BadCredentials);
        };
        let throttle = &self.platform.connect_throttle;
        let Ok(attempt) = throttle.begin(username, login.peer_ip) else {
            return Err(LoginRefusal::Throttled);
        };
        let access = self.access(username).await;
        let Some(access) =
            access.filter(|a| self.platform.keys.verify_secret_mac(password, &a.secret))
        else {
            attempt.failed();
            return Err(LoginRefusal::BadCredentials);
        };
        attempt.succeeded(&access.client_id);
        enabled_identity(&access)
    }

    /// Who an HTTP publish with `Authorization: Client <secret>` is: the client of the
    /// domain `domain` (id or route; `None`: of any domain, it must be the only one)
    /// with that secret, then exactly [`MqttGate::login`]
    /// with its id. A secret that names no client counts against the address (the
    /// same limit as CONNECTs), so a flood of guesses costs a hash-map probe each once
    /// the address is throttled.
    pub async fn login_with_secret(
        &self,
        domain: Option<&str>,
        secret: &str,
        peer_ip: IpAddr,
    ) -> Result<MqttIdentity, LoginRefusal> {
        let throttle = &self.platform.connect_throttle;
        if throttle.check_address(peer_ip).is_err() {
            return Err(LoginRefusal::Throttled);
        }
        let hash = self.platform.keys.hash_secret(secret);
        let key = format!("{}\0{hash}", domain.unwrap_or_default());
        let Some(client_id) = self.secret_owner(&key, domain, &hash).await else {
            throttle.unknown_secret(peer_ip);
            return Err(LoginRefusal::BadCredentials);
        };
        let login = MqttLogin {
            username: Some(&client_id),
            password: Some(secret.as_bytes()),
            peer_ip,
            peer_certificate: None,
        };
        let identity = self.login(login).await;
        if identity.is_err() {
            self.secret_owners.remove(&key);
        }
        identity
    }

    /// The client id `key` (domain NUL secret hash) names, remembered or from the store.
    async fn secret_owner(&self, key: &str, domain: Option<&str>, hash: &str) -> Option<String> {
        if let Some(owner) = self.secret_owners.get(key) {
            return Some(owner.clone());
        }
        match self.platform.store.client_by_secret(domain, hash).await {
            Ok(Some(client_id)) => {
                if self.secret_owners.len() >= MAX_SECRET_OWNERS {
                    self.secret_owners.clear();
                }
                self.secret_owners
                    .insert(key.to_string(), client_id.clone());
                Some(client_id)
            }
            Ok(None) => None,
            Err(err) => {
                tracing::error!(?domain, error = %err, "cannot look up a client by secret");
                None
            }
        }
    }

    /// Where this session's PUBLISH to `topic` goes (refused, as sent, or canonical).
    pub async fn route_publish(&self, identity: &MqttIdentity, topic: &str) -> PublishRoute {
        match self.access(&identity.client_id).await {
            Some(access) => publish_route(&access, parse_publish(topic)),
            None => PublishRoute::Refuse,
        }
    }

    /// Where this session's SUBSCRIBE `filter` goes (refused, as sent, or canonical).
    pub async fn route_subscribe(&self, identity: &MqttIdentity, filter: &str) -> SubscribeRoute {
        match self.access(&identity.client_id).await {
            Some(access) if is_sys_filter(filter) => sys_subscribe_route(&access),
            Some(access) => subscribe_route(&access, filter, parse_subscribe(filter)),
            None => SubscribeRoute::Refuse,
        }
    }

    /// A session of the client started: remembered so a revocation can end it.
    pub fn session_started(&self, identity: &MqttIdentity, mqtt_client_id: &str) {
        self.platform
            .sessions
            .add(&identity.client_id, mqtt_client_id);
    }

    pub fn session_ended(&self, identity: &MqttIdentity, mqtt_client_id: &str) {
        self.platform
            .sessions
            .remove(&identity.client_id, mqtt_client_id);
    }

    /// A client proved by a certificate we issued: no password needed; a username, if
    /// sent, must name the same client.
    async fn certificate_login(
        &self,
        client_id: &str,
        username: Option<&str>,
    ) -> Result<MqttIdentity, LoginRefusal> {
        if username.is_some_and(|u| !u.is_empty() && u != client_id) {
            return Err(LoginRefusal::BadCredentials);
        }
        let Some(access) = self.access(client_id).await else {
            return Err(LoginRefusal::BadCredentials);
        };
        enabled_identity(&access)
    }

    async fn access(&self, client_id: &str) -> Option<Arc<ClientAccess>> {
        match self
            .platform
            .cache
            .get(&self.platform.store, client_id)
            .await
        {
            Ok(access) => access,
            Err(err) => {
                tracing::error!(client_id, error = %err, "cannot load client access");
                None
            }
        }
    }
}

/// The identity of a client whose credentials are proven, unless it is disabled.
fn enabled_identity(access: &ClientAccess) -> Result<MqttIdentity, LoginRefusal> {
    if !access.enabled {
        return Err(LoginRefusal::NotAuthorized);
    }
    Ok(MqttIdentity {
        client_id: Arc::clone(&access.client_id),
        domain_id: Arc::clone(&access.domain_id),
    })
}
