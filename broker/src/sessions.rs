//! The table of sessions by client id.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytestring::ByteString;
use dashmap::DashMap;

use crate::session::Session;

#[derive(Default)]
pub struct Sessions {
    by_client_id: DashMap<ByteString, Arc<Session>>,
    next_id: AtomicU64,
}

impl Sessions {
    pub fn get(&self, client_id: &str) -> Option<Arc<Session>> {
        self.by_client_id
            .get(client_id)
            .map(|s| Arc::clone(s.value()))
    }

    /// Creates a fresh session, replacing any previous one under that client id.
    pub fn create(&self, client_id: ByteString, max_queued: usize) -> Arc<Session> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let session = Arc::new(Session::new(id, client_id.clone(), max_queued));
        self.by_client_id.insert(client_id, Arc::clone(&session));
        session
    }

    /// Removes the session only if the table still holds this very one.
    pub fn remove_if_same(&self, session: &Session) -> bool {
        self.by_client_id
            .remove_if(&session.client_id, |_, s| s.id == session.id)
            .is_some()
    }

    pub fn len(&self) -> usize {
        self.by_client_id.len()
    }
}
