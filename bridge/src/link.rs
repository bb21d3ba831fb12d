//! The task of one bridge: connect upstream, restore the inbound subscriptions, send the
//! queue in order within the upstream's receive window, release records on their
//! acknowledgement, publish inbound messages locally; on any failure start again after
//! the platform's jittered exponential backoff.
//!
//! Order and duplicates: records go out in queue order, so per topic (indeed overall)
//! the upstream receives them in the order they were published here. A connection that
//! drops with messages in flight sends them again from the first unacknowledged one
//! (QoS 1's at-least-once: those may arrive twice; nothing else does).
//!
//! With `declare=true` the link also declares the connected local devices upstream
//! ([`crate::devices`]) before the queue, on each connection anew, and undeclares
//! those that leave. (Un)declarations are QoS 1 on packet ids of their own
//! ([`DECLARE_PKIDS`]), inside the same window.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use bytes::Bytes;
use bytestring::ByteString;
use magnetite_broker::{BrokerHandle, Message};
use magnetite_protocol::{
    Packet, Properties, PubResponse, Publish, QoS, RetainHandling, Subscribe, SubscriptionOptions,
};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;

use crate::client::{self, Connected, LinkError, PacketWriter};
use crate::queue::{unix_ms, Cursor, Record};
use crate::{config, Bridge, Qos0, BRIDGE_PUBLISHER, LOOP_MARK};

/// At most this many QoS 1/2 messages unacknowledged upstream (less when the
/// upstream's Receive Maximum says so).
const MAX_IN_FLIGHT: usize = 256;
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// Queue records use packet ids 1..=RECORD_PKIDS (by sequence number)...
const RECORD_PKIDS: u64 = 65_000;
/// ...and device declarations the ids above, so an acknowledgement names one or the
/// other.
const DECLARE_PKIDS: std::ops::RangeInclusive<u16> = 65_001..=65_535;
/// Most devices declared on one upstream connection (the central instance serves at
/// most `--kaa-max-endpoints` per connection anyway): bounds the memory a flood of
/// local client ids can take.
const MAX_DECLARED: usize = 10_000;
/// How often the open queue segment is fsynced (the power-loss bound).
const SYNC_INTERVAL: Duration = Duration::from_secs(1);

/// Told when a bridge's upstream connection comes up or goes down (the binary records
/// them as MQTT events of the bridge itself).
pub trait LinkObserver: Send + Sync + 'static {
    fn connected(&self, bridge: &str);
    fn disconnected(&self, bridge: &str, reason: &str);
}

/// The reconnect schedule: 100 ms doubling to 5 s, each wait jittered up to as much
/// again (the events crate's retry policy numbers), so edges that lost the same
/// upstream do not come back in lockstep.
fn backoff() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(BACKOFF_MIN)
        .with_max_delay(BACKOFF_MAX)
        .with_factor(2.0)
        .without_max_times()
        .with_jitter()
}

/// Starts the bridge's link task and its fsync ticker.
pub fn spawn(
    bridge: Arc<Bridge>,
    broker: BrokerHandle,
    observer: Arc<dyn LinkObserver>,
) -> Result<(), LinkError> {
    let tls = if bridge.spec.upstream.scheme.is_tls() {
        Some(client::tls_connector(&bridge.spec.tls)?)
    } else {
        None
    };
    let qos0 = bridge
        .qos0_rx
        .lock()
        .take()
        .ok_or_else(|| LinkError::Protocol("bridge already started".into()))?;
    tokio::spawn(sync_ticker(Arc::clone(&bridge)));
    tokio::spawn(run(bridge, broker, observer, tls, qos0));
    Ok(())
}

async fn sync_ticker(bridge: Arc<Bridge>) {
    let mut tick = tokio::time::interval(SYNC_INTERVAL);
    loop {
        tick.tick().await;
        let b = Arc::clone(&bridge);
        if let Ok(Err(e)) = tokio::task::spawn_blocking(move || b.queue.sync()).await {
            tracing::warn!(bridge = %bridge.spec.name, error = %e, "bridge: fsync of the queue failed");
        }
    }
}

async fn run(
    bridge: Arc<Bridge>,
    broker: BrokerHandle,
    observer: Arc<dyn LinkObserver>,
    tls: Option<TlsConnector>,
    mut qos0: mpsc::Receiver<Qos0>,
) {
    let name = bridge.spec.name.clone();
    let mut delays = backoff().build();
    loop {
        let result = match client::connect(&bridge.spec, tls.as_ref()).await {
            Ok(connected) => {
                delays = backoff().build();
                bridge.stats.connected.store(1, Ordering::Relaxed);
                bridge.stats.connects.fetch_add(1, Ordering::Relaxed);
                tracing::info!(bridge = %name, session_present = connected.session_present, "bridge: connected upstream");
                observer.connected(&name);
                let mut session = Session::new(&bridge, &broker, connected.receive_maximum);
                let result = session.run(connected, &mut qos0).await;
                bridge.stats.connected.store(0, Ordering::Relaxed);
                bridge.stats.disconnects.fetch_add(1, Ordering::Relaxed);
                let reason = match &result {
                    Ok(()) => "closed".to_string(),
                    Err(e) => e.to_string(),
                };
                observer.disconnected(&name, &reason);
                result
            }
            Err(e) => Err(e),
        };
        let delay = delays.next().unwrap_or(BACKOFF_MAX);
        if let Err(e) = result {
            tracing::warn!(bridge = %name, error = %e, retry_in_ms = delay.as_millis() as u64, "bridge: upstream link down");
        }
        tokio::time::sleep(delay).await;
    }
}

/// A queued message sent upstream and not yet acknowledged (or dropped by age while
/// older ones were in flight).
struct InFlight {
    seq: u64,
    pkid: u16,
    size: u64,
    written_ms: u64,
    done: bool,
    /// Dropped by age rather than delivered (not counted as forwarded).
    expired: bool,
}

/// One upstream connection's state.
struct Session<'a> {
    bridge: &'a Bridge,
    broker: &'a BrokerHandle,
    window: usize,
    in_flight: VecDeque<InFlight>,
    cursor: Cursor,
    /// Inbound QoS 2 packet ids published locally and waiting for PUBREL.
    inbound_qos2: HashSet<u16>,
    /// Devices declared on this connection.
    declared: HashSet<String>,
    /// Packet ids of declarations not yet acknowledged.
    declaring: HashSet<u16>,
    next_declare_pkid: u16,
}

impl<'a> Session<'a> {
    fn new(bridge: &'a Bridge, broker: &'a BrokerHandle, receive_maximum: u16) -> Session<'a> {
        Session {
            bridge,
            broker,
            window: MAX_IN_FLIGHT.min(usize::from(receive_maximum.max(1))),
            in_flight: VecDeque::new(),
            cursor: bridge.queue.cursor(),
            inbound_qos2: HashSet::new(),
            declared: HashSet::new(),
            declaring: HashSet::new(),
            next_declare_pkid: *DECLARE_PKIDS.start(),
        }
    }

    async fn run(
        &mut self,
        connected: Connected,
        qos0: &mut mpsc::Receiver<Qos0>,
    ) -> Result<(), LinkError> {
        let Connected {
            mut reader,
            mut writer,
            ..
        } = connected;
        self.subscribe(&mut writer)?;
        let keep_alive = Duration::from_secs(u64::from(self.bridge.spec.keep_alive.max(1)));
        let mut ping = tokio::time::interval_at(Instant::now() + keep_alive / 2, keep_alive / 2);
        let mut last_heard = Instant::now();
        let declare = self.bridge.spec.declare;
        loop {
            self.declare_devices(&mut writer)?;
            self.fill_window(&mut writer)?;
            writer.flush().await?;
            tokio::select! {
                packet = reader.next() => {
                    last_heard = Instant::now();
                    self.handle(packet?, &mut writer)?;
                }
                () = self.bridge.queue.appended(), if self.outstanding() < self.window => {}
                () = self.bridge.devices.changed(), if declare => {}
                Some(message) = qos0.recv() => self.send_qos0(message, &mut writer)?,
                _ = ping.tick() => {
                    if last_heard.elapsed() > keep_alive * 2 {
                        return Err(LinkError::Protocol("keep-alive timeout".into()));
                    }
                    writer.queue(&Packet::PingReq)?;
                }
            }
        }
    }

    /// (Re)subscribes every inbound mapping (no-local with 5.0).
    fn subscribe(&self, writer: &mut PacketWriter) -> Result<(), LinkError> {
        let inbound = &self.bridge.spec.inbound;
        if inbound.is_empty() {
            return Ok(());
        }
        let filters = inbound
            .iter()
            .map(|m| {
                let options = SubscriptionOptions {
                    qos: m.qos,
                    no_local: self.bridge.spec.version.is_v5(),
                    retain_as_published: true,
                    retain_handling: RetainHandling::SendAtSubscribe,
                };
                (ByteString::from(m.filter.as_str()), options)
            })
            .collect();
        writer.queue(&Packet::Subscribe(Subscribe {
            pkid: 1,
            filters,
            properties: Properties::default(),
        }))
    }

    /// QoS 1/2 messages sent and not yet acknowledged (records and declarations).
    fn outstanding(&self) -> usize {
        self.in_flight.len() + self.declaring.len()
    }

    /// Declares (QoS 1, empty payload) the connected devices not yet declared on this
    /// connection and undeclares those that left, as many as the window and the
    /// declaration packet ids allow.
    fn declare_devices(&mut self, writer: &mut PacketWriter) -> Result<(), LinkError> {
        if !self.bridge.spec.declare {
            return Ok(());
        }
        let free_pkids = DECLARE_PKIDS.len() - self.declaring.len();
        let room = (self.window.saturating_sub(self.outstanding())).min(free_pkids);
        if room == 0 {
            return Ok(());
        }
        let before = self.declared.len();
        for change in self
            .bridge
            .devices
            .changes(&self.declared, room, MAX_DECLARED)
        {
            let pkid = self.free_declare_pkid();
            writer.queue(&Packet::Publish(Publish {
                dup: false,
                qos: QoS::AtLeastOnce,
                retain: false,
                topic: change.topic().into(),
                pkid,
                payload: Bytes::new(),
                properties: Properties::default(),
            }))?;
            self.declaring.insert(pkid);
            change.apply(&mut self.declared);
        }
        if before < MAX_DECLARED && self.declared.len() >= MAX_DECLARED {
            tracing::warn!(bridge = %self.bridge.spec.name, max = MAX_DECLARED, "bridge: declaring no more devices on this connection");
        }
        Ok(())
    }

    /// A declaration packet id not in use (one exists: callers check `declaring` has
    /// fewer than `DECLARE_PKIDS`).
    fn free_declare_pkid(&mut self) -> u16 {
        loop {
            let pkid = self.next_declare_pkid;
            self.next_declare_pkid = if pkid == *DECLARE_PKIDS.end() {
                *DECLARE_PKIDS.start()
            } else {
                pkid + 1
            };
            if !self.declaring.contains(&pkid) {
                return pkid;
            }
        }
    }

    /// Sends queued records while the window has room.
    fn fill_window(&mut self, writer: &mut PacketWriter) -> Result<(), LinkError> {
        let max_age = self.bridge.queue.limits().max_age.as_millis() as u64;
        while self.outstanding() < self.window {
            let Some(record) = self.bridge.queue.next(&mut self.cursor)? else {
                break;
            };
            let expired = unix_ms().saturating_sub(record.written_ms) > max_age;
            let pkid = (record.seq % RECORD_PKIDS) as u16 + 1;
            if expired {
                self.bridge
                    .stats
                    .drop_one(&self.bridge.spec.name, &self.bridge.stats.dropped_age);
            } else {
                writer.queue(&Packet::Publish(self.upstream_publish(&record, pkid)))?;
            }
            self.in_flight.push_back(InFlight {
                seq: record.seq,
                pkid,
                size: record.size(),
                written_ms: record.written_ms,
                done: expired,
                expired,
            });
        }
        self.release_done()
    }

    fn upstream_publish(&self, record: &Record, pkid: u16) -> Publish {
        Publish {
            dup: false,
            qos: record.qos,
            retain: record.retain,
            topic: ByteString::from(record.topic.as_str()),
            pkid,
            payload: record.payload.clone(),
            properties: self.loop_mark(),
        }
    }

    fn mark(&self) -> (ByteString, ByteString) {
        (LOOP_MARK.into(), self.bridge.spec.name.as_str().into())
    }

    /// The properties of a message sent upstream: the loop mark (5.0 only).
    fn loop_mark(&self) -> Properties {
        let mut properties = Properties::default();
        if self.bridge.spec.version.is_v5() {
            properties.user_properties.push(self.mark());
        }
        properties
    }

    fn send_qos0(&self, message: Qos0, writer: &mut PacketWriter) -> Result<(), LinkError> {
        let publish = Publish {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: message.retain,
            topic: message.topic.into(),
            pkid: 0,
            payload: message.payload,
            properties: self.loop_mark(),
        };
        writer.queue(&Packet::Publish(publish))?;
        self.bridge
            .stats
            .forwarded_out
            .fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn handle(&mut self, packet: Packet, writer: &mut PacketWriter) -> Result<(), LinkError> {
        match packet {
            Packet::PubAck(ack) if DECLARE_PKIDS.contains(&ack.pkid) => {
                self.declaring.remove(&ack.pkid);
            }
            Packet::PubAck(ack) | Packet::PubComp(ack) => self.delivered(ack.pkid),
            Packet::PubRec(rec) if rec.code < 0x80 => {
                writer.queue(&Packet::PubRel(PubResponse::ok(rec.pkid)))?
            }
            // A refusal (5.0 code >= 0x80) ends that message's exchange: it is not sent
            // again (it would be refused again), so it is released like a delivery.
            Packet::PubRec(rec) => self.delivered(rec.pkid),
            Packet::Publish(publish) => self.inbound(publish, writer)?,
            Packet::PubRel(rel) => {
                self.inbound_qos2.remove(&rel.pkid);
                writer.queue(&Packet::PubComp(PubResponse::ok(rel.pkid)))?;
            }
            Packet::SubAck(ack) => {
                if ack.codes.iter().any(|&c| c >= 0x80) {
                    tracing::warn!(bridge = %self.bridge.spec.name, codes = ?ack.codes, "bridge: the upstream refused an inbound subscription");
                }
            }
            Packet::PingResp | Packet::UnsubAck(_) => {}
            Packet::Disconnect(d) => {
                return Err(LinkError::Protocol(format!(
                    "upstream sent DISCONNECT {:#04x}",
                    d.code
                )))
            }
            other => {
                return Err(LinkError::Protocol(format!(
                    "unexpected {} from the upstream",
                    other.name()
                )))
            }
        }
        self.release_done()
    }

    fn delivered(&mut self, pkid: u16) {
        if let Some(entry) = self
            .in_flight
            .iter_mut()
            .find(|e| e.pkid == pkid && !e.done)
        {
            entry.done = true;
        }
    }

    /// Releases the acknowledged records at the front of the window (in order: the
    /// queue's mark only moves over a contiguous run).
    fn release_done(&mut self) -> Result<(), LinkError> {
        let (mut messages, mut bytes, mut through, mut forwarded) = (0, 0, 0, 0);
        while self.in_flight.front().is_some_and(|e| e.done) {
            let Some(entry) = self.in_flight.pop_front() else {
                break;
            };
            messages += 1;
            bytes += entry.size;
            through = entry.seq;
            forwarded += u64::from(!entry.expired);
        }
        if messages == 0 {
            return Ok(());
        }
        self.bridge
            .stats
            .forwarded_out
            .fetch_add(forwarded, Ordering::Relaxed);
        let head = self.in_flight.front().map(|e| e.written_ms);
        self.bridge
            .queue
            .release_through(through, messages, bytes, head)?;
        Ok(())
    }

    /// An upstream message: published locally under its mapped topic, then acknowledged.
    fn inbound(&mut self, publish: Publish, writer: &mut PacketWriter) -> Result<(), LinkError> {
        let (qos, pkid) = (publish.qos, publish.pkid);
        let fresh = qos != QoS::ExactlyOnce || self.inbound_qos2.insert(pkid);
        // A message that crossed a bridge already goes no further (see the crate doc).
        if fresh && !crate::has_loop_mark(&publish.properties) {
            if let Some((_, topic)) = config::route(&self.bridge.spec.inbound, &publish.topic) {
                let mut properties = publish.properties;
                properties.user_properties.push(self.mark());
                let local = Publish {
                    topic: topic.into(),
                    dup: false,
                    pkid: 0,
                    properties,
                    ..publish
                };
                let message =
                    Message::from_publish(local, 0).with_publisher(BRIDGE_PUBLISHER.into());
                self.broker.publish(message);
                self.bridge
                    .stats
                    .forwarded_in
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
        match qos {
            QoS::AtMostOnce => {}
            QoS::AtLeastOnce => writer.queue(&Packet::PubAck(PubResponse::ok(pkid)))?,
            QoS::ExactlyOnce => writer.queue(&Packet::PubRec(PubResponse::ok(pkid)))?,
        }
        Ok(())
    }
}
