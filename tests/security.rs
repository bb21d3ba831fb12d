//! The adversarial suite (issue 11): two tenants on one Magnetite, attacked as another
//! tenant, as an unauthenticated caller and with floods of junk. Every test asserts that
//! the attack fails *and* that the victim's own traffic is untouched. Memory and disk
//! bounds are asserted by counting entries or bytes, never by timing.
//!
//! One test binary (one link, small debug target); one module per area of attack.

mod common;
mod platform;

#[path = "security/tenants.rs"]
mod tenants;

#[path = "security/hygiene.rs"]
mod hygiene;

#[path = "security/http_tenants.rs"]
mod http_tenants;

#[path = "security/events.rs"]
mod events;

#[path = "security/raw.rs"]
mod raw;

#[path = "security/bounds.rs"]
mod bounds;

#[path = "security/mqtt.rs"]
mod mqtt;

#[path = "security/mqtt_topics.rs"]
mod mqtt_topics;

#[path = "security/sessions.rs"]
mod sessions;
