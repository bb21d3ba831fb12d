//! A bootstrap config and its two public forms: the management JSON and the event
//! snapshot. Neither ever carries the external key, the client secret or the private
//! key: where the reference shows the key (`config.create`, `cert.update`) the events
//! carry its SHA-256 (`client_key_sha256`) instead, and the key itself is stored sealed.

use magnetite_events::model::bootstrap as bev;
use serde_json::{json, Value};

/// Whitelist state: `Active` connects the config's client to its channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// `0`: the device may bootstrap but has no connections from its config.
    Inactive,
    /// `1`: connected to every channel of the config for publish and subscribe.
    Active,
}

impl State {
    /// The stored and wire number.
    pub fn as_i64(self) -> i64 {
        match self {
            State::Inactive => 0,
            State::Active => 1,
        }
    }

    /// `0` or `1`; anything else is `None`.
    pub fn from_i64(n: i64) -> Option<State> {
        match n {
            0 => Some(State::Inactive),
            1 => Some(State::Active),
            _ => None,
        }
    }

    fn as_u8(self) -> u8 {
        match self {
            State::Inactive => 0,
            State::Active => 1,
        }
    }
}

/// A channel of a config, with the name and metadata cached from the platform (kept
/// current by the `channel.update` reaction, as Magistrala does).
#[derive(Debug, Clone, PartialEq)]
pub struct Channel {
    /// Channel id.
    pub id: String,
    /// Channel name.
    pub name: String,
    /// Channel metadata (a JSON object).
    pub metadata: Value,
}

impl Channel {
    /// `{id, name, metadata}` as the device and the API see it.
    pub fn to_json(&self) -> Value {
        json!({ "id": self.id, "name": self.name, "metadata": self.metadata })
    }
}

/// One config row with its channels. Secret columns are stored sealed or hashed and
/// are crate-private so that no public form can include them by accident.
#[derive(Clone)]
pub struct Config {
    /// The platform client the config is for (primary key).
    pub client_id: String,
    /// Its domain.
    pub domain_id: String,
    /// The device's external id (unique in its domain; with the key, platform-wide).
    pub external_id: String,
    /// Config name.
    pub name: String,
    /// Opaque content handed to the device.
    pub content: String,
    /// Device certificate (PEM), may be empty.
    pub client_cert: String,
    /// CA certificate (PEM), may be empty.
    pub ca_cert: String,
    /// Whitelist state.
    pub state: State,
    /// Channels, in the order they were given.
    pub channels: Vec<Channel>,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last update time.
    pub updated_at: Option<String>,
    pub(crate) external_key_hash: String,
    pub(crate) client_secret_sealed: String,
    pub(crate) client_key_sealed: String,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("client_id", &self.client_id)
            .field("domain_id", &self.domain_id)
            .field("external_id", &self.external_id)
            .field("name", &self.name)
            .field("state", &self.state)
            .field("channels", &self.channel_ids())
            .finish_non_exhaustive()
    }
}

/// `Some` unless empty: the reference omits unused fields.
fn present(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

impl Config {
    /// Channel ids, in order.
    pub fn channel_ids(&self) -> Vec<String> {
        self.channels.iter().map(|c| c.id.clone()).collect()
    }

    /// The management API form (create, view, list, updates).
    pub fn to_json(&self) -> Value {
        json!({
            "client_id": self.client_id,
            "domain_id": self.domain_id,
            "external_id": self.external_id,
            "name": self.name,
            "content": self.content,
            "state": self.state.as_i64(),
            "channels": self.channels.iter().map(Channel::to_json).collect::<Vec<_>>(),
            "client_cert": self.client_cert,
            "ca_cert": self.ca_cert,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        })
    }

    /// The fields every config event shares: ids, name, owner (= domain), content.
    fn event_base(&self) -> bev::Config {
        bev::Config {
            client_id: self.client_id.clone(),
            owner: Some(self.domain_id.clone()),
            name: Some(self.name.clone()),
            external_id: Some(self.external_id.clone()),
            channels: Some(self.channel_ids()),
            content: present(&self.content),
            state: Some(self.state.as_u8()),
            ..Default::default()
        }
    }

    /// `config.create`: everything the reference shows, the private key as its
    /// fingerprint ([`bev::key_fingerprint`]; omitted when no key was given).
    pub(crate) fn create_event(&self, client_key_sha256: &str) -> bev::Config {
        bev::Config {
            client_cert: present(&self.client_cert),
            client_key_sha256: present(client_key_sha256),
            ca_cert: present(&self.ca_cert),
            ..self.event_base()
        }
    }

    /// `config.view`: the reference shows the certificate but no key or CA.
    pub(crate) fn view_event(&self) -> bev::Config {
        bev::Config {
            client_cert: present(&self.client_cert),
            ..self.event_base()
        }
    }

    /// `client.bootstrap` (success): the reference shows the CA certificate.
    pub(crate) fn bootstrap_event(&self) -> bev::Config {
        bev::Config {
            ca_cert: present(&self.ca_cert),
            ..self.event_base()
        }
    }

    /// `config.update`: client_id, name, content, state.
    pub(crate) fn update_event(&self) -> bev::Config {
        bev::Config {
            client_id: self.client_id.clone(),
            name: Some(self.name.clone()),
            content: present(&self.content),
            state: Some(self.state.as_u8()),
            ..Default::default()
        }
    }
}
