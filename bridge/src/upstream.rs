//! What a local message becomes on its way upstream (pure functions, tested here):
//! its 5.0 properties across the queue, and the limits the upstream's CONNACK set.
//!
//! Properties (both sides speaking 5.0): payload format indicator, content type,
//! response topic, correlation data and user properties arrive as published; the
//! Message Expiry Interval is counted down by the time the message spent queued here,
//! and a message whose interval ran out is dropped (counted with the age drops);
//! the bridge's own [`crate::LOOP_MARK`] user property is added. Subscription
//! identifiers and topic aliases belong to one hop and are never forwarded. An upstream
//! speaking 3.1.1 carries no properties: they are dropped silently.
//!
//! Limits (MQTT 5.0 §3.2.2.3): a message is sent at most at the upstream's Maximum
//! QoS, without RETAIN when it has no retained messages, and not at all when it is
//! larger than the upstream's Maximum Packet Size (the spec's rule: discard it and
//! behave as if it was sent — counted as a drop rather than breaking the link on it
//! forever).

use std::time::Instant;

use magnetite_broker::Message;
use magnetite_protocol::{encoded_len, Packet, Properties, ProtocolVersion, Publish, QoS};

/// What the upstream's CONNACK allows (5.0; a 3.1.1 CONNACK leaves the defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpstreamLimits {
    /// QoS 1/2 messages it accepts unacknowledged.
    pub receive_maximum: u16,
    pub maximum_qos: QoS,
    pub retain_available: bool,
    /// Largest packet it accepts (`None`: no limit but the protocol's).
    pub maximum_packet_size: Option<u32>,
}

impl Default for UpstreamLimits {
    fn default() -> UpstreamLimits {
        UpstreamLimits {
            receive_maximum: u16::MAX,
            maximum_qos: QoS::ExactlyOnce,
            retain_available: true,
            maximum_packet_size: None,
        }
    }
}

impl UpstreamLimits {
    /// The limits a CONNACK's properties state.
    pub fn from_connack(properties: &Properties) -> UpstreamLimits {
        UpstreamLimits {
            receive_maximum: properties.receive_maximum.unwrap_or(u16::MAX),
            maximum_qos: properties
                .maximum_qos
                .and_then(QoS::from_u8)
                .unwrap_or(QoS::ExactlyOnce),
            retain_available: properties.retain_available != Some(0),
            maximum_packet_size: properties.maximum_packet_size,
        }
    }

    /// `publish` adjusted to what the upstream accepts, as the packet to send; `None`
    /// when it is too large to send at all.
    pub fn fit(&self, mut publish: Publish, version: ProtocolVersion) -> Option<Packet> {
        publish.qos = publish.qos.min(self.maximum_qos);
        publish.retain &= self.retain_available;
        if publish.qos == QoS::AtMostOnce {
            publish.pkid = 0;
            publish.dup = false;
        }
        let packet = Packet::Publish(publish);
        let fits = match self.maximum_packet_size {
            Some(max) => encoded_len(&packet, version) <= max as usize,
            None => true,
        };
        fits.then_some(packet)
    }
}

/// The properties a local message keeps while it waits for the link: what the engine
/// kept of its PUBLISH (per-hop ones are gone already) and the expiry interval left
/// now. `None` when there is nothing to keep.
pub fn kept_properties(message: &Message, now: Instant) -> Option<Properties> {
    let expiry = message.remaining_expiry(now);
    if message.properties.is_none() && expiry.is_none() {
        return None;
    }
    let mut properties = message.properties.as_deref().cloned().unwrap_or_default();
    properties.message_expiry_interval = expiry;
    Some(properties)
}

/// The message's expiry interval ran out while it waited.
#[derive(Debug, PartialEq, Eq)]
pub struct Expired;

/// The Message Expiry Interval to send for `interval` seconds given `waited_ms` ago:
/// what is left, rounded up (`Ok(None)`: the message does not expire).
pub fn count_down(interval: Option<u32>, waited_ms: u64) -> Result<Option<u32>, Expired> {
    let Some(interval) = interval else {
        return Ok(None);
    };
    let left_ms = (u64::from(interval) * 1000).saturating_sub(waited_ms);
    if left_ms == 0 {
        return Err(Expired);
    }
    Ok(Some(left_ms.div_ceil(1000) as u32))
}

/// The properties to send upstream for `kept` (see the module comment); the expiry
/// already counted down. Empty for 3.1.1.
pub fn upstream_properties(
    kept: Option<&Properties>,
    expiry: Option<u32>,
    version: ProtocolVersion,
    mark: (&str, &str),
) -> Properties {
    if !version.is_v5() {
        return Properties::default();
    }
    let mut properties = kept.cloned().unwrap_or_default();
    properties.message_expiry_interval = expiry;
    properties.subscription_identifiers.clear();
    properties.topic_alias = None;
    properties
        .user_properties
        .push((mark.0.into(), mark.1.into()));
    properties
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn rich() -> Properties {
        Properties {
            payload_format_indicator: Some(1),
            message_expiry_interval: Some(60),
            content_type: Some("application/json".into()),
            response_topic: Some("reply/here".into()),
            correlation_data: Some(Bytes::from_static(b"c-1")),
            subscription_identifiers: vec![7],
            topic_alias: Some(3),
            user_properties: vec![("k".into(), "v".into())],
            ..Properties::default()
        }
    }

    #[test]
    fn the_expiry_counts_down_by_the_time_queued_and_runs_out() {
        assert_eq!(count_down(None, 10_000_000), Ok(None));
        assert_eq!(count_down(Some(60), 0), Ok(Some(60)));
        assert_eq!(count_down(Some(60), 500), Ok(Some(60)), "rounded up");
        assert_eq!(count_down(Some(60), 59_001), Ok(Some(1)));
        assert_eq!(count_down(Some(60), 60_000), Err(Expired));
        assert_eq!(count_down(Some(0), 0), Err(Expired));
    }

    #[test]
    fn five_gets_the_properties_per_hop_ones_stripped_and_the_mark_three_gets_none() {
        let kept = rich();
        let sent = upstream_properties(Some(&kept), Some(42), ProtocolVersion::V5, ("m", "b"));
        assert_eq!(sent.message_expiry_interval, Some(42));
        assert_eq!(sent.content_type, kept.content_type);
        assert_eq!(sent.response_topic, kept.response_topic);
        assert_eq!(sent.correlation_data, kept.correlation_data);
        assert_eq!(sent.payload_format_indicator, Some(1));
        assert!(sent.subscription_identifiers.is_empty() && sent.topic_alias.is_none());
        assert_eq!(
            sent.user_properties,
            vec![("k".into(), "v".into()), ("m".into(), "b".into())]
        );
        let bare = upstream_properties(None, None, ProtocolVersion::V5, ("m", "b"));
        assert_eq!(bare.user_properties.len(), 1);
        assert!(
            upstream_properties(Some(&kept), Some(1), ProtocolVersion::V311, ("m", "b")).is_empty()
        );
    }

    fn publish(qos: QoS, retain: bool, payload: usize) -> Publish {
        Publish {
            dup: true,
            qos,
            retain,
            topic: "t".into(),
            pkid: 9,
            payload: Bytes::from(vec![0; payload]),
            properties: Properties::default(),
        }
    }

    #[test]
    fn the_connack_limits_cap_qos_retain_and_size() {
        let connack = Properties {
            receive_maximum: Some(10),
            maximum_qos: Some(1),
            retain_available: Some(0),
            maximum_packet_size: Some(100),
            ..Properties::default()
        };
        let limits = UpstreamLimits::from_connack(&connack);
        assert_eq!(limits.receive_maximum, 10);
        let v5 = ProtocolVersion::V5;
        let Some(Packet::Publish(sent)) = limits.fit(publish(QoS::ExactlyOnce, true, 10), v5)
        else {
            panic!("fits")
        };
        assert_eq!(
            (sent.qos, sent.retain, sent.pkid),
            (QoS::AtLeastOnce, false, 9)
        );
        assert_eq!(limits.fit(publish(QoS::AtLeastOnce, false, 200), v5), None);
        let open = UpstreamLimits::from_connack(&Properties::default());
        assert_eq!(open, UpstreamLimits::default());
        let Some(Packet::Publish(sent)) = open.fit(publish(QoS::ExactlyOnce, true, 200), v5) else {
            panic!("fits")
        };
        assert_eq!((sent.qos, sent.retain), (QoS::ExactlyOnce, true));
        let zero = UpstreamLimits {
            maximum_qos: QoS::AtMostOnce,
            ..open
        };
        let Some(Packet::Publish(sent)) = zero.fit(publish(QoS::AtLeastOnce, false, 1), v5) else {
            panic!("fits")
        };
        assert_eq!((sent.qos, sent.pkid, sent.dup), (QoS::AtMostOnce, 0, false));
    }
}
