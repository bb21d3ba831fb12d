//! A session: what survives a connection (subscriptions, in-flight messages, queued
//! deliveries) and the mailbox through which publishers reach it.
//!
//! Publishers only touch [`Session::deliver`], which takes a short per-session lock and
//! wakes the owning connection task when the queue goes from empty to non-empty. The
//! rest of the state ([`SessionState`]) is owned by the connected task and handed back
//! to the session when the connection ends, so no lock is taken to use it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytestring::ByteString;
use futures_util::task::AtomicWaker;
use parking_lot::Mutex;
use tokio::sync::oneshot;
use tokio::task::AbortHandle;

use crate::held::HeldSubscriptions;
use crate::hooks::DisconnectReason;
use crate::hooks::Presentation;
use crate::message::{Delivery, Message};
use crate::persist::{Link, Record};
use crate::protocol::QoS;
use crate::router::SubOptions;
use crate::sessions::SessionKey;
use crate::stats::{DropReason, Drops};

mod control;
mod incoming_qos2;

use control::Control;
pub use control::{OwnedSession, OwnerId};
pub use incoming_qos2::IncomingQos2;

/// A request to end the connection that currently owns the session.
pub struct Kick {
    pub reason: DisconnectReason,
    /// Signalled once the old connection has handed its state back.
    pub done: Option<oneshot::Sender<()>>,
}

#[derive(Default)]
struct Mailbox {
    queue: VecDeque<Delivery>,
    /// QoS 1/2 arrived while the queue was full: the client cannot keep up.
    overflowed: bool,
    /// A publisher waits for room in this queue.
    publishers_waiting: bool,
    /// Set while the session is persistent (expiry > 0 and a store configured): QoS 1/2
    /// deliveries are recorded as they enter the queue. Under the mailbox lock, so a
    /// delivery and its record are ordered the same way.
    link: Option<Box<Link>>,
}

/// A subscription as the session remembers it, to take it out of the router when the
/// client unsubscribes or the session ends, and to hand it to another instance.
#[derive(Debug, Clone)]
pub struct StoredSubscription {
    pub group: Option<ByteString>,
    /// The routed filter (as the hooks canonicalised it), without `$share/<group>/`.
    pub filter: ByteString,
    /// How delivered topics are shown to this subscription, when not as routed.
    pub presented: Option<Arc<Presentation>>,
    /// Its delivery options, so the session can move to another instance whole.
    pub options: SubOptions,
}

/// Equal when they name the same router entry (group, routed filter, presentation):
/// the options are that entry's content, not its identity.
impl PartialEq for StoredSubscription {
    fn eq(&self, other: &Self) -> bool {
        self.group == other.group
            && self.filter == other.filter
            && self.presented == other.presented
    }
}

impl Eq for StoredSubscription {}

/// An outgoing QoS 1/2 message not yet fully acknowledged.
pub struct Inflight {
    pub pkid: u16,
    pub delivery: Delivery,
    /// PUBREC received and PUBREL sent; waiting for PUBCOMP.
    pub released: bool,
}

/// State owned by whichever connection currently holds the session.
#[derive(Default)]
pub struct SessionState {
    /// Keyed by the full filter as the client sent it (including any `$share/<group>/`),
    /// so UNSUBSCRIBE finds it by the same text whatever it was routed as.
    pub subscriptions: HeldSubscriptions,
    pub inflight: VecDeque<Inflight>,
    pub next_pkid: u16,
    /// QoS 2 packet ids received and not yet released by PUBREL.
    pub incoming_qos2: IncomingQos2,
}

impl SessionState {
    /// Next free packet id (1..=65535) not used by an in-flight message.
    pub fn allocate_pkid(&mut self) -> u16 {
        loop {
            self.next_pkid = self.next_pkid.wrapping_add(1);
            if self.next_pkid == 0 {
                continue;
            }
            let id = self.next_pkid;
            if !self.inflight.iter().any(|m| m.pkid == id) {
                return id;
            }
        }
    }
}

#[derive(Default)]
struct Timers {
    will: Option<AbortHandle>,
    /// The will waiting for its delay; published early if the session ends first.
    pending_will: Option<Arc<Message>>,
    expiry: Option<AbortHandle>,
}

impl Timers {
    fn is_empty(&self) -> bool {
        self.will.is_none() && self.pending_will.is_none() && self.expiry.is_none()
    }
}

/// A one-waiter notification that can be waited on without a future (`register`), so a
/// connection that holds no task can still be woken. 32 B where a `Notify` is 56 B and
/// its `Notified` future another 80 B in every connection task.
#[derive(Default)]
struct WakeSignal {
    pending: AtomicBool,
    waker: AtomicWaker,
}

impl WakeSignal {
    fn signal(&self) {
        self.pending.store(true, Ordering::Release);
        self.waker.wake();
    }

    /// Registers the waker; true if a signal is pending (left pending).
    fn register(&self, cx: &mut Context<'_>) -> bool {
        self.waker.register(cx.waker());
        self.pending.load(Ordering::Acquire)
    }

    /// Ready once a signal is pending, consuming it.
    fn poll_take(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.pending.swap(false, Ordering::AcqRel) {
            return Poll::Ready(());
        }
        self.waker.register(cx.waker());
        match self.pending.swap(false, Ordering::AcqRel) {
            true => Poll::Ready(()),
            false => Poll::Pending,
        }
    }
}

pub struct Session {
    pub id: u64,
    pub key: SessionKey,
    max_queued: usize,
    mailbox: Mutex<Mailbox>,
    /// Wakes the owning connection: something was queued, or a kick was sent.
    wake: WakeSignal,
    /// Set while `control` holds a kick, so the event loop looks for one without a lock.
    kicks_waiting: AtomicBool,
    online: AtomicBool,
    /// Subscriptions held, so a publish can skip de-duplication for the common
    /// single-subscription session.
    pub subscription_count: AtomicU32,
    /// See [`Session::cluster_epoch`].
    cluster_epoch: AtomicU64,
    state: Mutex<Option<Box<SessionState>>>,
    control: Mutex<Control>,
}

impl Session {
    pub fn new(id: u64, key: SessionKey, max_queued: usize) -> Session {
        Session {
            id,
            key,
            max_queued,
            mailbox: Mutex::default(),
            wake: WakeSignal::default(),
            kicks_waiting: AtomicBool::new(false),
            online: AtomicBool::new(false),
            subscription_count: AtomicU32::new(0),
            cluster_epoch: AtomicU64::new(0),
            state: Mutex::new(Some(Box::default())),
            control: Mutex::default(),
        }
    }

    pub fn is_online(&self) -> bool {
        self.online.load(Ordering::Acquire)
    }

    /// Queues a delivery. QoS 0 for an offline session is not kept (MQTT keeps only
    /// QoS 1/2 for later). QoS 0 is dropped when the queue is full, and so is QoS 1/2 for
    /// an offline session beyond the limit; both are counted in `drops` (the broker's
    /// counters, passed in so a session costs no pointer to them). A QoS 1/2 delivery to
    /// an online session with a full queue is handed back (`Err`): the publisher waits for
    /// room ([`Session::deliver_when_room`]), so a slow subscriber slows its publishers
    /// instead of losing their messages or growing memory.
    ///
    /// `Ok(true)`: the delivery was also recorded in the persistent store.
    pub fn deliver(&self, mut delivery: Delivery, drops: &Drops) -> Result<bool, Delivery> {
        let online = self.is_online();
        let mut mailbox = self.mailbox.lock();
        if delivery.qos == QoS::AtMostOnce && !online {
            return Ok(false);
        }
        if mailbox.queue.len() >= self.max_queued {
            if delivery.qos != QoS::AtMostOnce && online {
                mailbox.publishers_waiting = true;
                return Err(delivery);
            }
            drop(mailbox);
            drops.count(DropReason::QueueFull);
            return Ok(false);
        }
        let stored = match mailbox.link.as_mut() {
            Some(link) if delivery.qos != QoS::AtMostOnce => {
                delivery.stored = link.next_seq;
                link.next_seq += 1;
                link.append(Record::Queued {
                    pid: link.pid,
                    seq: delivery.stored,
                    delivery: delivery.clone(),
                });
                true
            }
            _ => false,
        };
        let was_empty = mailbox.queue.is_empty();
        mailbox.queue.push_back(delivery);
        drop(mailbox);
        if was_empty {
            self.wake.signal();
        }
        Ok(stored)
    }

    /// Ties the session to the store (or unties it, `None`), returning the previous tie.
    pub fn replace_link(&self, link: Option<Box<Link>>) -> Option<Box<Link>> {
        std::mem::replace(&mut self.mailbox.lock().link, link)
    }

    /// Runs `f` on the session's tie to the store, if it is persisted.
    pub fn with_link<R>(&self, f: impl FnOnce(&mut Link) -> R) -> Option<R> {
        self.mailbox.lock().link.as_deref_mut().map(f)
    }

    /// Empties the queue, for a session that moves to another instance.
    pub fn take_queued(&self) -> Vec<Delivery> {
        self.mailbox.lock().queue.drain(..).collect()
    }

    /// The ownership epoch this instance holds the session under cluster-wide (0: not
    /// clustered, or the directory was unreachable when it was claimed).
    pub fn cluster_epoch(&self) -> u64 {
        self.cluster_epoch.load(Ordering::Acquire)
    }

    pub fn set_cluster_epoch(&self, epoch: u64) {
        self.cluster_epoch.store(epoch, Ordering::Release);
    }

    /// Puts back a queued delivery read from the store at start (already recorded).
    pub fn restore_queued(&self, delivery: Delivery) {
        self.mailbox.lock().queue.push_back(delivery);
    }

    /// For callers that cannot wait (wills, retained replays): a full queue of an online
    /// session marks it overflowed, and its connection is closed with "quota exceeded".
    pub fn deliver_or_overflow(&self, delivery: Delivery, drops: &Drops) {
        if self.deliver(delivery, drops).is_err() {
            drops.count(DropReason::SlowSubscriber);
            let mut mailbox = self.mailbox.lock();
            mailbox.overflowed = true;
            drop(mailbox);
            self.wake.signal();
        }
    }

    /// Waits (up to `limit`) until the queue has room for `delivery`; if it never does,
    /// the subscriber is treated as stuck and disconnected ("quota exceeded").
    pub async fn deliver_when_room(
        &self,
        mut delivery: Delivery,
        limit: std::time::Duration,
        drops: &Drops,
    ) {
        let deadline = tokio::time::Instant::now() + limit;
        let room = self.control.lock().room();
        loop {
            let notified = room.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match self.deliver(delivery, drops) {
                Ok(_) => return,
                Err(back) => delivery = back,
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                self.deliver_or_overflow(delivery, drops);
                return;
            }
        }
    }

    /// Waits until something was queued (or the overflow flag was raised, or a kick
    /// was sent through [`Session::kick_owner`]).
    pub async fn wait_for_deliveries(&self) {
        std::future::poll_fn(|cx| self.wake.poll_take(cx)).await
    }

    /// Registers `cx`'s waker for the next delivery or kick without consuming the
    /// signal; true if one is already waiting. A parked connection (no task) waits so.
    pub fn register_waker(&self, cx: &mut Context<'_>) -> bool {
        self.wake.register(cx)
    }

    /// Kicks the connection owning the session, which then owns it no more: the kick
    /// waits in the session for that connection (see `control`), and the wake signal
    /// reaches it even when it is parked. False if no connection owned the session.
    pub fn kick_owner(&self, kick: Kick) -> bool {
        let mut control = self.control.lock();
        match control.replace_owner(None) {
            Some(owner) => {
                self.leave_kick(&mut control, owner, kick);
                true
            }
            None => false,
        }
    }

    /// Makes `owner` (a new connection) the session's owner; a connection that owned it
    /// meanwhile (a connect that raced this one) is taken over.
    pub fn attach_owner(&self, owner: OwnerId) {
        let mut control = self.control.lock();
        if let Some(racing) = control.replace_owner(Some(owner)) {
            let kick = Kick {
                reason: DisconnectReason::TakenOver,
                done: None,
            };
            self.leave_kick(&mut control, racing, kick);
        }
    }

    fn leave_kick(&self, control: &mut Control, to: OwnerId, kick: Kick) {
        control.leave_kick(to, kick);
        self.kicks_waiting.store(true, Ordering::Release);
        self.wake.signal();
    }

    /// The kick sent to `owner`, if any. Lock-free while no kick waits (every turn of
    /// the event loop asks).
    pub fn take_kick(&self, owner: OwnerId) -> Option<Kick> {
        if !self.kicks_waiting.load(Ordering::Acquire) {
            return None;
        }
        let mut control = self.control.lock();
        let kick = control.take_kick(owner);
        self.kicks_waiting
            .store(control.has_kicks(), Ordering::Release);
        kick
    }

    /// Whether a kick waits for `owner` (without taking it): a connection about to park
    /// must not.
    pub fn has_kick_for(&self, owner: OwnerId) -> bool {
        self.kicks_waiting.load(Ordering::Acquire) && self.control.lock().has_kick_for(owner)
    }

    /// Ready with the kick sent to `owner`. Registers no waker of its own: a kick also
    /// raises the wake signal, which the same event loop waits on
    /// ([`Session::wait_for_deliveries`]) and which then looks for the kick too.
    pub fn kicked(&self, owner: OwnerId) -> impl std::future::Future<Output = Kick> + '_ {
        std::future::poll_fn(move |_| match self.take_kick(owner) {
            Some(kick) => Poll::Ready(kick),
            None => Poll::Pending,
        })
    }

    /// `owner` ended (its state is back): a later kick finds no owner, and kicks it did
    /// not take are dropped, telling a waiting takeover to go on.
    pub fn release_owner(&self, owner: OwnerId) {
        let mut control = self.control.lock();
        control.release(owner);
        self.kicks_waiting
            .store(control.has_kicks(), Ordering::Release);
    }

    /// Moves queued deliveries into `out`: all QoS 0 ones, and QoS 1/2 ones while
    /// `window` allows. Returns true when the session overflowed.
    pub fn take_deliveries(&self, out: &mut Vec<Delivery>, mut window: usize) -> bool {
        let mut mailbox = self.mailbox.lock();
        while let Some(front) = mailbox.queue.front() {
            if front.qos != QoS::AtMostOnce {
                if window == 0 {
                    break;
                }
                window -= 1;
            }
            if let Some(d) = mailbox.queue.pop_front() {
                out.push(d);
            }
        }
        if mailbox.queue.is_empty() && mailbox.queue.capacity() > 64 {
            mailbox.queue = VecDeque::new();
        }
        let room = mailbox.publishers_waiting && mailbox.queue.len() < self.max_queued;
        mailbox.publishers_waiting &= !room;
        let overflowed = std::mem::take(&mut mailbox.overflowed);
        drop(mailbox);
        if room {
            // The waiting publishers enabled their `notified` before they marked the
            // mailbox: none misses this.
            self.control.lock().notify_room();
        }
        overflowed
    }

    /// Takes the state for a new connection; `None` if another connection still holds it.
    pub fn take_state(&self) -> Option<Box<SessionState>> {
        self.state.lock().take()
    }

    pub fn set_online(&self, online: bool) {
        self.online.store(online, Ordering::Release);
    }

    /// Hands the state back when a connection ends.
    pub fn put_state(&self, state: Box<SessionState>) {
        *self.state.lock() = Some(state);
    }

    /// Runs `f` on the session's timers, allocated for it when `create` (most sessions
    /// never have one); `None` when there are none and `create` is false. Freed again
    /// once nothing is left in them.
    fn update_timers<R>(&self, create: bool, f: impl FnOnce(&mut Timers) -> R) -> Option<R> {
        let mut control = self.control.lock();
        let slot = &mut control.timers;
        if create && slot.is_none() {
            *slot = Some(Box::default());
        }
        let timers = slot.as_deref_mut()?;
        let out = f(timers);
        if timers.is_empty() {
            *slot = None;
        }
        Some(out)
    }

    /// Remembers a delayed will and the timer that will publish it.
    pub fn set_delayed_will(&self, will: Arc<Message>, timer: AbortHandle) {
        self.update_timers(true, |timers| {
            if let Some(old) = timers.will.replace(timer) {
                old.abort();
            }
            timers.pending_will = Some(will);
        });
    }

    /// Called by the will timer itself when the delay has passed.
    pub fn take_pending_will_after_timer(&self) -> Option<Arc<Message>> {
        self.update_timers(false, |timers| {
            timers.will = None;
            timers.pending_will.take()
        })
        .flatten()
    }

    /// Takes the delayed will (stopping its timer), to publish it now.
    pub fn take_pending_will(&self) -> Option<Arc<Message>> {
        self.update_timers(false, |timers| {
            if let Some(timer) = timers.will.take() {
                timer.abort();
            }
            timers.pending_will.take()
        })
        .flatten()
    }

    pub fn set_expiry_timer(&self, handle: Option<AbortHandle>) {
        let create = handle.is_some();
        let old = self.update_timers(create, |timers| {
            std::mem::replace(&mut timers.expiry, handle)
        });
        if let Some(old) = old.flatten() {
            old.abort();
        }
    }

    /// Stops pending will and expiry timers (a client came back).
    pub fn cancel_timers(&self) {
        drop(self.take_pending_will());
        self.set_expiry_timer(None);
    }
}

#[cfg(test)]
mod size_tests {
    /// Every connected or parked client keeps one `Session` (in an `Arc`) and one
    /// `SessionState` (boxed): what is rarely used is allocated on first use
    /// (the publishers' `Notify`, timers, kicks, QoS 2 ids). Before that they were
    /// 280 B and 144 B.
    #[test]
    fn session_records_stay_small() {
        use std::mem::size_of;
        let session = size_of::<super::Session>();
        let state = size_of::<super::SessionState>();
        println!("Session: {session} B, SessionState: {state} B");
        assert!(session <= SESSION_MAX, "Session grew: {session} B");
        assert!(state <= STATE_MAX, "SessionState grew: {state} B");
    }

    const SESSION_MAX: usize = 240;
    const STATE_MAX: usize = 96;
}
