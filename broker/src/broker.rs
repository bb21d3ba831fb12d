//! The broker: shared state of all connections, the publish path, and the handle the
//! rest of the platform uses to act on live sessions.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{watch, Semaphore};
use tokio_util::task::TaskTracker;

use crate::config::BrokerConfig;
use crate::hooks::{DisconnectReason, Hooks};
use crate::message::{Delivery, Message};
use crate::retained::RetainedStore;
use crate::router::{Router, SubOptions};
use crate::session::{Kick, Session};
use crate::sessions::Sessions;

/// Counters exported on `/metrics`.
#[derive(Default)]
pub struct Stats {
    pub connections: AtomicUsize,
    pub messages_received: AtomicU64,
    pub messages_sent: AtomicU64,
    pub messages_dropped: AtomicU64,
}

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
    pub connection_slots: Arc<Semaphore>,
    /// Admission to wait for a connection slot: at most [`MAX_SLOT_WAITERS`] (or
    /// `max_connections`, if fewer) CONNECTs wait at once; more are refused at once.
    pub slot_waiters: Semaphore,
    pub shutdown: watch::Sender<bool>,
    pub tasks: TaskTracker,
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
        let (shutdown, _) = watch::channel(false);
        let slots = Arc::new(Semaphore::new(
            config.max_connections.min(Semaphore::MAX_PERMITS),
        ));
        let slot_waiters = Semaphore::new(config.max_connections.min(MAX_SLOT_WAITERS));
        Broker {
            shared: Arc::new(Shared {
                config,
                hooks,
                router: Router::default(),
                retained: RetainedStore::default(),
                sessions: Sessions::default(),
                stats: Stats::default(),
                connection_slots: slots,
                slot_waiters,
                shutdown,
                tasks: TaskTracker::new(),
            }),
        }
    }

    pub fn hooks(&self) -> &H {
        &self.shared.hooks
    }

    pub fn stats(&self) -> &Stats {
        &self.shared.stats
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
        self.shared.tasks.close();
        self.shared.tasks.wait().await;
    }
}

impl<H: Hooks> Shared<H> {
    /// Stores a retained message and routes `message` to every matching session.
    /// QoS 1/2 deliveries whose session queue is full come back in the outcome for the
    /// publisher to wait on (see [`Session::deliver`]).
    pub fn publish(&self, message: Arc<Message>) -> Routed {
        self.stats.messages_received.fetch_add(1, Ordering::Relaxed);
        if message.retain {
            self.retained.set(&message);
        }
        let mut routed = Routed::default();
        // Sessions with more than one subscription may match twice; they are merged
        // into one delivery (max QoS, all subscription ids) below.
        let mut several: Vec<(Arc<Session>, SubOptions)> = Vec::new();
        self.router.route(&message.topic, |entry| {
            if entry.options.no_local && entry.session.id == message.origin {
                return;
            }
            routed.matched += 1;
            if entry.session.subscription_count.load(Ordering::Relaxed) <= 1 {
                if let Err(back) = entry.session.deliver(delivery(&message, &entry.options)) {
                    routed.blocked.push((Arc::clone(&entry.session), back));
                }
            } else {
                several.push((Arc::clone(&entry.session), entry.options));
            }
        });
        if !several.is_empty() {
            deliver_merged(&message, several, &mut routed.blocked);
        }
        routed
    }

    /// Publishes where nobody can wait for a slow subscriber (wills): a full queue
    /// overflows instead.
    pub fn publish_detached(&self, message: Arc<Message>) {
        for (session, delivery) in self.publish(message).blocked {
            session.deliver_or_overflow(delivery);
        }
    }

    pub fn kick(&self, client_id: &str, reason: DisconnectReason) -> bool {
        let Some(session) = self.sessions.get(client_id) else {
            return false;
        };
        match session.replace_control(None) {
            Some(control) => control.send(Kick { reason, done: None }).is_ok(),
            None => false,
        }
    }

    /// Ends `client_id`'s access: a live connection is closed (v5: DISCONNECT 0x87) and
    /// its session discarded; an offline persistent session is discarded at once, so no
    /// subscription it held keeps receiving.
    pub fn revoke(&self, client_id: &str) -> bool {
        let Some(session) = self.sessions.get(client_id) else {
            return false;
        };
        if let Some(control) = session.replace_control(None) {
            let kick = Kick {
                reason: DisconnectReason::Revoked,
                done: None,
            };
            if control.send(kick).is_ok() {
                return true;
            }
        }
        match session.take_state() {
            Some(state) => {
                crate::connection::teardown::discard_session(self, &session, &state);
                true
            }
            None => false,
        }
    }
}

/// Where a PUBLISH went.
#[derive(Default)]
pub(crate) struct Routed {
    /// Subscriptions that matched.
    pub matched: usize,
    /// QoS 1/2 deliveries waiting for room in a full session queue.
    pub blocked: Vec<(Arc<Session>, Delivery)>,
}

fn delivery(message: &Arc<Message>, options: &SubOptions) -> Delivery {
    Delivery {
        message: Arc::clone(message),
        qos: message.qos.min(options.qos),
        retain: options.retain_as_published && message.retain,
        subscription_ids: options.subscription_id.into_iter().collect(),
    }
}

fn deliver_merged(
    message: &Arc<Message>,
    mut matches: Vec<(Arc<Session>, SubOptions)>,
    blocked: &mut Vec<(Arc<Session>, Delivery)>,
) {
    matches.sort_by_key(|(s, _)| s.id);
    let mut i = 0;
    while i < matches.len() {
        let session = Arc::clone(&matches[i].0);
        let mut merged = delivery(message, &matches[i].1);
        let mut j = i + 1;
        while j < matches.len() && matches[j].0.id == session.id {
            let next = delivery(message, &matches[j].1);
            merged.qos = merged.qos.max(next.qos);
            merged.retain |= next.retain;
            merged.subscription_ids.extend(next.subscription_ids);
            j += 1;
        }
        if let Err(back) = session.deliver(merged) {
            blocked.push((session, back));
        }
        i = j;
    }
}

/// What the platform may do to the broker without knowing its hook type.
pub trait BrokerControl: Send + Sync {
    /// Ends the live connection of `client_id` (the session stays, per its expiry).
    fn kick(&self, client_id: &str) -> bool;
    /// Closes the connection of `client_id` and discards its session (revoked access).
    fn revoke(&self, client_id: &str) -> bool;
    fn connection_count(&self) -> usize;
    fn session_count(&self) -> usize;
    fn retained_count(&self) -> usize;
    fn messages_received(&self) -> u64;
    fn messages_sent(&self) -> u64;
    fn messages_dropped(&self) -> u64;
}

impl<H: Hooks> BrokerControl for Shared<H> {
    fn kick(&self, client_id: &str) -> bool {
        Shared::kick(self, client_id, DisconnectReason::Kicked)
    }
    fn revoke(&self, client_id: &str) -> bool {
        Shared::revoke(self, client_id)
    }
    fn connection_count(&self) -> usize {
        self.stats.connections.load(Ordering::Relaxed)
    }
    fn session_count(&self) -> usize {
        self.sessions.len()
    }
    fn retained_count(&self) -> usize {
        self.retained.len()
    }
    fn messages_received(&self) -> u64 {
        self.stats.messages_received.load(Ordering::Relaxed)
    }
    fn messages_sent(&self) -> u64 {
        self.stats.messages_sent.load(Ordering::Relaxed)
    }
    fn messages_dropped(&self) -> u64 {
        self.stats.messages_dropped.load(Ordering::Relaxed)
    }
}

/// A cheap, cloneable, type-erased handle on a running broker.
#[derive(Clone)]
pub struct BrokerHandle {
    control: Arc<dyn BrokerControl>,
}

impl BrokerHandle {
    /// Disconnects the live session of `client_id` (v5: DISCONNECT 0x98 administrative
    /// action). Returns false when no such client is connected.
    pub fn kick(&self, client_id: &str) -> bool {
        self.control.kick(client_id)
    }

    /// Closes the connection of `client_id` (v5: DISCONNECT 0x87) and discards its
    /// session, online or not. Returns false when there was no session.
    pub fn revoke(&self, client_id: &str) -> bool {
        self.control.revoke(client_id)
    }

    pub fn control(&self) -> &dyn BrokerControl {
        &*self.control
    }
}
