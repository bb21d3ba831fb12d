//! The door to bridges: links from this instance to other MQTT brokers (a gateway's
//! upstream, in the `magnetite-bridge` crate).
//!
//! The engine tells the one installed [`BridgeLink`] about every message published on
//! this instance (by a client, a will or the HTTP adapter), after local routing and
//! BEFORE the publisher is acknowledged. Messages a bridge brings in are published
//! through [`crate::BrokerHandle::publish`] like any other, so the link sees them too:
//! it recognises its own by [`Message::publisher`] and never sends them back out.
//! Messages from other cluster instances are not shown (each instance bridges what
//! entered it).
//!
//! Contract of [`BridgeLink::forward`]: it runs inline on the publisher's task, so it
//! must not await or take a lock that anything slow holds. It may do ONE short
//! synchronous write to a local file (the store-and-forward queue), and for a QoS 1/2
//! message that it accepts it must have done it before returning: once it returns, the
//! publisher may be told PUBACK, and a `kill -9` must not lose the message. A full
//! queue drops (and counts) instead of waiting.
//!
//! Contract of [`BridgeLink::device_connected`] / [`BridgeLink::device_disconnected`]
//! (devices behind a gateway): called by the binary's MQTT event hooks (which know that
//! id) once per session start and end with the id the instance's MQTT events name (the platform client id under platform auth, else the
//! MQTT client id), on the session's task, so they must not block. A takeover may end
//! the old session after the new one started, and one id may hold several sessions: a
//! device is connected while it has more starts than ends. Ends caused by the
//! instance's own shutdown are not told (the links go down with it, and the upstream
//! reports the devices then).

use std::sync::Arc;

use crate::message::Message;

pub trait BridgeLink: Send + Sync + 'static {
    /// A message was published here (see the module comment for what must be done
    /// before returning).
    fn forward(&self, message: &Arc<Message>);

    /// A local session of device `id` started (see the module comment).
    fn device_connected(&self, _id: &str) {}

    /// A local session of device `id` ended.
    fn device_disconnected(&self, _id: &str) {}
}
