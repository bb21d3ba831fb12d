//! The table of sessions by (namespace, MQTT client id).
//!
//! The namespace comes from [`crate::Hooks::session_namespace`]: the MQTT client id is
//! free text a device chooses, so two tenants' devices may both call themselves
//! `sensor-1`. Keying by the authenticated identity's namespace as well means they get
//! two sessions, and a CONNECT can only resume or take over a session of its own
//! namespace.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytestring::ByteString;
use dashmap::DashMap;

use crate::session::Session;

/// What identifies a session: the namespace of the identity that owns it (empty for
/// the single namespace of `--auth none`) and the MQTT client id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionKey {
    pub namespace: ByteString,
    pub client_id: ByteString,
}

impl SessionKey {
    pub fn new(namespace: &str, client_id: ByteString) -> SessionKey {
        let namespace = if namespace.is_empty() {
            ByteString::new()
        } else {
            ByteString::from(namespace)
        };
        SessionKey {
            namespace,
            client_id,
        }
    }
}

#[derive(Default)]
pub struct Sessions {
    by_key: DashMap<SessionKey, Arc<Session>>,
    next_id: AtomicU64,
}

impl Sessions {
    pub fn get(&self, key: &SessionKey) -> Option<Arc<Session>> {
        self.by_key.get(key).map(|s| Arc::clone(s.value()))
    }

    /// Creates a fresh session, replacing any previous one under that key.
    pub fn create(&self, key: SessionKey, max_queued: usize) -> Arc<Session> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let session = Arc::new(Session::new(id, key.clone(), max_queued));
        self.by_key.insert(key, Arc::clone(&session));
        session
    }

    /// Removes the session only if the table still holds this very one.
    pub fn remove_if_same(&self, session: &Session) -> bool {
        self.by_key
            .remove_if(&session.key, |_, s| s.id == session.id)
            .is_some()
    }

    pub fn len(&self) -> usize {
        self.by_key.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_client_id_in_two_namespaces_is_two_sessions() {
        let sessions = Sessions::default();
        let a = SessionKey::new("tenant-a-device", ByteString::from("sensor-1"));
        let b = SessionKey::new("tenant-b-device", ByteString::from("sensor-1"));
        let first = sessions.create(a.clone(), 10);
        let second = sessions.create(b.clone(), 10);
        assert_ne!(first.id, second.id);
        assert_eq!(sessions.len(), 2);
        assert_eq!(sessions.get(&a).map(|s| s.id), Some(first.id));
        assert_eq!(sessions.get(&b).map(|s| s.id), Some(second.id));
        assert!(sessions
            .get(&SessionKey::new("", ByteString::from("sensor-1")))
            .is_none());
    }
}
