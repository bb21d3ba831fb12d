//! Which platform clients one MQTT connection serves: its own client and, for a
//! gateway, the devices it declares behind it. This is the one door for that
//! declaration: Kaa connectivity events use it (a gateway's disconnect lists every
//! endpoint it served), and so do the journal's `mqtt.endpoint_declare` /
//! `mqtt.endpoint_undeclare` entries of the gateway and of each device.
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
//! # Undeclaring it
//!
//! When the device leaves, the gateway PUBLISHes to `$magnetite/endpoints/<client
//! id>/gone` ([`UNDECLARE_SUFFIX`]; any QoS, any payload, so a plain `mosquitto_pub -n`
//! does it). It is accepted only for an id this very connection declared: that one
//! gateway, so the same domain, and never the connection's own client. A device served
//! by another gateway, or by another session of the same gateway, stays served. The
//! ids in the topic are one plain level, so the suffix cannot be mistaken for an id
//! (an id with `/` was always refused).
//!
//! Anything else is ignored: logged and counted, never put into an event. Refusals cost
//! no database read for a non-gateway or an undeclaration, and a connection stops
//! looking ids up after as many refusals as it may serve endpoints.

use std::collections::BTreeMap;

use super::gate::{MqttGate, MqttIdentity};
use crate::model::{Entity, Kind, Status};

/// Topic prefix of a declaration; the rest of the topic is the declared client id.
pub const DECLARE_PREFIX: &str = "$magnetite/endpoints/";
/// Topic suffix (after the client id) of an undeclaration.
pub const UNDECLARE_SUFFIX: &str = "/gone";
/// The client metadata key that marks a gateway (`true`).
pub const GATEWAY_FLAG: &str = "gateway";
/// Longest declared id looked up.
const MAX_ID_LEN: usize = 255;

/// What a PUBLISH under [`DECLARE_PREFIX`] asks for; the id may still be malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointRequest<'a> {
    /// `$magnetite/endpoints/<id>`: the gateway serves `id` from now on.
    Declare(&'a str),
    /// `$magnetite/endpoints/<id>/gone`: it no longer does.
    Undeclare(&'a str),
}

impl EndpointRequest<'_> {
    /// The request `topic` makes, `None` when it is no endpoint topic.
    pub fn parse(topic: &str) -> Option<EndpointRequest<'_>> {
        let rest = topic.strip_prefix(DECLARE_PREFIX)?;
        Some(match rest.strip_suffix(UNDECLARE_SUFFIX) {
            Some(id) => EndpointRequest::Undeclare(id),
            None => EndpointRequest::Declare(rest),
        })
    }
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
    /// An undeclaration of an id this connection does not serve as a declared device
    /// (never declared here, or its own client).
    NotDeclared,
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
            Refusal::NotDeclared => "not a device this connection declared",
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
    /// The connection's own client: served until the session ends, never undeclared.
    own: String,
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
            own: id.to_string(),
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

    /// The connection's own client id.
    pub fn own_id(&self) -> &str {
        &self.own
    }

    /// The checks that need no database.
    pub fn precheck(&self, id: &str) -> Precheck {
        if let Err(why) = self.well_formed_from_gateway(id) {
            return Precheck::Refused(why);
        }
        if self.endpoints.contains_key(id) {
            return Precheck::AlreadyServed;
        }
        if self.endpoints.len() >= self.max || self.refused >= self.max {
            return Precheck::Refused(Refusal::LimitReached);
        }
        Precheck::Lookup
    }

    /// A gateway names a well-formed id (the checks shared by both requests).
    fn well_formed_from_gateway(&self, id: &str) -> Result<(), Refusal> {
        if !self.gateway {
            return Err(Refusal::NotAGateway);
        }
        let malformed = id.is_empty()
            || id.len() > MAX_ID_LEN
            || id.contains(['/', '+', '#'])
            || id.chars().any(char::is_control);
        if malformed {
            return Err(Refusal::Malformed);
        }
        Ok(())
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

    /// Removes a device this connection declared (no database needed: only ids
    /// accepted here can be removed). `Some` with the endpoint to announce as
    /// disconnected when the session has started (before it, its declaration was never
    /// announced either).
    pub fn remove(&mut self, id: &str) -> Result<Option<BTreeMap<String, String>>, Refusal> {
        self.well_formed_from_gateway(id)?;
        if id == self.own {
            return Err(Refusal::NotDeclared);
        }
        let version = self.endpoints.remove(id).ok_or(Refusal::NotDeclared)?;
        Ok(self
            .connected
            .then(|| BTreeMap::from([(id.to_string(), version)])))
    }
}

impl MqttGate {
    /// What a connection serves: its own client, its app version (empty without Kaa
    /// events) and whether it is a gateway. `None` when the client cannot be read.
    pub async fn served_endpoints(&self, identity: &MqttIdentity) -> Option<ServedEndpoints> {
        let config = &self.platform().config;
        let own = self.client(identity, &identity.client_id).await.ok()?;
        let gateway = own.metadata.get(GATEWAY_FLAG) == Some(&serde_json::Value::Bool(true));
        let version = config.kaa.as_ref().map(|k| k.app_version(&own));
        Some(ServedEndpoints::new(
            &own.id,
            version.unwrap_or_default(),
            gateway,
            config.max_endpoints,
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
    fn requests_are_recognised_by_prefix_and_suffix() {
        use EndpointRequest::{Declare, Undeclare};
        let parse = EndpointRequest::parse;
        assert_eq!(parse("$magnetite/endpoints/abc"), Some(Declare("abc")));
        assert_eq!(parse("$magnetite/endpoints/"), Some(Declare("")));
        assert_eq!(
            parse("$magnetite/endpoints/abc/gone"),
            Some(Undeclare("abc"))
        );
        assert_eq!(parse("$magnetite/endpoints/gone"), Some(Declare("gone")));
        assert_eq!(parse("$magnetite/endpoints//gone"), Some(Undeclare("")));
        assert_eq!(
            parse("$magnetite/endpoints/a/b/gone"),
            Some(Undeclare("a/b"))
        );
        assert_eq!(
            parse("$magnetite/endpoints/a/gone/x"),
            Some(Declare("a/gone/x"))
        );
        assert_eq!(parse("m/d/c/ch"), None);
    }

    #[test]
    fn only_a_device_this_connection_declared_is_undeclared() {
        let mut device = ServedEndpoints::new("d", "1".into(), false, 10);
        assert_eq!(device.remove("d"), Err(Refusal::NotAGateway));
        let mut gw = ServedEndpoints::new("gw", "1".into(), true, 10);
        assert_eq!(gw.add("d1", "v".into()), None, "before the session starts");
        assert_eq!(
            gw.remove("d1"),
            Ok(None),
            "never announced, nothing to announce"
        );
        gw.connected();
        gw.add("d1", "v".into());
        assert_eq!(gw.remove("gw"), Err(Refusal::NotDeclared), "its own client");
        assert_eq!(gw.remove("d2"), Err(Refusal::NotDeclared), "never declared");
        assert_eq!(gw.remove("a/b"), Err(Refusal::Malformed));
        let gone = BTreeMap::from([("d1".to_string(), "v".to_string())]);
        assert_eq!(gw.remove("d1"), Ok(Some(gone)));
        assert_eq!(gw.remove("d1"), Err(Refusal::NotDeclared), "once");
        assert_eq!(gw.precheck("d1"), Precheck::Lookup, "it may come back");
        assert_eq!(gw.disconnected().keys().collect::<Vec<_>>(), ["gw"]);
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
