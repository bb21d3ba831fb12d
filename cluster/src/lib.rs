//! Cross-instance message routing over NATS (`--cluster-nats`).
//!
//! Each instance publishes what its clients publish on a NATS subject derived from the
//! routed topic ([`subject`]), encoded as Magistrala's protobuf `Message` ([`wire`]),
//! and subscribes only to the subjects its own clients' filters need. The engine sees
//! this crate only through its `ClusterLink` door ([`NatsLink`]) and
//! `BrokerHandle::publish_from_cluster`; the NATS work runs on tasks of its own
//! ([`bus`]).
//!
//! Guarantees of this first slice: core NATS, so across instances delivery is at most
//! once (a message published while NATS is down, or that overflows the forward queue,
//! does not reach other instances; each such drop is counted). Each receiving instance
//! delivers to its subscribers with their granted QoS (QoS 1/2 from there on).
//! Retained messages are shared through a JetStream key-value bucket ([`retained`]);
//! sessions have one owner cluster-wide ([`sessions`], the engine's second door);
//! shared subscriptions stay per instance.

mod bus;
mod link;
mod recent;
pub mod retained;
pub mod sessions;
pub mod subject;
pub mod wire;

use std::sync::Arc;

use magnetite_broker::{BrokerHandle, ClusterLink, Message};
use tokio::sync::mpsc;

pub use link::{ClusterStats, NatsLink};
pub use subject::SubjectScheme;

/// Messages published here that may wait for NATS; past this many (or past 64 MiB of
/// payload) they are dropped and counted (`magnetite_cluster_forward_dropped_total`).
pub const FORWARD_QUEUE: usize = 65_536;

pub struct ClusterConfig {
    /// `nats://host:port` (it may carry credentials: used only to connect, never logged).
    pub url: String,
    /// Stamped on every message sent, so this instance recognises its own.
    pub instance_id: String,
    pub scheme: SubjectScheme,
}

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cluster NATS settings refused: {0}")]
    Connect(#[from] async_nats::ConnectError),
}

/// A cluster link, connected (or connecting: a NATS that is down at start is retried in
/// the background) but not yet routing anything in: give [`Cluster::link`] to the
/// broker, then [`Cluster::start`] with its handle.
pub struct Cluster {
    link: Arc<NatsLink>,
    client: async_nats::Client,
    outgoing: mpsc::Receiver<Arc<Message>>,
    instance_id: String,
}

impl Cluster {
    pub async fn connect(config: ClusterConfig) -> Result<Cluster, ClusterError> {
        let client = async_nats::ConnectOptions::new()
            // Never hear our own publications back: no loops, no second copy.
            .no_echo()
            .retry_on_initial_connect()
            .name(format!("magnetite-cluster-{}", config.instance_id))
            .event_callback(|event| async move {
                tracing::info!(%event, "cluster NATS connection");
            })
            .connect(config.url.as_str())
            .await?;
        let (sender, outgoing) = mpsc::channel(FORWARD_QUEUE);
        let link = NatsLink {
            scheme: config.scheme,
            outgoing: sender,
            queued: Arc::default(),
            interest: Arc::default(),
            stats: Arc::default(),
        };
        Ok(Cluster {
            link: Arc::new(link),
            client,
            outgoing,
            instance_id: config.instance_id,
        })
    }

    /// The door to hand to `Broker::assemble`.
    pub fn link(&self) -> Arc<dyn ClusterLink> {
        Arc::clone(&self.link) as Arc<dyn ClusterLink>
    }

    pub fn stats(&self) -> Arc<ClusterStats> {
        self.link.stats()
    }

    /// Starts forwarding, following interest and delivering into `broker`.
    pub fn start(self, broker: BrokerHandle) {
        let stats = self.link.stats();
        let (inbound_tx, inbound_rx) = mpsc::channel(bus::INBOUND_QUEUE_LEN);
        let (puts_tx, puts_rx) = mpsc::channel(retained::PUT_QUEUE);
        tokio::spawn(retained::mirror(
            self.client.clone(),
            puts_rx,
            broker.clone(),
            Arc::clone(&stats),
        ));
        tokio::spawn(bus::forward(
            self.client.clone(),
            self.outgoing,
            Arc::clone(&self.link.queued),
            puts_tx,
            self.link.scheme,
            self.instance_id.clone(),
            Arc::clone(&stats),
        ));
        tokio::spawn(bus::follow_interest(
            self.client,
            Arc::clone(&self.link.interest),
            inbound_tx,
            Arc::clone(&stats),
        ));
        tokio::spawn(bus::deliver(inbound_rx, broker, self.instance_id, stats));
    }
}
