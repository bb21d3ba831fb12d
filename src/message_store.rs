//! HTTP publishing and message storage of `serve --auth platform` (the
//! `magnetite-messages` crate): the writer taps the broker per `--messages-store`,
//! stores into `--messages-db` and prunes per `--messages-retention`; the adapter and
//! the readers are HTTP routes.

use std::sync::Arc;

use anyhow::Context;
use magnetite_auth::Platform;
use magnetite_broker::BrokerHandle;
use magnetite_messages::writer::spawn_retention;
use magnetite_messages::{
    MessageStore, MessageWriter, MessagesService, PublishLimits, QueueBounds, StoreMode,
    StorePolicy, WriterCollector,
};

use crate::cli::{MessagesStoreMode, Settings};
use crate::http::MetricsSource;

/// The routes of the adapter and the readers, and the writer's `/metrics` (when on).
pub async fn start(
    settings: &Settings,
    platform: &Arc<Platform>,
    broker: BrokerHandle,
) -> anyhow::Result<(magnetite_httpkit::routes::Routes, Option<MetricsSource>)> {
    let mode = match settings.messages_store {
        MessagesStoreMode::Off => None,
        MessagesStoreMode::All => Some(StoreMode::All),
        MessagesStoreMode::OptIn => Some(StoreMode::OptIn),
    };
    let mut metrics: Option<MetricsSource> = None;
    let store = match mode {
        None => None,
        Some(mode) => {
            let store = MessageStore::open(&settings.messages_db_url())
                .await
                .context("opening the message store (--messages-db)")?;
            let policy = StorePolicy::new(mode, Some(Arc::clone(platform)));
            let (writer, counters, _task) =
                MessageWriter::spawn(store.clone(), policy, QueueBounds::default());
            if !broker.set_tap(Arc::new(writer)) {
                anyhow::bail!("the broker already has a message tap");
            }
            if !settings.messages_retention.is_zero() {
                spawn_retention(store.clone(), settings.messages_retention);
            }
            metrics = Some(Box::new(WriterCollector(counters)));
            Some(store)
        }
    };
    let limits = PublishLimits {
        max_payload: usize::try_from(settings.max_packet_size).unwrap_or(usize::MAX),
        max_topic_levels: settings.max_topic_levels,
    };
    let service = MessagesService::new(Arc::clone(platform), broker, store, limits);
    Ok((magnetite_messages::http::router(Arc::new(service)), metrics))
}
