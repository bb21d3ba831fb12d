//! Wrong-secret CONNECTs, throttled per platform client id and per source address.
//!
//! - Per client id (the MQTT username): the login policy (5 failures in a row, then 1 s
//!   doubling to 5 min), counted as the attempt starts. While a client id is throttled,
//!   its CONNECTs are refused (5.0 CONNACK 0x9F connection rate exceeded, 3.1.1 0x05 not
//!   authorized) before any lookup or verification: a flood costs a hash-map probe.
//!   One exception keeps the real device online under such a flood: the source address
//!   that last logged in successfully as that client id is still checked normally
//!   (an attacker cannot send from it over TCP without owning it).
//! - Per source address (IPv4 address, IPv6 /64): [`ADDRESS_POLICY`], a volume bound on
//!   failures from one place, also for spraying many client ids. Successes do not clear
//!   it (one valid device must not launder an address's guesses), quiet addresses are
//!   forgotten after two minutes, and only failures count, so a fleet behind one NAT
//!   reconnecting at once is not slowed unless it fails.
//!
//! Both tables are [`LoginThrottle`]s: fixed-size keys, hard entry caps.

use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;

use crate::login_throttle::{Attempt, LoginThrottle, ThrottlePolicy};

/// Per source address: 30 failures, then 1 s doubling to 1 min; forgotten after 2 min.
pub const ADDRESS_POLICY: ThrottlePolicy = ThrottlePolicy {
    free_failures: 30,
    max_delay: Duration::from_secs(60),
    forget_after: Duration::from_secs(120),
    max_entries: 100_000,
};

/// Client ids whose last good address is remembered (bounded; arbitrary eviction only
/// loses an exemption).
const MAX_TRUSTED: usize = 100_000;

/// Which limit refused a CONNECT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttled {
    ClientId,
    Address,
}

#[derive(Debug)]
pub struct ConnectThrottle {
    by_client: LoginThrottle,
    by_address: LoginThrottle,
    /// Client id -> the address of its last successful password login. Keyed by the
    /// access cache's copy of the id: one entry per connected client, no string of its
    /// own.
    trusted: DashMap<Arc<str>, IpAddr>,
    failures: AtomicU64,
    refused_client: AtomicU64,
    refused_address: AtomicU64,
}

impl Default for ConnectThrottle {
    fn default() -> Self {
        ConnectThrottle::new(ThrottlePolicy::LOGIN, ADDRESS_POLICY)
    }
}

/// A CONNECT being checked, counted against its client id already.
#[must_use]
pub struct ConnectAttempt<'a> {
    throttle: &'a ConnectThrottle,
    client: Option<Attempt<'a>>,
    address: IpAddr,
}

impl ConnectAttempt<'_> {
    /// The secret was right: clear the client id, trust this address for it.
    pub fn succeeded(self, client_id: &Arc<str>) {
        if let Some(a) = self.client {
            a.succeeded();
        }
        self.throttle.trust(client_id, self.address);
    }

    /// Wrong secret or unknown client id: stays counted for the id; counted for the address.
    pub fn failed(self) {
        let t = self.throttle;
        t.failures.fetch_add(1, Ordering::Relaxed);
        t.by_address
            .failed(&address_key(self.address), Instant::now());
    }
}

impl ConnectThrottle {
    pub fn new(client: ThrottlePolicy, address: ThrottlePolicy) -> Self {
        ConnectThrottle {
            by_client: LoginThrottle::new(client),
            by_address: LoginThrottle::new(address),
            trusted: DashMap::new(),
            failures: AtomicU64::new(0),
            refused_client: AtomicU64::new(0),
            refused_address: AtomicU64::new(0),
        }
    }

    /// Admits a password CONNECT for `client_id` from `peer`, or says which limit refuses it.
    pub fn begin(&self, client_id: &str, peer: IpAddr) -> Result<ConnectAttempt<'_>, Throttled> {
        let now = Instant::now();
        if self.by_address.check(&address_key(peer), now).is_err() {
            self.refused_address.fetch_add(1, Ordering::Relaxed);
            return Err(Throttled::Address);
        }
        let client = match self.by_client.begin(client_id, now) {
            Ok(attempt) => Some(attempt),
            Err(_) if self.is_trusted(client_id, peer) => None,
            Err(_) => {
                self.refused_client.fetch_add(1, Ordering::Relaxed);
                return Err(Throttled::ClientId);
            }
        };
        Ok(ConnectAttempt {
            throttle: self,
            client,
            address: peer,
        })
    }

    /// Admits a login that names no client id yet (HTTP `Client <secret>`) from `peer`
    /// by the address limit alone; [`ConnectThrottle::unknown_secret`] counts its failure.
    pub fn check_address(&self, peer: IpAddr) -> Result<(), Throttled> {
        if self
            .by_address
            .check(&address_key(peer), Instant::now())
            .is_err()
        {
            self.refused_address.fetch_add(1, Ordering::Relaxed);
            return Err(Throttled::Address);
        }
        Ok(())
    }

    /// A secret that names no client: a failure of `peer`'s address.
    pub fn unknown_secret(&self, peer: IpAddr) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        self.by_address.failed(&address_key(peer), Instant::now());
    }

    fn is_trusted(&self, client_id: &str, peer: IpAddr) -> bool {
        self.trusted
            .get(client_id)
            .is_some_and(|ip| *ip == canonical(peer))
    }

    fn trust(&self, client_id: &Arc<str>, peer: IpAddr) {
        let peer = canonical(peer);
        if self.trusted.get(&**client_id).is_some_and(|ip| *ip == peer) {
            return;
        }
        if self.trusted.len() >= MAX_TRUSTED {
            let mut drop = MAX_TRUSTED / 8;
            self.trusted.retain(|_, _| {
                drop = drop.saturating_sub(1);
                drop == 0
            });
        }
        self.trusted.insert(Arc::clone(client_id), peer);
    }

    /// Its `/metrics` families: failures, refusals per limit, table sizes per limit.
    pub fn encode_metrics(&self, encoder: &mut DescriptorEncoder) -> fmt::Result {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ConstCounter::new(load(&self.failures)).encode(encoder.encode_descriptor(
            "magnetite_mqtt_connect_failures",
            "Password CONNECTs refused for a wrong secret or an unknown client id.",
            None,
            MetricType::Counter,
        )?)?;
        let mut throttled = encoder.encode_descriptor(
            "magnetite_mqtt_connect_throttled",
            "CONNECTs refused unchecked because their client id or source address failed too often.",
            None,
            MetricType::Counter,
        )?;
        for (by, refused) in [
            ("client_id", &self.refused_client),
            ("address", &self.refused_address),
        ] {
            ConstCounter::new(load(refused)).encode(throttled.encode_family(&[("by", by)])?)?;
        }
        let mut entries = encoder.encode_descriptor(
            "magnetite_mqtt_connect_throttle_entries",
            "Client ids and addresses with recent failures (bounded).",
            None,
            MetricType::Gauge,
        )?;
        for (by, table) in [
            ("client_id", &self.by_client),
            ("address", &self.by_address),
        ] {
            ConstGauge::new(table.len() as u64).encode(entries.encode_family(&[("by", by)])?)?;
        }
        Ok(())
    }
}

/// IPv4 (also IPv4-mapped IPv6) as is; IPv6 by its /64, which one subscriber holds.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & (u128::MAX << 64)).into()),
        v4 => v4,
    }
}

fn address_key(ip: IpAddr) -> String {
    canonical(ip).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[derive(Debug)]
    struct Probe(std::sync::Arc<ConnectThrottle>);

    impl prometheus_client::collector::Collector for Probe {
        fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
            self.0.encode_metrics(&mut encoder)
        }
    }

    fn metrics_text(throttle: ConnectThrottle) -> String {
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register_collector(Box::new(Probe(std::sync::Arc::new(throttle))));
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &registry).unwrap();
        text
    }

    #[test]
    fn a_flooded_client_id_is_refused_but_its_trusted_address_still_checked() {
        let t = ConnectThrottle::default();
        let (home, attacker) = (ip("10.0.0.1"), ip("10.0.0.2"));
        t.begin("dev", home).unwrap().succeeded(&Arc::from("dev"));
        for _ in 0..5 {
            t.begin("dev", attacker).unwrap().failed();
        }
        assert_eq!(t.begin("dev", attacker).err(), Some(Throttled::ClientId));
        assert_eq!(
            t.begin("dev", ip("10.0.0.3")).err(),
            Some(Throttled::ClientId)
        );
        assert!(t.begin("dev", home).is_ok(), "the device's own address");
        assert!(t.begin("other", attacker).is_ok(), "other client ids");
    }

    #[test]
    fn an_address_spraying_client_ids_is_refused_others_are_not() {
        let t = ConnectThrottle::default();
        let sprayer = ip("2001:db8::1");
        for i in 0..ADDRESS_POLICY.free_failures {
            t.begin(&format!("id-{i}"), sprayer).unwrap().failed();
        }
        assert_eq!(
            t.begin("fresh", ip("2001:db8::2")).err(),
            Some(Throttled::Address),
            "the same /64"
        );
        assert!(t.begin("fresh", ip("2001:db9::1")).is_ok());
        assert!(metrics_text(t).contains("{by=\"address\"} 1\n"));
    }
}
