//! The one door between the MQTT engine and whatever decides who may do what.
//!
//! The engine knows nothing about users, domains or channels: it asks its `Hooks` on
//! CONNECT, on every PUBLISH and on every SUBSCRIBE filter, and tells them when a session
//! comes and goes. For `--auth platform` the binary implements it over auth's decisions
//! (`src/platform_hooks.rs`: auth itself does not depend on the engine);
//! [`OpenHooks`](crate::acl::OpenHooks) (anyone connects, an optional `--acl-file`
//! filters topics) is the one behind `magnetite serve --auth none`; [`AllowAll`] allows
//! everything and is what the engine's own tests run with.
//!
//! The broker is generic over `H: Hooks`, so calls are statically dispatched and the
//! allow-all futures compile down to nothing on the publish path.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

pub use bytestring::ByteString;

use crate::protocol::ProtocolVersion;

/// How the bytes arrived; lets a hook refuse, say, password logins over plain TCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Tcp,
    Tls,
    WebSocket,
    WebSocketTls,
}

/// What a CONNECT offers for authentication. The password is borrowed and never stored
/// by the engine; a hook must not log it either.
pub struct ConnectInfo<'a> {
    pub client_id: &'a str,
    pub username: Option<&'a str>,
    pub password: Option<&'a [u8]>,
    pub peer_addr: SocketAddr,
    /// DER of the leaf certificate the client presented over TLS, if any.
    pub peer_certificate: Option<&'a [u8]>,
    pub protocol: ProtocolVersion,
    pub transport: Transport,
}

/// Why a CONNECT is refused; the engine maps it to the CONNACK code of the client's
/// protocol version (3.1.1: 0x04 / 0x05 / 0x03, 5.0: 0x86 / 0x87 / 0x88 / 0x8A / 0x9F).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectRefusal {
    BadCredentials,
    NotAuthorized,
    ServerUnavailable,
    Banned,
    /// Too many failed attempts for this identity or address: refused without checking
    /// (5.0 0x9F connection rate exceeded; 3.1.1 0x05 not authorized, as 3.1.1 has no
    /// rate code and 0x04 would tell a device with the right secret that it is wrong).
    Throttled,
}

pub enum AuthDecision<I> {
    /// Accept; the identity is handed back on every later call for this session.
    Allow(I),
    Refuse(ConnectRefusal),
}

/// What a 3.1 / 3.1.1 client's PUBLISH that `authorize_publish` refused gets. Those
/// versions have no code to say "not authorized"; the server "MUST either make a positive
/// acknowledgement, according to the normal QoS rules, or close the Network Connection"
/// [MQTT-3.3.5-2]. (5.0 always answers 0x87 in PUBACK / PUBREC.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum V3PublishRefusal {
    /// Close the connection: the device learns it did something it may not.
    Close,
    /// Acknowledge as if delivered and drop the message, as mosquitto does: what clients
    /// migrating with a mosquitto ACL file expect.
    AckAndDrop,
}

/// Why a session ended, as told to [`Hooks::on_disconnect`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisconnectReason {
    /// The client sent DISCONNECT (any reason code).
    ClientDisconnect,
    /// The socket closed or failed without a DISCONNECT.
    ConnectionLost,
    KeepAliveTimeout,
    /// Another connection with the same session key took the session over.
    TakenOver,
    /// Kicked through [`crate::BrokerHandle::kick`].
    Kicked,
    /// Access revoked through [`crate::BrokerHandle::revoke`]: the session is discarded.
    Revoked,
    /// The client broke the protocol (malformed packet, limit exceeded, ...).
    ProtocolError,
    /// An unauthorized 3.1.1 PUBLISH closed the connection ([`V3PublishRefusal::Close`]).
    NotAuthorized,
    ServerShutdown,
}

/// A hook's answer to "may this session publish to this topic, and under which name is
/// it routed?". Routing, retained messages and wills use the routed name, so two texts
/// naming one thing (an id and a route, say) reach the same subscribers and two equal
/// texts naming different things (one tenant's `telemetry` and another's) never meet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicVerdict {
    Refuse,
    /// Route under the topic as published (no copy: the common case and `--auth none`).
    Allow,
    /// Route under this canonical topic instead.
    AllowAs(ByteString),
}

impl From<bool> for TopicVerdict {
    fn from(allowed: bool) -> Self {
        if allowed {
            TopicVerdict::Allow
        } else {
            TopicVerdict::Refuse
        }
    }
}

/// A hook's answer for one SUBSCRIBE filter (see [`TopicVerdict`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterVerdict {
    Refuse,
    /// Subscribe to the filter as sent; delivered topics are shown as routed.
    Allow,
    /// Subscribe to `filter` (canonical); when `presented` is set, delivered topics are
    /// shown to this subscriber with its own prefix instead of the canonical one.
    AllowAs {
        filter: ByteString,
        presented: Option<Arc<Presentation>>,
    },
}

impl From<bool> for FilterVerdict {
    fn from(allowed: bool) -> Self {
        if allowed {
            FilterVerdict::Allow
        } else {
            FilterVerdict::Refuse
        }
    }
}

/// How a subscriber sees routed topics: a routed topic starting with `canonical_prefix`
/// is delivered with that prefix replaced by `presented_prefix` (the rest, e.g. a
/// subtopic, is unchanged). Wildcards may only follow the prefix, so every topic a
/// subscription matches starts with it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Presentation {
    canonical_prefix: ByteString,
    presented_prefix: ByteString,
}

impl Presentation {
    /// `None` when both prefixes are equal: nothing to rewrite, the shared frame is used.
    pub fn new(canonical_prefix: ByteString, presented_prefix: ByteString) -> Option<Self> {
        (canonical_prefix != presented_prefix).then_some(Presentation {
            canonical_prefix,
            presented_prefix,
        })
    }

    /// (canonical prefix, presented prefix), for the persisted form of a subscription.
    pub fn prefixes(&self) -> (&ByteString, &ByteString) {
        (&self.canonical_prefix, &self.presented_prefix)
    }

    /// The topic this subscriber is shown for a routed `topic`.
    pub fn present(&self, topic: &ByteString) -> ByteString {
        match topic.strip_prefix(&*self.canonical_prefix) {
            Some(rest) if rest.is_empty() || rest.starts_with('/') => {
                let mut shown = String::with_capacity(self.presented_prefix.len() + rest.len());
                shown.push_str(&self.presented_prefix);
                shown.push_str(rest);
                ByteString::from(shown)
            }
            _ => topic.clone(),
        }
    }
}

pub trait Hooks: Send + Sync + 'static {
    /// What the hooks remember about an accepted session (e.g. its domain and client id).
    type Identity: Send + Sync + 'static;

    fn authenticate(
        &self,
        info: ConnectInfo<'_>,
    ) -> impl Future<Output = AuthDecision<Self::Identity>> + Send;

    /// May this session publish to `topic` (already resolved from a topic alias), and
    /// under which topic is it routed? Also asked for a will's topic at CONNECT.
    fn authorize_publish(
        &self,
        identity: &Self::Identity,
        client_id: &str,
        topic: &str,
    ) -> impl Future<Output = TopicVerdict> + Send;

    /// May this session subscribe to `filter` (the filter without any `$share/<group>/`),
    /// and to which routed filter? A shared group is keyed by the routed filter, so
    /// groups of different canonical filters never mix.
    fn authorize_subscribe(
        &self,
        identity: &Self::Identity,
        client_id: &str,
        filter: &str,
    ) -> impl Future<Output = FilterVerdict> + Send;

    /// The namespace of this session's MQTT client id: sessions (persistent state,
    /// takeover, kick and revoke) are keyed by (namespace, MQTT client id), so two
    /// identities that pick the same MQTT client id never share or take over a session.
    /// Empty for one global namespace (plain MQTT semantics).
    fn session_namespace<'a>(&self, _identity: &'a Self::Identity) -> &'a str {
        ""
    }

    /// The 5.0 SUBACK code for a filter `authorize_subscribe` refused (3.1.1 has only 0x80).
    fn subscribe_refusal_code(&self) -> u8 {
        crate::protocol::reason::NOT_AUTHORIZED
    }

    /// What a 3.1.1 PUBLISH `authorize_publish` refused gets (5.0 always gets 0x87).
    fn v3_publish_refusal(&self) -> V3PublishRefusal {
        V3PublishRefusal::Close
    }

    /// A session was accepted (after CONNACK is queued). Must not block.
    fn on_connect(&self, _identity: &Self::Identity, _client_id: &str) {}

    /// A connection ended, with what it carried. Must not block.
    fn on_disconnect(
        &self,
        _identity: &Self::Identity,
        _client_id: &str,
        _reason: DisconnectReason,
        _traffic: Traffic,
    ) {
    }

    /// A SUBSCRIBE filter was granted; `filter` is its routed form (what
    /// `authorize_subscribe` answered), without any `$share/<group>/`. Must not block.
    fn on_subscribe(&self, _identity: &Self::Identity, _client_id: &str, _filter: &str) {}

    /// A filter the session held was unsubscribed (routed form, as in `on_subscribe`).
    /// Must not block.
    fn on_unsubscribe(&self, _identity: &Self::Identity, _client_id: &str, _filter: &str) {}
}

/// The PUBLISH packets one connection carried, reported once when it ends
/// ([`Hooks::on_disconnect`]). Counted by the connection's own task in plain integers
/// (the task owns its connection, so no atomic and no shared cache line is touched per
/// message), which is why the count is never reported per message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    /// PUBLISHes the client sent that were authorized and routed (retransmissions of
    /// a QoS 2 message already routed are not counted again).
    pub inbound: u64,
    /// PUBLISHes written to the client (each message once: resends of in-flight
    /// messages after a reconnect are not counted again).
    pub outbound: u64,
    /// A SUBSCRIBE filter was granted on this connection ([`Hooks::on_subscribe`]
    /// was called), so whoever tracks subscriptions must hear about its end.
    pub subscribed: bool,
}

impl Traffic {
    /// Nothing was published either way and nothing subscribed.
    pub fn is_empty(&self) -> bool {
        self.inbound == 0 && self.outbound == 0 && !self.subscribed
    }
}

/// Any client, any topic, no ACL: the engine alone, for its own tests.
/// (`--auth none` uses [`OpenHooks`](crate::acl::OpenHooks), which adds the ACL.)
#[derive(Debug, Default, Clone, Copy)]
pub struct AllowAll;

impl Hooks for AllowAll {
    type Identity = ();

    async fn authenticate(&self, _info: ConnectInfo<'_>) -> AuthDecision<()> {
        AuthDecision::Allow(())
    }

    async fn authorize_publish(&self, _: &(), _: &str, _: &str) -> TopicVerdict {
        TopicVerdict::Allow
    }

    async fn authorize_subscribe(&self, _: &(), _: &str, _: &str) -> FilterVerdict {
        FilterVerdict::Allow
    }
}
