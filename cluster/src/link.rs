//! What the engine talks to: [`NatsLink`] implements the broker's `ClusterLink` door
//! without ever waiting on the network. Forwarded messages go into a bounded queue that
//! the bus task empties (past a high watermark QoS 0 is dropped and counted, and QoS 1/2
//! publishers wait for room: see [`ForwardBacklog`]; local traffic never stalls), and
//! subscriptions are counted per NATS subscription wanted ([`Want`]: a subject, or a
//! subject in the queue group of one shared subscription group), the bus task being
//! woken to subscribe at the first local subscriber and to unsubscribe after the last.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use magnetite_broker::persist::WaitFuture;
use magnetite_broker::protocol::QoS;
use magnetite_broker::{ClusterLink, Message};
use parking_lot::Mutex;
use tokio::sync::{mpsc, Notify};

use crate::subject::SubjectScheme;
use crate::FORWARD_QUEUE;

/// The cluster's counters, read by `/metrics`.
#[derive(Debug, Default)]
pub struct ClusterStats {
    /// Messages published to NATS.
    pub forwarded: AtomicU64,
    /// Messages not forwarded because the queue to the bus task was full (NATS down or
    /// too slow).
    pub forward_dropped: AtomicU64,
    /// Of those, QoS 1/2 messages: only a will or publishers racing past the high
    /// watermark together can reach the hard bound (publishers wait for room).
    pub forward_dropped_reliable: AtomicU64,
    /// Publishes NATS refused.
    pub publish_errors: AtomicU64,
    /// Messages received from NATS.
    pub received: AtomicU64,
    /// Received messages handed to local subscribers.
    pub delivered: AtomicU64,
    /// Received copies of a message already delivered (overlapping subscriptions).
    pub duplicates: AtomicU64,
    /// Received messages that were not a valid bus message.
    pub undecodable: AtomicU64,
    /// Received messages this instance published itself (never delivered twice).
    pub own: AtomicU64,
    /// NATS subjects this instance is subscribed to.
    pub subscriptions: AtomicU64,
    /// Retained messages of other instances (and its own, in bucket order) applied here.
    pub retained_mirrored: AtomicU64,
    /// Retained messages not put into the bucket (queue full, or JetStream failed).
    pub retained_errors: AtomicU64,
    /// QoS 1/2 messages JetStream acknowledged (stored in the message stream).
    pub persisted: AtomicU64,
    /// Publishes to the stream tried again (no acknowledgement or a refusal).
    pub persist_retries: AtomicU64,
    /// Catch-ups from the stream after a NATS reconnection.
    pub catch_ups: AtomicU64,
    /// QoS 1/2 messages read back from the stream by a catch-up (copies of messages
    /// already delivered are counted in `duplicates`, not here).
    pub caught_up: AtomicU64,
    /// Messages received for a local shared subscription group (the bus chose this
    /// instance among the group's instances).
    pub shared_received: AtomicU64,
}

/// What waits in the forward queue for the bus task, in messages and payload bytes,
/// with two watermarks. Bytes are bounded too: the length bound alone would allow
/// 65,536 maximum-size packets while NATS is down.
///
/// - Hard bound ([`FORWARD_QUEUE`] messages, [`ForwardBacklog::LIMIT`] bytes): nothing
///   is queued past it.
/// - High watermark (3/4 of both): QoS 0 is dropped from there (counted), and
///   [`ForwardBacklog::has_room`] turns false, so QoS 1/2 publishers wait
///   ([`ForwardBacklog::wait_for_room`]) before publishing. The quarter above it is
///   reserved for QoS 1/2 that passed the check at the same moment and for wills
///   (which have no connection to wait on): only QoS 0 is dropped in practice.
/// - Low watermark (1/2 of both): the bus task's release under it reopens the door and
///   wakes the waiters, so they do not wake for every message sent.
#[derive(Debug, Default)]
pub(crate) struct ForwardBacklog {
    bytes: AtomicUsize,
    messages: AtomicUsize,
    /// Past the high watermark until drained under the low one: the one load a QoS 1/2
    /// publish costs when there is room.
    congested: AtomicBool,
    drained: Notify,
}

/// What [`ForwardBacklog::admit`] decided.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    Queued,
    Dropped,
}

impl ForwardBacklog {
    pub const LIMIT: usize = 64 * 1024 * 1024;
    const HIGH_BYTES: usize = Self::LIMIT / 4 * 3;
    const HIGH_MESSAGES: usize = FORWARD_QUEUE / 4 * 3;
    const LOW_BYTES: usize = Self::LIMIT / 2;
    const LOW_MESSAGES: usize = FORWARD_QUEUE / 2;

    fn size(message: &Message) -> usize {
        message.payload.len() + message.topic.len()
    }

    /// Reserves room for `message`: up to the high watermark for QoS 0, up to the hard
    /// bound for QoS 1/2. Marks the backlog congested from the high watermark on (before
    /// the message is sent, so the bus task's release of it sees the mark).
    pub fn admit(&self, message: &Message) -> Admission {
        let size = Self::size(message);
        let bytes = self.bytes.fetch_add(size, Ordering::Relaxed) + size;
        let messages = self.messages.fetch_add(1, Ordering::Relaxed) + 1;
        let (byte_bound, message_bound) = match message.qos {
            QoS::AtMostOnce => (Self::HIGH_BYTES, Self::HIGH_MESSAGES),
            QoS::AtLeastOnce | QoS::ExactlyOnce => (Self::LIMIT, FORWARD_QUEUE),
        };
        if bytes > byte_bound || messages > message_bound {
            self.release(message);
            return Admission::Dropped;
        }
        if bytes >= Self::HIGH_BYTES || messages >= Self::HIGH_MESSAGES {
            self.congested.store(true, Ordering::Release);
        }
        Admission::Queued
    }

    /// Gives back what `message` reserved, once it left the queue (or was not queued);
    /// reopens the door when the backlog fell under the low watermark.
    pub fn release(&self, message: &Message) {
        let size = Self::size(message);
        let bytes = self.bytes.fetch_sub(size, Ordering::Relaxed) - size;
        let messages = self.messages.fetch_sub(1, Ordering::Relaxed) - 1;
        let drained = bytes < Self::LOW_BYTES && messages < Self::LOW_MESSAGES;
        if drained && self.congested.load(Ordering::Acquire) {
            self.congested.store(false, Ordering::Release);
            self.drained.notify_waiters();
        }
    }

    pub fn has_room(&self) -> bool {
        !self.congested.load(Ordering::Acquire)
    }

    /// Resolves once the backlog is no longer congested (registered before the check,
    /// so a release between the two is not missed).
    pub async fn wait_for_room(&self) {
        loop {
            let drained = self.drained.notified();
            tokio::pin!(drained);
            drained.as_mut().enable();
            if self.has_room() {
                return;
            }
            drained.await;
        }
    }

    #[cfg(test)]
    fn queued_bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }
}

/// One NATS subscription an instance needs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Want {
    /// Every message on the subject (plain subscriptions).
    Subject(String),
    /// One message in turn among the instances with members of one shared group.
    Shared(Arc<ShareTarget>),
}

/// A shared subscription group (`$share/<group>/<filter>`) as a NATS queue
/// subscription: every instance with a member of (group, routed filter) joins the same
/// queue group on the filter's subjects, so NATS hands each message to one of them.
/// The routed filter carries the tenant (`m/<domain>/...`), so groups of one name in
/// two domains never meet.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ShareTarget {
    pub subject: String,
    /// URL-safe base64 of group and filter: a queue name holds no whitespace, a topic
    /// filter may.
    pub queue: String,
    pub filter: String,
    pub group: String,
}

impl ShareTarget {
    fn new(subject: String, filter: &str, group: &str) -> ShareTarget {
        use base64::Engine;
        let named = format!("{group}\n{filter}");
        ShareTarget {
            subject,
            queue: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(named),
            filter: filter.to_string(),
            group: group.to_string(),
        }
    }
}

/// Local interest per NATS subscription, and a bell for the bus task when it changes.
#[derive(Default)]
pub(crate) struct Interest {
    counts: Mutex<HashMap<Want, usize>>,
    pub changed: Notify,
}

impl Interest {
    /// The subscriptions with at least one local subscriber.
    pub fn wanted(&self) -> Vec<Want> {
        self.counts.lock().keys().cloned().collect()
    }

    /// The subjects of plain subscriptions with at least one local subscriber.
    #[cfg(test)]
    pub fn subjects(&self) -> Vec<String> {
        let wanted = self.wanted().into_iter();
        wanted
            .filter_map(|want| match want {
                Want::Subject(subject) => Some(subject),
                Want::Shared(_) => None,
            })
            .collect()
    }

    fn add(&self, subjects: Vec<Want>) {
        let mut first = false;
        {
            let mut counts = self.counts.lock();
            for subject in subjects {
                let count = counts.entry(subject).or_insert(0);
                *count += 1;
                first |= *count == 1;
            }
        }
        if first {
            self.changed.notify_one();
        }
    }

    fn remove(&self, subjects: Vec<Want>) {
        let mut last = false;
        {
            let mut counts = self.counts.lock();
            for subject in subjects {
                if let Some(count) = counts.get_mut(&subject) {
                    *count -= 1;
                    if *count == 0 {
                        counts.remove(&subject);
                        last = true;
                    }
                }
            }
        }
        if last {
            self.changed.notify_one();
        }
    }
}

pub struct NatsLink {
    pub(crate) scheme: SubjectScheme,
    pub(crate) outgoing: mpsc::Sender<Arc<Message>>,
    pub(crate) backlog: Arc<ForwardBacklog>,
    pub(crate) interest: Arc<Interest>,
    pub(crate) stats: Arc<ClusterStats>,
}

impl NatsLink {
    pub fn stats(&self) -> Arc<ClusterStats> {
        Arc::clone(&self.stats)
    }

    fn count_drop(&self, message: &Message) {
        self.stats.forward_dropped.fetch_add(1, Ordering::Relaxed);
        if message.qos != QoS::AtMostOnce {
            self.stats
                .forward_dropped_reliable
                .fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The NATS subscriptions one local subscription of `filter` (in `group`) needs.
    fn wants(&self, filter: &str, group: Option<&str>) -> Vec<Want> {
        let subjects = self.scheme.filter_subjects(filter).into_iter();
        match group {
            None => subjects.map(Want::Subject).collect(),
            Some(group) => subjects
                .map(|subject| Want::Shared(Arc::new(ShareTarget::new(subject, filter, group))))
                .collect(),
        }
    }
}

impl ClusterLink for NatsLink {
    fn forward(&self, message: &Arc<Message>) {
        if self.backlog.admit(message) == Admission::Dropped {
            self.count_drop(message);
            return;
        }
        if self.outgoing.try_send(Arc::clone(message)).is_err() {
            self.backlog.release(message);
            self.count_drop(message);
        }
    }

    fn has_room(&self) -> bool {
        self.backlog.has_room()
    }

    fn wait_for_room(&self) -> WaitFuture<'_, ()> {
        Box::pin(self.backlog.wait_for_room())
    }

    fn subscribed(&self, filter: &str, group: Option<&str>) {
        self.interest.add(self.wants(filter, group));
    }

    fn unsubscribed(&self, filter: &str, group: Option<&str>) {
        self.interest.remove(self.wants(filter, group));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(queue: usize) -> (NatsLink, mpsc::Receiver<Arc<Message>>) {
        let (outgoing, rx) = mpsc::channel(queue);
        let link = NatsLink {
            scheme: SubjectScheme::Plain,
            outgoing,
            backlog: Arc::default(),
            interest: Arc::default(),
            stats: Arc::default(),
        };
        (link, rx)
    }

    #[test]
    fn a_subject_is_wanted_from_the_first_subscriber_to_the_last() {
        let (link, _rx) = link(1);
        link.subscribed("a/#", None);
        link.subscribed("a/#", None);
        link.subscribed("a", None);
        let mut subjects = link.interest.subjects();
        subjects.sort();
        assert_eq!(subjects, ["mqtt.a", "mqtt.a.>"]);
        link.unsubscribed("a/#", None);
        link.unsubscribed("a", None);
        let mut subjects = link.interest.subjects();
        subjects.sort();
        assert_eq!(
            subjects,
            ["mqtt.a", "mqtt.a.>"],
            "`a/#` still wants its parent"
        );
        link.unsubscribed("a/#", None);
        assert!(link.interest.subjects().is_empty());
        link.unsubscribed("never", None);
        assert!(link.interest.subjects().is_empty());
    }

    #[test]
    fn a_shared_group_is_a_queue_per_group_and_filter() {
        let (link, _rx) = link(1);
        link.subscribed("a/+", Some("g"));
        link.subscribed("a/+", Some("g"));
        link.subscribed("a/+", Some("h g"));
        link.subscribed("a/+", None);
        let wanted = link.interest.wanted();
        let queues: Vec<&ShareTarget> = wanted
            .iter()
            .filter_map(|w| match w {
                Want::Shared(target) => Some(&**target),
                Want::Subject(_) => None,
            })
            .collect();
        assert_eq!(queues.len(), 2, "one per group: {queues:?}");
        assert!(queues.iter().all(|t| t.subject == "mqtt.a.*"));
        assert!(queues
            .iter()
            .all(|t| !t.queue.contains(char::is_whitespace)));
        assert_ne!(queues[0].queue, queues[1].queue);
        assert_eq!(link.interest.subjects(), ["mqtt.a.*"]);
        link.unsubscribed("a/+", Some("g"));
        link.unsubscribed("a/+", Some("h g"));
        assert_eq!(link.interest.wanted().len(), 2, "g still has a member");
        link.unsubscribed("a/+", Some("g"));
        assert_eq!(link.interest.wanted().len(), 1);
    }

    #[test]
    fn a_full_queue_drops_and_counts() {
        let (link, mut rx) = link(1);
        let publish = magnetite_broker::protocol::Publish {
            dup: false,
            qos: magnetite_broker::protocol::QoS::AtMostOnce,
            retain: false,
            topic: "a".into(),
            pkid: 0,
            payload: bytes::Bytes::new(),
            properties: Default::default(),
        };
        let message = Arc::new(Message::from_publish(publish, 1));
        link.forward(&message);
        link.forward(&message);
        assert_eq!(link.stats.forward_dropped.load(Ordering::Relaxed), 1);
        assert!(rx.try_recv().is_ok());
        assert_eq!(link.backlog.queued_bytes(), 1, "only the queued one");
    }

    #[test]
    fn queued_bytes_are_bounded_too() {
        let (link, _rx) = link(16);
        let big = |n: usize| {
            let publish = magnetite_broker::protocol::Publish {
                dup: false,
                qos: magnetite_broker::protocol::QoS::AtLeastOnce,
                retain: false,
                topic: "t".into(),
                pkid: 1,
                payload: bytes::Bytes::from(vec![0u8; n]),
                properties: Default::default(),
            };
            Arc::new(Message::from_publish(publish, 1))
        };
        let half = big(ForwardBacklog::LIMIT / 2);
        link.forward(&half);
        link.forward(&half);
        assert_eq!(link.stats.forward_dropped.load(Ordering::Relaxed), 1);
        link.backlog.release(&half);
        link.forward(&big(10));
        assert_eq!(link.stats.forward_dropped.load(Ordering::Relaxed), 1);
    }

    fn tiny(qos: QoS) -> Arc<Message> {
        let publish = magnetite_broker::protocol::Publish {
            dup: false,
            qos,
            retain: false,
            topic: "t".into(),
            pkid: u16::from(qos != QoS::AtMostOnce),
            payload: bytes::Bytes::from_static(b"x"),
            properties: Default::default(),
        };
        Arc::new(Message::from_publish(publish, 1))
    }

    #[test]
    fn past_the_high_watermark_qos0_is_dropped_and_qos1_is_admitted_to_the_bound() {
        let (link, _rx) = link(FORWARD_QUEUE);
        let (qos0, qos1) = (tiny(QoS::AtMostOnce), tiny(QoS::AtLeastOnce));
        for _ in 0..ForwardBacklog::HIGH_MESSAGES {
            link.forward(&qos0);
        }
        assert!(!link.has_room(), "congested at the high watermark");
        link.forward(&qos0);
        assert_eq!(link.stats.forward_dropped.load(Ordering::Relaxed), 1);
        for _ in ForwardBacklog::HIGH_MESSAGES..FORWARD_QUEUE {
            link.forward(&qos1);
        }
        assert_eq!(link.stats.forward_dropped.load(Ordering::Relaxed), 1);
        link.forward(&qos1);
        assert_eq!(
            link.stats.forward_dropped_reliable.load(Ordering::Relaxed),
            1,
            "nothing past the hard bound"
        );
    }

    #[tokio::test]
    async fn a_waiting_publisher_is_woken_under_the_low_watermark_only() {
        let (link, _rx) = link(FORWARD_QUEUE);
        let qos1 = tiny(QoS::AtLeastOnce);
        for _ in 0..ForwardBacklog::HIGH_MESSAGES {
            link.forward(&qos1);
        }
        assert!(!link.has_room());
        let waiting = link.wait_for_room();
        tokio::pin!(waiting);
        let drain_to = ForwardBacklog::LOW_MESSAGES;
        for _ in drain_to..ForwardBacklog::HIGH_MESSAGES {
            link.backlog.release(&qos1);
        }
        assert!(!link.has_room(), "at the low watermark, not under it");
        assert!(futures_util::poll!(waiting.as_mut()).is_pending());
        link.backlog.release(&qos1);
        assert!(link.has_room());
        assert!(futures_util::poll!(waiting.as_mut()).is_ready());
    }
}
