//! Inbound PUBLISH and PUBREL: resolve topic aliases, authorize, route, acknowledge.

use std::sync::Arc;

use super::io::Io;
use super::pending_acks::{ack_kind, AckKind};
use super::{Connection, Exit};
use crate::cluster::ClusterLink;
use crate::hooks::{Hooks, TopicVerdict, V3PublishRefusal};
use crate::message::{Delivery, Message};
use crate::persist::Record;
use crate::session::Session;

/// How long a publisher waits for a full subscriber queue before that subscriber is
/// disconnected as stuck.
const SLOW_SUBSCRIBER_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);
use crate::protocol::{reason, Packet, PubResponse, Publish, QoS};

impl<H: Hooks, S: Io> Connection<H, S> {
    pub(super) async fn handle_publish(&mut self, mut publish: Publish) -> Result<(), Exit> {
        if !publish.properties.subscription_identifiers.is_empty() {
            // Only a server may send one [MQTT-3.3.4-6].
            return Err(self.violation(reason::PROTOCOL_ERROR));
        }
        self.resolve_topic_alias(&mut publish)?;
        self.throttle_publish(&publish).await;
        if publish.topic.split('/').count() > self.shared.config.max_topic_levels {
            return Err(self.violation(reason::TOPIC_NAME_INVALID));
        }
        let (qos, pkid) = (publish.qos, publish.pkid);
        if qos != QoS::AtMostOnce {
            // Backpressure on a publisher whose acks wait for the disk.
            self.settle_acks(usize::from(self.shared.config.receive_maximum))
                .await?;
        }
        if qos == QoS::ExactlyOnce {
            if self.state.incoming_qos2.contains(&pkid) {
                // A retransmission of a message we already routed: acknowledge only,
                // under `sync` once what was stored so far (its id too) is durable.
                let ticket = self.sync_ticket(true);
                self.answer(AckKind::Pubrec, pkid, reason::SUCCESS, ticket);
                return Ok(());
            }
            if self.state.incoming_qos2.len() >= usize::from(self.shared.config.receive_maximum) {
                return Err(self.violation(reason::RECEIVE_MAXIMUM_EXCEEDED));
            }
        }
        let verdict = crate::sys::authorize_publish(
            &self.shared,
            &self.identity,
            &self.client_id,
            &publish.topic,
        )
        .await;
        match verdict {
            TopicVerdict::Refuse => return self.refuse_publish(qos, pkid),
            TopicVerdict::Allow => {}
            // Routed (and retained) under the canonical name; each subscriber is shown
            // its own form of it on delivery.
            TopicVerdict::AllowAs(routed) => publish.topic = routed,
        }
        let persist = self.shared.persist.clone();
        if let Some(persist) = &persist {
            if qos != QoS::AtMostOnce && persist.store.is_failing() {
                return self.refuse_unstorable(qos, pkid);
            }
            if qos != QoS::AtMostOnce || publish.retain {
                persist.store.wait_for_room().await;
            }
        }
        if let Some(cluster) = self.congested_cluster(qos) {
            // Not read meanwhile: a bus slower than the publisher slows it down instead
            // of dropping what it was acknowledged (like the persistent store's wait).
            cluster.wait_for_room().await;
        }
        self.traffic.inbound += 1;
        let mut message = Message::from_publish(publish, self.session.id);
        if self.shared.cluster.is_some() {
            // Only other instances are told who published (alone, nobody reads it).
            message = message.with_publisher(self.publisher_name());
        }
        let routed = self.shared.publish(Arc::new(message));
        let matched = routed.matched + usize::from(routed.forwarded);
        let mut stored = routed.stored;
        self.wait_for_slow_subscribers(routed.blocked).await;
        if qos == QoS::ExactlyOnce {
            stored |= self.record_incoming_qos2(pkid, true);
        }
        // Under `sync` the ack waits for the fsync of the batch holding our records
        // (group commit), queued while the connection reads on (`pending_acks`).
        let ticket = self.sync_ticket(stored);
        let code = if matched == 0 && self.version.is_v5() {
            reason::NO_MATCHING_SUBSCRIBERS
        } else {
            reason::SUCCESS
        };
        self.acknowledge(qos, pkid, code, ticket);
        Ok(())
    }

    /// The cluster link when it cannot take a QoS 1/2 message now without dropping it
    /// (its queue to the bus is past its high watermark). One atomic load when there is
    /// room; the `Arc` is cloned only to wait (the connection is not `Sync`).
    fn congested_cluster(&self, qos: QoS) -> Option<Arc<dyn ClusterLink>> {
        let cluster = self.shared.cluster.as_ref()?;
        (qos != QoS::AtMostOnce && !cluster.has_room()).then(|| Arc::clone(cluster))
    }

    /// The store ticket an ack must wait for: under `sync`, the last one appended when
    /// this packet `stored` something (ours are among them); otherwise none (0).
    fn sync_ticket(&self, stored: bool) -> u64 {
        match &self.shared.persist {
            Some(persist) if persist.sync && stored => persist.store.last_ticket(),
            _ => 0,
        }
    }

    /// Who this session is to other instances: its namespace (the platform client id)
    /// or, with one global namespace, its MQTT client id.
    fn publisher_name(&self) -> bytestring::ByteString {
        let key = &self.session.key;
        if key.namespace.is_empty() {
            key.client_id.clone()
        } else {
            key.namespace.clone()
        }
    }

    /// The store cannot take new state (a full disk): 5.0 answers 0x97 Quota exceeded in
    /// PUBACK / PUBREC, 3.1.1 (no such code) closes the connection.
    fn refuse_unstorable(&mut self, qos: QoS, pkid: u16) -> Result<(), Exit> {
        if let Some(kind) = ack_kind(qos) {
            let code = self.unstorable(kind, pkid)?;
            self.answer(kind, pkid, code, 0);
        }
        Ok(())
    }

    /// Records a held (or released) incoming QoS 2 packet id of a persisted session.
    pub(super) fn record_incoming_qos2(&self, pkid: u16, held: bool) -> bool {
        self.session
            .with_link(|link| {
                link.append(Record::IncomingQos2 {
                    pid: link.pid,
                    pkid,
                    held,
                })
            })
            .is_some()
    }

    /// The positive acknowledgement of an accepted PUBLISH: PUBACK, or PUBREC with the
    /// packet id remembered until PUBREL (a resend is then acknowledged only). The id
    /// is remembered at once, even while its PUBREC waits for `ticket`: a resend
    /// meanwhile must not be routed twice.
    fn acknowledge(&mut self, qos: QoS, pkid: u16, code: u8, ticket: u64) {
        if qos == QoS::ExactlyOnce {
            self.state.incoming_qos2.insert(pkid);
        }
        if let Some(kind) = ack_kind(qos) {
            self.answer(kind, pkid, code, ticket);
        }
    }

    /// Backpressure: a QoS 1/2 message for a subscriber whose queue is full waits here
    /// (this connection stops reading, so its client slows down) until the subscriber
    /// drains, or is disconnected as stuck after `SLOW_SUBSCRIBER_LIMIT`. Its own
    /// session never waits on itself.
    async fn wait_for_slow_subscribers(&mut self, blocked: Vec<(Arc<Session>, Delivery)>) {
        for (session, delivery) in blocked {
            if session.id == self.session.id {
                session.deliver_or_overflow(delivery, &self.shared.stats.dropped);
            } else {
                session
                    .deliver_when_room(delivery, SLOW_SUBSCRIBER_LIMIT, &self.shared.stats.dropped)
                    .await;
            }
        }
    }

    /// 3.1.1 has no way to say "not authorized" for a PUBLISH: the hooks choose between
    /// closing and a positive ack of a dropped message [MQTT-3.3.5-2]. 5.0 answers with
    /// 0x87 in PUBACK / PUBREC (QoS 0 is dropped silently).
    fn refuse_publish(&mut self, qos: QoS, pkid: u16) -> Result<(), Exit> {
        tracing::debug!(client_id = %self.client_id, "publish not authorized");
        if !self.version.is_v5() {
            return match self.shared.hooks.v3_publish_refusal() {
                V3PublishRefusal::Close => Err(Exit::NotAuthorized),
                V3PublishRefusal::AckAndDrop => {
                    self.acknowledge(qos, pkid, reason::SUCCESS, 0);
                    Ok(())
                }
            };
        }
        if let Some(kind) = ack_kind(qos) {
            self.answer(kind, pkid, reason::NOT_AUTHORIZED, 0);
        }
        Ok(())
    }

    fn resolve_topic_alias(&mut self, publish: &mut Publish) -> Result<(), Exit> {
        let Some(alias) = publish.properties.topic_alias else {
            if publish.topic.is_empty() {
                return Err(self.violation(reason::PROTOCOL_ERROR));
            }
            return Ok(());
        };
        if alias == 0 || alias > self.shared.config.topic_alias_maximum {
            return Err(self.violation(reason::TOPIC_ALIAS_INVALID));
        }
        if publish.topic.is_empty() {
            match self
                .aliases
                .get_or_insert_with(Default::default)
                .inbound
                .get(&alias)
            {
                Some(topic) => publish.topic = topic.clone(),
                None => return Err(self.violation(reason::PROTOCOL_ERROR)),
            }
        } else {
            self.aliases
                .get_or_insert_with(Default::default)
                .inbound
                .insert(alias, publish.topic.clone());
        }
        publish.properties.topic_alias = None;
        Ok(())
    }

    pub(super) fn handle_pubrel(&mut self, rel: PubResponse) -> Result<(), Exit> {
        let known = self.state.incoming_qos2.remove(&rel.pkid);
        if known {
            self.record_incoming_qos2(rel.pkid, false);
        }
        let code = if known || !self.version.is_v5() {
            reason::SUCCESS
        } else {
            reason::PACKET_IDENTIFIER_NOT_FOUND
        };
        // Behind a PUBREC still waiting for its fsync, never before it.
        self.answer(AckKind::Pubcomp, rel.pkid, code, 0);
        Ok(())
    }

    pub(super) fn write_pub_response(
        &mut self,
        kind: fn(PubResponse) -> Packet,
        pkid: u16,
        code: u8,
    ) {
        let code = if self.version.is_v5() { code } else { 0 };
        let mut response = PubResponse::ok(pkid);
        response.code = code;
        self.write_packet(&kind(response));
    }
}
