//! Shared test support (a dev-dependency only): see `servers`, `magnetite`, `poll`.

pub mod magnetite;
pub mod mqtt;
pub mod openssl;
pub mod poll;
pub mod servers;
pub mod sinks;
