//! Gateway bridges: links from this (edge) instance to an upstream MQTT broker — a
//! central Magnetite or any other — with store-and-forward.
//!
//! - [`config`]: `--bridge` / `[[bridge]]` as a [`BridgeSpec`] and its topic [`Mapping`]s.
//! - [`Bridges`] is the engine's one [`BridgeLink`]: every message published here passes
//!   through [`Bridges::forward`] before its publisher is acknowledged; a QoS 1/2 message
//!   an outbound mapping takes is appended to that bridge's on-disk [`queue`] there and
//!   then (so a PUBACKed message survives `kill -9`), a QoS 0 one goes to a small
//!   in-memory channel (dropped and counted while the link is down).
//! - [`record`]: a queued message on disk, with its 5.0 properties (two formats, both
//!   read); [`pubrec`]: the QoS 2 records the upstream answered with PUBREC, on disk.
//! - [`link`]: one task per bridge connects upstream (reconnecting with the platform's
//!   jittered exponential backoff), subscribes its inbound mappings again, sends the
//!   queue in order and releases each record only on the upstream's PUBACK (PUBCOMP;
//!   the exchange of each in flight in [`window`]), and publishes inbound messages
//!   locally; [`upstream`]: what a message becomes upstream (properties, expiry counted
//!   down, the CONNACK's limits).
//! - [`devices`] (`declare=true`): the local devices connected, declared upstream as
//!   served by this gateway by the link (again after every reconnection).
//!
//! Loops: a message crosses at most one bridge. Every message a bridge publishes —
//! upstream (MQTT 5) or locally — carries the user property [`LOOP_MARK`]; a bridge
//! never forwards a marked message (nor one it published locally itself,
//! [`BRIDGE_PUBLISHER`]) and drops a marked message its upstream subscription hears;
//! with MQTT 5 the upstream subscriptions are also no-local (our own messages do not
//! come back on the same connection). So two instances that bridge each other (pushing
//! both ways, or pulling both ways) never ping-pong a message. MQTT 3.1.1 carries no
//! properties and has no no-local: there the mappings of the two sides must not feed
//! each other (map out under a prefix the other side does not map back). Chains of
//! bridges (edge -> regional -> cloud) therefore do not relay a message twice.

pub mod client;
pub mod config;
pub mod devices;
pub mod link;
pub mod pubrec;
pub mod queue;
pub mod record;
pub mod stats;
mod tail;
pub mod upstream;
pub mod window;

use std::io;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use magnetite_broker::{BridgeLink, Message};
use magnetite_protocol::{Properties, QoS};
use tokio::sync::mpsc;

pub use config::{BridgeSpec, Mapping, QueueLimits, SpecError};
pub use link::LinkObserver;
pub use stats::BridgeStats;

use crate::devices::Devices;
use crate::queue::{Appended, NewRecord, Queue};

/// [`Message::publisher`] of the messages bridges publish locally.
pub const BRIDGE_PUBLISHER: &str = "$bridge";
/// User property (5.0) on every message a bridge sends upstream: a message carrying it
/// crossed a bridge already and is not forwarded by another.
pub const LOOP_MARK: &str = "magnetite-bridged";
/// QoS 0 messages waiting for the link, per bridge.
const QOS0_CAPACITY: usize = 1024;

/// A QoS 0 message on its way upstream.
#[derive(Debug)]
pub struct Qos0 {
    pub topic: String,
    pub payload: Bytes,
    pub retain: bool,
    /// Its 5.0 properties ([`upstream::kept_properties`]).
    pub properties: Option<Box<Properties>>,
    /// When it was handed to the link (its expiry counts down from there).
    pub queued_at: Instant,
}

impl Qos0 {
    /// How long it has waited for the link.
    pub fn waited(&self) -> Duration {
        self.queued_at.elapsed()
    }
}

/// One configured bridge: its spec, queue and counters.
pub struct Bridge {
    pub spec: BridgeSpec,
    pub queue: Queue,
    pub stats: Arc<BridgeStats>,
    /// The local devices connected (kept only with `declare=true`).
    pub devices: Devices,
    qos0: mpsc::Sender<Qos0>,
    qos0_rx: parking_lot::Mutex<Option<mpsc::Receiver<Qos0>>>,
}

impl Bridge {
    /// Opens the bridge's queue under `data_dir/bridge/<name>`.
    pub fn open(spec: BridgeSpec, data_dir: &Path, limits: QueueLimits) -> io::Result<Bridge> {
        let stats = Arc::new(BridgeStats::default());
        let queue = Queue::open(
            &data_dir.join("bridge").join(&spec.name),
            limits,
            Arc::clone(&stats),
        )?;
        let (qos0, rx) = mpsc::channel(QOS0_CAPACITY);
        Ok(Bridge {
            spec,
            queue,
            stats,
            devices: Devices::default(),
            qos0,
            qos0_rx: parking_lot::Mutex::new(Some(rx)),
        })
    }

    fn forward(&self, message: &Message) {
        let Some((mapping, topic)) = config::route(&self.spec.outbound, &message.topic) else {
            return;
        };
        let qos = message.qos.min(mapping.qos);
        let now = Instant::now();
        let properties = upstream::kept_properties(message, now);
        if qos == QoS::AtMostOnce {
            let sent = self.stats.connected.load(Ordering::Relaxed) == 1
                && self
                    .qos0
                    .try_send(Qos0 {
                        topic,
                        payload: message.payload.clone(),
                        retain: message.retain,
                        properties: properties.map(Box::new),
                        queued_at: now,
                    })
                    .is_ok();
            if !sent {
                self.stats
                    .drop_one(&self.spec.name, &self.stats.dropped_qos0);
            }
            return;
        }
        let record = NewRecord {
            topic: &topic,
            payload: &message.payload,
            qos,
            retain: message.retain,
            properties: properties.as_ref(),
        };
        match self.queue.append_shared(&record, Some(&message.payload)) {
            Ok(Appended::Queued(_)) => {}
            Ok(Appended::Full) => self
                .stats
                .drop_one(&self.spec.name, &self.stats.dropped_full),
            Err(e) => {
                tracing::error!(bridge = %self.spec.name, error = %e, "bridge: could not queue a message");
                self.stats
                    .drop_one(&self.spec.name, &self.stats.write_errors);
            }
        }
    }
}

/// Every configured bridge, as the engine's one [`BridgeLink`].
pub struct Bridges(pub Vec<Arc<Bridge>>);

/// Whether a message came through a bridge already (ours, or another Magnetite's).
fn crossed_a_bridge(message: &Message) -> bool {
    message.publisher == BRIDGE_PUBLISHER
        || message.properties.as_deref().is_some_and(has_loop_mark)
}

pub(crate) fn has_loop_mark(properties: &magnetite_protocol::Properties) -> bool {
    properties
        .user_properties
        .iter()
        .any(|(k, _)| k == LOOP_MARK)
}

impl BridgeLink for Bridges {
    fn forward(&self, message: &Arc<Message>) {
        if crossed_a_bridge(message) {
            return;
        }
        for bridge in &self.0 {
            bridge.forward(message);
        }
    }

    fn device_connected(&self, id: &str) {
        for bridge in self.0.iter().filter(|b| b.spec.declare) {
            bridge.devices.connected(id);
        }
    }

    fn device_disconnected(&self, id: &str) {
        for bridge in self.0.iter().filter(|b| b.spec.declare) {
            bridge.devices.disconnected(id);
        }
    }
}
