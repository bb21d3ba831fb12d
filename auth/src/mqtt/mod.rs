//! MQTT enforcement: logins and topic routes decided from the store through the access
//! cache ([`gate::MqttGate`]); the binary adapts them to the broker's `Hooks`. Access
//! changes reach the cache and the sessions through one decision
//! ([`revocation::access_change`]), on this instance and, via the outbox, on every
//! other ([`remote`]).

pub mod cache;
pub mod endpoints;
pub mod gate;
pub mod live_sessions;
pub mod names;
pub mod remote;
pub mod revocation;
pub mod routing;
pub mod sys;
pub mod throttle;
pub mod topic;

pub use gate::{LoginRefusal, MqttGate, MqttIdentity, MqttLogin};
pub use routing::{PublishRoute, ShownPrefix, SubscribeRoute};
