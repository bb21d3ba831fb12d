//! Retained messages: the last retained PUBLISH per topic, replayed to new subscribers.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use bytestring::ByteString;
use parking_lot::RwLock;

use crate::message::Message;
use crate::protocol::topic;

/// Clients' retained messages, and apart from them the broker's own `$SYS` tree (kept
/// out of `by_topic` so counts, metrics and the persistent store see only what clients
/// retained; no client may publish under `$SYS`).
#[derive(Default)]
pub struct RetainedStore {
    by_topic: RwLock<HashMap<ByteString, Arc<Message>>>,
    sys: RwLock<HashMap<ByteString, Arc<Message>>>,
}

impl RetainedStore {
    /// Sets, replaces, or (with an empty payload) clears the retained message of a topic.
    /// The payload is copied so a retained message does not pin a whole read buffer.
    /// Returns the copy kept (`None`: cleared), for the persistent store.
    pub fn set(&self, message: &Message) -> Option<Arc<Message>> {
        if message.payload.is_empty() {
            self.by_topic.write().remove(&message.topic);
            return None;
        }
        let owned = Arc::new(message.owned_copy());
        self.by_topic
            .write()
            .insert(owned.topic.clone(), Arc::clone(&owned));
        Some(owned)
    }

    /// Sets the broker's own retained `$SYS` value of a topic (see [`crate::sys`]).
    pub fn set_sys(&self, message: &Message) {
        let owned = Arc::new(message.owned_copy());
        self.sys.write().insert(owned.topic.clone(), owned);
    }

    /// Puts back a retained message read from the store at start.
    pub fn restore(&self, message: Arc<Message>) {
        self.by_topic.write().insert(message.topic.clone(), message);
    }

    /// Retained messages whose topic matches `filter`, skipping expired ones.
    pub fn matching(&self, filter: &str) -> Vec<Arc<Message>> {
        let now = Instant::now();
        let map = if filter.starts_with("$SYS") {
            self.sys.read()
        } else {
            self.by_topic.read()
        };
        if !filter.contains(['+', '#']) {
            return map
                .get(filter)
                .filter(|m| !m.is_expired(now))
                .cloned()
                .into_iter()
                .collect();
        }
        let mut found: Vec<Arc<Message>> = map
            .values()
            .filter(|m| !m.is_expired(now) && topic::matches(filter, &m.topic))
            .cloned()
            .collect();
        // A stable replay order (a parent topic before its children) instead of the
        // map's: the spec sets none, but subscribers and tests can rely on this one.
        found.sort_unstable_by(|a, b| a.topic.cmp(&b.topic));
        found
    }

    /// Clients' retained messages (the `$SYS` tree not counted).
    pub fn len(&self) -> usize {
        self.by_topic.read().len()
    }
}
