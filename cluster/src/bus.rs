//! The tasks between the engine and NATS. None of them runs on an MQTT connection task:
//! the engine only queues (see [`crate::link`]).
//!
//! - `forward`: takes messages published here from the bounded queue, encodes them
//!   ([`crate::wire`]) and publishes them on their subject.
//! - `follow_interest`: keeps one NATS subscription per subject local subscribers need,
//!   each read by a small task into one inbound queue. After subscribing it flushes (a
//!   round trip), so the subject is live on the server before it is counted.
//! - `deliver`: decodes what arrives, drops this instance's own messages and copies of
//!   one already delivered, and hands the rest to the local router.
//!
//! NATS down: the client reconnects by itself and re-sends its subscriptions, so
//! cross-instance traffic resumes on its own; meanwhile publishing waits, the forward
//! queue fills and what does not fit is dropped and counted (core NATS: at most once).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use magnetite_broker::{BrokerHandle, Message};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::link::{ClusterStats, Interest, QueuedBytes};
use crate::recent::RecentIds;
use crate::retained::{self, RetainedPut};
use crate::subject::SubjectScheme;
use crate::wire;

/// Received messages waiting to be routed; a full queue makes the subscription readers
/// wait (and NATS then drops for this slow consumer, as it does for any).
pub(crate) const INBOUND_QUEUE_LEN: usize = 8192;
/// How many recent message ids are remembered to drop copies (~3 MB): copies of one
/// message are at most a few subscription buffers apart.
const DEDUP_WINDOW: usize = 65_536;
/// Longest wait for the server to confirm new subscriptions before trying again.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

pub(crate) async fn forward(
    client: async_nats::Client,
    mut outgoing: mpsc::Receiver<Arc<Message>>,
    queued: Arc<QueuedBytes>,
    retained: mpsc::Sender<RetainedPut>,
    scheme: SubjectScheme,
    instance_id: String,
    stats: Arc<ClusterStats>,
) {
    let mut sequence = first_sequence();
    while let Some(message) = outgoing.recv().await {
        queued.release(&message);
        sequence = sequence.wrapping_add(1);
        let subject = scheme.topic_subject(&message.topic);
        let payload = wire::encode(&message, &instance_id, sequence);
        if message.retain {
            let put = RetainedPut {
                key: retained::key(&message.topic),
                value: payload.clone(),
            };
            if retained.try_send(put).is_err() {
                stats.retained_errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        match client.publish(subject, payload).await {
            Ok(()) => stats.forwarded.fetch_add(1, Ordering::Relaxed),
            Err(err) => {
                tracing::debug!(%err, "cluster: publish to NATS failed");
                stats.publish_errors.fetch_add(1, Ordering::Relaxed)
            }
        };
    }
}

/// Where this run's message numbers start: the time in Unix nanoseconds, so a restarted
/// instance (same instance id) never reuses numbers that other instances may still
/// remember as seen and drop as copies.
fn first_sequence() -> u64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_nanos()).unwrap_or(u64::MAX / 2)
}

/// Subscribes and unsubscribes as local interest changes, until the process ends.
pub(crate) async fn follow_interest(
    client: async_nats::Client,
    interest: Arc<Interest>,
    inbound: mpsc::Sender<Bytes>,
    stats: Arc<ClusterStats>,
) {
    let mut active: HashMap<String, JoinHandle<()>> = HashMap::new();
    loop {
        let complete = reconcile(&client, &interest, &inbound, &mut active).await;
        stats
            .subscriptions
            .store(active.len() as u64, Ordering::Relaxed);
        if complete {
            interest.changed.notified().await;
        } else {
            // NATS refused or did not confirm: try again soon (or at the next change).
            let _ = tokio::time::timeout(Duration::from_secs(1), interest.changed.notified()).await;
        }
    }
}

/// Brings `active` to the wanted subjects; false when something must be retried.
async fn reconcile(
    client: &async_nats::Client,
    interest: &Interest,
    inbound: &mpsc::Sender<Bytes>,
    active: &mut HashMap<String, JoinHandle<()>>,
) -> bool {
    let wanted: HashSet<String> = interest.subjects().into_iter().collect();
    // Dropping a subscriber (by ending its reader) sends UNSUB.
    active.retain(|subject, reader| {
        let keep = wanted.contains(subject);
        if !keep {
            reader.abort();
        }
        keep
    });
    let mut complete = true;
    let mut added = false;
    for subject in wanted {
        if active.contains_key(&subject) {
            continue;
        }
        match client.subscribe(subject.clone()).await {
            Ok(subscriber) => {
                active.insert(subject, tokio::spawn(read(subscriber, inbound.clone())));
                added = true;
            }
            Err(err) => {
                tracing::warn!(%err, "cluster: NATS subscribe failed, retrying");
                complete = false;
            }
        }
    }
    if added
        && !matches!(
            tokio::time::timeout(FLUSH_TIMEOUT, client.flush()).await,
            Ok(Ok(()))
        )
    {
        complete = false;
    }
    complete
}

async fn read(mut subscriber: async_nats::Subscriber, inbound: mpsc::Sender<Bytes>) {
    while let Some(message) = subscriber.next().await {
        if inbound.send(message.payload).await.is_err() {
            return;
        }
    }
}

/// Routes what other instances published to the local subscribers.
pub(crate) async fn deliver(
    mut inbound: mpsc::Receiver<Bytes>,
    broker: BrokerHandle,
    instance_id: String,
    stats: Arc<ClusterStats>,
) {
    let mut recent = RecentIds::new(DEDUP_WINDOW);
    while let Some(payload) = inbound.recv().await {
        stats.received.fetch_add(1, Ordering::Relaxed);
        let received = match wire::decode(payload) {
            Ok(received) => received,
            Err(err) => {
                tracing::debug!(%err, "cluster: dropped an undecodable bus message");
                stats.undecodable.fetch_add(1, Ordering::Relaxed);
                continue;
            }
        };
        if let Some((origin, sequence)) = &received.id {
            if *origin == instance_id {
                stats.own.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            if !recent.first_time(origin, *sequence) {
                stats.duplicates.fetch_add(1, Ordering::Relaxed);
                continue;
            }
        }
        stats.delivered.fetch_add(1, Ordering::Relaxed);
        broker.publish_from_cluster(received.message);
    }
}
