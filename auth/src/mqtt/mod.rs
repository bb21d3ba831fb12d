//! MQTT enforcement: logins and topic routes decided from the store through the access
//! cache ([`gate::MqttGate`]); the binary adapts them to the broker's `Hooks`.

pub mod cache;
pub mod endpoints;
pub mod gate;
pub mod routing;
pub mod throttle;
pub mod topic;

pub use gate::{LoginRefusal, MqttGate, MqttIdentity, MqttLogin};
pub use routing::{PublishRoute, ShownPrefix, SubscribeRoute};
