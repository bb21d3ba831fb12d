//! Sessions that change hands: a new connection taking the session over from the
//! connection holding it (on this instance), and, with a
//! [`SessionDirectory`](crate::directory::SessionDirectory), from or to another instance.
//!
//! Taking over from another instance, on CONNECT: [`claim_cluster_wide`] asks the
//! directory, which brings the session's bytes; [`adopt`] installs them as the local
//! session, and the usual local takeover then resumes it. Handing over to another
//! instance: [`Shared::hand_over`] ends the local connection (0x8E), encodes the session
//! and forgets it here, without a will (the new connection cancels it, as locally
//! [MQTT-3.1.2-8]) and without telling the directory (the ownership moved with it).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::oneshot;

use crate::broker::Shared;
use crate::hooks::{DisconnectReason, Hooks};
use crate::persist::snapshot::{adopt, decode_session, encode_session, encode_subscriptions};
use crate::session::{Kick, Session, SessionState};
use crate::sessions::SessionKey;

/// How long a takeover waits for the connection holding the session to let it go.
const RELEASE_WAIT: Duration = Duration::from_secs(5);

/// Claims the session of `key` cluster-wide (nothing without a directory) and adopts
/// what another instance held; returns the epoch this instance owns it under (0: not
/// tracked).
pub(crate) async fn claim_cluster_wide<H: Hooks>(
    shared: &Arc<Shared<H>>,
    key: &SessionKey,
    clean_start: bool,
) -> u64 {
    let Some(directory) = shared.directory.get() else {
        return 0;
    };
    let claim = directory
        .claim(&key.namespace, &key.client_id, clean_start)
        .await;
    if let Some(bytes) = claim.moved.filter(|_| !clean_start) {
        match decode_session(bytes) {
            Ok(image) => adopt(shared, key.clone(), image),
            Err(err) => {
                tracing::warn!(client_id = %key.client_id, error = %err, "session from another instance unreadable; starting a new one")
            }
        }
    }
    claim.epoch
}

impl<H: Hooks> Shared<H> {
    /// Tells the directory the subscriptions of a persistent session this instance
    /// owns (a session that ends with its connection has nothing to resume after a
    /// crash: not sent).
    pub(crate) fn publish_subscriptions(
        &self,
        session: &Session,
        state: &SessionState,
        expiry: u32,
    ) {
        let (Some(directory), epoch) = (self.directory.get(), session.cluster_epoch()) else {
            return;
        };
        if epoch == 0 || expiry == 0 {
            return;
        }
        let subscriptions = encode_subscriptions(&session.key, expiry, state);
        let key = &session.key;
        directory.subscriptions_changed(
            &key.namespace,
            &key.client_id,
            epoch,
            expiry,
            subscriptions,
        );
    }

    /// Tells the directory a session this instance owned is gone.
    pub(crate) fn release_ownership(&self, session: &Session) {
        let (Some(directory), epoch) = (self.directory.get(), session.cluster_epoch()) else {
            return;
        };
        if epoch != 0 {
            directory.released(&session.key.namespace, &session.key.client_id, epoch);
        }
    }

    /// Gives the session of `key` away: its connection (if any) is closed with "session
    /// taken over", and the session leaves this instance. `keep`: returned encoded
    /// (`None` if there was no session here); otherwise discarded (clean start).
    pub(crate) async fn hand_over(&self, key: &SessionKey, keep: bool) -> Option<Bytes> {
        let session = self.sessions.get(key)?;
        let state = take_over(self, &session).await?;
        session.cancel_timers();
        let expiry = session
            .with_link(|link| link.meta.expiry)
            .unwrap_or(u32::MAX);
        self.discard_local(&session, &state);
        // After the router lost its subscriptions: nothing more can be queued.
        let queued = session.take_queued();
        keep.then(|| encode_session(key, expiry, &state, queued))
    }

    /// This instance lost the ownership of `key` it held under `epoch` (another
    /// instance claimed it meanwhile): its copy goes, the newer owner's stays.
    pub(crate) async fn drop_lost_session(&self, key: &SessionKey, epoch: u64) {
        let held = self.sessions.get(key);
        if held.is_some_and(|s| s.cluster_epoch() == epoch) {
            tracing::info!(client_id = %key.client_id, "session owned by another instance now; local copy dropped");
            self.hand_over(key, false).await;
        }
    }
}

/// Ends the connection holding `session` and waits (bounded) for its state. `None`
/// when the old connection discarded the session on its way out (clean session).
pub(crate) async fn take_over<H: Hooks>(
    shared: &Shared<H>,
    session: &Arc<Session>,
) -> Option<Box<SessionState>> {
    let (done_tx, done_rx) = oneshot::channel();
    let kick = Kick {
        reason: DisconnectReason::TakenOver,
        done: Some(done_tx),
    };
    if session.kick_owner(kick) {
        let _ = tokio::time::timeout(RELEASE_WAIT, done_rx).await;
    }
    for _ in 0..100 {
        if let Some(state) = session.take_state() {
            return Some(state);
        }
        let still_registered = shared
            .sessions
            .get(&session.key)
            .is_some_and(|s| s.id == session.id);
        if !still_registered {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tracing::warn!(client_id = %session.key.client_id, "previous connection did not release its session");
    None
}
