//! Retained messages cluster-wide, in a JetStream key-value bucket.
//!
//! Every instance puts the retained messages its clients publish into the bucket
//! `magnetite_retained` (one key per routed topic, the value the bus message of
//! [`crate::wire`]; an empty payload clears, as in MQTT), and mirrors the whole bucket
//! into its own retained store: at start it reads every key's last value, then follows
//! each change. So a subscriber on any instance gets the retained messages at once from
//! its local store, with the usual retain-handling options.
//!
//! An instance applies its own puts too when they come back: the bucket's order is the
//! one order every instance applies, so two instances that set one topic at the same
//! time end with the same value (the bucket's last).
//!
//! NATS or JetStream down: the bucket is reopened every second; puts queued meanwhile
//! (bounded) fail or are dropped and counted, and the local store keeps serving.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::kv::{Config, Entry, Operation, Store};
use base64::Engine;
use bytes::Bytes;
use futures_util::StreamExt;
use magnetite_broker::BrokerHandle;
use tokio::sync::mpsc;

use crate::link::ClusterStats;
use crate::wire;

pub const BUCKET: &str = "magnetite_retained";
/// Retained messages waiting to be put into the bucket.
pub(crate) const PUT_QUEUE: usize = 4096;
const RETRY: Duration = Duration::from_secs(1);

/// One retained message for the bucket.
pub(crate) struct RetainedPut {
    pub key: String,
    pub value: Bytes,
}

/// The bucket key of a routed topic: its URL-safe base64, as keys may only hold
/// `[-/_=.A-Za-z0-9]` and a topic may hold anything.
pub fn key(topic: &str) -> String {
    base64::engine::general_purpose::URL_SAFE.encode(topic)
}

/// Puts what `puts` brings and mirrors the bucket into `broker`, reopening it after
/// any failure, until the put queue closes.
pub(crate) async fn mirror(
    client: async_nats::Client,
    mut puts: mpsc::Receiver<RetainedPut>,
    broker: BrokerHandle,
    stats: Arc<ClusterStats>,
) {
    loop {
        match open(&client).await {
            Ok(store) => {
                if follow(&store, &mut puts, &broker, &stats).await.is_none() {
                    return;
                }
            }
            Err(err) => tracing::debug!(%err, "cluster: retained bucket not available yet"),
        }
        tokio::time::sleep(RETRY).await;
    }
}

async fn open(client: &async_nats::Client) -> Result<Store, async_nats::Error> {
    let jetstream = async_nats::jetstream::new(client.clone());
    if let Ok(store) = jetstream.get_key_value(BUCKET).await {
        return Ok(store);
    }
    let config = Config {
        bucket: BUCKET.into(),
        history: 1,
        ..Default::default()
    };
    Ok(jetstream.create_key_value(config).await?)
}

/// Runs until the watch fails (`Some`: reopen) or the put queue closes (`None`).
async fn follow(
    store: &Store,
    puts: &mut mpsc::Receiver<RetainedPut>,
    broker: &BrokerHandle,
    stats: &ClusterStats,
) -> Option<()> {
    let mut watch = match store.watch_with_history(">").await {
        Ok(watch) => watch,
        Err(err) => {
            tracing::debug!(%err, "cluster: cannot watch the retained bucket");
            return Some(());
        }
    };
    loop {
        tokio::select! {
            put = puts.recv() => {
                let put = put?;
                if let Err(err) = store.put(put.key, put.value).await {
                    tracing::debug!(%err, "cluster: retained put failed");
                    stats.retained_errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            entry = watch.next() => match entry {
                Some(Ok(entry)) => apply(entry, broker, stats),
                Some(Err(err)) => {
                    tracing::debug!(%err, "cluster: retained watch failed");
                    return Some(());
                }
                None => return Some(()),
            }
        }
    }
}

fn apply(entry: Entry, broker: &BrokerHandle, stats: &ClusterStats) {
    if entry.operation != Operation::Put {
        return;
    }
    match wire::decode(entry.value) {
        Ok(received) if received.message.retain => {
            stats.retained_mirrored.fetch_add(1, Ordering::Relaxed);
            broker.retain_from_cluster(received.message);
        }
        _ => {
            stats.undecodable.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn any_topic_makes_a_valid_key() {
        for topic in ["m/d/c/ch/a b", "a.b/*/>", "/", "température", "x"] {
            let key = super::key(topic);
            assert!(
                key.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_=".contains(c)),
                "{topic} -> {key}"
            );
            assert!(!key.starts_with('.') && !key.ends_with('.'));
        }
        assert_ne!(super::key("a/b"), super::key("a/c"));
    }
}
