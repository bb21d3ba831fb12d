//! The authorization cache: one `ClientAccess` per platform client, loaded on first use.
//!
//! After the first check the MQTT hot path is a map lookup. Every change that can alter
//! a client's access invalidates its entry. A load that raced with a change must not
//! put the old state back: invalidations bump a generation, and a load only stores its
//! result when no invalidation happened while it read the database.

use dashmap::DashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::error::Result;
use crate::store::connections::ClientAccess;
use crate::store::Store;

#[derive(Debug, Default)]
pub struct AccessCache {
    entries: DashMap<String, Arc<ClientAccess>>,
    generation: AtomicU64,
}

impl AccessCache {
    /// The client's access, from memory or (once) from the store; `None` if unknown.
    pub async fn get(&self, store: &Store, client_id: &str) -> Result<Option<Arc<ClientAccess>>> {
        if let Some(hit) = self.entries.get(client_id) {
            return Ok(Some(Arc::clone(hit.value())));
        }
        let generation = self.generation.load(Ordering::Acquire);
        let Some(loaded) = store.client_access(client_id).await? else {
            return Ok(None);
        };
        let loaded = Arc::new(loaded);
        if self.generation.load(Ordering::Acquire) == generation {
            self.entries
                .insert(client_id.to_string(), Arc::clone(&loaded));
        }
        Ok(Some(loaded))
    }

    pub fn invalidate(&self, client_id: &str) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.entries.remove(client_id);
    }

    pub fn clear(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.entries.clear();
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
