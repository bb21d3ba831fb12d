//! Duplicate suppression for messages that reach this instance more than once.
//!
//! NATS delivers a message once per matching subscription of a connection, and one
//! instance's subscriptions can overlap (`m.d.c.ch.>` for `…/ch/#` and `m.d.c.ch.a` for
//! `…/ch/a`). The local router already finds every local subscriber of a message, so
//! the second copy must go. Copies of one publish arrive back to back (the server writes
//! them in one go), so a bounded window of recent ids is enough (see `DEDUP_WINDOW`).

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashSet, VecDeque};
use std::hash::{Hash, Hasher};

/// The last `capacity` message ids seen, as (hash of origin instance, sequence).
pub struct RecentIds {
    seen: HashSet<(u64, u64)>,
    order: VecDeque<(u64, u64)>,
    capacity: usize,
}

impl RecentIds {
    pub fn new(capacity: usize) -> RecentIds {
        RecentIds {
            seen: HashSet::with_capacity(capacity),
            order: VecDeque::with_capacity(capacity),
            capacity: capacity.max(1),
        }
    }

    /// True the first time an id is seen in `scope` (within the window), false for a
    /// copy. A scope keeps apart deliveries that are meant to happen once each (one per
    /// shared group, one for the plain subscribers).
    pub fn first_time(&mut self, scope: &str, origin: &str, sequence: u64) -> bool {
        let mut hasher = DefaultHasher::new();
        origin.hash(&mut hasher);
        scope.hash(&mut hasher);
        let id = (hasher.finish(), sequence);
        if !self.seen.insert(id) {
            return false;
        }
        if self.order.len() == self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.seen.remove(&oldest);
            }
        }
        self.order.push_back(id);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::RecentIds;

    #[test]
    fn a_copy_is_recognised_and_distinct_ids_are_not() {
        let mut recent = RecentIds::new(4);
        assert!(recent.first_time("", "a", 1));
        assert!(!recent.first_time("", "a", 1));
        assert!(
            recent.first_time("", "b", 1),
            "same sequence, other instance"
        );
        assert!(recent.first_time("", "a", 2));
        assert!(recent.first_time("group", "a", 2), "another scope");
        assert!(!recent.first_time("group", "a", 2));
    }

    #[test]
    fn memory_is_bounded_by_the_window() {
        let mut recent = RecentIds::new(2);
        assert!(recent.first_time("", "a", 1));
        assert!(recent.first_time("", "a", 2));
        assert!(recent.first_time("", "a", 3));
        assert!(
            recent.first_time("", "a", 1),
            "forgotten once out of the window"
        );
        assert_eq!(recent.seen.len(), 2);
        assert_eq!(recent.order.len(), 2);
    }
}
