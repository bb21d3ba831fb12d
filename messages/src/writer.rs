//! The writer: sees every channel message through the broker's [`MessageTap`] and stores
//! it in batches, off the MQTT path.
//!
//! `published` runs on the publisher's task, so it only checks the topic shape and
//! pushes the `Arc` into a bounded queue (count and bytes): when the store falls
//! behind, messages are dropped and counted (`magnetite_messages_dropped_total`), never
//! waited for. One task drains the queue up to [`BATCH`] at a time, applies the store
//! policy, parses SenML and inserts each batch in one transaction.

use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use magnetite_broker::{Message, MessageTap};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::MetricType;
use tokio::sync::mpsc;

use crate::policy::StorePolicy;
use crate::senml;
use crate::store::{unix_now, Content, Envelope, MessageStore, NewRow};

/// Messages taken from the queue and written at once.
pub const BATCH: usize = 512;

/// How much may wait to be written.
#[derive(Debug, Clone, Copy)]
pub struct QueueBounds {
    pub messages: usize,
    pub bytes: usize,
}

impl Default for QueueBounds {
    fn default() -> Self {
        QueueBounds {
            messages: 16_384,
            bytes: 64 * 1024 * 1024,
        }
    }
}

#[derive(Debug, Default)]
pub struct WriterCounters {
    pub stored: AtomicU64,
    /// Dropped because the queue was full.
    pub dropped: AtomicU64,
    /// Lost because a batch failed to write.
    pub failed: AtomicU64,
}

/// The tap end: cheap to call from any publisher.
pub struct MessageWriter {
    queue: mpsc::Sender<Arc<Message>>,
    queued_bytes: Arc<AtomicUsize>,
    max_bytes: usize,
    counters: Arc<WriterCounters>,
}

impl MessageTap for MessageWriter {
    fn published(&self, message: &Arc<Message>) {
        if channel_topic(&message.topic).is_none() {
            return;
        }
        let size = message.payload.len();
        let queued = self.queued_bytes.fetch_add(size, Ordering::AcqRel);
        if queued + size > self.max_bytes || self.queue.try_send(Arc::clone(message)).is_err() {
            self.queued_bytes.fetch_sub(size, Ordering::AcqRel);
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl MessageWriter {
    /// The tap and its writing task (ends when the tap is dropped and the queue drained).
    pub fn spawn(
        store: MessageStore,
        policy: StorePolicy,
        bounds: QueueBounds,
    ) -> (
        MessageWriter,
        Arc<WriterCounters>,
        tokio::task::JoinHandle<()>,
    ) {
        let (queue, rx) = mpsc::channel(bounds.messages.max(1));
        let counters = Arc::new(WriterCounters::default());
        let queued_bytes = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn(write_batches(
            rx,
            store,
            policy,
            Arc::clone(&queued_bytes),
            Arc::clone(&counters),
        ));
        let writer = MessageWriter {
            queue,
            queued_bytes,
            max_bytes: bounds.bytes,
            counters: Arc::clone(&counters),
        };
        (writer, counters, task)
    }
}

async fn write_batches(
    mut rx: mpsc::Receiver<Arc<Message>>,
    store: MessageStore,
    mut policy: StorePolicy,
    queued_bytes: Arc<AtomicUsize>,
    counters: Arc<WriterCounters>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        let bytes: usize = batch.iter().map(|m| m.payload.len()).sum();
        queued_bytes.fetch_sub(bytes, Ordering::AcqRel);
        let now = unix_now();
        let mut rows = Vec::with_capacity(batch.len());
        for message in batch.drain(..) {
            let Some(envelope) = envelope(&message, now) else {
                continue;
            };
            if policy
                .stores(&envelope.domain_id, &envelope.channel_id)
                .await
            {
                rows.extend(rows_of(envelope, &message.payload));
            }
        }
        if rows.is_empty() {
            continue;
        }
        match store.insert(&rows).await {
            Ok(()) => counters
                .stored
                .fetch_add(rows.len() as u64, Ordering::Relaxed),
            Err(err) => {
                tracing::warn!(error = %err, rows = rows.len(), "message store write failed");
                counters
                    .failed
                    .fetch_add(rows.len() as u64, Ordering::Relaxed)
            }
        };
    }
}

/// `m/<domain>/c/<channel>[/<subtopic>]` -> (domain, channel, subtopic): the routed
/// (canonical) name every platform channel message travels under.
pub fn channel_topic(topic: &str) -> Option<(&str, &str, &str)> {
    let rest = topic.strip_prefix("m/")?;
    let (domain, rest) = rest.split_once("/c/")?;
    let (channel, subtopic) = match rest.split_once('/') {
        Some((channel, subtopic)) => (channel, subtopic),
        None => (rest, ""),
    };
    let well_formed = !domain.is_empty() && !domain.contains('/') && !channel.is_empty();
    well_formed.then_some((domain, channel, subtopic))
}

/// Where `message` came from. A message of no MQTT session that names its publisher
/// came through the HTTP adapter (wills name none; messages of other instances are
/// not tapped).
fn envelope(message: &Message, received_at: f64) -> Option<Envelope> {
    let (domain, channel, subtopic) = channel_topic(&message.topic)?;
    let protocol = if message.origin == 0 && !message.publisher.is_empty() {
        "http"
    } else {
        "mqtt"
    };
    Some(Envelope {
        domain_id: domain.to_string(),
        channel_id: channel.to_string(),
        subtopic: subtopic.to_string(),
        publisher: message.publisher.to_string(),
        protocol,
        received_at,
    })
}

/// One row per SenML record, or one raw row.
pub fn rows_of(envelope: Envelope, payload: &[u8]) -> Vec<NewRow> {
    match senml::parse(payload, envelope.received_at) {
        Some(records) => records
            .into_iter()
            .map(|r| NewRow {
                envelope: envelope.clone(),
                content: Content::Senml(r),
            })
            .collect(),
        None => vec![NewRow {
            envelope,
            content: Content::Raw(payload.to_vec()),
        }],
    }
}

/// The writer's `/metrics` families.
pub struct WriterCollector(pub Arc<WriterCounters>);

impl fmt::Debug for WriterCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WriterCollector")
    }
}

impl Collector for WriterCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let families = [
            ("magnetite_messages_stored", "Message rows (SenML records or raw payloads) written to the message store.", &self.0.stored),
            ("magnetite_messages_dropped", "Channel messages not stored because the writer's queue was full (the MQTT path never waits for the store).", &self.0.dropped),
            ("magnetite_messages_write_failed", "Message rows lost because their batch failed to write.", &self.0.failed),
        ];
        for (name, help, counter) in families {
            let value = ConstCounter::new(counter.load(Ordering::Relaxed));
            value.encode(encoder.encode_descriptor(name, help, None, MetricType::Counter)?)?;
        }
        Ok(())
    }
}

/// Deletes what is older than `retention`, every `retention / 4` (between 1 s and 1 h).
pub fn spawn_retention(store: MessageStore, retention: Duration) -> tokio::task::JoinHandle<()> {
    let every = (retention / 4).clamp(Duration::from_secs(1), Duration::from_secs(3600));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            match store.prune(retention).await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(deleted = n, "message retention"),
                Err(err) => tracing::warn!(error = %err, "message retention failed"),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_canonical_channel_topics_are_taken() {
        assert_eq!(channel_topic("m/d/c/ch"), Some(("d", "ch", "")));
        assert_eq!(channel_topic("m/d/c/ch/a/b"), Some(("d", "ch", "a/b")));
        for other in [
            "channels/ch/messages",
            "m/d/c/",
            "m//c/ch",
            "x/m/d/c/ch",
            "m/d/ch",
        ] {
            assert_eq!(channel_topic(other), None, "{other}");
        }
    }

    fn envelope() -> Envelope {
        Envelope {
            domain_id: "d".into(),
            channel_id: "ch".into(),
            subtopic: String::new(),
            publisher: "p".into(),
            protocol: "mqtt",
            received_at: 1.7e9,
        }
    }

    #[test]
    fn senml_becomes_one_row_per_record_anything_else_one_raw_row() {
        let rows = rows_of(envelope(), br#"[{"n":"a","v":1},{"n":"b","v":2}]"#);
        assert_eq!(rows.len(), 2);
        assert!(matches!(&rows[1].content, Content::Senml(r) if r.name == "b"));
        let rows = rows_of(envelope(), b"\x00\x01");
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].content, Content::Raw(vec![0, 1]));
    }
}
