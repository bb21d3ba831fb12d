//! The broker: shared state of all connections, the publish path and the end of a
//! session. The handle the rest of the platform uses to act on live sessions is in
//! `handle`.
//!
//! Which way the arrows go inside the crate: `listener` -> `connection` -> `will` ->
//! `broker` -> (`router`, `sessions`, `session`, `retained`, `stats`, `hooks`). This
//! module never reaches back into `connection` or `will`: what both a connection's
//! teardown and a revocation need (discarding a session, its expiry timer) lives here,
//! on [`Shared`], so the engine has no import circle.

use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::{watch, Semaphore};
use tokio_util::task::TaskTracker;

use crate::admission::{self, Admission};
use crate::bridge::BridgeLink;
use crate::cluster::ClusterLink;
use crate::config::BrokerConfig;
use crate::connection::park::ParkingLot;
use crate::directory::SessionDirectory;
use crate::hooks::{DisconnectReason, Hooks};
use crate::message::{Delivery, Message};
use crate::persist::{Persist, Persistence, Record};
use crate::retained::RetainedStore;
use crate::router::{Entry, EntryKey, Reach, Router};
use crate::session::{Kick, Session, SessionState};
use crate::sessions::{SessionKey, Sessions};
use crate::stats::{Drops, Stats};
use crate::tap::MessageTap;

/// CONNECTs that may wait for a connection slot at once (see
/// `BrokerConfig::connect_slot_wait`). A waiter is a socket that has already sent its
/// CONNECT, so it costs what it held while reading it; the cap keeps a flood of connects
/// at the limit from queueing more than a reconnect wave's worth of them.
pub const MAX_SLOT_WAITERS: usize = 1024;

pub(crate) struct Shared<H: Hooks> {
    pub config: BrokerConfig,
    pub hooks: H,
    pub router: Router,
    pub retained: RetainedStore,
    pub sessions: Sessions,
    pub stats: Stats,
    /// The durable store; `None` with `--persistence none`.
    pub persist: Option<Persist>,
    /// The other instances; `None` when this one runs alone.
    pub cluster: Option<Arc<dyn ClusterLink>>,
    /// Session ownership across instances; unset when this one runs alone.
    pub directory: OnceLock<Arc<dyn SessionDirectory>>,
    pub connection_slots: Arc<Semaphore>,
    /// Admission to wait for a connection slot: at most [`MAX_SLOT_WAITERS`] (or
    /// `max_connections`, if fewer) CONNECTs wait at once; more are refused at once.
    pub slot_waiters: Semaphore,
    pub shutdown: watch::Sender<bool>,
    pub tasks: TaskTracker,
    /// Idle connections that gave up their task.
    pub parking: ParkingLot,
    /// Sees every message published on this instance (set once, e.g. the message
    /// store's writer); unset costs one atomic load per PUBLISH.
    pub tap: OnceLock<Arc<dyn MessageTap>>,
    /// The bridges' door (see [`crate::bridge`]), installed once at start.
    pub bridge: OnceLock<Arc<dyn BridgeLink>>,
    /// Overload protection: CONNECT admission, QoS 0 shedding, its counters.
    pub admission: Arc<Admission>,
}

pub struct Broker<H: Hooks> {
    pub(crate) shared: Arc<Shared<H>>,
}

impl<H: Hooks> Clone for Broker<H> {
    fn clone(&self) -> Self {
        Broker {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<H: Hooks> Broker<H> {
    pub fn new(config: BrokerConfig, hooks: H) -> Broker<H> {
        Broker::build(config, hooks, None, None)
    }

    /// A broker with its optional durable store and its optional link to other
    /// instances. With a store, what it held (retained messages, persistent sessions,
    /// pending wills) is restored at once, so this needs a Tokio runtime (timers of
    /// restored sessions and wills start). The link is given here, before anything is
    /// restored, so it hears of every subscription, restored ones included.
    pub fn assemble(
        config: BrokerConfig,
        hooks: H,
        persistence: Option<Persistence>,
        cluster: Option<Arc<dyn ClusterLink>>,
    ) -> Broker<H> {
        let (persist, image) = match persistence {
            Some(Persistence { persist, image }) => (Some(persist), Some(image)),
            None => (None, None),
        };
        let broker = Broker::build(config, hooks, persist, cluster);
        if let Some(image) = image {
            crate::persist::restore::restore(&broker.shared, image);
        }
        broker
    }

    fn build(
        config: BrokerConfig,
        hooks: H,
        persist: Option<Persist>,
        cluster: Option<Arc<dyn ClusterLink>>,
    ) -> Broker<H> {
        let (shutdown, _) = watch::channel(false);
        let slots = Arc::new(Semaphore::new(
            config.max_connections.min(Semaphore::MAX_PERMITS),
        ));
        let slot_waiters = Semaphore::new(config.max_connections.min(MAX_SLOT_WAITERS));
        let admission = Arc::new(Admission::new(&config.overload));
        admission::start_sampler(&admission, shutdown.subscribe());
        let parking = ParkingLot::new(config.release_free_memory);
        Broker {
            shared: Arc::new(Shared {
                config,
                hooks,
                router: Router::default(),
                retained: RetainedStore::default(),
                sessions: Sessions::default(),
                stats: Stats::default(),
                persist,
                cluster,
                directory: OnceLock::new(),
                connection_slots: slots,
                slot_waiters,
                shutdown,
                tasks: TaskTracker::new(),
                parking,
                tap: OnceLock::new(),
                bridge: OnceLock::new(),
                admission,
            }),
        }
    }

    /// Makes session ownership cluster-wide (see [`SessionDirectory`]); set once, before
    /// the listeners start. Returns false if one was set already.
    pub fn set_directory(&self, directory: Arc<dyn SessionDirectory>) -> bool {
        self.shared.directory.set(directory).is_ok()
    }

    pub fn hooks(&self) -> &H {
        &self.shared.hooks
    }

    pub fn stats(&self) -> &Stats {
        &self.shared.stats
    }

    /// Overload protection's state and counters (e.g. to move the memory watermarks).
    pub fn admission(&self) -> &Admission {
        &self.shared.admission
    }

    /// Connections parked now (idle, holding no task).
    pub fn parked_connections(&self) -> usize {
        self.shared.parking.parked()
    }

    /// A type-erased handle for the platform (kick sessions, shut down).
    pub fn handle(&self) -> BrokerHandle {
        BrokerHandle {
            control: self.shared.clone(),
        }
    }

    /// Stops listeners, disconnects every client with "server shutting down" and waits
    /// until every connection task has run its disconnect hooks.
    pub async fn shutdown(&self) {
        self.shared.shutdown.send_replace(true);
        self.shared.parking.resume_all();
        self.shared.tasks.close();
        self.shared.tasks.wait().await;
        if let Some(persist) = &self.shared.persist {
            let store = Arc::clone(&persist.store);
            let _ = tokio::task::spawn_blocking(move || store.close()).await;
        }
    }
}

impl<H: Hooks> Shared<H> {
    /// Stores a retained message and routes `message` to every matching session.
    /// QoS 1/2 deliveries whose session queue is full come back in the outcome for the
    /// publisher to wait on (see [`Session::deliver`]).
    /// Then hands it to the other instances, if any.
    pub fn publish(&self, message: Arc<Message>) -> Routed {
        self.stats.messages_received.fetch_add(1, Ordering::Relaxed);
        let mut routed = Routed::default();
        self.store_retained(&message, &mut routed);
        self.route_locally(&message, &mut routed);
        if let Some(cluster) = &self.cluster {
            cluster.forward(&message);
            routed.forwarded = true;
        }
        if let Some(tap) = self.tap.get() {
            tap.published(&message);
        }
        if let Some(bridge) = self.bridge.get() {
            bridge.forward(&message);
        }
        routed
    }

    /// Routes a message another instance published to this instance's subscribers only
    /// (never back to the bus). Nobody waits for a slow subscriber: a full queue
    /// overflows, as for wills. Its retained copy, if any, arrives on its own path
    /// ([`Shared::retain_from_cluster`]), so it is not stored here.
    pub fn publish_from_cluster(&self, message: Arc<Message>) {
        self.stats.messages_received.fetch_add(1, Ordering::Relaxed);
        let mut routed = Routed::default();
        self.route_locally(&message, &mut routed);
        for (session, delivery) in routed.blocked {
            session.deliver_or_overflow(delivery, &self.stats.dropped);
        }
    }

    /// Delivers a message the bus chose this instance for to one member of the shared
    /// group `group` of `filter` (in a cluster the local pass skips shared groups, see
    /// [`Reach`]). Like [`Shared::publish_from_cluster`], a full queue overflows.
    pub fn publish_to_shared_group(&self, message: Arc<Message>, filter: &str, group: &str) {
        let shed = self.admission.shedding();
        self.router.route_to_group(filter, group, |entry| {
            if shed && self.shed_qos0(&message, entry) {
                return;
            }
            let one = delivery(&message, entry);
            if let Err(back) = entry.session.deliver(one, &self.stats.dropped) {
                entry.session.deliver_or_overflow(back, &self.stats.dropped);
            }
        });
    }

    /// Keeps a retained message another instance took (or clears it, for an empty
    /// payload), as if published here, without routing it: its subscribers got it
    /// through [`Shared::publish_from_cluster`] already.
    pub fn retain_from_cluster(&self, message: Arc<Message>) {
        self.store_retained(&message, &mut Routed::default());
    }

    /// Adds a subscription to the router; true when the session already had it. The
    /// cluster link hears of each new one (the router's answer makes the count exact).
    pub fn add_subscription(&self, filter: &str, group: Option<&str>, entry: Entry) -> bool {
        let existed = self.router.subscribe(filter, group, entry);
        if !existed {
            self.stats.subscriptions.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(cluster) = self.cluster.as_ref().filter(|_| !existed) {
            cluster.subscribed(filter, group);
        }
        existed
    }

    /// Takes a subscription out of the router; true when it was there.
    pub fn remove_subscription(&self, filter: &str, group: Option<&str>, key: EntryKey) -> bool {
        let removed = self.router.unsubscribe(filter, group, key);
        if removed {
            self.stats.subscriptions.fetch_sub(1, Ordering::Relaxed);
        }
        if let Some(cluster) = self.cluster.as_ref().filter(|_| removed) {
            cluster.unsubscribed(filter, group);
        }
        removed
    }

    fn store_retained(&self, message: &Arc<Message>, routed: &mut Routed) {
        if message.retain {
            let kept = self.retained.set(message);
            if let Some(persist) = &self.persist {
                persist.store.append(Record::Retained {
                    topic: message.topic.clone(),
                    message: kept,
                });
                routed.stored = true;
            }
        }
    }

    fn route_locally(&self, message: &Arc<Message>, routed: &mut Routed) {
        // Sessions with more than one subscription may match twice; they are merged
        // into one delivery per presented topic (max QoS, all subscription ids) below.
        let mut several: Vec<Match> = Vec::new();
        let reach = match self.cluster {
            Some(_) => Reach::DirectOnly,
            None => Reach::All,
        };
        let shed = self.admission.shedding();
        self.router.route_within(&message.topic, reach, |entry| {
            if entry.options.no_local && entry.session.id == message.origin {
                return;
            }
            routed.matched += 1;
            if shed && self.shed_qos0(message, entry) {
                return;
            }
            if entry.session.subscription_count.load(Ordering::Relaxed) <= 1 {
                let one = delivery(message, entry);
                match entry.session.deliver(one, &self.stats.dropped) {
                    Ok(stored) => routed.stored |= stored,
                    Err(back) => routed.blocked.push((Arc::clone(&entry.session), back)),
                }
            } else {
                several.push(Match {
                    session: Arc::clone(&entry.session),
                    delivery: delivery(message, entry),
                });
            }
        });
        if !several.is_empty() {
            deliver_merged(several, routed, &self.stats.dropped);
        }
    }

    /// Past the memory watermark: whether this subscription's delivery is QoS 0, and so
    /// dropped (counted). Checked before merging a session's overlapping subscriptions,
    /// so a QoS 1 one of them still delivers.
    fn shed_qos0(&self, message: &Message, entry: &Entry) -> bool {
        let qos0 = message.qos.min(entry.options.qos) == crate::protocol::QoS::AtMostOnce;
        if qos0 {
            self.admission.count_shed();
        }
        qos0
    }

    /// Publishes where nobody can wait for a slow subscriber (wills): a full queue
    /// overflows instead.
    pub fn publish_detached(&self, message: Arc<Message>) {
        for (session, delivery) in self.publish(message).blocked {
            session.deliver_or_overflow(delivery, &self.stats.dropped);
        }
    }

    /// Publishes a `$SYS` reading ([`crate::sys`]): retained and routed on this instance
    /// only (each broker reports itself), neither persisted nor counted as received.
    pub(crate) fn publish_sys(&self, message: Arc<Message>) {
        self.retained.set_sys(&message);
        let mut routed = Routed::default();
        self.route_locally(&message, &mut routed);
        for (session, delivery) in routed.blocked {
            session.deliver_or_overflow(delivery, &self.stats.dropped);
        }
    }

    pub fn kick(&self, key: &SessionKey, reason: DisconnectReason) -> bool {
        let Some(session) = self.sessions.get(key) else {
            return false;
        };
        session.kick_owner(Kick { reason, done: None })
    }

    /// Ends the access of the session under `key`: a live connection is closed (v5:
    /// DISCONNECT 0x87) and its session discarded; an offline persistent session is
    /// discarded at once, so no subscription it held keeps receiving.
    pub fn revoke(&self, key: &SessionKey) -> bool {
        let Some(session) = self.sessions.get(key) else {
            return false;
        };
        let kick = Kick {
            reason: DisconnectReason::Revoked,
            done: None,
        };
        if session.kick_owner(kick) {
            return true;
        }
        match session.take_state() {
            Some(state) => {
                self.discard_session(&session, &state);
                true
            }
            None => false,
        }
    }

    /// Ends a session for good: its subscriptions leave the router, it leaves the table,
    /// and a will still waiting for its delay is published now. Cluster-wide, this
    /// instance no longer owns it.
    pub fn discard_session(&self, session: &Arc<Session>, state: &SessionState) {
        self.discard_local(session, state);
        self.release_ownership(session);
    }

    /// [`Shared::discard_session`] on this instance only: the session's key stays owned
    /// here (a new session replaces it) or its ownership moved elsewhere (handed over).
    pub fn discard_local(&self, session: &Arc<Session>, state: &SessionState) {
        for sub in state.subscriptions.values() {
            let key = EntryKey {
                session_id: session.id,
                presented: sub.presented.as_deref(),
            };
            self.remove_subscription(&sub.filter, sub.group.as_deref(), key);
        }
        self.sessions.remove_if_same(session);
        if let Some(link) = session.replace_link(None) {
            link.append(Record::SessionGone { pid: link.pid });
        }
        session.set_expiry_timer(None);
        if let Some(will) = session.take_pending_will() {
            self.publish_detached(will);
        }
    }

    /// Discards the offline `session` after `seconds` (its Session Expiry Interval),
    /// unless a connection has taken it back by then.
    pub fn schedule_expiry(self: &Arc<Self>, session: &Arc<Session>, seconds: u32) {
        let shared_for_task = Arc::clone(self);
        let session_for_task = Arc::clone(session);
        let timer = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(u64::from(seconds))).await;
            if session_for_task.is_online() {
                return;
            }
            if let Some(state) = session_for_task.take_state() {
                shared_for_task.discard_session(&session_for_task, &state);
            }
        });
        session.set_expiry_timer(Some(timer.abort_handle()));
    }
}

/// Where a PUBLISH went.
#[derive(Default)]
pub(crate) struct Routed {
    /// Subscriptions that matched.
    pub matched: usize,
    /// QoS 1/2 deliveries waiting for room in a full session queue.
    pub blocked: Vec<(Arc<Session>, Delivery)>,
    /// Something was recorded in the persistent store (under `sync` the publisher's
    /// acknowledgement waits for it).
    pub stored: bool,
    /// Handed to the other instances: subscribers may exist beyond `matched`.
    pub forwarded: bool,
}

/// One matching subscription of a session that holds several.
struct Match {
    session: Arc<Session>,
    delivery: Delivery,
}

fn delivery(message: &Arc<Message>, entry: &Entry) -> Delivery {
    let options = &entry.options;
    Delivery {
        message: Arc::clone(message),
        qos: message.qos.min(options.qos),
        retain: options.retain_as_published && message.retain,
        subscription_ids: options.subscription_id.into_iter().collect(),
        presented: entry.presented.clone(),
        stored: 0,
    }
}

/// Overlapping subscriptions of one session get one delivery per topic they are shown
/// (one for most sessions; one per form when a channel is subscribed by id and by route).
fn deliver_merged(mut matches: Vec<Match>, routed: &mut Routed, drops: &Drops) {
    matches.sort_by_key(|m| m.session.id);
    let mut i = 0;
    while i < matches.len() {
        let session = Arc::clone(&matches[i].session);
        let mut merged: Vec<Delivery> = Vec::with_capacity(1);
        while i < matches.len() && matches[i].session.id == session.id {
            let next = matches[i].delivery.clone();
            match merged.iter_mut().find(|d| d.presented == next.presented) {
                Some(same) => {
                    same.qos = same.qos.max(next.qos);
                    same.retain |= next.retain;
                    same.subscription_ids.extend(next.subscription_ids);
                }
                None => merged.push(next),
            }
            i += 1;
        }
        for one in merged {
            match session.deliver(one, drops) {
                Ok(stored) => routed.stored |= stored,
                Err(back) => routed.blocked.push((Arc::clone(&session), back)),
            }
        }
    }
}

pub use crate::handle::{BrokerControl, BrokerHandle, PersistenceCounts};
