//! The tasks between the engine and NATS. None of them runs on an MQTT connection task:
//! the engine only queues (see [`crate::link`]).
//!
//! - `forward`: takes messages published here from the bounded queue, encodes them
//!   ([`crate::wire`]) and publishes them on their subject: QoS 0 on core NATS, QoS 1/2
//!   through the JetStream stream, retried until acknowledged ([`crate::durable`]).
//! - `follow_interest`: keeps one NATS subscription per [`Want`] local subscribers
//!   need, each read by a small task into one inbound queue: plain subjects on the main
//!   connection (no echo: never our own messages), shared groups as queue subscriptions
//!   on a second connection (which does hear this instance's messages: a group member
//!   here must get its turn at them too). After subscribing it flushes (a round trip),
//!   so the subscription is live on the server before it is counted.
//! - `deliver`: decodes what arrives, drops this instance's own messages and copies of
//!   one already delivered, and hands the rest to the local router (or to one member of
//!   a shared group).
//!
//! NATS down: the client reconnects by itself and re-sends its subscriptions, so
//! cross-instance traffic resumes on its own; meanwhile publishing waits, the forward
//! queue fills: QoS 0 past its high watermark is dropped and counted, QoS 1/2 publishers
//! wait for room (their connections are not read meanwhile). QoS 1/2 messages that were
//! sent are retried until JetStream has them, and receivers catch up from the stream.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use bytes::Bytes;
use futures_util::stream::FuturesUnordered;
use futures_util::StreamExt;
use magnetite_broker::protocol::QoS;
use magnetite_broker::{BrokerHandle, Message};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::link::{ClusterStats, ForwardBacklog, Interest, ShareTarget, Want};
use crate::recent::RecentIds;
use crate::retained::{self, RetainedPut};
use crate::subject::SubjectScheme;
use crate::wire;
use crate::{catch_up, durable};

/// Received messages waiting to be routed; a full queue makes the subscription readers
/// wait (and NATS then drops for this slow consumer, as it does for any).
pub(crate) const INBOUND_QUEUE_LEN: usize = 8192;
/// How many recent message ids are remembered to drop copies (~6 MB): copies of one
/// message are at most a few subscription buffers apart, or a catch-up's re-read apart
/// (from the older of `checkpoints::KEPT` markers, `catch_up::MARKER_EVERY` apart).
const DEDUP_WINDOW: usize = 131_072;
/// Longest wait for the server to confirm new subscriptions before trying again.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// A message from NATS and the path it came by.
pub(crate) struct Inbound {
    pub payload: Bytes,
    pub route: Route,
}

#[derive(Clone)]
pub(crate) enum Route {
    /// A plain subscription: for every matching local subscriber.
    Subject,
    /// The queue subscription of a shared group: for one local member of it.
    Shared(Arc<ShareTarget>),
    /// Read back from the stream after a reconnection (QoS 1/2 only).
    CatchUp,
}

/// The two NATS connections of an instance.
#[derive(Clone)]
pub(crate) struct Connections {
    /// Plain subscriptions and all publishing; no echo.
    pub main: async_nats::Client,
    /// Queue subscriptions of shared groups; echo on.
    pub shared: async_nats::Client,
}

pub(crate) async fn forward(
    client: async_nats::Client,
    mut outgoing: mpsc::Receiver<Arc<Message>>,
    backlog: Arc<ForwardBacklog>,
    retained: mpsc::Sender<RetainedPut>,
    scheme: SubjectScheme,
    instance_id: String,
    stats: Arc<ClusterStats>,
) {
    let js = jetstream::new(client.clone());
    let mut unacked = FuturesUnordered::new();
    let mut sequence = first_sequence();
    loop {
        let message = tokio::select! {
            Some(()) = unacked.next(), if !unacked.is_empty() => continue,
            next = outgoing.recv(), if unacked.len() < durable::MAX_UNACKED => match next {
                Some(message) => message,
                None => return,
            },
        };
        backlog.release(&message);
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
        if message.qos != QoS::AtMostOnce {
            let id = format!("{instance_id}.{sequence}");
            let acked = durable::publish(&js, subject, id, payload, Arc::clone(&stats)).await;
            unacked.push(acked);
            stats.forwarded.fetch_add(1, Ordering::Relaxed);
            continue;
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
    clients: Connections,
    interest: Arc<Interest>,
    inbound: mpsc::Sender<Inbound>,
    stats: Arc<ClusterStats>,
) {
    let mut active: HashMap<Want, JoinHandle<()>> = HashMap::new();
    loop {
        let complete = reconcile(&clients, &interest, &inbound, &mut active).await;
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

/// Brings `active` to the wanted subscriptions; false when something must be retried.
async fn reconcile(
    clients: &Connections,
    interest: &Interest,
    inbound: &mpsc::Sender<Inbound>,
    active: &mut HashMap<Want, JoinHandle<()>>,
) -> bool {
    let wanted: HashSet<Want> = interest.wanted().into_iter().collect();
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
    for want in wanted {
        if active.contains_key(&want) {
            continue;
        }
        let (subscribed, route) = match &want {
            Want::Subject(subject) => (
                clients.main.subscribe(subject.clone()).await,
                Route::Subject,
            ),
            Want::Shared(target) => {
                let (subject, queue) = (target.subject.clone(), target.queue.clone());
                let subscribed = clients.shared.queue_subscribe(subject, queue).await;
                (subscribed, Route::Shared(Arc::clone(target)))
            }
        };
        match subscribed {
            Ok(subscriber) => {
                let reader = tokio::spawn(read(subscriber, route, inbound.clone()));
                active.insert(want, reader);
                added = true;
            }
            Err(err) => {
                tracing::warn!(%err, "cluster: NATS subscribe failed, retrying");
                complete = false;
            }
        }
    }
    if added && !(flushed(&clients.main).await && flushed(&clients.shared).await) {
        complete = false;
    }
    complete
}

async fn flushed(client: &async_nats::Client) -> bool {
    matches!(
        tokio::time::timeout(FLUSH_TIMEOUT, client.flush()).await,
        Ok(Ok(()))
    )
}

async fn read(
    mut subscriber: async_nats::Subscriber,
    route: Route,
    inbound: mpsc::Sender<Inbound>,
) {
    while let Some(message) = subscriber.next().await {
        // A wildcard first level (`#` is `>` with the Magistrala scheme) matches the
        // catch-up's markers too: they are never messages.
        if catch_up::is_marker(&message.subject) {
            continue;
        }
        let item = Inbound {
            payload: message.payload,
            route: route.clone(),
        };
        if inbound.send(item).await.is_err() {
            return;
        }
    }
}

/// Routes what other instances published to the local subscribers.
pub(crate) async fn deliver(
    mut inbound: mpsc::Receiver<Inbound>,
    broker: BrokerHandle,
    instance_id: String,
    stats: Arc<ClusterStats>,
) {
    let mut recent = RecentIds::new(DEDUP_WINDOW);
    while let Some(Inbound { payload, route }) = inbound.recv().await {
        stats.received.fetch_add(1, Ordering::Relaxed);
        let received = match wire::decode(payload) {
            Ok(received) => received,
            Err(err) => {
                tracing::debug!(%err, "cluster: dropped an undecodable bus message");
                stats.undecodable.fetch_add(1, Ordering::Relaxed);
                continue;
            }
        };
        let verdict = judge(&received, &route, &instance_id, &mut recent);
        match verdict {
            Verdict::Own => stats.own.fetch_add(1, Ordering::Relaxed),
            Verdict::Copy => stats.duplicates.fetch_add(1, Ordering::Relaxed),
            Verdict::Skip => 0,
            Verdict::Deliver => {
                let counter = match &route {
                    Route::Subject => &stats.delivered,
                    Route::CatchUp => &stats.caught_up,
                    Route::Shared(_) => &stats.shared_received,
                };
                let message = received.message;
                match &route {
                    Route::Shared(t) => {
                        broker.publish_to_shared_group(message, &t.filter, &t.group)
                    }
                    Route::Subject | Route::CatchUp => broker.publish_from_cluster(message),
                }
                counter.fetch_add(1, Ordering::Relaxed)
            }
        };
    }
}

/// What to do with a received message.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Deliver,
    /// Published by this instance: its local subscribers had it already.
    Own,
    /// A copy of one delivered already (overlapping subscriptions, a retried publish, a
    /// catch-up over what core delivery brought).
    Copy,
    /// QoS 0 read back by a catch-up: at most once, so not late.
    Skip,
}

/// Decides what to do with `received` that came by `route` (a pure function of the
/// message and what was delivered before).
fn judge(
    received: &wire::Inbound,
    route: &Route,
    instance_id: &str,
    recent: &mut RecentIds,
) -> Verdict {
    if matches!(route, Route::CatchUp) && received.message.qos == QoS::AtMostOnce {
        return Verdict::Skip;
    }
    let Some((origin, sequence)) = &received.id else {
        return Verdict::Deliver;
    };
    // A shared group hears this instance's messages too (they reach its members only
    // this way); every group has its own turn, so copies are told apart per group.
    let scope = match route {
        Route::Shared(target) => target.queue.as_str(),
        Route::Subject | Route::CatchUp => {
            if origin == instance_id {
                return Verdict::Own;
            }
            ""
        }
    };
    if recent.first_time(scope, origin, *sequence) {
        Verdict::Deliver
    } else {
        Verdict::Copy
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use magnetite_broker::protocol::Publish;

    fn inbound(origin: &str, sequence: u64, qos: QoS) -> wire::Inbound {
        let publish = Publish {
            dup: false,
            qos,
            retain: false,
            topic: "t".into(),
            pkid: 0,
            payload: Bytes::new(),
            properties: Default::default(),
        };
        wire::Inbound {
            message: Message::from_publish(publish, 0),
            id: Some((origin.to_string(), sequence)),
        }
    }

    fn shared(group: &str) -> Route {
        let target = ShareTarget {
            subject: "mqtt.t".into(),
            queue: format!("q-{group}"),
            filter: "t".into(),
            group: group.into(),
        };
        Route::Shared(Arc::new(target))
    }

    #[test]
    fn own_messages_only_reach_shared_groups() {
        let mut recent = RecentIds::new(8);
        let own = inbound("me", 1, QoS::AtLeastOnce);
        assert_eq!(
            judge(&own, &Route::Subject, "me", &mut recent),
            Verdict::Own
        );
        assert_eq!(
            judge(&own, &Route::CatchUp, "me", &mut recent),
            Verdict::Own
        );
        assert_eq!(
            judge(&own, &shared("g"), "me", &mut recent),
            Verdict::Deliver
        );
    }

    #[test]
    fn each_path_delivers_a_message_once() {
        let mut recent = RecentIds::new(8);
        let m = inbound("other", 7, QoS::ExactlyOnce);
        assert_eq!(
            judge(&m, &Route::Subject, "me", &mut recent),
            Verdict::Deliver
        );
        assert_eq!(judge(&m, &Route::Subject, "me", &mut recent), Verdict::Copy);
        assert_eq!(
            judge(&m, &Route::CatchUp, "me", &mut recent),
            Verdict::Copy,
            "the catch-up over what core delivery brought"
        );
        assert_eq!(judge(&m, &shared("g"), "me", &mut recent), Verdict::Deliver);
        assert_eq!(judge(&m, &shared("h"), "me", &mut recent), Verdict::Deliver);
        assert_eq!(judge(&m, &shared("g"), "me", &mut recent), Verdict::Copy);
    }

    #[test]
    fn a_catch_up_brings_qos1_and_2_but_never_qos0() {
        let mut recent = RecentIds::new(8);
        let late = inbound("other", 1, QoS::AtLeastOnce);
        assert_eq!(
            judge(&late, &Route::CatchUp, "me", &mut recent),
            Verdict::Deliver
        );
        let qos0 = inbound("other", 2, QoS::AtMostOnce);
        assert_eq!(
            judge(&qos0, &Route::CatchUp, "me", &mut recent),
            Verdict::Skip
        );
        assert_eq!(
            judge(&qos0, &Route::Subject, "me", &mut recent),
            Verdict::Deliver
        );
    }
}
