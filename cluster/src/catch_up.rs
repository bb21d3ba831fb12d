//! Reading the message stream back after a NATS reconnection or a slow-consumer drop,
//! between two markers (see [`crate::checkpoints`] for why markers).
//!
//! - At start, before any subscription is made (`follow_interest` waits for it), a
//!   first marker is stored: the first checkpoint (nothing stored before it is owed to
//!   this instance). Without it an instance whose connection drops within a second of
//!   connecting has no checkpoint and cannot catch up: under disk load the flood test
//!   lost the first 512-849 messages A stored after NATS came back that way (B's NATS
//!   connection was 5-100 ms old when NATS stopped: its subscriptions were counted
//!   while still queued in the client).
//! - Every [`MARKER_EVERY`] while the main connection stays up, this instance publishes a
//!   marker through the stream (from the shared connection: the main one has no echo)
//!   on `%markers.<stream>.<instance>`, a subject only it subscribes to and no MQTT
//!   topic maps to (`%` is escaped in topic levels). A wildcard first level (`#` is `>`
//!   with the Magistrala scheme) would hear other instances' markers, so the
//!   subscription readers drop them ([`is_marker`]). A marker both acknowledged (its
//!   stream sequence) and received back on the main connection is a checkpoint.
//! - After a reconnection or a drop, the catch-up confirms our subscriptions are on the
//!   server (flush), waits [`SETTLE`], and publishes an *end* marker: everything the
//!   stream stores after it was published after our subscriptions were back, so core
//!   delivery brings it. It then reads the stream after the checkpoint up to the end
//!   marker (markers skipped) into the router, whose duplicate filter drops what core
//!   delivery already brought. Why an end marker and not the stream's last sequence: on
//!   a slow disk JetStream stores later than it delivers to core subscribers, so a
//!   message published before we re-subscribed can be stored after a last sequence read
//!   at the flush, and be neither read nor delivered.
//!
//! Ordering on one NATS server: the server writes to our connection in order, and it
//! matches a message against subscriptions and queues it for the stream in one pass
//! over that message. Two publishers' passes can interleave, though (a message queued
//! for the stream just before a marker can be written to us just after it): the start
//! keeps one marker of slack ([`crate::checkpoints::KEPT`], a second), which also
//! covers a slow-consumer drop counted after the next marker came back. On a cluster of
//! NATS servers a message and a marker can take different routes, and new
//! subscriptions reach the other servers a route's delay later: route delays under the
//! start's slack and the end's [`SETTLE`] are covered, longer ones can lose messages.
//! If JetStream cannot store the first marker within `durable::STREAM_WAIT` at start,
//! subscriptions start anyway, and an interruption before the first periodic checkpoint
//! is not caught up (logged).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer};
use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;
use futures_util::StreamExt;
use tokio::sync::{mpsc, oneshot};

use crate::bus::{Connections, Inbound, Route};
use crate::checkpoints::{Checkpoints, Window};
use crate::durable;
use crate::link::ClusterStats;

/// How often a marker is published (and so how far apart checkpoints are: the
/// duplicate filter must remember [`crate::checkpoints::KEPT`] intervals of messages).
pub(crate) const MARKER_EVERY: Duration = Duration::from_secs(1);
/// Wait between confirming our subscriptions and publishing the end marker, for the
/// other servers of a NATS cluster to learn of them.
const SETTLE: Duration = Duration::from_millis(500);
/// Longest wait for the next stored message during a catch-up.
const CATCH_UP_IDLE: Duration = Duration::from_secs(5);
/// A token no MQTT level escapes to (a `%` is always followed by two hex digits or
/// stands alone), so no client can publish on a marker subject.
const MARKER_ROOT: &str = "%markers";

/// The subjects the stream captures markers under (stream names hold no `.`, `*`, `>`).
pub(crate) fn markers_subject(stream: &str) -> String {
    format!("{MARKER_ROOT}.{stream}.>")
}

pub(crate) fn is_marker(subject: &str) -> bool {
    subject
        .strip_prefix(MARKER_ROOT)
        .is_some_and(|rest| rest.starts_with('.'))
}

/// What the catch-up task works with.
pub(crate) struct CatchUpTask {
    pub clients: Connections,
    pub stream: String,
    pub instance_id: String,
    pub inbound: mpsc::Sender<Inbound>,
    pub stats: Arc<ClusterStats>,
    /// Slow-consumer drops on the main connection (counted by its event callback).
    pub gaps: Arc<AtomicU64>,
}

/// Publishes this instance's markers.
struct Markers {
    js: jetstream::Context,
    subject: String,
    next_id: u64,
}

type Acknowledged = BoxFuture<'static, (u64, Result<u64, async_nats::Error>)>;

impl Markers {
    /// Publishes the next marker; the future resolves to its id and stream sequence.
    async fn publish(&mut self) -> Result<(u64, Acknowledged), async_nats::Error> {
        self.next_id += 1;
        let id = self.next_id;
        let payload = id.to_be_bytes().to_vec();
        let ack = self
            .js
            .publish(self.subject.clone(), payload.into())
            .await?;
        let sequence = async move { (id, ack.await.map(|a| a.sequence).map_err(Into::into)) };
        Ok((id, Box::pin(sequence)))
    }

    /// Publishes a marker and waits until the stream stored it: its sequence.
    async fn stored(&mut self) -> Result<u64, async_nats::Error> {
        let (_, ack) = self.publish().await?;
        ack.await.1
    }
}

/// A marker stored before any of our subscriptions exists: nothing stored up to it is
/// owed to us, and a catch-up from it misses nothing that came after. Without it, an
/// instance whose connection drops before its first periodic checkpoint (under disk load
/// a marker's acknowledgement takes seconds) could not catch up at all.
async fn first_checkpoint(markers: &mut Markers) -> u64 {
    loop {
        match markers.stored().await {
            Ok(sequence) => return sequence,
            Err(err) => tracing::debug!(%err, "cluster: first marker not stored yet"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn marker_id(payload: &[u8]) -> Option<u64> {
    <[u8; 8]>::try_from(payload).ok().map(u64::from_be_bytes)
}

impl CatchUpTask {
    /// Reconnections and drops so far: any change means core delivery may have missed
    /// messages, and the stream has them.
    fn interruptions(&self) -> u64 {
        let connects = self
            .clients
            .main
            .statistics()
            .connects
            .load(Ordering::Relaxed);
        connects + self.gaps.load(Ordering::Relaxed)
    }

    /// Takes the first checkpoint, then lets subscriptions start (`ready`), then
    /// publishes markers, keeps checkpoints and catches up after each interruption, until
    /// the process ends.
    pub(crate) async fn run(self, ready: oneshot::Sender<()>) {
        let subject = format!(
            "{MARKER_ROOT}.{}.{}",
            self.stream,
            crate::subject::escape_token(&self.instance_id)
        );
        let mut returned = loop {
            match self.clients.main.subscribe(subject.clone()).await {
                Ok(subscriber) => break subscriber,
                Err(err) => tracing::warn!(%err, "cluster: marker subscription failed"),
            }
            tokio::time::sleep(MARKER_EVERY).await;
        };
        let mut markers = Markers {
            js: jetstream::new(self.clients.shared.clone()),
            subject,
            next_id: 0,
        };
        let mut acks: FuturesUnordered<Acknowledged> = FuturesUnordered::new();
        let mut checkpoints = Checkpoints::default();
        match tokio::time::timeout(durable::STREAM_WAIT, first_checkpoint(&mut markers)).await {
            Ok(first) => checkpoints.caught_up(first),
            Err(_) => tracing::warn!(
                "cluster: no first checkpoint in the message stream; the first \
                 reconnection will not be caught up"
            ),
        }
        let mut generation = self.interruptions();
        let _ = ready.send(());
        let mut ticks = tokio::time::interval(MARKER_EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                Some(message) = returned.next() => {
                    // A marker received after an interruption says nothing about what
                    // that interruption lost.
                    if let (Some(id), true) = (marker_id(&message.payload), self.interruptions() == generation) {
                        checkpoints.received(id);
                    }
                }
                Some((id, sequence)) = acks.next(), if !acks.is_empty() => {
                    if let Ok(sequence) = sequence {
                        checkpoints.acknowledged(id, sequence);
                    }
                }
                _ = ticks.tick() => {
                    let now = self.interruptions();
                    if now == generation {
                        match markers.publish().await {
                            Ok((id, ack)) => {
                                checkpoints.published(id);
                                acks.push(ack);
                            }
                            Err(err) => tracing::debug!(%err, "cluster: marker not published"),
                        }
                        continue;
                    }
                    checkpoints.interrupted();
                    let Some(start) = checkpoints.start() else {
                        // No checkpoint yet (the first connection): nothing to catch up.
                        generation = now;
                        continue;
                    };
                    match self.catch_up(&mut markers, start).await {
                        Ok(end) => {
                            checkpoints.caught_up(end);
                            self.stats.catch_ups.fetch_add(1, Ordering::Relaxed);
                            generation = now;
                        }
                        Err(err) => {
                            tracing::warn!(%err, "cluster: catch-up from the stream failed, retrying")
                        }
                    }
                }
            }
        }
    }

    /// Reads the stream after `start` up to an end marker published once our
    /// subscriptions are back; returns the end marker's sequence.
    async fn catch_up(&self, markers: &mut Markers, start: u64) -> Result<u64, async_nats::Error> {
        self.clients.main.flush().await?;
        tokio::time::sleep(SETTLE).await;
        let end = markers.stored().await?;
        let Some(window) = Window::between(start, end) else {
            return Ok(end);
        };
        let read = self.read(window).await?;
        tracing::info!(
            from = window.from,
            end,
            read,
            "cluster: caught up from the message stream"
        );
        Ok(end)
    }

    /// Hands the messages of `window` (markers skipped) to the router; how many.
    async fn read(&self, window: Window) -> Result<u64, async_nats::Error> {
        let js = jetstream::new(self.clients.main.clone());
        let stream = js.get_stream(&self.stream).await?;
        let consumer = stream
            .create_consumer(consumer::pull::OrderedConfig {
                deliver_policy: consumer::DeliverPolicy::ByStartSequence {
                    start_sequence: window.from + 1,
                },
                ..Default::default()
            })
            .await?;
        let mut messages = consumer.messages().await?;
        let mut read = 0u64;
        loop {
            let next = tokio::time::timeout(CATCH_UP_IDLE, messages.next()).await;
            let Ok(Some(message)) = next else {
                return Err("the stream stopped before the end marker".into());
            };
            let message = message?;
            let sequence = message.info()?.stream_sequence;
            if !is_marker(&message.subject) {
                read += 1;
                let item = Inbound {
                    payload: message.payload.clone(),
                    route: Route::CatchUp,
                };
                if self.inbound.send(item).await.is_err() {
                    return Ok(read);
                }
            }
            if window.is_last(sequence) {
                return Ok(read);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subject::SubjectScheme;

    #[test]
    fn no_mqtt_topic_crosses_as_a_marker() {
        for scheme in [SubjectScheme::Plain, SubjectScheme::Magistrala] {
            for topic in [
                "%markers/s/i",
                "%/markers/s",
                "markers/s/i",
                "m/d/c/ch",
                "#",
            ] {
                let subject = scheme.topic_subject(topic);
                assert!(!is_marker(&subject), "{topic} -> {subject}");
            }
            for filter in ["%markers/#", "markers/#", "m/+/c/#"] {
                for subject in scheme.filter_subjects(filter) {
                    assert!(!is_marker(&subject), "{filter} -> {subject}");
                }
            }
        }
        assert!(is_marker("%markers.s.i"));
        assert!(!is_marker("%markersx.s.i"));
        assert_eq!(markers_subject("s"), "%markers.s.>");
    }

    #[test]
    fn a_marker_carries_its_number_and_nothing_else_is_one() {
        assert_eq!(marker_id(&7u64.to_be_bytes()), Some(7));
        assert_eq!(marker_id(b"short"), None);
        assert_eq!(marker_id(&[0u8; 9]), None);
    }
}
