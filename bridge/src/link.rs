//! The task of one bridge: connect upstream, restore the inbound subscriptions, send the
//! queue in order within the upstream's receive window, release records on their
//! acknowledgement, publish inbound messages locally; on any failure start again after
//! the platform's jittered exponential backoff.
//!
//! Order and duplicates: records go out in queue order, so per topic (indeed overall)
//! the upstream receives them in the order they were published here. A connection that
//! drops with messages in flight sends them again from the first unacknowledged one
//! (with DUP and the same packet id when the upstream kept our session):
//! - QoS 1: at least once — those may arrive twice.
//! - QoS 2: a record whose PUBREC came is marked durably ([`crate::pubrec`]) before
//!   PUBREL goes out. When the upstream kept our session (`clean=false` and CONNACK's
//!   session present) the link sends PUBREL again for it, never the PUBLISH: exactly
//!   once across link drops and edge restarts (`kill -9`; a power loss may lose the
//!   last second of marks, then the PUBLISH goes again with its packet id, which an
//!   upstream still waiting for our PUBREL does not deliver twice). When the upstream
//!   has no session for us (`clean=true`, or it lost it) that exchange is gone with
//!   it: the message is sent again as a new PUBLISH, and may arrive twice — QoS 2
//!   across a bridge is exactly-once only with a persistent upstream session.
//! - Inbound QoS 2: the packet ids published locally and waiting for PUBREL are kept
//!   while the upstream keeps our session, so a PUBLISH it sends again is not
//!   published here twice (kept in memory: an edge restart forgets them).
//!
//! With `declare=true` the link also declares the connected local devices upstream
//! ([`crate::devices`]) before the queue, on each connection anew, and undeclares
//! those that leave. (Un)declarations are QoS 1 on packet ids of their own
//! ([`DECLARE_PKIDS`]), inside the same window.

use std::collections::HashSet;
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
use crate::upstream::{count_down, upstream_properties, UpstreamLimits};
use crate::window::{OnPubRec, Run, Stage, Window};
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
    let mut carry = Carry {
        inbound_qos2: HashSet::new(),
        sent_through: bridge.queue.last_seq(),
    };
    loop {
        let result = match client::connect(&bridge.spec, tls.as_ref()).await {
            Ok(connected) => {
                delays = backoff().build();
                bridge.stats.connected.store(1, Ordering::Relaxed);
                bridge.stats.connects.fetch_add(1, Ordering::Relaxed);
                tracing::info!(bridge = %name, session_present = connected.session_present, "bridge: connected upstream");
                observer.connected(&name);
                if !connected.session_present {
                    carry.inbound_qos2.clear();
                }
                let mut session = Session::new(&bridge, &broker, &connected, &mut carry);
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

/// What one upstream connection hands to the next.
struct Carry {
    /// Inbound QoS 2 packet ids published locally and waiting for PUBREL (kept while
    /// the upstream keeps our session).
    inbound_qos2: HashSet<u16>,
    /// Records up to here may have gone out before (on an earlier connection, or
    /// before a restart): sent again with DUP to an upstream that kept our session.
    sent_through: u64,
}

/// One upstream connection's state.
struct Session<'a> {
    bridge: &'a Bridge,
    broker: &'a BrokerHandle,
    window: usize,
    limits: UpstreamLimits,
    keep_alive: u16,
    /// The upstream kept our session: unfinished exchanges resume.
    resumed: bool,
    in_flight: Window,
    cursor: Cursor,
    carry: &'a mut Carry,
    /// Devices declared on this connection.
    declared: HashSet<String>,
    /// Packet ids of declarations not yet acknowledged.
    declaring: HashSet<u16>,
    next_declare_pkid: u16,
}

impl<'a> Session<'a> {
    fn new(
        bridge: &'a Bridge,
        broker: &'a BrokerHandle,
        connected: &Connected,
        carry: &'a mut Carry,
    ) -> Session<'a> {
        let limits = connected.limits;
        Session {
            bridge,
            broker,
            window: MAX_IN_FLIGHT.min(usize::from(limits.receive_maximum.max(1))),
            limits,
            keep_alive: connected.keep_alive,
            resumed: connected.session_present,
            in_flight: Window::default(),
            cursor: bridge.queue.cursor(),
            carry,
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
        let keep_alive = Duration::from_secs(u64::from(self.keep_alive.max(1)));
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
                    // The rest of the burst before one write (and one window fill).
                    while let Some(packet) = reader.buffered()? {
                        self.handle(packet, &mut writer)?;
                    }
                    // One release (one write of the mark) for the whole burst.
                    self.release_done()?;
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
                    // 5.0: retained messages only for a subscription the upstream did not
                    // keep (3.1.1 has no such option: they come again each time).
                    retain_handling: RetainHandling::SendAtSubscribeIfNew,
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
        while self.outstanding() < self.window {
            let Some(record) = self.bridge.queue.next(&mut self.cursor)? else {
                break;
            };
            let pkid = (record.seq % RECORD_PKIDS) as u16 + 1;
            let (seq, size, written_ms) = (record.seq, record.size(), record.written_ms);
            let stage = self.send_record(record, pkid, writer)?;
            self.in_flight.push(seq, pkid, size, written_ms, stage);
        }
        self.release_done()
    }

    /// Sends one record (or its PUBREL, or drops it): where its exchange stands then.
    fn send_record(
        &mut self,
        record: Record,
        pkid: u16,
        writer: &mut PacketWriter,
    ) -> Result<Stage, LinkError> {
        let queue = &self.bridge.queue;
        if queue.pubrec_received(record.seq) {
            if self.resumed {
                writer.queue(&Packet::PubRel(PubResponse::ok(pkid)))?;
                return Ok(Stage::AwaitPubComp);
            }
            // The upstream has no session for us: that exchange is gone with it.
            queue.set_pubrec(record.seq, false)?;
        }
        let waited = unix_ms().saturating_sub(record.written_ms);
        let stats = &self.bridge.stats;
        let kept = record.properties.as_deref();
        let expiry = match count_down(kept.and_then(|p| p.message_expiry_interval), waited) {
            _ if waited > queue.limits().max_age.as_millis() as u64 => None,
            Ok(expiry) => Some(expiry),
            Err(_) => {
                stats.drop_one(&self.bridge.spec.name, &stats.dropped_expired);
                return Ok(Stage::Done { delivered: false });
            }
        };
        let Some(expiry) = expiry else {
            stats.drop_one(&self.bridge.spec.name, &stats.dropped_age);
            return Ok(Stage::Done { delivered: false });
        };
        let publish = Publish {
            dup: self.resumed && record.seq <= self.carry.sent_through,
            qos: record.qos,
            retain: record.retain,
            topic: ByteString::from(record.topic),
            pkid,
            payload: record.payload,
            properties: self.upstream_properties(kept, expiry),
        };
        let Some(packet) = self.limits.fit(publish, self.bridge.spec.version) else {
            stats.drop_one(&self.bridge.spec.name, &stats.dropped_too_large);
            return Ok(Stage::Done { delivered: false });
        };
        writer.queue(&packet)?;
        self.carry.sent_through = self.carry.sent_through.max(record.seq);
        Ok(match &packet {
            Packet::Publish(p) if p.qos == QoS::ExactlyOnce => Stage::AwaitPubRec,
            Packet::Publish(p) if p.qos == QoS::AtLeastOnce => Stage::AwaitPubAck,
            _ => Stage::Done { delivered: true },
        })
    }

    fn mark(&self) -> (ByteString, ByteString) {
        (LOOP_MARK.into(), self.bridge.spec.name.as_str().into())
    }

    /// The properties of a message sent upstream ([`crate::upstream`]).
    fn upstream_properties(&self, kept: Option<&Properties>, expiry: Option<u32>) -> Properties {
        upstream_properties(
            kept,
            expiry,
            self.bridge.spec.version,
            (LOOP_MARK, &self.bridge.spec.name),
        )
    }

    fn send_qos0(&self, message: Qos0, writer: &mut PacketWriter) -> Result<(), LinkError> {
        let stats = &self.bridge.stats;
        let waited = message.waited().as_millis() as u64;
        let kept = message.properties.as_deref();
        let Ok(expiry) = count_down(kept.and_then(|p| p.message_expiry_interval), waited) else {
            stats.drop_one(&self.bridge.spec.name, &stats.dropped_expired);
            return Ok(());
        };
        let publish = Publish {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: message.retain,
            topic: message.topic.into(),
            pkid: 0,
            payload: message.payload,
            properties: self.upstream_properties(kept, expiry),
        };
        let Some(packet) = self.limits.fit(publish, self.bridge.spec.version) else {
            stats.drop_one(&self.bridge.spec.name, &stats.dropped_too_large);
            return Ok(());
        };
        writer.queue(&packet)?;
        stats.forwarded_out.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn handle(&mut self, packet: Packet, writer: &mut PacketWriter) -> Result<(), LinkError> {
        match packet {
            Packet::PubAck(ack) if DECLARE_PKIDS.contains(&ack.pkid) => {
                self.declaring.remove(&ack.pkid);
            }
            Packet::PubAck(ack) => self.in_flight.puback(ack.pkid, ack.code),
            Packet::PubComp(comp) => self.in_flight.pubcomp(comp.pkid),
            // A refusal (5.0 code >= 0x80) ends that message's exchange: it is not sent
            // again (it would be refused again), so it is released.
            Packet::PubRec(rec) => match self.in_flight.pubrec(rec.pkid, rec.code) {
                OnPubRec::Record(seq) => {
                    // Durable before PUBREL: from here on only PUBREL may go again.
                    self.bridge.queue.set_pubrec(seq, true)?;
                    writer.queue(&Packet::PubRel(PubResponse::ok(rec.pkid)))?
                }
                OnPubRec::Release => writer.queue(&Packet::PubRel(PubResponse::ok(rec.pkid)))?,
                OnPubRec::Nothing => {}
            },
            Packet::Publish(publish) => self.inbound(publish, writer)?,
            Packet::PubRel(rel) => {
                self.carry.inbound_qos2.remove(&rel.pkid);
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
        Ok(())
    }

    /// Releases the finished records at the front of the window.
    fn release_done(&mut self) -> Result<(), LinkError> {
        let Some(Run {
            messages,
            bytes,
            through,
            delivered,
            head_ms,
        }) = self.in_flight.take_finished()
        else {
            return Ok(());
        };
        self.bridge
            .stats
            .forwarded_out
            .fetch_add(delivered, Ordering::Relaxed);
        self.bridge
            .queue
            .release_through(through, messages, bytes, head_ms)?;
        Ok(())
    }

    /// An upstream message: published locally under its mapped topic, then acknowledged.
    fn inbound(&mut self, publish: Publish, writer: &mut PacketWriter) -> Result<(), LinkError> {
        let (qos, pkid) = (publish.qos, publish.pkid);
        let fresh = qos != QoS::ExactlyOnce || self.carry.inbound_qos2.insert(pkid);
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
