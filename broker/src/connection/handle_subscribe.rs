//! SUBSCRIBE and UNSUBSCRIBE: validate each filter, ask the hooks, update the router and
//! the session, answer, then replay retained messages per the retain handling option.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytestring::ByteString;

use super::io::Io;
use super::{Connection, Exit};
use crate::hooks::{FilterVerdict, Hooks, Presentation};
use crate::message::{Delivery, Message};
use crate::persist::{PersistedSubscription, Record};
use crate::protocol::topic;
use crate::protocol::{
    reason, Packet, RetainHandling, SubAck, Subscribe, SubscriptionOptions, UnsubAck, Unsubscribe,
};
use crate::router::{Entry, EntryKey, SubOptions};
use crate::session::StoredSubscription;

impl<H: Hooks, S: Io> Connection<H, S> {
    pub(super) async fn handle_subscribe(&mut self, subscribe: Subscribe) -> Result<(), Exit> {
        let subscription_id = subscribe
            .properties
            .subscription_identifiers
            .first()
            .copied();
        let mut codes = Vec::with_capacity(subscribe.filters.len());
        let mut replay = Vec::new();
        for (filter, options) in subscribe.filters {
            let code = self
                .subscribe_one(filter, &options, subscription_id, &mut replay)
                .await?;
            codes.push(code);
        }
        let suback = SubAck {
            pkid: subscribe.pkid,
            codes,
            properties: Default::default(),
        };
        self.write_packet(&Packet::SubAck(suback));
        self.shared
            .publish_subscriptions(&self.session, &self.state, self.session_expiry);
        for delivery in replay {
            self.session
                .deliver_or_overflow(delivery, &self.shared.stats.dropped);
        }
        self.drain_deliveries()
    }

    /// Returns the SUBACK code for one filter; retained messages to replay go to `replay`.
    /// A filter the spec calls a protocol error (not a refusal) ends the connection.
    async fn subscribe_one(
        &mut self,
        filter: ByteString,
        options: &SubscriptionOptions,
        subscription_id: Option<u32>,
        replay: &mut Vec<Delivery>,
    ) -> Result<u8, Exit> {
        // Copied out of the read buffer: a slice of it would keep the whole buffer (4 KiB
        // or more) alive for as long as the subscription lives.
        let filter = ByteString::from(&*filter);
        let (group, plain) = match topic::parse_shared(&filter) {
            Ok(Some((group, plain))) => (Some(ByteString::from(group)), ByteString::from(plain)),
            Ok(None) => (None, filter.clone()),
            // `$share/<group>` without a filter: no SUBACK code says that [MQTT-4.8.2-1].
            Err(topic::TopicError::MalformedShared) => {
                return Err(self.violation(reason::PROTOCOL_ERROR))
            }
            Err(topic::TopicError::InvalidShareName) => {
                return Ok(self.suback_failure(reason::TOPIC_FILTER_INVALID))
            }
        };
        if group.is_some() && options.no_local {
            // [MQTT-3.8.3-4]: a protocol error, and 0x82 is not a SUBACK code.
            return Err(self.violation(reason::PROTOCOL_ERROR));
        }
        // A wildcard out of place breaks a MUST of the filter syntax [MQTT-4.7.1-1/2]:
        // a malformed packet, not 0x8F ("correctly formed but not allowed").
        if !topic::valid_topic_filter(&plain) {
            return Err(self.violation(reason::MALFORMED_PACKET));
        }
        // Too many levels is our limit, not a syntax error: refused per filter.
        if topic::level_count(&plain) > self.shared.config.max_topic_levels {
            return Ok(self.suback_failure(reason::TOPIC_FILTER_INVALID));
        }
        let verdict = self
            .shared
            .hooks
            .authorize_subscribe(&self.identity, &self.client_id, &plain)
            .await;
        let (routed, presented) = match verdict {
            FilterVerdict::Refuse => {
                tracing::debug!(client_id = %self.client_id, filter = %plain, "subscribe not authorized");
                return Ok(self.suback_failure(self.shared.hooks.subscribe_refusal_code()));
            }
            FilterVerdict::Allow => (plain, None),
            FilterVerdict::AllowAs { filter, presented } => (filter, presented),
        };
        if !topic::valid_topic_filter(&routed) {
            return Ok(self.suback_failure(reason::TOPIC_FILTER_INVALID));
        }
        let sub_options = SubOptions {
            qos: options.qos,
            no_local: options.no_local,
            retain_as_published: options.retain_as_published,
            subscription_id,
        };
        let entry = Entry {
            session: Arc::clone(&self.session),
            options: sub_options,
            presented: presented.clone(),
        };
        let existed = self
            .shared
            .add_subscription(&routed, group.as_deref(), entry);
        if !existed {
            self.session
                .subscription_count
                .fetch_add(1, Ordering::Relaxed);
        }
        let stored = StoredSubscription {
            group: group.clone(),
            filter: routed.clone(),
            presented: presented.clone(),
            options: sub_options,
        };
        self.session.with_link(|link| {
            link.append(Record::Subscribed {
                pid: link.pid,
                text: filter.clone(),
                sub: PersistedSubscription {
                    stored: stored.clone(),
                    options: sub_options,
                },
            })
        });
        self.shared
            .hooks
            .on_subscribe(&self.identity, &self.client_id, &routed);
        self.traffic.subscribed = true;
        if let Some(previous) = self.state.subscriptions.insert(filter, stored) {
            // The same text now routes elsewhere (a route was changed): drop the old one.
            self.release(&previous);
        }
        let send_retained = group.is_none()
            && match options.retain_handling {
                RetainHandling::SendAtSubscribe => true,
                RetainHandling::SendAtSubscribeIfNew => !existed,
                RetainHandling::DoNotSend => false,
            };
        if send_retained {
            let messages = self.shared.retained.matching(&routed);
            replay.extend(
                messages
                    .into_iter()
                    .map(|m| retained_delivery(m, &sub_options, presented.clone())),
            );
        }
        Ok(options.qos as u8)
    }

    /// Takes a subscription the client no longer holds out of the router, unless another
    /// of its filters (another text for the same routed filter) still needs that entry.
    /// Returns whether the router entry was removed.
    fn release(&mut self, sub: &StoredSubscription) -> bool {
        if self.state.subscriptions.values().any(|held| held == sub) {
            return false;
        }
        let key = EntryKey {
            session_id: self.session.id,
            presented: sub.presented.as_deref(),
        };
        let removed = self
            .shared
            .remove_subscription(&sub.filter, sub.group.as_deref(), key);
        if removed {
            self.session
                .subscription_count
                .fetch_sub(1, Ordering::Relaxed);
        }
        removed
    }

    fn suback_failure(&self, v5_code: u8) -> u8 {
        if self.version.is_v5() {
            v5_code
        } else {
            reason::v3::SUBACK_FAILURE
        }
    }

    pub(super) fn handle_unsubscribe(&mut self, unsubscribe: Unsubscribe) -> Result<(), Exit> {
        if !unsubscribe
            .filters
            .iter()
            .all(|f| topic::valid_topic_filter(f))
        {
            // As in SUBSCRIBE: a filter that breaks the syntax makes the packet malformed.
            return Err(self.violation(reason::MALFORMED_PACKET));
        }
        let mut codes = Vec::with_capacity(unsubscribe.filters.len());
        for filter in &unsubscribe.filters {
            // Found by the text the client subscribed with, whatever it was routed as.
            let held = self.state.subscriptions.remove(filter);
            if let Some(sub) = &held {
                self.release(sub);
                self.shared
                    .hooks
                    .on_unsubscribe(&self.identity, &self.client_id, &sub.filter);
                self.session.with_link(|link| {
                    link.append(Record::Unsubscribed {
                        pid: link.pid,
                        text: filter.clone(),
                    })
                });
            }
            codes.push(if held.is_some() {
                reason::SUCCESS
            } else {
                reason::NO_SUBSCRIPTION_EXISTED
            });
        }
        self.shared
            .publish_subscriptions(&self.session, &self.state, self.session_expiry);
        if !self.version.is_v5() {
            codes.clear();
        }
        let unsuback = UnsubAck {
            pkid: unsubscribe.pkid,
            codes,
            properties: Default::default(),
        };
        self.write_packet(&Packet::UnsubAck(unsuback));
        Ok(())
    }
}

/// Retained messages are sent with RETAIN set, whatever retain-as-published says, and
/// under the subscriber's own form of the topic.
fn retained_delivery(
    message: Arc<Message>,
    options: &SubOptions,
    presented: Option<Arc<Presentation>>,
) -> Delivery {
    Delivery {
        qos: message.qos.min(options.qos),
        retain: true,
        subscription_ids: options.subscription_id.into_iter().collect(),
        message,
        presented,
        stored: 0,
    }
}
