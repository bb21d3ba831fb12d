//! The handle the rest of the platform uses to act on live sessions without knowing
//! the broker's hook type: [`BrokerControl`], implemented by the broker's shared state,
//! and [`BrokerHandle`] around it.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;

use crate::admission::Admission;
use crate::bridge::BridgeLink;
use crate::broker::Shared;
use crate::hooks::{DisconnectReason, Hooks};
use crate::message::Message;
use crate::persist::WaitFuture;
use crate::sessions::SessionKey;
use crate::stats::DropReason;
use crate::tap::MessageTap;

/// What the platform may do to the broker without knowing its hook type. Sessions are
/// named by (namespace, MQTT client id), the namespace being what
/// [`Hooks::session_namespace`] said for the session's identity.
pub trait BrokerControl: Send + Sync {
    /// Ends the live connection of the session (the session stays, per its expiry).
    fn kick(&self, namespace: &str, client_id: &str) -> bool;
    /// Closes the connection of the session and discards it (revoked access).
    fn revoke(&self, namespace: &str, client_id: &str) -> bool;
    fn connection_count(&self) -> usize;
    /// Connections parked (idle, holding no task); included in `connection_count`.
    fn parked_count(&self) -> usize;
    fn session_count(&self) -> usize;
    fn retained_count(&self) -> usize;
    fn messages_received(&self) -> u64;
    fn messages_sent(&self) -> u64;
    fn messages_dropped(&self, reason: DropReason) -> u64;
    /// Persistence counters (all zero with `--persistence none`).
    fn persistence(&self) -> PersistenceCounts;
    /// Overload protection's state and counters (all zero when no limit is set).
    fn admission(&self) -> &Admission;
    /// Routes a message from another instance to the local subscribers only.
    fn publish_from_cluster(&self, message: Message);
    /// Keeps (or clears) a retained message another instance took.
    fn retain_from_cluster(&self, message: Message);
    /// See [`BrokerHandle::hand_over`].
    fn hand_over<'a>(
        &'a self,
        namespace: &'a str,
        client_id: &'a str,
        keep: bool,
    ) -> WaitFuture<'a, Option<Bytes>>;
    /// See [`BrokerHandle::drop_lost_session`].
    fn drop_lost_session<'a>(
        &'a self,
        namespace: &'a str,
        client_id: &'a str,
        epoch: u64,
    ) -> WaitFuture<'a, ()>;
    /// Publishes a message that entered through another door (the HTTP adapter), already
    /// authorized and under its routed topic, as a will is: nobody waits for a slow
    /// subscriber, a full queue overflows.
    fn publish(&self, message: Message);
    /// Installs the one [`MessageTap`]; false when one is installed already.
    fn set_tap(&self, tap: Arc<dyn MessageTap>) -> bool;
    /// Installs the one [`BridgeLink`]; false when one is installed already.
    fn set_bridge(&self, bridge: Arc<dyn BridgeLink>) -> bool;
    /// Delivers to one local member of the shared group `group` of `filter`.
    fn publish_to_shared_group(&self, message: Message, filter: &str, group: &str);
}

/// A reading of the persistence counters, for `/metrics`.
#[derive(Debug, Clone, Copy, Default)]
pub struct PersistenceCounts {
    pub corrupt_records: u64,
    pub write_errors: u64,
    pub refused: u64,
}

impl<H: Hooks> BrokerControl for Shared<H> {
    fn kick(&self, namespace: &str, client_id: &str) -> bool {
        let key = SessionKey::new(namespace, client_id.into());
        Shared::kick(self, &key, DisconnectReason::Kicked)
    }
    fn revoke(&self, namespace: &str, client_id: &str) -> bool {
        Shared::revoke(self, &SessionKey::new(namespace, client_id.into()))
    }
    fn connection_count(&self) -> usize {
        self.stats.connections.load(Ordering::Relaxed)
    }
    fn parked_count(&self) -> usize {
        self.parking.parked()
    }
    fn session_count(&self) -> usize {
        self.sessions.len()
    }
    fn retained_count(&self) -> usize {
        self.retained.len()
    }
    fn messages_received(&self) -> u64 {
        self.stats.messages_received.load(Ordering::Relaxed)
    }
    fn messages_sent(&self) -> u64 {
        self.stats.messages_sent.load(Ordering::Relaxed)
    }
    fn messages_dropped(&self, reason: DropReason) -> u64 {
        self.stats.dropped.get(reason)
    }
    fn admission(&self) -> &Admission {
        &self.admission
    }
    fn publish_from_cluster(&self, message: Message) {
        Shared::publish_from_cluster(self, Arc::new(message));
    }
    fn retain_from_cluster(&self, message: Message) {
        Shared::retain_from_cluster(self, Arc::new(message));
    }
    fn hand_over<'a>(
        &'a self,
        namespace: &'a str,
        client_id: &'a str,
        keep: bool,
    ) -> WaitFuture<'a, Option<Bytes>> {
        let key = SessionKey::new(namespace, client_id.into());
        Box::pin(async move { Shared::hand_over(self, &key, keep).await })
    }
    fn drop_lost_session<'a>(
        &'a self,
        namespace: &'a str,
        client_id: &'a str,
        epoch: u64,
    ) -> WaitFuture<'a, ()> {
        let key = SessionKey::new(namespace, client_id.into());
        Box::pin(async move { Shared::drop_lost_session(self, &key, epoch).await })
    }
    fn publish(&self, message: Message) {
        self.publish_detached(Arc::new(message));
    }
    fn set_tap(&self, tap: Arc<dyn MessageTap>) -> bool {
        self.tap.set(tap).is_ok()
    }
    fn set_bridge(&self, bridge: Arc<dyn BridgeLink>) -> bool {
        self.bridge.set(bridge).is_ok()
    }
    fn publish_to_shared_group(&self, message: Message, filter: &str, group: &str) {
        Shared::publish_to_shared_group(self, Arc::new(message), filter, group);
    }
    fn persistence(&self) -> PersistenceCounts {
        let Some(persist) = &self.persist else {
            return PersistenceCounts::default();
        };
        let c = &persist.counters;
        PersistenceCounts {
            corrupt_records: c.corrupt_records.load(Ordering::Relaxed),
            write_errors: c.write_errors.load(Ordering::Relaxed),
            refused: c.refused.load(Ordering::Relaxed),
        }
    }
}

/// A cheap, cloneable, type-erased handle on a running broker.
#[derive(Clone)]
pub struct BrokerHandle {
    pub(crate) control: Arc<dyn BrokerControl>,
}

impl BrokerHandle {
    /// Disconnects the live session of `client_id` in `namespace` (see
    /// [`Hooks::session_namespace`]; `""` with `--auth none`), v5: DISCONNECT 0x98
    /// administrative action. Returns false when no such client is connected.
    pub fn kick(&self, namespace: &str, client_id: &str) -> bool {
        self.control.kick(namespace, client_id)
    }

    /// Closes the connection of `client_id` in `namespace` (v5: DISCONNECT 0x87) and
    /// discards its session, online or not. Returns false when there was no session.
    pub fn revoke(&self, namespace: &str, client_id: &str) -> bool {
        self.control.revoke(namespace, client_id)
    }

    /// Routes a message another instance published to this instance's subscribers.
    pub fn publish_from_cluster(&self, message: Message) {
        self.control.publish_from_cluster(message)
    }

    /// Keeps (or clears) a retained message another instance took.
    pub fn retain_from_cluster(&self, message: Message) {
        self.control.retain_from_cluster(message)
    }

    /// Gives the session of `client_id` in `namespace` to another instance: a live
    /// connection is closed with "session taken over" (v5 0x8E), and the session
    /// leaves this instance. `keep`: it comes back encoded for the new owner (`None`
    /// when there was no session here); otherwise it is discarded (clean start).
    pub async fn hand_over(&self, namespace: &str, client_id: &str, keep: bool) -> Option<Bytes> {
        self.control.hand_over(namespace, client_id, keep).await
    }

    /// Another instance owns the session now, and this one held it under `epoch`:
    /// the local copy goes (if it is still that one), without overwriting anything.
    pub async fn drop_lost_session(&self, namespace: &str, client_id: &str, epoch: u64) {
        self.control
            .drop_lost_session(namespace, client_id, epoch)
            .await
    }
    /// Publishes an authorized message under its routed topic (see
    /// [`BrokerControl::publish`]): local subscribers, retained store, other instances.
    pub fn publish(&self, message: Message) {
        self.control.publish(message)
    }

    /// Lets `tap` see every message published on this instance; false when a tap is
    /// installed already (there is one).
    pub fn set_tap(&self, tap: Arc<dyn MessageTap>) -> bool {
        self.control.set_tap(tap)
    }
    /// Shows every message published here to `bridge` before its publisher is
    /// acknowledged (see [`crate::bridge`]); false when one is installed already.
    pub fn set_bridge(&self, bridge: Arc<dyn BridgeLink>) -> bool {
        self.control.set_bridge(bridge)
    }
    /// Delivers a message the bus gave this instance to one local member of the shared
    /// group `group` of the routed `filter`.
    pub fn publish_to_shared_group(&self, message: Message, filter: &str, group: &str) {
        self.control.publish_to_shared_group(message, filter, group)
    }

    pub fn control(&self) -> &dyn BrokerControl {
        &*self.control
    }
}
