//! Devices behind the gateway (`declare=true`): which local devices are connected, so
//! the link can declare each of them upstream as served by this gateway — a PUBLISH
//! (QoS 1, empty payload) to `$magnetite/endpoints/<id>`, the central instance's
//! declaration door (`magnetite_auth::mqtt::endpoints`) — and undeclare it when it
//! leaves: the same to `$magnetite/endpoints/<id>/gone`.
//!
//! The engine side ([`Devices::connected`] / [`Devices::disconnected`], from the
//! sessions' tasks) only updates a set and wakes the link; the link decides what to
//! send by comparing the set with what it declared on its current connection
//! ([`Devices::changes`]). A new upstream connection starts with nothing declared, so
//! every still-connected device is declared again after each reconnection (the
//! central ended the old connection's declarations with it), and a wake-up that
//! arrives while the link is down is simply covered by that. A device that leaves and
//! comes back before the link looked sends nothing: it stayed served.

use std::collections::{HashMap, HashSet};

use tokio::sync::Notify;

/// Topic prefix of a declaration on the central instance.
pub const DECLARE_PREFIX: &str = "$magnetite/endpoints/";
/// Topic suffix (after the id) of an undeclaration on the central instance.
pub const UNDECLARE_SUFFIX: &str = "/gone";
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

/// What the link sends upstream for one device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Connected here and not declared on this upstream connection yet.
    Declare(String),
    /// Declared on this upstream connection and no longer connected here.
    Undeclare(String),
}

impl Change {
    /// The upstream topic of the (empty) PUBLISH that makes the change.
    pub fn topic(&self) -> String {
        match self {
            Change::Declare(id) => format!("{DECLARE_PREFIX}{id}"),
            Change::Undeclare(id) => format!("{DECLARE_PREFIX}{id}{UNDECLARE_SUFFIX}"),
        }
    }

    /// Records the change, once sent, in the set declared on the connection.
    pub fn apply(self, declared: &mut HashSet<String>) {
        match self {
            Change::Declare(id) => declared.insert(id),
            Change::Undeclare(id) => declared.remove(&id),
        };
    }
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
        let gone = {
            let mut sessions = self.sessions.lock();
            let Some(count) = sessions.get_mut(id) else {
                return;
            };
            *count -= 1;
            *count == 0 && sessions.remove(id).is_some()
        };
        if gone {
            self.changed.notify_one();
        }
    }

    /// Up to `room` changes that bring the upstream connection, which has `declared`
    /// declared, in line with the devices connected here: undeclarations first (they
    /// make room), then declarations while `declared` stays within `max_declared`.
    pub fn changes(
        &self,
        declared: &HashSet<String>,
        room: usize,
        max_declared: usize,
    ) -> Vec<Change> {
        let sessions = self.sessions.lock();
        let mut changes: Vec<Change> = declared
            .iter()
            .filter(|id| !sessions.contains_key(*id))
            .take(room)
            .map(|id| Change::Undeclare(id.clone()))
            .collect();
        let left = declared.len() - changes.len();
        let declarations = (room - changes.len()).min(max_declared.saturating_sub(left));
        let new = sessions.keys().filter(|id| !declared.contains(*id));
        changes.extend(new.take(declarations).map(|id| Change::Declare(id.clone())));
        changes
    }

    /// Resolves after a device connected or left (a permit is kept when nobody waits).
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

    fn declare(ids: &[&str]) -> Vec<Change> {
        ids.iter()
            .map(|id| Change::Declare(id.to_string()))
            .collect()
    }

    fn sorted(mut changes: Vec<Change>) -> Vec<Change> {
        changes.sort_by_key(Change::topic);
        changes
    }

    #[test]
    fn a_device_stays_connected_until_its_last_session_ends() {
        let devices = Devices::default();
        devices.connected("d1");
        devices.connected("d1"); // a takeover: the new session starts first
        devices.connected("d2");
        devices.connected("bad/id");
        let none = HashSet::new();
        assert_eq!(
            sorted(devices.changes(&none, 10, 10)),
            declare(&["d1", "d2"])
        );
        devices.disconnected("d1");
        devices.disconnected("unknown");
        assert_eq!(
            devices.changes(&none, 10, 10).len(),
            2,
            "d1 has one session left"
        );
        devices.disconnected("d1");
        assert_eq!(devices.changes(&none, 10, 10), declare(&["d2"]));
    }

    #[test]
    fn a_device_that_left_is_undeclared_once_and_declared_again_when_back() {
        let devices = Devices::default();
        devices.connected("a");
        devices.connected("b");
        let mut declared = HashSet::new();
        for change in devices.changes(&declared, 10, 10) {
            change.apply(&mut declared);
        }
        assert!(devices.changes(&declared, 10, 10).is_empty());
        devices.disconnected("a");
        let gone = devices.changes(&declared, 10, 10);
        assert_eq!(gone, [Change::Undeclare("a".into())]);
        assert_eq!(gone[0].topic(), "$magnetite/endpoints/a/gone");
        gone.into_iter().for_each(|c| c.apply(&mut declared));
        assert!(devices.changes(&declared, 10, 10).is_empty(), "once");
        devices.connected("a");
        let back = devices.changes(&declared, 10, 10);
        assert_eq!(back, declare(&["a"]));
        assert_eq!(back[0].topic(), "$magnetite/endpoints/a");
    }

    #[test]
    fn changes_fit_the_room_and_the_declared_bound_undeclarations_first() {
        let devices = Devices::default();
        for id in ["b", "c", "d"] {
            devices.connected(id);
        }
        let declared = HashSet::from(["a".to_string(), "b".to_string()]);
        let all = devices.changes(&declared, 10, 10);
        assert_eq!(all[0], Change::Undeclare("a".into()));
        assert_eq!(sorted(all[1..].to_vec()), declare(&["c", "d"]));
        assert_eq!(
            devices.changes(&declared, 1, 10),
            [Change::Undeclare("a".into())]
        );
        // At most 2 declared: "a" leaves, so one more fits.
        assert_eq!(devices.changes(&declared, 10, 2).len(), 2);
        let full = HashSet::from(["b".to_string(), "c".to_string()]);
        assert!(devices.changes(&full, 10, 2).is_empty(), "no room left");
    }
}
