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
//!   latency. After a reconnection or a slow-consumer drop an instance reads the stream
//!   (an ordered consumer) between two markers of its own ([`crate::catch_up`]): from the
//!   last checkpoint, before which everything stored reached it, to an end marker
//!   published once its subscriptions are back, after which everything stored reaches
//!   it by core delivery. It hands the QoS 1/2 messages to the local router, whose
//!   duplicate filter ([`crate::recent`], by origin + sequence) drops what core delivery
//!   already brought.
//! - The stream (file storage) captures every subject of the bus, so QoS 0 messages are
//!   stored too (JetStream captures by subject); a catch-up skips them: QoS 0 stays at
//!   most once.
//!
//! The guarantee: a QoS 1/2 message PUBACKed on instance A reaches the matching plain
//! subscribers of every other instance unless A dies (or its forward queue overflows,
//! counted) before JetStream acknowledged it, or it leaves the stream (age, bytes) before
//! the receiving instance reconnects, or (on a cluster of NATS servers) routes lag by
//! more than the catch-up's slack ([`crate::catch_up`] says how much). Shared
//! subscription groups are served by NATS queue groups, which only reach connected
//! instances: a catch-up does not replay to them.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, stream};
use async_nats::HeaderMap;
use bytes::Bytes;
use futures_util::future::BoxFuture;

use crate::catch_up::markers_subject;
use crate::link::ClusterStats;
use crate::subject::SubjectScheme;

/// QoS 1/2 messages published and not yet acknowledged by JetStream, at most.
pub(crate) const MAX_UNACKED: usize = 4096;
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
        // The messages, and the catch-up's markers (`crate::catch_up`).
        subjects: vec![scheme.every_subject(), markers_subject(&settings.name)],
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
    let changed = current.max_age != config.max_age
        || current.max_bytes != config.max_bytes
        || current.subjects != config.subjects;
    if changed {
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
