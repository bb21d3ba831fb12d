//! Limits password-reset requests, per account and per source address, so the endpoint
//! can be used neither to flood someone's mailbox nor to fill the mail dir / SMTP queue.
//!
//! Each key gets [`PER_ACCOUNT`] (resp. [`PER_ADDRESS`]) requests per [`WINDOW`], counted
//! whether or not the account exists: an unknown e-mail is throttled exactly like a
//! known one, so the 429 reveals nothing about who has an account. The account key is
//! the e-mail as typed (lowercased); the address key is the IPv4 address or the /64
//! of an IPv6 address (one host usually owns a whole /64).
//!
//! Memory is bounded: past [`MAX_TRACKED`] keys, expired windows are dropped, and if
//! that is not enough the new keys share one overflow budget. A flood of fresh keys
//! therefore throttles only other fresh keys, never the ones already tracked, and
//! cannot grow the map.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use parking_lot::Mutex;

use crate::error::AuthError;

/// Reset requests per account (e-mail) per window.
pub const PER_ACCOUNT: u32 = 5;
/// Reset requests per source address per window.
pub const PER_ADDRESS: u32 = 30;
/// The counting window (the lifetime of a reset token).
pub const WINDOW: Duration = Duration::from_secs(900);
const MAX_TRACKED: usize = 100_000;
const OVERFLOW_KEY: &str = "\0overflow";
/// A full map is swept at most this often, so a flood costs no O(n) scan per request.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// Both budgets of the reset endpoint.
#[derive(Debug)]
pub struct ResetThrottle {
    accounts: FixedWindow,
    addresses: FixedWindow,
}

impl Default for ResetThrottle {
    fn default() -> Self {
        ResetThrottle {
            accounts: FixedWindow::new(PER_ACCOUNT, WINDOW),
            addresses: FixedWindow::new(PER_ADDRESS, WINDOW),
        }
    }
}

impl ResetThrottle {
    /// Counts one request for `email` from `peer` (unknown when the server does not
    /// pass the peer address); `TooManyRequests` with the wait when either budget is
    /// spent.
    pub fn hit(&self, email: &str, peer: Option<IpAddr>, now: Instant) -> Result<(), AuthError> {
        let address = peer.map_or_else(|| "unknown".to_string(), address_key);
        let waits = [
            self.addresses.hit(&address, now),
            self.accounts.hit(&email.trim().to_lowercase(), now),
        ];
        match waits.into_iter().flatten().max() {
            Some(wait) => Err(AuthError::TooManyRequests(
                wait.as_secs_f64().ceil().max(1.0) as u64,
            )),
            None => Ok(()),
        }
    }
}

/// The IPv4 address, or the /64 network of an IPv6 address.
fn address_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    count: u32,
}

/// `max` hits per `window` per key, the window starting at a key's first hit.
#[derive(Debug)]
struct FixedWindow {
    max: u32,
    window: Duration,
    hits: DashMap<String, Window>,
    last_sweep: Mutex<Option<Instant>>,
}

impl FixedWindow {
    fn new(max: u32, window: Duration) -> FixedWindow {
        FixedWindow {
            max,
            window,
            hits: DashMap::new(),
            last_sweep: Mutex::new(None),
        }
    }

    /// Counts a hit; `Some(wait)` when `key` is over its budget.
    fn hit(&self, key: &str, now: Instant) -> Option<Duration> {
        let key = self.tracked_key(key, now);
        let mut w = self.hits.entry(key).or_insert(Window {
            start: now,
            count: 0,
        });
        if now.duration_since(w.start) >= self.window {
            *w = Window {
                start: now,
                count: 0,
            };
        }
        w.count = w.count.saturating_add(1);
        (w.count > self.max).then(|| (w.start + self.window).saturating_duration_since(now))
    }

    /// `key` itself, or the shared overflow key when the map is full of live windows.
    fn tracked_key(&self, key: &str, now: Instant) -> String {
        if self.hits.len() < MAX_TRACKED || self.hits.contains_key(key) {
            return key.to_string();
        }
        if self.sweep_due(now) {
            self.hits
                .retain(|_, w| now.duration_since(w.start) < self.window);
        }
        if self.hits.len() < MAX_TRACKED {
            key.to_string()
        } else {
            OVERFLOW_KEY.to_string()
        }
    }

    /// Whether a sweep of the full map may run now (and if so, notes that it does).
    fn sweep_due(&self, now: Instant) -> bool {
        let mut last = self.last_sweep.lock();
        let due = match *last {
            Some(at) => now.duration_since(at) >= SWEEP_EVERY,
            None => true,
        };
        if due {
            *last = Some(now);
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_account_budget_then_a_new_window() {
        let t = ResetThrottle::default();
        let now = Instant::now();
        for i in 0..PER_ACCOUNT {
            let peer = Some(IpAddr::from([10, 0, 0, i as u8]));
            assert!(t.hit("Carol@example.com", peer, now).is_ok());
        }
        let peer = Some(IpAddr::from([10, 0, 1, 1]));
        match t.hit("carol@example.com ", peer, now) {
            Err(AuthError::TooManyRequests(secs)) => assert_eq!(secs, WINDOW.as_secs()),
            other => panic!("{other:?}"),
        }
        assert!(t.hit("dave@example.com", peer, now).is_ok(), "per account");
        assert!(t.hit("carol@example.com", peer, now + WINDOW).is_ok());
    }

    #[test]
    fn per_address_budget_covers_a_whole_ipv6_64() {
        let t = ResetThrottle::default();
        let now = Instant::now();
        for i in 0..PER_ADDRESS {
            let peer: IpAddr = format!("2001:db8:1:2::{i:x}").parse().unwrap();
            assert!(t.hit(&format!("u{i}@example.com"), Some(peer), now).is_ok());
        }
        let same_net: IpAddr = "2001:db8:1:2:ffff::1".parse().unwrap();
        assert!(t.hit("new@example.com", Some(same_net), now).is_err());
        let other_net: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert!(t.hit("new@example.com", Some(other_net), now).is_ok());
    }

    #[test]
    fn the_map_stays_bounded() {
        let w = FixedWindow::new(1, WINDOW);
        let now = Instant::now();
        for i in 0..MAX_TRACKED + 50 {
            w.hit(&format!("k{i}"), now);
        }
        assert!(w.hits.len() <= MAX_TRACKED + 1, "{}", w.hits.len());
        assert!(w.hit("k0", now).is_some(), "tracked keys keep their budget");
        assert!(
            w.hit("fresh", now).is_some(),
            "fresh keys share the overflow"
        );
        w.hit("later", now + WINDOW);
        assert!(w.hits.len() < 10, "expired windows are dropped");
    }
}
