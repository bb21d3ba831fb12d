//! An application message as it travels from one publisher to many subscribers.
//!
//! A PUBLISH is decoded once into a [`Message`] behind an `Arc`; its topic and payload
//! are `Bytes` handles into the read buffer, so a fan-out to N subscribers clones
//! pointers, not payloads. What differs per subscriber (granted QoS, retain flag,
//! subscription identifiers) travels beside it in a [`Delivery`].

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use bytestring::ByteString;

use crate::hooks::Presentation;
use crate::protocol::{Properties, ProtocolVersion, Publish, QoS};

#[derive(Debug)]
pub struct Message {
    pub topic: ByteString,
    pub payload: Bytes,
    pub qos: QoS,
    pub retain: bool,
    /// 5.0 properties forwarded to subscribers (payload format, content type, response
    /// topic, correlation data, user properties). Topic alias, subscription ids and
    /// message expiry are per-hop and are not kept here.
    pub properties: Option<Box<Properties>>,
    /// When the message expires (5.0 Message Expiry Interval), if ever.
    pub expires_at: Option<Instant>,
    /// The session that published it, for No Local. 0 for wills, retained replays and
    /// messages from other instances.
    pub origin: u64,
    /// Who published it, as other instances are told (the session's namespace — the
    /// platform client id — or else its MQTT client id); empty for wills and replays.
    pub publisher: ByteString,
    /// The QoS 0 PUBLISH frame without per-subscriber properties, encoded on first use,
    /// one per (protocol version, RETAIN flag): a fan-out to many subscribers encodes
    /// each outgoing form once and copies bytes.
    frames: [OnceLock<Bytes>; 4],
}

impl Message {
    /// Takes a decoded PUBLISH apart, keeping only what is forwarded.
    pub fn from_publish(publish: Publish, origin: u64) -> Message {
        let mut props = publish.properties;
        let expires_at = props
            .message_expiry_interval
            .map(|secs| Instant::now() + std::time::Duration::from_secs(u64::from(secs)));
        props.message_expiry_interval = None;
        props.topic_alias = None;
        props.subscription_identifiers.clear();
        let properties = if props.is_empty() {
            None
        } else {
            Some(Box::new(props))
        };
        Message {
            topic: publish.topic,
            payload: publish.payload,
            qos: publish.qos,
            retain: publish.retain,
            properties,
            expires_at,
            origin,
            publisher: ByteString::new(),
            frames: Default::default(),
        }
    }

    /// The same message, naming who published it (see [`Message::publisher`]).
    pub fn with_publisher(mut self, publisher: ByteString) -> Message {
        self.publisher = publisher;
        self
    }

    /// A copy for the retained store, owning its bytes (see `RetainedStore::set`).
    pub fn owned_copy(&self) -> Message {
        Message {
            topic: ByteString::from(&*self.topic),
            payload: Bytes::copy_from_slice(&self.payload),
            qos: self.qos,
            retain: true,
            properties: self.properties.clone(),
            expires_at: self.expires_at,
            origin: 0,
            publisher: ByteString::new(),
            frames: Default::default(),
        }
    }

    /// The encoded QoS 0 frame for `version` and `retain`, when the message has no
    /// expiry (its remaining time differs per delivery). `None` means: encode per
    /// delivery.
    pub fn shared_frame(&self, version: ProtocolVersion, retain: bool) -> Option<&Bytes> {
        if self.expires_at.is_some() {
            return None;
        }
        let slot = usize::from(version.is_v5()) * 2 + usize::from(retain);
        let frame = self.frames[slot].get_or_init(|| {
            let publish = Publish {
                dup: false,
                qos: QoS::AtMostOnce,
                retain,
                topic: self.topic.clone(),
                pkid: 0,
                payload: self.payload.clone(),
                properties: self.properties.as_deref().cloned().unwrap_or_default(),
            };
            let mut out = BytesMut::new();
            match crate::protocol::encode_publish(&publish, version, &mut out) {
                Ok(()) => out.freeze(),
                Err(_) => Bytes::new(),
            }
        });
        (!frame.is_empty()).then_some(frame)
    }

    pub fn is_expired(&self, now: Instant) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }

    /// Seconds left before expiry, rounded up, for the forwarded Message Expiry Interval.
    pub fn remaining_expiry(&self, now: Instant) -> Option<u32> {
        self.expires_at.map(|at| {
            let left = at.saturating_duration_since(now);
            let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
            u32::try_from(secs).unwrap_or(u32::MAX)
        })
    }
}

/// One message on its way to one session.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub message: Arc<Message>,
    /// min(published QoS, granted QoS).
    pub qos: QoS,
    /// The RETAIN flag as the subscriber sees it.
    pub retain: bool,
    /// 5.0 subscription identifiers of every matching subscription of this session.
    pub subscription_ids: Vec<u32>,
    /// The subscriber sees the topic under its own prefix (`None`: as routed, which
    /// lets the shared encoded frame be used).
    pub presented: Option<Arc<Presentation>>,
    /// Its sequence number in the session's persisted queue; 0 when not persisted.
    pub stored: u64,
}

impl Delivery {
    /// The topic as this subscriber is shown it.
    pub fn topic(&self) -> ByteString {
        match &self.presented {
            None => self.message.topic.clone(),
            Some(presentation) => presentation.present(&self.message.topic),
        }
    }
}
