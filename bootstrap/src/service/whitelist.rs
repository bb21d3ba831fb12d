//! Whitelist state and the connections it implies.
//!
//! State `1` connects the config's client to each of its channels for publish and
//! subscribe; state `0` removes those connections and ends the client's MQTT sessions
//! at once. The connections are auth's, made through its service
//! (`platform.connections()`, as the system: the caller was checked here) with their
//! own `channel.connect` / `channel.disconnect` events in auth's transaction; the state is
//! ours (`client.change_state` in ours). The two writes are ordered to fail closed: on
//! activation the state is stored before access is granted, on deactivation access is
//! taken away before the state is stored, so a failure in between never leaves more
//! access than the stored state promises, and a retry completes it (both idempotent).

use magnetite_auth::access::{Actor, Caller};
use magnetite_auth::model::ConnType;
use magnetite_auth::service::ConnectRequest;
use magnetite_events::model::bootstrap as bev;

use super::{now, Result};
use crate::error::BootstrapError;
use crate::model::{Config, State};
use crate::BootstrapService;

const TYPES: [ConnType; 2] = [ConnType::Publish, ConnType::Subscribe];

/// Bootstrap acting on the platform for a config whose caller it already checked.
const SYSTEM: Actor<'static> = Actor::System("bootstrap");

impl BootstrapService {
    /// `PUT /{domainID}/clients/state/{client_id}`.
    pub async fn change_state(
        &self,
        caller: &Caller,
        domain: &str,
        client_id: &str,
        state: i64,
    ) -> Result<Config> {
        let state = State::from_i64(state)
            .ok_or_else(|| BootstrapError::bad_request("state must be 0 or 1"))?;
        let (d, client) = caller
            .authorize_client(&self.platform, domain, client_id, "update")
            .await?;
        let mut c = self.config(&d.id, &client.id).await?;
        c.state = state;
        c.updated_at = Some(now());
        let ev = bev::client_change_state(&c.client_id, u8::from(state == State::Active));
        let channels = c.channel_ids();
        match state {
            State::Active => {
                self.store.set_state(&c, &ev).await?;
                self.grant(&c, &channels).await?;
            }
            State::Inactive => {
                self.withdraw(&c, &channels).await?;
                self.store.set_state(&c, &ev).await?;
            }
        }
        tracing::info!(client_id = %c.client_id, state = state.as_i64(), "bootstrap: state changed");
        Ok(c)
    }

    /// `PUT /{domainID}/clients/configs/connections/{client_id}`: replaces the channel
    /// list; an active config's connections follow (removed ones first). Needs
    /// `update` on the client and `connect_to_client` on each channel added or removed
    /// (what connecting or disconnecting them on the channel routes needs).
    pub async fn update_connections(
        &self,
        caller: &Caller,
        domain: &str,
        client_id: &str,
        channels: &[String],
    ) -> Result<Config> {
        let (d, client) = caller
            .authorize_client(&self.platform, domain, client_id, "update")
            .await?;
        let mut c = self.config(&d.id, &client.id).await?;
        let wanted = self.resolve_channels(&d.id, channels).await?;
        let before = c.channel_ids();
        let after: Vec<String> = wanted.iter().map(|ch| ch.id.clone()).collect();
        let removed: Vec<String> = before
            .iter()
            .filter(|id| !after.contains(id))
            .cloned()
            .collect();
        let added: Vec<String> = after
            .iter()
            .filter(|id| !before.contains(id))
            .cloned()
            .collect();
        let changed: Vec<String> = removed.iter().chain(&added).cloned().collect();
        self.require_connect(caller, &d.id, &changed).await?;
        let active = c.state == State::Active;
        if active && !removed.is_empty() {
            self.withdraw(&c, &removed).await?;
        }
        c.channels = wanted;
        c.updated_at = Some(now());
        let ev = bev::client_update_connections(&c.client_id, &after);
        self.store.replace_channels(&c, &ev).await?;
        if active && !added.is_empty() {
            self.grant(&c, &added).await?;
        }
        Ok(c)
    }

    /// Connects the config's client to `channels` for publish and subscribe.
    async fn grant(&self, c: &Config, channels: &[String]) -> Result<()> {
        if channels.is_empty() {
            return Ok(());
        }
        let req = ConnectRequest::of(channels, std::slice::from_ref(&c.client_id), &TYPES);
        let connections = self.platform.connections();
        connections.connect(&SYSTEM, &c.domain_id, req).await?;
        Ok(())
    }

    /// Disconnects the client from `channels` and ends its live sessions (also when
    /// there is nothing to disconnect: the state says "no access").
    async fn withdraw(&self, c: &Config, channels: &[String]) -> Result<()> {
        let clients = std::slice::from_ref(&c.client_id);
        if channels.is_empty() {
            self.platform.revoke(clients);
            return Ok(());
        }
        let req = ConnectRequest::of(channels, clients, &TYPES);
        let connections = self.platform.connections();
        connections.disconnect(&SYSTEM, &c.domain_id, req).await?;
        Ok(())
    }
}
