//! Connections of clients to channels (`channel.connect` / `channel.disconnect`): who
//! may publish or subscribe where. Connecting refreshes the clients' cached access;
//! disconnecting revokes it, ending their live MQTT sessions.

use magnetite_events::model::clients as cev;
use serde::Deserialize;

use super::Link;
use crate::access::{Actor, Need};
use crate::error::{AuthError, Result};
use crate::model::{ConnType, Kind};
use crate::platform::{Origin, Platform};

/// Most channel ids and most client ids one request may name: a bound on its work.
const MAX_IDS: usize = 1000;

/// A connect / disconnect request, as the API takes it. `types` absent = both.
#[derive(Deserialize, Default, Debug, Clone)]
pub struct ConnectRequest {
    pub channel_ids: Option<Vec<String>>,
    pub client_ids: Option<Vec<String>>,
    pub types: Option<Vec<String>>,
}

impl ConnectRequest {
    /// Every client of `clients` to every channel of `channels`, for `types`.
    pub fn of(channels: &[String], clients: &[String], types: &[ConnType]) -> ConnectRequest {
        ConnectRequest {
            channel_ids: Some(channels.to_vec()),
            client_ids: Some(clients.to_vec()),
            types: Some(types.iter().map(|t| t.as_str().to_string()).collect()),
        }
    }
}

/// A validated request: ids resolved to the domain's channel and client ids.
struct Resolved {
    domain_id: String,
    channels: Vec<String>,
    clients: Vec<String>,
    types: Vec<ConnType>,
}

/// The connection operations (`platform.connections()`).
#[derive(Clone, Copy)]
pub struct Connections<'a> {
    platform: &'a Platform,
}

impl<'a> Connections<'a> {
    pub(super) fn new(platform: &'a Platform) -> Connections<'a> {
        Connections { platform }
    }

    /// Connects (existing triples are kept) and refreshes the clients' access.
    pub async fn connect(
        &self,
        actor: &Actor<'_>,
        domain: &str,
        req: ConnectRequest,
    ) -> Result<()> {
        self.link(Link::Attach, actor, domain, req).await
    }

    /// Disconnects and revokes the clients' access (their live sessions end).
    pub async fn disconnect(
        &self,
        actor: &Actor<'_>,
        domain: &str,
        req: ConnectRequest,
    ) -> Result<()> {
        self.link(Link::Detach, actor, domain, req).await
    }

    /// Connects (`Attach`) or disconnects (`Detach`): the same checks, the event and
    /// the store write of that way, then the cache refreshed or revoked.
    pub async fn link(
        &self,
        way: Link,
        actor: &Actor<'_>,
        domain: &str,
        req: ConnectRequest,
    ) -> Result<()> {
        let r = self.resolve(actor, domain, req).await?;
        let types = type_names(&r.types);
        let store = &self.platform.store;
        let (channels, clients) = (&r.channels, &r.clients);
        let event = match way {
            Link::Attach => {
                let event = cev::channel_connect(channels, clients, &types);
                store
                    .connect(&r.domain_id, channels, clients, &r.types, &event)
                    .await?;
                event
            }
            Link::Detach => {
                let event = cev::channel_disconnect(channels, clients, &types);
                store
                    .disconnect(&r.domain_id, channels, clients, &r.types, &event)
                    .await?;
                event
            }
        };
        self.platform
            .apply_event(&event.fields, Origin::Local)
            .await
    }

    async fn resolve(
        &self,
        actor: &Actor<'_>,
        domain: &str,
        req: ConnectRequest,
    ) -> Result<Resolved> {
        let d = actor.domain(self.platform, domain, Need::Read).await?;
        let channels = req
            .channel_ids
            .filter(|c| !c.is_empty())
            .ok_or_else(|| AuthError::bad_request("missing channel_ids"))?;
        let clients = req
            .client_ids
            .filter(|c| !c.is_empty())
            .ok_or_else(|| AuthError::bad_request("missing client_ids"))?;
        let types = types_of(req.types)?;
        if channels.len() > MAX_IDS || clients.len() > MAX_IDS {
            return Err(AuthError::bad_request(format!(
                "at most {MAX_IDS} channel_ids and {MAX_IDS} client_ids per request"
            )));
        }
        // Every id must name an entity of the path's domain, for disconnect as much as
        // for connect: a foreign id is a 404 and nothing happens (no session of another
        // tenant is ended, no event is written).
        Ok(Resolved {
            channels: self.ids_in(actor, Kind::Channel, &d.id, &channels).await?,
            clients: self.ids_in(actor, Kind::Client, &d.id, &clients).await?,
            domain_id: d.id,
            types,
        })
    }

    /// The ids of the entities `names` (ids, or routes for channels) of the domain,
    /// each one the actor may connect (`connect_to_client` on a channel,
    /// `connect_to_channel` on a client); the first that is missing is a 404, the first
    /// it may not connect a 403, before anything changes.
    async fn ids_in(
        &self,
        actor: &Actor<'_>,
        kind: Kind,
        domain_id: &str,
        names: &[String],
    ) -> Result<Vec<String>> {
        let action = match kind {
            Kind::Channel => "connect_to_client",
            _ => "connect_to_channel",
        };
        let mut ids = Vec::with_capacity(names.len());
        for name in names {
            let id = self.platform.store.entity(kind, domain_id, name).await?.id;
            actor
                .require(self.platform, domain_id, kind.into(), &id, action)
                .await?;
            ids.push(id);
        }
        Ok(ids)
    }
}

/// Connection types from a request: absent = publish and subscribe; empty refused.
fn types_of(given: Option<Vec<String>>) -> Result<Vec<ConnType>> {
    match given {
        None => Ok(vec![ConnType::Publish, ConnType::Subscribe]),
        Some(t) if t.is_empty() => Err(AuthError::bad_request("types must not be empty")),
        Some(t) => t
            .iter()
            .map(|s| {
                ConnType::parse(s).ok_or_else(|| {
                    AuthError::bad_request(format!(
                        "invalid connection type {s:?}: publish or subscribe"
                    ))
                })
            })
            .collect(),
    }
}

fn type_names(types: &[ConnType]) -> Vec<String> {
    types.iter().map(|t| t.as_str().to_string()).collect()
}
