//! `bootstrap` service events (stream `<prefix>.bootstrap`): `config.*`, `cert.update`,
//! `client.bootstrap`, `client.change_state`, `client.update_connections`,
//! `channel.*_handler`.

use super::{str_list, Event, Service};
use serde_json::Value;

fn ev(op: &str) -> Event {
    Event::new(Service::Bootstrap, op)
}

/// A bootstrap config as the events carry it. `None` fields are omitted.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config {
    /// The client (device) the config belongs to.
    pub client_id: String,
    /// Owner (domain/user) id.
    pub owner: Option<String>,
    /// Config name.
    pub name: Option<String>,
    /// Device external id.
    pub external_id: Option<String>,
    /// Channel ids the device gets.
    pub channels: Option<Vec<String>>,
    /// Opaque content string handed to the device.
    pub content: Option<String>,
    /// Device certificate (PEM).
    pub client_cert: Option<String>,
    /// SHA-256 (hex) of the device key: the reference's `client_key` carries the PEM
    /// itself, which would put a private key on every sink and in the outbox file; the
    /// fingerprint lets a consumer tell keys apart without holding one.
    pub client_key_sha256: Option<String>,
    /// CA certificate (PEM).
    pub ca_cert: Option<String>,
    /// `0` inactive, `1` active; rendered as a string (`"0"`) as the reference shows.
    pub state: Option<u8>,
}

impl Config {
    fn apply(&self, e: Event) -> Event {
        e.with("client_id", self.client_id.as_str())
            .with_opt("owner", self.owner.clone())
            .with_opt("name", self.name.clone())
            .with_opt("external_id", self.external_id.clone())
            .with_opt("channels", self.channels.as_deref().map(str_list))
            .with_opt("content", self.content.clone())
            .with_opt("client_cert", self.client_cert.clone())
            .with_opt("client_key_sha256", self.client_key_sha256.clone())
            .with_opt("ca_cert", self.ca_cert.clone())
            .with_opt("state", self.state.map(|s| s.to_string()))
    }
}

/// `config.create`: the full config.
pub fn config_create(c: &Config) -> Event {
    c.apply(ev("config.create"))
}
/// `config.update`: client_id, name, content, state (the fields the update touches).
pub fn config_update(c: &Config) -> Event {
    c.apply(ev("config.update"))
}
/// `config.view`: the config as viewed.
pub fn config_view(c: &Config) -> Event {
    c.apply(ev("config.view"))
}
/// `config.list`: offset, limit (the Redis form of the reference).
pub fn config_list(offset: u64, limit: u64) -> Event {
    ev("config.list")
        .with("offset", offset)
        .with("limit", limit)
}
/// `config.remove`: client_id.
pub fn config_remove(client_id: &str) -> Event {
    ev("config.remove").with("client_id", client_id)
}
/// `config.remove_handler`: a client was removed, so was its config (`config_id`).
pub fn config_remove_handler(config_id: &str) -> Event {
    ev("config.remove_handler").with("config_id", config_id)
}
/// `cert.update`: the certificates of a config changed. The reference's example labels
/// the client id `client_key` next to the real `client_key`; a map cannot hold both, so
/// the id is `client_id` (`thing_key` under SuperMQ, as its reference shows). The key
/// itself is replaced by its [`key_fingerprint`] (`client_key_sha256`).
pub fn cert_update(
    client_id: &str,
    client_cert: &str,
    client_key_sha256: &str,
    ca_cert: &str,
) -> Event {
    ev("cert.update")
        .with("client_id", client_id)
        .with("client_cert", client_cert)
        .with("client_key_sha256", client_key_sha256)
        .with("ca_cert", ca_cert)
}

/// What an event says about a private key: the lowercase hex SHA-256 of the PEM text
/// exactly as given; empty when no key was given (so the field is omitted). A key has
/// far too much entropy for the digest to reveal it.
pub fn key_fingerprint(client_key_pem: &str) -> String {
    use sha2::{Digest, Sha256};
    if client_key_pem.is_empty() {
        return String::new();
    }
    hex::encode(Sha256::digest(client_key_pem.as_bytes()))
}
/// `client.bootstrap`: a device fetched its config; `success` is `"1"`/`"0"` in Redis.
pub fn client_bootstrap(c: &Config, success: bool) -> Event {
    c.apply(ev("client.bootstrap"))
        .with("success", Value::Bool(success))
}
/// `client.change_state`: client_id, state (the JSON form of the reference).
pub fn client_change_state(client_id: &str, state: u8) -> Event {
    ev("client.change_state")
        .with("client_id", client_id)
        .with("state", state.to_string())
}
/// `client.update_connections`: client_id, channels.
pub fn client_update_connections(client_id: &str, channels: &[String]) -> Event {
    ev("client.update_connections")
        .with("client_id", client_id)
        .with("channels", str_list(channels))
}
/// `channel.update_handler`: a channel changed: channel_id, name, metadata.
pub fn channel_update_handler(channel_id: &str, name: &str, metadata: &Value) -> Event {
    ev("channel.update_handler")
        .with("channel_id", channel_id)
        .with("name", name)
        .with("metadata", metadata.clone())
}
/// `channel.remove_handler`: a channel was removed. (The reference's example repeats
/// the config handler by mistake; this is the operation its text describes.)
pub fn channel_remove_handler(channel_id: &str) -> Event {
    ev("channel.remove_handler").with("channel_id", channel_id)
}
