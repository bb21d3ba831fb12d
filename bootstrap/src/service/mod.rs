//! The operations behind the routes: management ([`manage`]), whitelist state and
//! connections ([`whitelist`]), and the device side ([`device`]).

pub mod device;
pub mod manage;
pub mod whitelist;

use magnetite_auth::access::{Actor, Caller};
use magnetite_auth::roles::EntityType;
use magnetite_events::Event;

use crate::error::BootstrapError;
use crate::model::{Channel, Config};
use crate::BootstrapService;

pub(crate) type Result<T, E = BootstrapError> = std::result::Result<T, E>;

/// At most this many channels per config: a bound on one request's work.
const MAX_CHANNELS: usize = 1000;

impl BootstrapService {
    /// Resolves channel ids (or routes) of the domain, in order, without duplicates,
    /// with the name and metadata the device will be given.
    pub(crate) async fn resolve_channels(
        &self,
        domain_id: &str,
        ids: &[String],
    ) -> Result<Vec<Channel>> {
        if ids.len() > MAX_CHANNELS {
            return Err(BootstrapError::bad_request(format!(
                "a config has at most {MAX_CHANNELS} channels"
            )));
        }
        let mut out: Vec<Channel> = Vec::with_capacity(ids.len());
        for id in ids {
            if id.trim().is_empty() {
                return Err(BootstrapError::bad_request("channel ids must not be empty"));
            }
            let e = self.platform.channels().get(domain_id, id).await?;
            if !out.iter().any(|c| c.id == e.id) {
                out.push(Channel {
                    id: e.id,
                    name: e.name,
                    metadata: e.metadata,
                });
            }
        }
        Ok(out)
    }

    /// 403 unless the caller may connect clients to each of `channels` (the channel's
    /// `connect_to_client`, as on the connect routes): a config's channels become the
    /// client's connections when it is activated.
    pub(crate) async fn require_connect(
        &self,
        caller: &Caller,
        domain_id: &str,
        channels: &[String],
    ) -> Result<()> {
        let actor = Actor::User(caller);
        for id in channels {
            actor
                .require(
                    &self.platform,
                    domain_id,
                    EntityType::Channel,
                    id,
                    "connect_to_client",
                )
                .await?;
        }
        Ok(())
    }

    /// The config of `client_id` in the domain, or 404.
    pub(crate) async fn config(&self, domain_id: &str, client_id: &str) -> Result<Config> {
        self.store
            .get(domain_id, client_id)
            .await?
            .ok_or(BootstrapError::NotFound("config"))
    }

    /// Records an event of a read (view, list, bootstrap attempt) on its own, in a
    /// transaction like the changes' events (so it carries the client's groups).
    pub(crate) async fn record(&self, ev: &Event) -> Result<()> {
        self.store.record_all(std::slice::from_ref(ev)).await
    }
}

/// Now, as the platform renders times.
pub(crate) fn now() -> String {
    magnetite_auth::store::now_rfc3339()
}
