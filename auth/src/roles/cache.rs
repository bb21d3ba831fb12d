//! Cached authorization decisions: `(user, entity, action) -> allowed`, so a repeated
//! request costs a map lookup instead of two queries.
//!
//! The revocation guarantee is `crate::mqtt::cache`'s: every change that can alter a
//! decision (a role created, renamed or deleted, an action or member added or removed,
//! a parent group set or removed, a group deleted, a domain membership assigned) clears
//! the whole cache *after* its transaction commits, and a decision computed while a
//! clear happened is not stored (the generation moved), so no answer read before a
//! revocation is served after it. Clearing everything is coarse on purpose: such changes
//! are rare next to checks, and a partial invalidation would have to know every
//! entity under a group and every user of a role.
//!
//! Other instances clear on the role events they read from the shared outbox
//! (`crate::mqtt::remote`); entries also age out ([`MAX_AGE`]) should that reader lag.
//! The cache holds at most [`MAX_ENTRIES`] decisions (it is emptied when full): only
//! authenticated users fill it, and each of their requests adds at most one entry.

use dashmap::DashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long a decision is trusted without a reload.
pub const MAX_AGE: Duration = Duration::from_secs(60);
/// Most decisions kept.
pub const MAX_ENTRIES: usize = 200_000;

/// `(user id, entity id, action)`.
type Key = (String, String, String);

#[derive(Debug, Default)]
pub struct DecisionCache {
    entries: DashMap<Key, (bool, Instant)>,
    generation: AtomicU64,
}

impl DecisionCache {
    /// The cached decision, if fresh.
    pub fn get(&self, user: &str, entity: &str, action: &str) -> Option<bool> {
        let key = (user.to_string(), entity.to_string(), action.to_string());
        let hit = self.entries.get(&key)?;
        (hit.1.elapsed() < MAX_AGE).then_some(hit.0)
    }

    /// The generation to hand back to [`DecisionCache::put`]: read it before loading
    /// what the decision is made from.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Stores a decision made from data read after `generation` was taken, unless a
    /// change cleared the cache since.
    pub fn put(&self, generation: u64, user: &str, entity: &str, action: &str, allowed: bool) {
        if self.entries.len() >= MAX_ENTRIES {
            self.entries.clear();
        }
        if self.generation() != generation {
            return;
        }
        let key = (user.to_string(), entity.to_string(), action.to_string());
        self.entries.insert(key, (allowed, Instant::now()));
        // A clear that ran between the check and the insert must win.
        if self.generation() != generation {
            self.entries.clear();
        }
    }

    /// Forgets every decision (after a change to roles or the group tree commits).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decision_made_across_a_clear_is_not_stored() {
        let cache = DecisionCache::default();
        let before = cache.generation();
        cache.clear();
        cache.put(before, "u", "e", "read", true);
        assert_eq!(cache.get("u", "e", "read"), None);
        let now = cache.generation();
        cache.put(now, "u", "e", "read", true);
        assert_eq!(cache.get("u", "e", "read"), Some(true));
        cache.clear();
        assert_eq!(cache.get("u", "e", "read"), None);
    }
}
