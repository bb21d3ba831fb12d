//! The door to the other instances of a cluster.
//!
//! The engine knows nothing about the bus behind it (NATS in the `magnetite-cluster`
//! crate): it tells a [`ClusterLink`] what was published here and which routed filters
//! gained or lost their subscribers here, and it takes messages from other instances in
//! through [`crate::BrokerHandle::publish_from_cluster`], which routes them to local
//! subscribers only. Those two paths never meet, so a message that came from the bus is
//! never sent back to it: no loops by construction.
//!
//! Shared subscriptions (`$share/<group>/<filter>`): with a link, the local routing pass
//! skips shared groups altogether, for messages published here as for those from the
//! bus. The link hears of each group's members ([`ClusterLink::subscribed`] with the
//! group) and lets the bus pick one instance per message, which delivers to one local
//! member through [`crate::BrokerHandle::publish_to_shared_group`]: one member
//! cluster-wide.
//!
//! Contract of every method: called on the publisher's or subscriber's connection task,
//! sometimes under the router's write lock, so it must not block, await or take long —
//! queue and return. The one exception is [`ClusterLink::wait_for_room`], awaited by a
//! publisher's connection task (never under a lock) before it publishes a QoS 1/2
//! message, so that a bus slower than the publisher slows the publisher instead of
//! losing acknowledged messages: the same backpressure as a full persistent store.

use std::sync::Arc;

use crate::message::Message;
use crate::persist::WaitFuture;

pub trait ClusterLink: Send + Sync + 'static {
    /// A message published on this instance (by a client or a will), already routed to
    /// the local subscribers. Carries the routed (canonical) topic.
    fn forward(&self, message: &Arc<Message>);

    /// Whether [`ClusterLink::forward`] takes a QoS 1/2 message now without dropping it.
    /// Checked before every QoS 1/2 publish, so it must cost no more than an atomic load.
    fn has_room(&self) -> bool {
        true
    }

    /// Resolves once [`ClusterLink::has_room`] is true again (the bus drained its
    /// queue). The connection awaits it instead of reading: TCP backpressure on a
    /// publisher that outruns the bus.
    fn wait_for_room(&self) -> WaitFuture<'_, ()> {
        Box::pin(std::future::ready(()))
    }

    /// The routed `filter` got one more subscription on this instance, a member of the
    /// shared group `group` when there is one (called once per subscription, so the link
    /// can count them and subscribe on the bus at the first).
    fn subscribed(&self, filter: &str, group: Option<&str>);

    /// The routed `filter` lost one subscription (of `group`) on this instance (the link
    /// unsubscribes from the bus when its count reaches zero).
    fn unsubscribed(&self, filter: &str, group: Option<&str>);
}
