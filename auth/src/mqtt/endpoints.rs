//! Which platform clients one MQTT connection serves: its own client and, for a
//! gateway, the devices it declares behind it. This is the one door for that
//! declaration: Kaa connectivity events use it now (a gateway's disconnect lists every
//! endpoint it served), the bridge of issue 19 and the journal are meant to reuse it.
//!
//! # Declaring a device
//!
//! A gateway PUBLISHes (any QoS, any payload, MQTT 3.1.1 or 5.0) to
//! `$magnetite/endpoints/<client id>` ([`DECLARE_PREFIX`]). The message reaches no
//! subscriber. The declaration is accepted only when
//! - the connection's own client is a gateway: its metadata has `"gateway": true`
//!   ([`GATEWAY_FLAG`], set by a domain admin through the API; a device cannot set it);
//! - the declared id is an enabled client of the gateway's own domain (another domain's
//!   client and an unknown id are refused alike);
//! - the connection serves fewer than `--kaa-max-endpoints` endpoints (itself included).
//!
//! Anything else is ignored: logged and counted, never put into an event. Refusals cost
//! no database read for a non-gateway, and a connection stops looking ids up after as
//! many refusals as it may serve endpoints.

use std::collections::BTreeMap;

use super::gate::{MqttGate, MqttIdentity};
use crate::model::{Entity, Kind, Status};

/// Topic prefix of a declaration; the rest of the topic is the declared client id.
pub const DECLARE_PREFIX: &str = "$magnetite/endpoints/";
/// The client metadata key that marks a gateway (`true`).
pub const GATEWAY_FLAG: &str = "gateway";
/// Longest declared id looked up.
const MAX_ID_LEN: usize = 255;

/// The declared id when `topic` is a declaration (it may still be malformed).
pub fn declared_id(topic: &str) -> Option<&str> {
    topic.strip_prefix(DECLARE_PREFIX)
}

/// Why a declaration was ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The declaring client is not marked as a gateway.
    NotAGateway,
    /// Empty, too long, or with `/`, `+`, `#`.
    Malformed,
    /// No client with that id in the gateway's domain.
    Unknown,
    /// The client is disabled.
    Disabled,
    /// The connection already serves `--kaa-max-endpoints` endpoints, or was refused
    /// that many times.
    LimitReached,
}

impl Refusal {
    /// For logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::NotAGateway => "the client is not a gateway",
            Refusal::Malformed => "malformed client id",
            Refusal::Unknown => "no such client in the gateway's domain",
            Refusal::Disabled => "the client is disabled",
            Refusal::LimitReached => "endpoint limit of the connection reached",
        }
    }
}

/// What to do with a declaration before any lookup ([`ServedEndpoints::precheck`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precheck {
    /// Look the id up ([`MqttGate::declared_endpoint`]).
    Lookup,
    /// Served already: nothing to do.
    AlreadyServed,
    /// Ignored without a lookup.
    Refused(Refusal),
}

/// The endpoints one connection serves (id -> app version), bounded.
#[derive(Debug, Clone)]
pub struct ServedEndpoints {
    gateway: bool,
    max: usize,
    refused: usize,
    connected: bool,
    endpoints: BTreeMap<String, String>,
}

impl ServedEndpoints {
    /// A connection serving only its own client `id` (at app version `version`).
    pub fn new(id: &str, version: String, gateway: bool, max: usize) -> ServedEndpoints {
        ServedEndpoints {
            gateway,
            max: max.max(1),
            refused: 0,
            connected: false,
            endpoints: BTreeMap::from([(id.to_string(), version)]),
        }
    }

    /// Every endpoint served, the connection's own client included.
    pub fn endpoints(&self) -> &BTreeMap<String, String> {
        &self.endpoints
    }

    /// Marks the session as started: the endpoints to announce as connected now (the
    /// own client and any declared before, e.g. by a will at CONNECT).
    pub fn connected(&mut self) -> BTreeMap<String, String> {
        self.connected = true;
        self.endpoints.clone()
    }

    /// Marks the session as ended: every endpoint served, to announce as disconnected.
    pub fn disconnected(&mut self) -> BTreeMap<String, String> {
        self.connected = false;
        std::mem::take(&mut self.endpoints)
    }

    /// The checks that need no database.
    pub fn precheck(&self, id: &str) -> Precheck {
        if !self.gateway {
            return Precheck::Refused(Refusal::NotAGateway);
        }
        let malformed = id.is_empty()
            || id.len() > MAX_ID_LEN
            || id.contains(['/', '+', '#'])
            || id.chars().any(char::is_control);
        if malformed {
            return Precheck::Refused(Refusal::Malformed);
        }
        if self.endpoints.contains_key(id) {
            return Precheck::AlreadyServed;
        }
        if self.endpoints.len() >= self.max || self.refused >= self.max {
            return Precheck::Refused(Refusal::LimitReached);
        }
        Precheck::Lookup
    }

    /// Counts a refusal; `true` for the first one of the connection (log it loudly).
    pub fn refused(&mut self) -> bool {
        self.refused += 1;
        self.refused == 1
    }

    /// Adds a looked-up endpoint. `Some` with the endpoint to announce as connected when
    /// it is new and the session has started; `None` when it was already served, the
    /// limit was reached meanwhile, or the session has not started yet (then
    /// [`ServedEndpoints::connected`] announces it).
    pub fn add(&mut self, id: &str, version: String) -> Option<BTreeMap<String, String>> {
        if self.endpoints.contains_key(id) || self.endpoints.len() >= self.max {
            return None;
        }
        self.endpoints.insert(id.to_string(), version.clone());
        self.connected
            .then(|| BTreeMap::from([(id.to_string(), version)]))
    }
}

impl MqttGate {
    /// What a new connection serves: its own client, its app version and whether it is
    /// a gateway. `None` when Kaa events are off or the client cannot be read.
    pub async fn served_endpoints(&self, identity: &MqttIdentity) -> Option<ServedEndpoints> {
        let kaa = self.platform().config.kaa.as_ref()?;
        let own = self.client(identity, &identity.client_id).await.ok()?;
        let gateway = own.metadata.get(GATEWAY_FLAG) == Some(&serde_json::Value::Bool(true));
        Some(ServedEndpoints::new(
            &own.id,
            kaa.app_version(&own),
            gateway,
            kaa.max_endpoints,
        ))
    }

    /// The app version of `endpoint_id` if the gateway `identity` may declare it: an
    /// enabled client of its own domain.
    pub async fn declared_endpoint(
        &self,
        identity: &MqttIdentity,
        endpoint_id: &str,
    ) -> Result<String, Refusal> {
        let kaa = self.platform().config.kaa.as_ref();
        let client = self.client(identity, endpoint_id).await?;
        if client.status != Status::Enabled {
            return Err(Refusal::Disabled);
        }
        Ok(kaa.map(|k| k.app_version(&client)).unwrap_or_default())
    }

    /// A client of the identity's domain (by id only: clients have no route).
    async fn client(&self, identity: &MqttIdentity, id: &str) -> Result<Entity, Refusal> {
        let store = &self.platform().store;
        match store.entity(Kind::Client, &identity.domain_id, id).await {
            Ok(e) if e.id == id => Ok(e),
            Ok(_) => Err(Refusal::Unknown),
            Err(crate::AuthError::NotFound(_)) => Err(Refusal::Unknown),
            Err(e) => {
                tracing::warn!(error = %e, "kaa: endpoint lookup failed");
                Err(Refusal::Unknown)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declarations_are_recognised_by_prefix() {
        assert_eq!(declared_id("$magnetite/endpoints/abc"), Some("abc"));
        assert_eq!(declared_id("$magnetite/endpoints/"), Some(""));
        assert_eq!(declared_id("m/d/c/ch"), None);
    }

    #[test]
    fn only_a_gateway_declares_and_only_well_formed_ids() {
        let device = ServedEndpoints::new("d", "1".into(), false, 10);
        assert_eq!(
            device.precheck("x"),
            Precheck::Refused(Refusal::NotAGateway)
        );
        let gw = ServedEndpoints::new("gw", "1".into(), true, 10);
        for bad in ["", "a/b", "+", "#", "a\n", &"x".repeat(256)] {
            assert_eq!(
                gw.precheck(bad),
                Precheck::Refused(Refusal::Malformed),
                "{bad:?}"
            );
        }
        assert_eq!(gw.precheck("gw"), Precheck::AlreadyServed);
        assert_eq!(gw.precheck("d1"), Precheck::Lookup);
    }

    #[test]
    fn the_endpoint_count_and_refusals_are_bounded() {
        let mut gw = ServedEndpoints::new("gw", "1".into(), true, 3);
        gw.connected();
        assert!(gw.add("d1", "v".into()).is_some());
        assert!(gw.add("d2", "v".into()).is_some());
        assert_eq!(gw.precheck("d3"), Precheck::Refused(Refusal::LimitReached));
        assert_eq!(gw.add("d3", "v".into()), None);
        let mut noisy = ServedEndpoints::new("gw", "1".into(), true, 2);
        assert!(noisy.refused());
        assert!(!noisy.refused());
        assert_eq!(
            noisy.precheck("d1"),
            Precheck::Refused(Refusal::LimitReached)
        );
    }

    #[test]
    fn declared_before_the_session_starts_is_announced_with_it() {
        let mut gw = ServedEndpoints::new("gw", "1".into(), true, 10);
        assert_eq!(gw.add("d1", "v".into()), None);
        let first = gw.connected();
        assert_eq!(first.keys().collect::<Vec<_>>(), ["d1", "gw"]);
        assert_eq!(
            gw.add("d2", "2".into()),
            Some(BTreeMap::from([("d2".to_string(), "2".to_string())]))
        );
        assert_eq!(gw.add("d2", "2".into()), None);
        let all = gw.disconnected();
        assert_eq!(all.len(), 3);
        assert!(gw.endpoints().is_empty());
    }
}
