//! QoS 1/2 across instances: published through a JetStream stream, read back after a
//! NATS outage.
//!
//! Why a stream and not end-to-end acknowledgements: an end-to-end scheme would make
//! the publishing instance track every receiving instance (which ones have interest,
//! which are alive) and hold each message until all of them answered: a membership
//! protocol of our own. JetStream already stores a message once for every reader, in the
//! NATS the cluster runs anyway, and lets any instance read from a sequence on.
//!
//! - Publishing: a QoS 1/2 message is published with JetStream's acknowledgement
//!   (`Nats-Msg-Id` = origin instance + sequence, so a retry within the stream's
//!   duplicate window is stored once). Until acknowledged it is retried with backoff;
//!   at most [`MAX_UNACKED`] wait at once, after which the forward queue fills and
//!   holds QoS 1/2 publishers back (`link::ForwardBacklog`). The MQTT publisher's PUBACK
//!   never waits for JetStream itself.
//! - Receiving: instances keep their interest-based core subscriptions (a subject the
//!   stream captures is still delivered to core subscribers), so the stream costs no
//!   latency. Each instance samples the stream's last sequence every [`CHECKPOINT_EVERY`]
//!   while its NATS connection stays up; after a reconnection it reads the stream from
//!   the sample [`CHECKPOINT_LAG`] intervals back (an ordered consumer) and hands the QoS 1/2 messages to the local
//!   router, whose duplicate filter ([`crate::recent`], by origin + sequence) drops what
//!   core delivery already brought.
//! - The stream (file storage) captures every subject of the bus, so QoS 0 messages are
//!   stored too (JetStream captures by subject); a catch-up skips them: QoS 0 stays at
//!   most once.
//!
//! The guarantee: a QoS 1/2 message PUBACKed on instance A reaches the matching plain
//! subscribers of every other instance unless A dies (or its forward queue overflows,
//! counted) before JetStream acknowledged it, or it leaves the stream (age, bytes) before
//! the receiving instance reconnects. Shared subscription groups are served by NATS queue
//! groups, which only reach connected instances: a catch-up does not replay to them.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
use async_nats::HeaderMap;
use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::StreamExt;
use tokio::sync::mpsc;

use crate::bus::{Inbound, Route};
use crate::link::ClusterStats;
use crate::subject::SubjectScheme;

/// QoS 1/2 messages published and not yet acknowledged by JetStream, at most.
pub(crate) const MAX_UNACKED: usize = 4096;
/// How often the stream's last sequence is sampled (the catch-up starts there, so the
/// duplicate filter must remember at least this long's worth of received messages).
pub(crate) const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);
/// How many samples back a catch-up starts (see `catch_up_after_reconnects`): the
/// duplicate filter must remember this many intervals' worth of received messages.
const CHECKPOINT_LAG: usize = 3;
/// Longest wait for the next stored message during a catch-up.
const CATCH_UP_IDLE: Duration = Duration::from_secs(5);
const RETRY_FIRST: Duration = Duration::from_millis(250);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// The message stream's settings (`--cluster-stream-*`).
#[derive(Debug, Clone)]
pub struct StreamSettings {
    pub name: String,
    /// Messages older than this leave the stream: the longest NATS outage (or instance
    /// disconnection) after which QoS 1/2 messages can still be caught up.
    pub max_age: Duration,
    /// The stream's size on disk, at most; the oldest messages leave first.
    pub max_bytes: i64,
}

impl Default for StreamSettings {
    fn default() -> Self {
        StreamSettings {
            name: "magnetite_messages".into(),
            max_age: Duration::from_secs(3600),
            max_bytes: 1 << 30,
        }
    }
}

fn stream_config(settings: &StreamSettings, scheme: SubjectScheme) -> stream::Config {
    stream::Config {
        name: settings.name.clone(),
        subjects: vec![scheme.every_subject()],
        storage: stream::StorageType::File,
        max_age: settings.max_age,
        max_bytes: settings.max_bytes,
        discard: stream::DiscardPolicy::Old,
        duplicate_window: Duration::from_secs(120),
        ..Default::default()
    }
}

/// Creates the stream, or brings an existing one to `settings`' limits.
async fn ensure_stream(
    js: &jetstream::Context,
    config: stream::Config,
) -> Result<(), async_nats::Error> {
    let mut stream = js.get_or_create_stream(config.clone()).await?;
    let current = &stream.info().await?.config;
    if current.max_age != config.max_age || current.max_bytes != config.max_bytes {
        js.update_stream(config).await?;
    }
    Ok(())
}

/// Keeps the stream in place: at start and after every reconnection (a NATS that came
/// back with an empty store has lost it), retrying every second until it is there.
pub(crate) async fn keep_stream(
    client: async_nats::Client,
    settings: StreamSettings,
    scheme: SubjectScheme,
) {
    let js = jetstream::new(client.clone());
    let config = stream_config(&settings, scheme);
    let mut ensured_at = None;
    loop {
        let connects = client.statistics().connects.load(Ordering::Relaxed);
        if ensured_at != Some(connects) && connects > 0 {
            match ensure_stream(&js, config.clone()).await {
                Ok(()) => ensured_at = Some(connects),
                Err(err) => tracing::warn!(%err, "cluster: JetStream message stream not ready"),
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Longest wait at start for the stream before forwarding begins anyway (a NATS without
/// JetStream must not stop QoS 0 from crossing).
pub(crate) const STREAM_WAIT: Duration = Duration::from_secs(10);

/// Waits until the stream exists (`keep_stream` makes it), at most `limit`. Forwarding
/// starts after it: a QoS 1/2 message published before the stream exists is refused by
/// JetStream and retried, and each retry is a second core-NATS delivery, which a
/// subscription made in the meantime on another instance would take as new.
pub(crate) async fn stream_ready(client: &async_nats::Client, name: &str, limit: Duration) {
    let js = jetstream::new(client.clone());
    let deadline = tokio::time::Instant::now() + limit;
    while js.get_stream(name).await.is_err() {
        if tokio::time::Instant::now() >= deadline {
            tracing::warn!(
                stream = name,
                "cluster: message stream not ready; forwarding anyway"
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Publishes one QoS 1/2 bus message to the stream and returns the wait for its
/// acknowledgement, which retries until JetStream has it. The first attempt is made
/// here, in the caller's order, so messages keep their publish order unless retried.
pub(crate) async fn publish(
    js: &jetstream::Context,
    subject: String,
    id: String,
    payload: Bytes,
    stats: Arc<ClusterStats>,
) -> BoxFuture<'static, ()> {
    let mut headers = HeaderMap::new();
    headers.insert("Nats-Msg-Id", id.as_str());
    let js = js.clone();
    let first = js
        .publish_with_headers(subject.clone(), headers.clone(), payload.clone())
        .await;
    Box::pin(async move {
        let mut attempt = first;
        let mut backoff = RETRY_FIRST;
        loop {
            if let Ok(ack) = attempt {
                match ack.await {
                    Ok(_) => {
                        stats.persisted.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    Err(err) => tracing::debug!(%err, "cluster: no JetStream acknowledgement"),
                }
            }
            stats.persist_retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(RETRY_MAX);
            attempt = js
                .publish_with_headers(subject.clone(), headers.clone(), payload.clone())
                .await;
        }
    })
}

/// Samples the stream's last sequence while the connection stays up and, after each
/// reconnection or slow-consumer drop (`gaps`), reads what was stored since the last
/// sample into `inbound`.
pub(crate) async fn catch_up_after_reconnects(
    client: async_nats::Client,
    stream_name: String,
    inbound: mpsc::Sender<Inbound>,
    stats: Arc<ClusterStats>,
    gaps: Arc<AtomicU64>,
) {
    let js = jetstream::new(client.clone());
    // A reconnection or a slow-consumer drop: either way core delivery may have missed
    // messages, and the stream has them.
    let connects =
        || client.statistics().connects.load(Ordering::Relaxed) + gaps.load(Ordering::Relaxed);
    // The last CHECKPOINT_LAG samples, oldest first; a catch-up starts at the oldest.
    // Why not the newest: a sample is what the stream has *stored*, and messages stored
    // just before it may still be on their way to us (in the server's pending buffer for
    // this connection, in the socket) when the connection drops or the server cuts us as
    // a slow consumer — seen under disk load in CI, where the newest sample lost a few
    // hundred PUBACKed messages. Starting a few seconds back re-reads what core delivery
    // already brought; the duplicate filter drops those.
    let mut samples: VecDeque<u64> = VecDeque::with_capacity(CHECKPOINT_LAG + 1);
    let mut generation = connects();
    loop {
        tokio::time::sleep(CHECKPOINT_EVERY).await;
        let now = connects();
        if now != generation {
            let Some(from) = samples.front().copied() else {
                generation = now;
                continue;
            };
            match catch_up(&client, &js, &stream_name, from, &inbound).await {
                Ok(()) => {
                    stats.catch_ups.fetch_add(1, Ordering::Relaxed);
                    // Kept as the oldest sample: the next drop re-reads from here too
                    // until newer samples have aged past the lag.
                    generation = now;
                }
                Err(err) => {
                    tracing::warn!(%err, "cluster: catch-up from the stream failed, retrying")
                }
            }
            continue;
        }
        // A sample counts only if no reconnection happened around it: a reconnection
        // must first be caught up from the samples before it.
        if let Ok(last) = last_sequence(&js, &stream_name).await {
            if connects() == generation {
                samples.push_back(last);
                if samples.len() > CHECKPOINT_LAG {
                    samples.pop_front();
                }
            }
        }
    }
}

async fn last_sequence(js: &jetstream::Context, name: &str) -> Result<u64, async_nats::Error> {
    let stream = js.get_stream(name).await?;
    Ok(stream.cached_info().state.last_sequence)
}

/// Reads the stream after `from` up to its last message at the start.
async fn catch_up(
    client: &async_nats::Client,
    js: &jetstream::Context,
    name: &str,
    from: u64,
    inbound: &mpsc::Sender<Inbound>,
) -> Result<(), async_nats::Error> {
    // Our subscriptions are back on the server before the end is read: what is stored
    // later arrives by core delivery.
    client.flush().await?;
    let stream = js.get_stream(name).await?;
    let last = stream.cached_info().state.last_sequence;
    // A stream that began again (a NATS with a new store) holds only messages stored
    // since: all of them are new to us.
    let from = if last < from { 0 } else { from };
    if last == from {
        return Ok(());
    }
    let consumer = stream
        .create_consumer(consumer::pull::OrderedConfig {
            deliver_policy: consumer::DeliverPolicy::ByStartSequence {
                start_sequence: from + 1,
            },
            ..Default::default()
        })
        .await?;
    let mut messages = consumer.messages().await?;
    let mut read = 0u64;
    loop {
        let next = tokio::time::timeout(CATCH_UP_IDLE, messages.next()).await;
        let Ok(Some(message)) = next else {
            return Err("the stream stopped before its last message".into());
        };
        let message = message?;
        let sequence = message.info()?.stream_sequence;
        read += 1;
        let item = Inbound {
            payload: message.payload.clone(),
            route: Route::CatchUp,
        };
        if inbound.send(item).await.is_err() || sequence >= last {
            break;
        }
    }
    tracing::info!(
        from,
        last,
        read,
        "cluster: caught up from the message stream"
    );
    Ok(())
}
