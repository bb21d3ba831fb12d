//! Who owns a session, and the kicks that end its connections.
//!
//! A kick (takeover, revocation, an operator's kick) is left in the session for the
//! connection it ends, keyed by that connection's [`OwnerId`], and the session's wake
//! signal is raised: a running connection sees it in its event loop; a parked one, which
//! holds no task, is woken by the signal and sees it when it runs again. Kicks wait in
//! the session rather than in a channel per connection so that an idle connection holds
//! no channel (a `oneshot` cost ~62 B of heap per connection).

use std::num::NonZeroU64;
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;

use super::{Kick, Session, Timers};

/// One connection as a session's owner: unique for as long as the process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OwnerId(NonZeroU64);

impl OwnerId {
    /// A fresh id, never handed out before.
    pub fn next() -> OwnerId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        OwnerId(NonZeroU64::new(id).unwrap_or(NonZeroU64::MIN))
    }
}

/// A session as one connection owns it (a connection's handle on its session). Dropped,
/// it gives the ownership up (`Session::release_owner`), however the connection ended:
/// a later kick must find no owner rather than wait for one that is gone.
pub struct OwnedSession {
    session: Arc<Session>,
    owner: OwnerId,
}

impl OwnedSession {
    /// `owner` takes `session` over (see `Session::attach_owner`).
    pub fn attach(session: Arc<Session>, owner: OwnerId) -> OwnedSession {
        session.attach_owner(owner);
        OwnedSession { session, owner }
    }

    pub fn owner(&self) -> OwnerId {
        self.owner
    }

    /// The kick sent to this connection, if any (see `Session::take_kick`).
    pub fn take_kick(&self) -> Option<Kick> {
        self.session.take_kick(self.owner)
    }

    /// Gives the ownership up now (the connection ends; idempotent).
    pub fn release(&self) {
        self.session.release_owner(self.owner);
    }
}

impl Deref for OwnedSession {
    type Target = Arc<Session>;

    fn deref(&self) -> &Arc<Session> {
        &self.session
    }
}

impl Drop for OwnedSession {
    fn drop(&mut self) {
        self.release();
    }
}

/// The session's owner, the kicks not yet taken by the connections they end, and the
/// session's other seldom used parts, under one lock and allocated on first use: every
/// connected or parked client holds a session, and the `Arc` holding it fits jemalloc's
/// 256 B class only without a lock and a `Notify` for each of them.
#[derive(Default)]
pub(super) struct Control {
    owner: Option<OwnerId>,
    /// Will delay and expiry timers, allocated while any is set.
    pub(super) timers: Option<Box<Timers>>,
    /// Signalled when a full queue was drained, for publishers waiting on it. Created
    /// by the first publisher that waits (most sessions never fill their queue).
    room: Option<Arc<Notify>>,
    /// Allocated while a kick waits (8 B in every session instead of a vector's 24);
    /// more than one kick only while a takeover races another connect of the client.
    #[allow(clippy::box_collection)] // the point: 8 B inline, allocated only while used
    kicks: Option<Box<Vec<(OwnerId, Kick)>>>,
}

impl Control {
    /// The publishers' wake-up when the queue has room, created for the first of them.
    pub(super) fn room(&mut self) -> Arc<Notify> {
        Arc::clone(self.room.get_or_insert_with(Arc::default))
    }

    pub(super) fn notify_room(&self) {
        if let Some(room) = &self.room {
            room.notify_waiters();
        }
    }

    pub(super) fn replace_owner(&mut self, owner: Option<OwnerId>) -> Option<OwnerId> {
        std::mem::replace(&mut self.owner, owner)
    }

    pub(super) fn leave_kick(&mut self, to: OwnerId, kick: Kick) {
        self.kicks.get_or_insert_with(Box::default).push((to, kick));
    }

    pub(super) fn take_kick(&mut self, owner: OwnerId) -> Option<Kick> {
        let kicks = self.kicks.as_mut()?;
        let at = kicks.iter().position(|(to, _)| *to == owner)?;
        let (_, kick) = kicks.swap_remove(at);
        if kicks.is_empty() {
            self.kicks = None;
        }
        Some(kick)
    }

    pub(super) fn has_kick_for(&self, owner: OwnerId) -> bool {
        self.kicks
            .as_ref()
            .is_some_and(|kicks| kicks.iter().any(|(to, _)| *to == owner))
    }

    pub(super) fn has_kicks(&self) -> bool {
        self.kicks.is_some()
    }

    /// `owner` ended: it no longer owns the session (unless a newer connection does
    /// already), and kicks it did not take are dropped, which tells a takeover waiting
    /// on one (`Kick::done`) that the state is back.
    pub(super) fn release(&mut self, owner: OwnerId) {
        if self.owner == Some(owner) {
            self.owner = None;
        }
        while self.take_kick(owner).is_some() {}
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::pin;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};

    use bytestring::ByteString;
    use tokio::sync::oneshot;

    use super::super::{Kick, Session};
    use super::*;
    use crate::hooks::DisconnectReason;
    use crate::sessions::SessionKey;

    /// Stands for a parked connection's slot waker: counts its wakes.
    struct Slot(AtomicUsize);

    impl Wake for Slot {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn owned_session() -> (Session, OwnerId) {
        let session = Session::new(1, SessionKey::new("", ByteString::from("c")), 10);
        let owner = OwnerId::next();
        session.attach_owner(owner);
        (session, owner)
    }

    fn kick(reason: DisconnectReason) -> Kick {
        Kick { reason, done: None }
    }

    #[test]
    fn a_kick_sent_before_the_park_registers_refuses_the_park() {
        let (session, owner) = owned_session();
        assert!(session.kick_owner(kick(DisconnectReason::Kicked)));
        let slot = Arc::new(Slot(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&slot));
        let signalled = session.register_waker(&mut Context::from_waker(&waker));
        assert!(signalled, "the signal is still pending");
        assert!(
            session.has_kick_for(owner),
            "and the kick waits for its owner"
        );
        let taken = session.take_kick(owner).map(|k| k.reason);
        assert_eq!(taken, Some(DisconnectReason::Kicked));
        assert!(!session.has_kick_for(owner), "taken once");
    }

    #[test]
    fn a_kick_sent_after_the_park_registered_wakes_the_slot() {
        let (session, owner) = owned_session();
        let slot = Arc::new(Slot(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&slot));
        assert!(!session.register_waker(&mut Context::from_waker(&waker)));
        assert!(!session.has_kick_for(owner));
        assert!(session.kick_owner(kick(DisconnectReason::Revoked)));
        assert_eq!(slot.0.load(Ordering::SeqCst), 1, "the parked slot is woken");
        // Resumed, the event loop's kick branch finds it.
        let mut kicked = pin!(session.kicked(owner));
        let polled = kicked
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()));
        assert!(matches!(polled, Poll::Ready(k) if k.reason == DisconnectReason::Revoked));
    }

    #[test]
    fn a_kick_reaches_only_the_connection_it_ends() {
        let (session, first) = owned_session();
        let second = OwnerId::next();
        session.attach_owner(second);
        assert!(
            session.take_kick(second).is_none(),
            "the newer owner is not kicked"
        );
        let racing = session.take_kick(first).map(|k| k.reason);
        assert_eq!(racing, Some(DisconnectReason::TakenOver));
        let mut kicked = pin!(session.kicked(second));
        let polled = kicked
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()));
        assert!(polled.is_pending());
        assert!(session.kick_owner(kick(DisconnectReason::Kicked)));
        assert!(session.take_kick(first).is_none());
        assert!(session.take_kick(second).is_some());
    }

    #[test]
    fn a_released_owner_is_kicked_no_more_and_its_untaken_kick_lets_a_takeover_go_on() {
        let (session, owner) = owned_session();
        let (done, mut waiting) = oneshot::channel();
        let takeover = Kick {
            reason: DisconnectReason::TakenOver,
            done: Some(done),
        };
        assert!(session.kick_owner(takeover));
        assert!(
            !session.kick_owner(kick(DisconnectReason::Kicked)),
            "no owner now"
        );
        session.release_owner(owner);
        assert!(
            matches!(
                waiting.try_recv(),
                Err(oneshot::error::TryRecvError::Closed)
            ),
            "the takeover stops waiting"
        );
        assert!(!session.has_kick_for(owner));
        // A newer owner released by an older connection's late release stays.
        let newer = OwnerId::next();
        session.attach_owner(newer);
        session.release_owner(owner);
        assert!(session.kick_owner(kick(DisconnectReason::Kicked)));
        assert!(session.take_kick(newer).is_some());
    }
}
