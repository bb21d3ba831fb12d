//! Cross-instance message routing over NATS (`--cluster-nats`).
//!
//! Each instance publishes what its clients publish on a NATS subject derived from the
//! routed topic ([`subject`]), encoded as Magistrala's protobuf `Message` ([`wire`]),
//! and subscribes only to the subjects its own clients' filters need. The engine sees
//! this crate only through its `ClusterLink` door ([`NatsLink`]) and
//! `BrokerHandle::publish_from_cluster`; the NATS work runs on tasks of its own
//! ([`bus`]).
//!
//! Guarantees:
//! - QoS 0 crosses on core NATS: at most once (a message past the forward queue's high
//!   watermark while NATS is down or slow is dropped and counted).
//! - QoS 1/2 is published through a JetStream stream and retried until JetStream
//!   acknowledges it; receivers catch up from the stream after a NATS outage
//!   ([`durable`] says why a stream rather than end-to-end acknowledgements). A message
//!   PUBACKed on instance A reaches the matching subscribers on instance B unless A dies
//!   before JetStream acknowledged it, or it leaves the stream
//!   (`--cluster-stream-max-age`/`-max-bytes`) before B reconnects (on a cluster of NATS
//!   servers, also if routes lag by more than the catch-up's slack: [`durable`]).
//!   A full forward queue does not drop QoS 1/2: the publisher waits for room before
//!   it is read further ([`link`]'s `ForwardBacklog`), so a NATS outage slows QoS 1/2
//!   publishers once the queue is full.
//!   Copies (a retry, a catch-up over what already arrived, overlapping subscriptions)
//!   are dropped by origin + sequence ([`recent`]), so a subscriber gets each message
//!   once: QoS 2 stays exactly once across instances while the copies are within the
//!   duplicate window.
//! - Each receiving instance delivers to its subscribers with their granted QoS, with
//!   MQTT's semantics from there on (no-local concerns the publishing connection, which
//!   is never on another instance; Retain As Published uses the flag carried on the bus).
//! - Shared subscriptions (`$share/<group>/<filter>`) are NATS queue groups, one per
//!   (group, routed filter), on a second connection: NATS gives each message to one
//!   instance with members, which gives it to one of its members. Every message
//!   reaches a group this way, local ones included, so a message goes to exactly one
//!   member cluster-wide. While NATS is down shared groups receive nothing; their
//!   messages wait in the forward queue (bounded) and a catch-up does not replay to
//!   them.
//! - No loops: a message from the bus is only routed locally, never forwarded again.
//! - Retained messages are shared through a JetStream key-value bucket ([`retained`]).
//! - Sessions have one owner cluster-wide ([`sessions`], the engine's second door).

mod bus;
mod catch_up;
mod checkpoints;
mod durable;
mod link;
mod recent;
pub mod retained;
pub mod sessions;
pub mod subject;
pub mod wire;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use magnetite_broker::{BrokerHandle, ClusterLink, Message};
use tokio::sync::mpsc;

pub use durable::StreamSettings;
pub use link::{ClusterStats, NatsLink};
pub use subject::SubjectScheme;

/// Messages published here that may wait for NATS (hard bound, with 64 MiB of payload);
/// QoS 0 is dropped and counted from 3/4 of it (`magnetite_cluster_forward_dropped_total`)
/// while QoS 1/2 publishers wait for room.
pub const FORWARD_QUEUE: usize = 65_536;

pub struct ClusterConfig {
    /// `nats://host:port` (it may carry credentials: used only to connect, never logged).
    pub url: String,
    /// Stamped on every message sent, so this instance recognises its own.
    pub instance_id: String,
    pub scheme: SubjectScheme,
    /// The stream QoS 1/2 messages cross through.
    pub stream: StreamSettings,
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
    clients: bus::Connections,
    outgoing: mpsc::Receiver<Arc<Message>>,
    instance_id: String,
    stream: StreamSettings,
    /// Messages the main connection dropped because this instance read them too slowly
    /// (NATS client-side slow consumer), as a count of such events: each is a gap the
    /// stream catch-up fills like a reconnection.
    gaps: Arc<AtomicU64>,
}

impl Cluster {
    pub async fn connect(config: ClusterConfig) -> Result<Cluster, ClusterError> {
        let name = format!("magnetite-cluster-{}", config.instance_id);
        // Never hear our own publications back: no loops, no second copy.
        let gaps = Arc::new(AtomicU64::new(0));
        let main = nats_options(&name, Some(Arc::clone(&gaps))).no_echo();
        let main = main.connect(config.url.as_str()).await?;
        // Shared groups must hear them: a local member gets its turn through NATS.
        let shared = nats_options(&format!("{name}-shared"), None);
        let shared = shared.connect(config.url.as_str()).await?;
        let (sender, outgoing) = mpsc::channel(FORWARD_QUEUE);
        let link = NatsLink {
            scheme: config.scheme,
            outgoing: sender,
            backlog: Arc::default(),
            interest: Arc::default(),
            stats: Arc::default(),
        };
        Ok(Cluster {
            link: Arc::new(link),
            clients: bus::Connections { main, shared },
            outgoing,
            instance_id: config.instance_id,
            stream: config.stream,
            gaps,
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
        let client = self.clients.main.clone();
        let scheme = self.link.scheme;
        tokio::spawn(durable::keep_stream(
            client.clone(),
            self.stream.clone(),
            scheme,
        ));
        let catch_up = catch_up::CatchUpTask {
            clients: self.clients.clone(),
            stream: self.stream.name.clone(),
            instance_id: self.instance_id.clone(),
            inbound: inbound_tx.clone(),
            stats: Arc::clone(&stats),
            gaps: Arc::clone(&self.gaps),
        };
        // Subscriptions start after the first checkpoint (see `catch_up`).
        let (ready, subscriptions_may_start) = tokio::sync::oneshot::channel();
        tokio::spawn(catch_up.run(ready));
        tokio::spawn(retained::mirror(
            client.clone(),
            puts_rx,
            broker.clone(),
            Arc::clone(&stats),
        ));
        let stream_name = self.stream.name.clone();
        let forward = bus::forward(
            client.clone(),
            self.outgoing,
            Arc::clone(&self.link.backlog),
            puts_tx,
            scheme,
            self.instance_id.clone(),
            Arc::clone(&stats),
        );
        tokio::spawn(async move {
            durable::stream_ready(&client, &stream_name, durable::STREAM_WAIT).await;
            forward.await
        });
        let follow = bus::follow_interest(
            self.clients,
            Arc::clone(&self.link.interest),
            inbound_tx,
            Arc::clone(&stats),
        );
        tokio::spawn(async move {
            let _ = subscriptions_may_start.await;
            follow.await
        });
        tokio::spawn(bus::deliver(inbound_rx, broker, self.instance_id, stats));
    }
}

/// What both NATS connections share: reconnecting forever, a NATS that is down at
/// start retried in the background, state changes logged; slow-consumer events (the
/// client dropped messages its subscription channel had no room for) counted in `gaps`.
fn nats_options(name: &str, gaps: Option<Arc<AtomicU64>>) -> async_nats::ConnectOptions {
    async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .name(name)
        .event_callback(move |event| {
            let gaps = gaps.clone();
            async move {
                if let (async_nats::Event::SlowConsumer(_), Some(gaps)) = (&event, gaps) {
                    gaps.fetch_add(1, Ordering::Relaxed);
                }
                tracing::info!(%event, "cluster NATS connection");
            }
        })
}
