//! Which MQTT sessions each platform client has, so a revocation can end them.

use std::sync::Arc;

use dashmap::DashMap;

/// One MQTT session of a client and its open connections. The MQTT client id is `None`
/// when it is the platform client id itself (what devices usually send): no copy.
type Live = (Option<Box<str>>, u32);

/// Which MQTT sessions (MQTT client ids) each platform client has: the broker knows
/// sessions by MQTT client id, which devices choose freely. Counted, because a takeover
/// reports the new connection before the old one's end.
///
/// One entry per connected client, so it is kept small: keyed by the access cache's
/// copy of the client id ([`crate::mqtt::MqttIdentity`]), a one-session vector of
/// exactly one element, and no copy of an MQTT client id equal to the client id
/// (~90 B per connected device instead of ~300).
#[derive(Debug, Default)]
pub struct LiveSessions {
    /// client id -> (MQTT client id, open connections).
    by_client: DashMap<Arc<str>, Vec<Live>>,
    /// MQTT sessions of clients that disconnected, kept so a persisted session can be
    /// discarded on revoke; bounded by the number of sessions the broker keeps.
    offline: DashMap<String, Vec<String>>,
}

/// How `mqtt_client_id` is kept for `client_id`.
fn kept(client_id: &str, mqtt_client_id: &str) -> Option<Box<str>> {
    (mqtt_client_id != client_id).then(|| Box::from(mqtt_client_id))
}

/// Whether `live` is the session `mqtt_client_id` of `client_id`.
fn is_session(live: &Live, client_id: &str, mqtt_client_id: &str) -> bool {
    live.0.as_deref().unwrap_or(client_id) == mqtt_client_id
}

impl LiveSessions {
    /// A session of `client_id` under `mqtt_client_id` started.
    pub fn add(&self, client_id: &Arc<str>, mqtt_client_id: &str) {
        let mut entry = self
            .by_client
            .entry(Arc::clone(client_id))
            .or_insert_with(|| Vec::with_capacity(1));
        match entry
            .iter_mut()
            .find(|live| is_session(live, client_id, mqtt_client_id))
        {
            Some((_, n)) => *n += 1,
            None => entry.push((kept(client_id, mqtt_client_id), 1)),
        }
        drop(entry);
        if let Some(mut off) = self.offline.get_mut(&**client_id) {
            off.retain(|s| s != mqtt_client_id);
        }
    }

    /// A session of `client_id` under `mqtt_client_id` ended.
    pub fn remove(&self, client_id: &str, mqtt_client_id: &str) {
        let mut now_empty = false;
        if let Some(mut entry) = self.by_client.get_mut(client_id) {
            let found = entry
                .iter()
                .position(|live| is_session(live, client_id, mqtt_client_id));
            if let Some(pos) = found {
                entry[pos].1 -= 1;
                if entry[pos].1 == 0 {
                    entry.remove(pos);
                    let mut off = self.offline.entry(client_id.to_string()).or_default();
                    if !off.iter().any(|s| s == mqtt_client_id) && off.len() < 16 {
                        off.push(mqtt_client_id.to_string());
                    }
                }
            }
            now_empty = entry.is_empty();
        }
        if now_empty {
            self.by_client.remove_if(client_id, |_, v| v.is_empty());
        }
    }

    /// Every MQTT client id the client has a session under, online or remembered
    /// offline.
    pub fn of(&self, client_id: &str) -> Vec<String> {
        let mut ids: Vec<String> = self
            .by_client
            .get(client_id)
            .map(|e| {
                e.iter()
                    .map(|live| live.0.as_deref().unwrap_or(client_id).to_string())
                    .collect()
            })
            .unwrap_or_default();
        if let Some((_, off)) = self.offline.remove(client_id) {
            ids.extend(off);
        }
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(mut ids: Vec<String>) -> Vec<String> {
        ids.sort();
        ids
    }

    #[test]
    fn sessions_under_the_client_id_and_under_other_ids_are_both_found() {
        let live = LiveSessions::default();
        let client: Arc<str> = Arc::from("client-1");
        live.add(&client, "client-1");
        live.add(&client, "sensor-a");
        assert_eq!(sorted(live.of("client-1")), ["client-1", "sensor-a"]);
        assert!(live.of("client-2").is_empty());
        // The entry shares the caller's id.
        assert_eq!(Arc::strong_count(&client), 2);
    }

    #[test]
    fn a_takeover_keeps_the_session_until_its_last_connection_ends() {
        let live = LiveSessions::default();
        let client: Arc<str> = Arc::from("client-1");
        live.add(&client, "client-1");
        live.add(&client, "client-1");
        live.remove("client-1", "client-1");
        assert_eq!(live.of("client-1"), ["client-1"]);
    }

    #[test]
    fn ended_sessions_are_remembered_offline_once_until_asked() {
        let live = LiveSessions::default();
        let client: Arc<str> = Arc::from("client-1");
        live.add(&client, "client-1");
        live.add(&client, "sensor-a");
        live.remove("client-1", "client-1");
        live.remove("client-1", "sensor-a");
        assert_eq!(Arc::strong_count(&client), 1, "the online entry is gone");
        assert_eq!(sorted(live.of("client-1")), ["client-1", "sensor-a"]);
        assert!(live.of("client-1").is_empty(), "handed out once");
        // A session that comes back is online again, not offline twice.
        live.add(&client, "sensor-a");
        live.remove("client-1", "sensor-a");
        live.add(&client, "sensor-a");
        assert_eq!(live.of("client-1"), ["sensor-a"]);
    }
}
