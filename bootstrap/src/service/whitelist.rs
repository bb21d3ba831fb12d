//! Whitelist state and the connections it implies.
//!
//! State `1` connects the config's client to each of its channels for publish and
//! subscribe; state `0` removes those connections and ends the client's MQTT sessions
//! at once (`Platform::revoke`). The connections are auth's (written with their own
//! `channel.connect` / `channel.disconnect` events in auth's transaction); the state is
//! ours (`client.change_state` in ours). The two writes are ordered to fail closed: on
//! activation the state is stored before access is granted, on deactivation access is
//! taken away before the state is stored, so a failure in between never leaves more
//! access than the stored state promises, and a retry completes it (both idempotent).

use magnetite_auth::http::{Caller, Need};
use magnetite_auth::model::ConnType;
use magnetite_events::model::{bootstrap as bev, clients as cev};

use super::{now, Result};
use crate::error::BootstrapError;
use crate::model::{Config, State};
use crate::BootstrapService;

const TYPES: [ConnType; 2] = [ConnType::Publish, ConnType::Subscribe];

fn type_names() -> Vec<String> {
    TYPES.iter().map(|t| t.as_str().to_string()).collect()
}

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
        let d = caller.domain(&self.platform, domain, Need::Write).await?;
        let mut c = self.config(&d.id, client_id).await?;
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
    /// list; an active config's connections follow (removed ones first).
    pub async fn update_connections(
        &self,
        caller: &Caller,
        domain: &str,
        client_id: &str,
        channels: &[String],
    ) -> Result<Config> {
        let d = caller.domain(&self.platform, domain, Need::Write).await?;
        let mut c = self.config(&d.id, client_id).await?;
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
        let clients = vec![c.client_id.clone()];
        let ev = cev::channel_connect(channels, &clients, &type_names());
        let store = &self.platform.store;
        store
            .connect(&c.domain_id, channels, &clients, &TYPES, &ev)
            .await?;
        self.platform.refresh(&clients);
        Ok(())
    }

    /// Disconnects the client from `channels` and ends its live sessions.
    async fn withdraw(&self, c: &Config, channels: &[String]) -> Result<()> {
        let clients = vec![c.client_id.clone()];
        if !channels.is_empty() {
            let ev = cev::channel_disconnect(channels, &clients, &type_names());
            let store = &self.platform.store;
            store
                .disconnect(&c.domain_id, channels, &clients, &TYPES, &ev)
                .await?;
        }
        self.platform.revoke(&clients);
        Ok(())
    }
}
