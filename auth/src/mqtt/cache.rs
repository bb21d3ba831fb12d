//! The authorization cache: one `ClientAccess` per platform client, loaded on first use.
//!
//! After the first check the MQTT hot path is a map lookup. Every change that can alter
//! a client's access invalidates its entry. A load that raced with a change must not
//! put the old state back: invalidations bump a generation, and a load only stores its
//! result when no invalidation happened while it read the database.
//!
//! Entries also age out ([`MAX_AGE`]): invalidation reaches this instance through the
//! outbox when another instance made the change ([`super::remote`]), and should that
//! reader ever miss or lag, no entry outlives the age. A stale entry is still served
//! when the reload fails: with the database down no revocation can be committed, and
//! local traffic keeps flowing.
//!
//! One entry per connected client makes the cache a per-connection cost (an idle fleet
//! of 10,000 devices holds 10,000 entries), so entries are compact: the key is the
//! entry's own client id (an `Arc<str>` that the sessions' identities share too), and
//! the names many clients repeat (domain, channels) are one shared copy each
//! ([`SharedNames`]). A reload keeps the client id the stale entry had, so identities
//! handed out before it still share it.

use dashmap::DashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::names::SharedNames;
use crate::error::Result;
use crate::store::connections::ClientAccess;
use crate::store::Store;

/// How long an entry is trusted without a reload.
pub const MAX_AGE: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
pub struct AccessCache {
    entries: DashMap<Arc<str>, (Arc<ClientAccess>, Instant)>,
    generation: AtomicU64,
    names: SharedNames,
}

impl AccessCache {
    /// The client's access, from memory or (once per [`MAX_AGE`]) from the store;
    /// `None` if unknown.
    pub async fn get(&self, store: &Store, client_id: &str) -> Result<Option<Arc<ClientAccess>>> {
        let stale = match self.entries.get(client_id) {
            Some(hit) if hit.1.elapsed() < MAX_AGE => return Ok(Some(Arc::clone(&hit.0))),
            Some(hit) => Some(Arc::clone(&hit.0)),
            None => None,
        };
        let generation = self.generation.load(Ordering::Acquire);
        let loaded = match (store.client_access(client_id).await, stale) {
            (Ok(Some(loaded)), stale) => Arc::new(self.compact(loaded, stale.as_deref())),
            (Ok(None), _) => return Ok(None),
            (Err(err), Some(stale)) => {
                tracing::warn!(client_id, error = %err, "access reload failed: serving the cached entry");
                return Ok(Some(stale));
            }
            (Err(err), None) => return Err(err),
        };
        if self.generation.load(Ordering::Acquire) == generation {
            let entry = (Arc::clone(&loaded), Instant::now());
            self.entries.insert(Arc::clone(&loaded.client_id), entry);
        }
        Ok(Some(loaded))
    }

    /// `loaded` with the stale entry's client id and the shared names.
    fn compact(&self, mut loaded: ClientAccess, stale: Option<&ClientAccess>) -> ClientAccess {
        if let Some(stale) = stale.filter(|s| s.client_id == loaded.client_id) {
            loaded.client_id = Arc::clone(&stale.client_id);
        }
        loaded.share_names(|name| self.names.share(name));
        loaded
    }

    pub fn invalidate(&self, client_id: &str) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.entries.remove(client_id);
    }

    pub fn clear(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.entries.clear();
    }

    /// The cached clients that may use `channel_id`: after a channel is deleted the
    /// store no longer says who was connected, the cache still does.
    pub fn clients_using(&self, channel_id: &str) -> Vec<String> {
        let uses = |a: &ClientAccess| {
            [&a.publish, &a.subscribe]
                .iter()
                .any(|names| names.ids().any(|id| id == channel_id))
        };
        self.entries
            .iter()
            .filter(|e| uses(&e.value().0))
            .map(|e| e.key().to_string())
            .collect()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
