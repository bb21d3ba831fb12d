//! The bound on open streams (SSE and WebSocket alike), per user and overall.
//!
//! A stream outlives its request: an upgraded WebSocket leaves the HTTP server's
//! connection limit and idle timeout behind, and an SSE response is kept busy by its
//! own keep-alives. Each open stream holds a fetching task, a channel of deliveries and
//! a database fetch every few seconds, so the count is bounded here, where streams are
//! opened: a [`StreamSlot`] is taken before the stream starts and given back when its
//! fetching task ends (the connection closed, the access was revoked, or shutdown).
//! One user cannot take every slot, and many users together cannot exceed the total.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Why no slot was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotRefusal {
    /// This user holds `--consumer-max-streams-per-user` streams already.
    PerUser,
    /// The instance holds `--consumer-max-streams` streams already.
    Total,
}

/// Counts of open streams. The map holds only users with at least one open stream, so
/// it is bounded by the total.
#[derive(Debug)]
pub struct StreamSlots {
    per_user: u64,
    total: u64,
    open: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    total: u64,
    by_user: HashMap<String, u64>,
}

impl StreamSlots {
    /// At most `per_user` streams per user and `total` in all.
    pub fn new(per_user: u64, total: u64) -> Arc<StreamSlots> {
        Arc::new(StreamSlots {
            per_user,
            total,
            open: Mutex::new(Counts::default()),
        })
    }

    /// A slot for `user`, held until the returned guard is dropped.
    pub fn take(self: &Arc<Self>, user: &str) -> Result<StreamSlot, SlotRefusal> {
        let mut open = self.counts();
        let mine = open.by_user.get(user).copied().unwrap_or(0);
        if mine >= self.per_user {
            return Err(SlotRefusal::PerUser);
        }
        if open.total >= self.total {
            return Err(SlotRefusal::Total);
        }
        open.total += 1;
        open.by_user.insert(user.to_string(), mine + 1);
        Ok(StreamSlot {
            slots: Arc::clone(self),
            user: user.to_string(),
        })
    }

    /// Streams open now (in all).
    pub fn open(&self) -> u64 {
        self.counts().total
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        // The counts stay consistent even if a holder panicked: each update is whole.
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn give_back(&self, user: &str) {
        let mut open = self.counts();
        open.total = open.total.saturating_sub(1);
        if let Some(n) = open.by_user.get_mut(user) {
            *n -= 1;
            if *n == 0 {
                open.by_user.remove(user);
            }
        }
    }
}

/// One open stream's place; dropping it frees the place.
#[derive(Debug)]
pub struct StreamSlot {
    slots: Arc<StreamSlots>,
    user: String,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.slots.give_back(&self.user);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_gets_at_most_its_share_and_all_together_the_total() {
        let slots = StreamSlots::new(2, 3);
        let a1 = slots.take("a").expect("first of a");
        let _a2 = slots.take("a").expect("second of a");
        assert_eq!(slots.take("a").err(), Some(SlotRefusal::PerUser));
        let _b1 = slots.take("b").expect("first of b");
        assert_eq!(slots.take("b").err(), Some(SlotRefusal::Total));
        assert_eq!(slots.open(), 3);
        drop(a1);
        assert_eq!(slots.open(), 2);
        let _b2 = slots.take("b").expect("a freed place");
        assert_eq!(slots.take("a").err(), Some(SlotRefusal::Total));
    }

    #[test]
    fn users_without_open_streams_are_forgotten() {
        let slots = StreamSlots::new(1, 10);
        for n in 0..5 {
            drop(slots.take(&format!("user-{n}")).expect("a place"));
        }
        assert_eq!(slots.open(), 0);
        assert!(slots.counts().by_user.is_empty());
    }
}
