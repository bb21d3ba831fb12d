//! The verified-PAT cache: a PAT's row and scopes by PAT id, so a request made with a
//! PAT costs one keyed hash and a map lookup, not two queries.
//!
//! Bounded in two ways: only a PAT whose secret was just verified is ever stored (a
//! flood of unknown or forged `pat_...` tokens adds nothing), and never more than
//! [`MAX_ENTRIES`] (past it, verification goes to the store each time).
//!
//! Race-safe as `crate::mqtt::cache` is: every invalidation bumps a generation, and
//! a load stores its result only when no invalidation happened while it read the
//! store, so a revoke, reset or delete that commits during a load is never undone by
//! that load putting the old row back. Revoke, reset, delete and scope changes
//! invalidate at once on this instance (and on others through the outbox, see
//! `Platform::apply_event`); expiry is checked on every hit; and no entry is trusted
//! longer than [`MAX_AGE`], should another instance's invalidation be late.

use dashmap::DashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::scope::Scope;

/// How long an entry is trusted without a reload.
pub const MAX_AGE: Duration = Duration::from_secs(30);
/// The most PATs kept in memory.
pub const MAX_ENTRIES: usize = 10_000;

/// What verifying a PAT needs: its owner, secret hash, state and scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatAuth {
    pub pat_id: String,
    pub user_id: String,
    /// Hex HMAC of the whole token under the secret-hashing key.
    pub secret_hash: String,
    /// Unix seconds.
    pub expires_at: i64,
    pub revoked: bool,
    pub scopes: Vec<Scope>,
}

#[derive(Debug, Default)]
pub struct PatCache {
    entries: DashMap<String, (Arc<PatAuth>, Instant)>,
    generation: AtomicU64,
}

impl PatCache {
    /// A fresh entry for `pat_id`, if any.
    pub fn get(&self, pat_id: &str) -> Option<Arc<PatAuth>> {
        let hit = self.entries.get(pat_id)?;
        (hit.1.elapsed() < MAX_AGE).then(|| Arc::clone(&hit.0))
    }

    /// The generation to pass to [`PatCache::insert`]; read it before loading.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Stores a verified PAT loaded since `generation`, unless an invalidation came
    /// in between or the cache is full.
    pub fn insert(&self, auth: Arc<PatAuth>, generation: u64) {
        if self.generation() != generation || self.entries.len() >= MAX_ENTRIES {
            return;
        }
        self.entries
            .insert(auth.pat_id.clone(), (auth, Instant::now()));
    }

    pub fn invalidate(&self, pat_id: &str) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.entries.remove(pat_id);
    }

    /// Every PAT of `user_id` (delete all, the user disabled or deleted).
    pub fn invalidate_user(&self, user_id: &str) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.entries.retain(|_, (auth, _)| auth.user_id != user_id);
    }

    /// Forgets what a `pat.*` event (its canonical fields) changed: the event names the
    /// PAT as `id` or `pat_id`, `pat.remove_all` only the user.
    pub fn forget_event(&self, fields: &serde_json::Map<String, serde_json::Value>) {
        let text = |k: &str| fields.get(k).and_then(serde_json::Value::as_str);
        let Some(op) = text("operation").filter(|op| op.starts_with("pat.")) else {
            return;
        };
        match (text("pat_id").or(text("id")), text("user_id")) {
            (Some(pat_id), _) => self.invalidate(pat_id),
            (None, Some(user_id)) if op == "pat.remove_all" => self.invalidate_user(user_id),
            _ => {}
        }
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
    use serde_json::json;

    fn auth(id: &str, user: &str) -> Arc<PatAuth> {
        Arc::new(PatAuth {
            pat_id: id.into(),
            user_id: user.into(),
            secret_hash: "h".into(),
            expires_at: i64::MAX,
            revoked: false,
            scopes: Vec::new(),
        })
    }

    #[test]
    fn a_load_that_raced_an_invalidation_is_not_stored() {
        let cache = PatCache::default();
        let before = cache.generation();
        cache.invalidate("p1");
        cache.insert(auth("p1", "u"), before);
        assert!(cache.get("p1").is_none());
        cache.insert(auth("p1", "u"), cache.generation());
        assert!(cache.get("p1").is_some());
    }

    #[test]
    fn events_and_users_invalidate() {
        let cache = PatCache::default();
        for (id, user) in [("p1", "u1"), ("p2", "u1"), ("p3", "u2")] {
            cache.insert(auth(id, user), cache.generation());
        }
        let ev = |v: serde_json::Value| v.as_object().cloned().unwrap();
        cache.forget_event(&ev(
            json!({"operation": "pat.revoke", "id": "p3", "user_id": "u2"}),
        ));
        assert!(cache.get("p3").is_none());
        cache.forget_event(&ev(json!({"operation": "client.remove", "id": "p1"})));
        assert!(cache.get("p1").is_some());
        cache.forget_event(&ev(json!({"operation": "pat.remove_all", "user_id": "u1"})));
        assert!(cache.is_empty());
    }

    #[test]
    fn the_cache_stops_growing_at_its_bound() {
        let cache = PatCache::default();
        for i in 0..MAX_ENTRIES + 10 {
            cache.insert(auth(&i.to_string(), "u"), cache.generation());
        }
        assert_eq!(cache.len(), MAX_ENTRIES);
    }
}
