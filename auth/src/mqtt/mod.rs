//! MQTT enforcement: the broker `Hooks` backed by the store through the access cache.

pub mod cache;
pub mod hooks;
pub mod routing;
pub mod throttle;
pub mod topic;

pub use hooks::{MqttIdentity, PlatformHooks};
