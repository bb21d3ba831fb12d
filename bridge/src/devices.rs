//! Devices behind the gateway (`declare=true`): which local devices are connected, so
//! the link can declare each of them upstream as served by this gateway — a PUBLISH
//! (QoS 1, empty payload) to `$magnetite/endpoints/<id>`, the central instance's
//! declaration door (`magnetite_auth::mqtt::endpoints`).
//!
//! The engine side ([`Devices::connected`] / [`Devices::disconnected`], from the
//! sessions' tasks) only updates a set and wakes the link; the link decides what to
//! send by comparing the set with what it declared on its current connection
//! ([`Devices::undeclared`]). A new upstream connection starts with nothing declared,
//! so every still-connected device is declared again after each reconnection, and a
//! wake-up that arrives while the link is down is simply covered by that.
//!
//! The central instance has no "undeclare": a device that leaves the edge stays served
//! upstream until the link drops (the gateway's disconnect event lists it); it is not
//! declared again on the next connection.

use std::collections::{HashMap, HashSet};

use tokio::sync::Notify;

/// Topic prefix of a declaration on the central instance.
pub const DECLARE_PREFIX: &str = "$magnetite/endpoints/";
/// Longest id the central instance looks up.
const MAX_ID_LEN: usize = 255;

/// Whether `id` can be declared: one non-empty topic level without wildcards (an id the
/// central instance would refuse — or a topic it would disconnect the link for — is
/// never sent).
pub fn declarable(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && !id.contains(['/', '+', '#'])
        && !id.chars().any(char::is_control)
}

/// The connected local devices (id -> live sessions under it) and the link's wake-up.
#[derive(Default)]
pub struct Devices {
    sessions: parking_lot::Mutex<HashMap<String, u32>>,
    changed: Notify,
}

impl Devices {
    /// A session of `id` started. Counted, because a takeover may end the old session
    /// after the new one started and one device may hold several sessions.
    pub fn connected(&self, id: &str) {
        if !declarable(id) {
            tracing::debug!(
                id,
                "bridge: a local device id that cannot be declared upstream"
            );
            return;
        }
        let first = {
            let mut sessions = self.sessions.lock();
            let count = sessions.entry(id.to_string()).or_insert(0);
            *count += 1;
            *count == 1
        };
        if first {
            self.changed.notify_one();
        }
    }

    /// A session of `id` ended.
    pub fn disconnected(&self, id: &str) {
        let mut sessions = self.sessions.lock();
        if let Some(count) = sessions.get_mut(id) {
            *count -= 1;
            if *count == 0 {
                sessions.remove(id);
            }
        }
    }

    /// Up to `max` connected devices not in `declared` (the ones to declare next).
    pub fn undeclared(&self, declared: &HashSet<String>, max: usize) -> Vec<String> {
        self.sessions
            .lock()
            .keys()
            .filter(|id| !declared.contains(*id))
            .take(max)
            .cloned()
            .collect()
    }

    /// Resolves after a device connected (a permit is kept when nobody waits).
    pub async fn changed(&self) {
        self.changed.notified().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_that_are_not_one_plain_topic_level_are_not_declared() {
        for bad in ["", "a/b", "+", "a#", "x\n", &"x".repeat(256)] {
            assert!(!declarable(bad), "{bad:?}");
        }
        assert!(declarable("3f1c-device_1.a"));
    }

    #[test]
    fn a_device_stays_connected_until_its_last_session_ends() {
        let devices = Devices::default();
        devices.connected("d1");
        devices.connected("d1"); // a takeover: the new session starts first
        devices.connected("d2");
        devices.connected("bad/id");
        let none = HashSet::new();
        let mut all = devices.undeclared(&none, 10);
        all.sort();
        assert_eq!(all, ["d1", "d2"]);
        devices.disconnected("d1");
        devices.disconnected("unknown");
        assert_eq!(
            devices.undeclared(&none, 10).len(),
            2,
            "d1 has one session left"
        );
        devices.disconnected("d1");
        assert_eq!(devices.undeclared(&none, 10), ["d2"]);
    }

    #[test]
    fn only_devices_not_yet_declared_on_this_connection_are_listed_at_most_max() {
        let devices = Devices::default();
        for id in ["a", "b", "c"] {
            devices.connected(id);
        }
        let declared = HashSet::from(["a".to_string()]);
        let mut next = devices.undeclared(&declared, 10);
        next.sort();
        assert_eq!(next, ["b", "c"]);
        assert_eq!(devices.undeclared(&declared, 1).len(), 1);
    }
}
