//! What the engine talks to: [`NatsLink`] implements the broker's `ClusterLink` door
//! without ever waiting on the network. Forwarded messages go into a bounded queue that
//! the bus task empties (a full queue drops and counts: local traffic never stalls), and
//! subscriptions are counted per NATS subscription wanted ([`Want`]: a subject, or a
//! subject in the queue group of one shared subscription group), the bus task being
//! woken to subscribe at the first local subscriber and to unsubscribe after the last.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use magnetite_broker::{ClusterLink, Message};
use parking_lot::Mutex;
use tokio::sync::{mpsc, Notify};

use crate::subject::SubjectScheme;

/// The cluster's counters, read by `/metrics`.
#[derive(Debug, Default)]
pub struct ClusterStats {
    /// Messages published to NATS.
    pub forwarded: AtomicU64,
    /// Messages not forwarded because the queue to the bus task was full (NATS down or
    /// too slow).
    pub forward_dropped: AtomicU64,
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

/// Payload bytes waiting in the forward queue, bounded so that large messages published
/// while NATS is down cannot pile up beyond [`QueuedBytes::LIMIT`] (the queue's length
/// bound alone would allow 65,536 maximum-size packets).
#[derive(Debug, Default)]
pub(crate) struct QueuedBytes(AtomicUsize);

impl QueuedBytes {
    pub const LIMIT: usize = 64 * 1024 * 1024;

    /// Reserves room for `message`; false when it does not fit.
    fn reserve(&self, message: &Message) -> bool {
        let size = message.payload.len() + message.topic.len();
        let before = self.0.fetch_add(size, Ordering::Relaxed);
        if before + size > Self::LIMIT {
            self.0.fetch_sub(size, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// Gives back what `message` reserved, once it left the queue.
    pub fn release(&self, message: &Message) {
        let size = message.payload.len() + message.topic.len();
        self.0.fetch_sub(size, Ordering::Relaxed);
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
    pub(crate) queued: Arc<QueuedBytes>,
    pub(crate) interest: Arc<Interest>,
    pub(crate) stats: Arc<ClusterStats>,
}

impl NatsLink {
    pub fn stats(&self) -> Arc<ClusterStats> {
        Arc::clone(&self.stats)
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
        if !self.queued.reserve(message) {
            self.stats.forward_dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if self.outgoing.try_send(Arc::clone(message)).is_err() {
            self.queued.release(message);
            self.stats.forward_dropped.fetch_add(1, Ordering::Relaxed);
        }
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
            queued: Arc::default(),
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
        assert_eq!(
            link.queued.0.load(Ordering::Relaxed),
            1,
            "only the queued one"
        );
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
        let half = big(QueuedBytes::LIMIT / 2);
        link.forward(&half);
        link.forward(&half);
        assert_eq!(link.stats.forward_dropped.load(Ordering::Relaxed), 1);
        link.queued.release(&half);
        link.forward(&big(10));
        assert_eq!(link.stats.forward_dropped.load(Ordering::Relaxed), 1);
    }
}
