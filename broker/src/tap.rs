//! A read-only view of the publish path for consumers inside the process (the message
//! store's writer): every message published on this instance — by an MQTT client, a
//! will or the HTTP adapter — under its routed topic, after it was routed.
//!
//! The contract is the MQTT path's: [`MessageTap::published`] runs inline on the
//! publisher's task, so it must not block, await or do I/O. Hand the `Arc` to a bounded
//! queue and drop (and count) when it is full. Messages from other instances are not
//! tapped: each message is seen once, by the instance it entered.

use std::sync::Arc;

use crate::message::Message;

pub trait MessageTap: Send + Sync + 'static {
    /// A message was published here. Must return at once (see the module comment).
    fn published(&self, message: &Arc<Message>);
}
