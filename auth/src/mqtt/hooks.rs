//! `Hooks` for `--auth platform`: username = client id, password = client secret;
//! PUBLISH / SUBSCRIBE only on channels the client is connected to for that action.

use magnetite_broker::hooks::{
    AuthDecision, ConnectInfo, ConnectRefusal, DisconnectReason, FilterVerdict, Hooks, TopicVerdict,
};
use std::sync::Arc;

use super::routing::{publish_verdict, subscribe_verdict};
use super::topic::{parse_publish, parse_subscribe};
use crate::platform::Platform;
use crate::store::connections::ClientAccess;

/// The authenticated platform client behind an MQTT session.
#[derive(Debug, Clone)]
pub struct MqttIdentity {
    pub client_id: String,
    pub domain_id: String,
}

#[derive(Clone)]
pub struct PlatformHooks {
    platform: Arc<Platform>,
}

impl PlatformHooks {
    pub fn new(platform: Arc<Platform>) -> Self {
        PlatformHooks { platform }
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

impl PlatformHooks {
    /// A client proved by a certificate we issued: no password needed; a username, if
    /// sent, must name the same client.
    async fn certificate_login(
        &self,
        client_id: &str,
        username: Option<&str>,
    ) -> AuthDecision<MqttIdentity> {
        if username.is_some_and(|u| !u.is_empty() && u != client_id) {
            return AuthDecision::Refuse(ConnectRefusal::BadCredentials);
        }
        let Some(access) = self.access(client_id).await else {
            return AuthDecision::Refuse(ConnectRefusal::BadCredentials);
        };
        if !access.enabled {
            return AuthDecision::Refuse(ConnectRefusal::NotAuthorized);
        }
        AuthDecision::Allow(MqttIdentity {
            client_id: access.client_id.clone(),
            domain_id: access.domain_id.clone(),
        })
    }
}

impl Hooks for PlatformHooks {
    type Identity = MqttIdentity;

    async fn authenticate(&self, info: ConnectInfo<'_>) -> AuthDecision<MqttIdentity> {
        if let Some(der) = info.peer_certificate {
            if let Some(client_id) = self.platform.client_of_certificate(der).await {
                return self.certificate_login(&client_id, info.username).await;
            }
        }
        let (Some(username), Some(password)) = (info.username, info.password) else {
            return AuthDecision::Refuse(ConnectRefusal::BadCredentials);
        };
        let throttle = &self.platform.connect_throttle;
        let Ok(attempt) = throttle.begin(username, info.peer_addr.ip()) else {
            return AuthDecision::Refuse(ConnectRefusal::Throttled);
        };
        let access = self.access(username).await;
        let Some(access) =
            access.filter(|a| self.platform.keys.verify_secret(password, &a.secret_hash))
        else {
            attempt.failed();
            return AuthDecision::Refuse(ConnectRefusal::BadCredentials);
        };
        attempt.succeeded(username);
        if !access.enabled {
            return AuthDecision::Refuse(ConnectRefusal::NotAuthorized);
        }
        AuthDecision::Allow(MqttIdentity {
            client_id: access.client_id.clone(),
            domain_id: access.domain_id.clone(),
        })
    }

    async fn authorize_publish(
        &self,
        identity: &MqttIdentity,
        _: &str,
        topic: &str,
    ) -> TopicVerdict {
        match self.access(&identity.client_id).await {
            Some(access) => publish_verdict(&access, parse_publish(topic)),
            None => TopicVerdict::Refuse,
        }
    }

    async fn authorize_subscribe(
        &self,
        identity: &MqttIdentity,
        _: &str,
        filter: &str,
    ) -> FilterVerdict {
        match self.access(&identity.client_id).await {
            Some(access) => subscribe_verdict(&access, filter, parse_subscribe(filter)),
            None => FilterVerdict::Refuse,
        }
    }

    /// The platform client id: globally unique, so a device's MQTT client id (free text
    /// it chooses) can never reach another client's session.
    fn session_namespace<'a>(&self, identity: &'a MqttIdentity) -> &'a str {
        &identity.client_id
    }

    fn on_connect(&self, identity: &MqttIdentity, session_id: &str) {
        self.platform.sessions.add(&identity.client_id, session_id);
    }

    fn on_disconnect(&self, identity: &MqttIdentity, session_id: &str, _: DisconnectReason) {
        self.platform
            .sessions
            .remove(&identity.client_id, session_id);
    }
}
