//! Deliveries to this client: take what publishers queued, assign packet ids within the
//! in-flight window, apply per-subscriber differences, encode into the write buffer.

use std::sync::atomic::Ordering;
use std::time::Instant;

use super::io::Io;
use super::{Connection, Exit};
use crate::hooks::Hooks;
use crate::message::Delivery;
use crate::persist::Record;
use crate::protocol::{self, reason, Packet, Properties, PubResponse, Publish, QoS};
use crate::session::Inflight;
use crate::stats::DropReason;

impl<H: Hooks, S: Io> Connection<H, S> {
    /// Moves queued deliveries into the write buffer. Fails when the session overflowed
    /// (the client does not read fast enough to keep its QoS 1/2 queue bounded).
    pub(super) fn drain_deliveries(&mut self) -> Result<(), Exit> {
        let window =
            usize::from(self.limits.inflight_window).saturating_sub(self.state.inflight.len());
        let mut batch = std::mem::take(&mut self.scratch);
        let overflowed = self.session.take_deliveries(&mut batch, window);
        let now = Instant::now();
        let count = batch.len();
        for delivery in batch.drain(..) {
            self.send_delivery(delivery, now);
        }
        self.scratch = batch;
        if count > 0 {
            self.shared
                .stats
                .messages_sent
                .fetch_add(count as u64, Ordering::Relaxed);
        }
        if overflowed {
            tracing::warn!(client_id = %self.client_id, "queue limit reached; disconnecting slow client");
            return Err(self.violation(reason::QUOTA_EXCEEDED));
        }
        Ok(())
    }

    fn send_delivery(&mut self, delivery: Delivery, now: Instant) {
        if delivery.message.is_expired(now) {
            self.forget_stored(delivery.stored);
            return;
        }
        if self.send_shared_frame(&delivery) {
            return;
        }
        if delivery.qos != QoS::AtMostOnce && self.is_plain(&delivery) {
            return self.send_plain_acked(delivery);
        }
        let mut publish = self.outgoing_publish(&delivery, now);
        if !self.fits_client(&publish) {
            self.shared.stats.dropped.count(DropReason::PacketTooLarge);
            self.forget_stored(delivery.stored);
            return;
        }
        if delivery.qos != QoS::AtMostOnce {
            publish.pkid = self.state.allocate_pkid();
            self.record_sent(delivery.stored, publish.pkid, false);
            self.state.inflight.push_back(Inflight {
                pkid: publish.pkid,
                delivery,
                released: false,
            });
        }
        self.encode_publish(&publish);
        self.traffic.outbound += 1;
    }

    /// QoS 0 deliveries with nothing per-subscriber (no subscription id, no topic alias,
    /// no expiry, the topic shown as routed) reuse the message's encoded frame. Returns false when not applicable.
    fn send_shared_frame(&mut self, delivery: &Delivery) -> bool {
        let plain = delivery.qos == QoS::AtMostOnce
            && delivery.subscription_ids.is_empty()
            && delivery.presented.is_none()
            && self.limits.topic_alias_max == 0;
        if !plain {
            return false;
        }
        let Some(frame) = delivery.message.shared_frame(self.version, delivery.retain) else {
            return false;
        };
        if self
            .limits
            .max_packet_size
            .is_some_and(|max| frame.len() > max as usize)
        {
            self.shared.stats.dropped.count(DropReason::PacketTooLarge);
            return true;
        }
        self.wbuf.extend_from_slice(frame);
        self.traffic.outbound += 1;
        true
    }

    /// Nothing per-subscriber to add: no subscription ids, the topic as routed, no topic
    /// alias, no expiry to count down, no packet size limit to check.
    fn is_plain(&self, delivery: &Delivery) -> bool {
        delivery.subscription_ids.is_empty()
            && delivery.presented.is_none()
            && delivery.message.expires_at.is_none()
            && self.limits.topic_alias_max == 0
            && self.limits.max_packet_size.is_none()
    }

    /// A plain QoS 1/2 delivery, encoded straight from the shared message with its packet
    /// id: the common case costs no `Publish` value, no refcount traffic on its topic and
    /// payload, and no walk over empty properties (see `PublishParts`).
    fn send_plain_acked(&mut self, delivery: Delivery) {
        let pkid = self.state.allocate_pkid();
        self.record_sent(delivery.stored, pkid, false);
        let message = &delivery.message;
        let parts = protocol::PublishParts {
            dup: false,
            qos: delivery.qos,
            retain: delivery.retain,
            topic: &message.topic,
            pkid,
            properties: message.properties.as_deref(),
            payload: &message.payload,
        };
        if let Err(err) = protocol::encode_publish_parts(&parts, self.version, &mut self.wbuf) {
            tracing::warn!(client_id = %self.client_id, error = %err, "cannot encode publish");
        }
        self.state.inflight.push_back(Inflight {
            pkid,
            delivery,
            released: false,
        });
        self.traffic.outbound += 1;
    }

    /// A persisted delivery's flow ended (acknowledged, refused, expired, too large):
    /// the store forgets it. `seq` 0 (not persisted) does nothing.
    pub(super) fn forget_stored(&self, seq: u64) {
        if seq != 0 {
            self.session
                .with_link(|link| link.append(Record::Done { pid: link.pid, seq }));
        }
    }

    /// A persisted delivery was sent with `pkid` (or, `released`, PUBREL followed).
    pub(super) fn record_sent(&self, seq: u64, pkid: u16, released: bool) {
        if seq != 0 {
            self.session.with_link(|link| {
                link.append(Record::Sent {
                    pid: link.pid,
                    seq,
                    pkid,
                    released,
                })
            });
        }
    }

    /// Sends again what was in flight when the previous connection ended (DUP set).
    pub(super) fn resend_inflight(&mut self) {
        let now = Instant::now();
        let resend: Vec<(u16, bool, Delivery)> = self
            .state
            .inflight
            .iter()
            .map(|m| (m.pkid, m.released, m.delivery.clone()))
            .collect();
        let mut pending = Vec::with_capacity(resend.len());
        for (pkid, released, delivery) in resend {
            if released {
                pending.push(Packet::PubRel(PubResponse::ok(pkid)));
            } else {
                let mut publish = self.outgoing_publish(&delivery, now);
                publish.pkid = pkid;
                publish.dup = true;
                pending.push(Packet::Publish(publish));
            }
        }
        for packet in &pending {
            self.write_packet(packet);
        }
    }

    fn outgoing_publish(&mut self, delivery: &Delivery, now: Instant) -> Publish {
        let message = &delivery.message;
        let mut publish = Publish {
            dup: false,
            qos: delivery.qos,
            retain: delivery.retain,
            topic: delivery.topic(),
            pkid: 0,
            payload: message.payload.clone(),
            properties: Properties::default(),
        };
        if self.version.is_v5() {
            if let Some(props) = &message.properties {
                publish.properties = (**props).clone();
            }
            publish
                .properties
                .subscription_identifiers
                .clone_from(&delivery.subscription_ids);
            publish.properties.message_expiry_interval = message.remaining_expiry(now);
            self.apply_topic_alias(&mut publish);
        }
        publish
    }

    /// Server-to-client topic aliases: the first time a topic is sent it is given an
    /// alias (while the client's Topic Alias Maximum allows); later sends omit the topic.
    fn apply_topic_alias(&mut self, publish: &mut Publish) {
        let max = self.limits.topic_alias_max;
        if max == 0 {
            return;
        }
        let aliases = &mut self.aliases.get_or_insert_with(Default::default).outbound;
        if let Some(&alias) = aliases.get(&publish.topic) {
            publish.properties.topic_alias = Some(alias);
            publish.topic = Default::default();
        } else if aliases.len() < usize::from(max) {
            let alias = aliases.len() as u16 + 1;
            aliases.insert(publish.topic.clone(), alias);
            publish.properties.topic_alias = Some(alias);
        }
    }

    fn fits_client(&self, publish: &Publish) -> bool {
        match self.limits.max_packet_size {
            None => true,
            Some(max) => {
                let packet = Packet::Publish(publish.clone());
                protocol::encoded_len(&packet, self.version) <= max as usize
            }
        }
    }

    fn encode_publish(&mut self, publish: &Publish) {
        if let Err(err) = protocol::encode_publish(publish, self.version, &mut self.wbuf) {
            tracing::warn!(client_id = %self.client_id, error = %err, "cannot encode publish");
        }
    }
}
