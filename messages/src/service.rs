//! The adapter and the readers, between HTTP and the broker / the store.
//!
//! Publishing asks exactly what an MQTT PUBLISH of the same client to the same topic
//! asks, through the same [`MqttGate`] (login with the same throttles and access cache,
//! then the publish route), and hands the routed message to the broker, which treats it
//! as any publish: subscribers, retained store, other instances, the writer's tap.
//! Reading asks what `GET /{d}/channels/{id}` asks: read access to the domain, then the
//! channel inside it (a foreign or missing channel is the same 404).

use std::net::IpAddr;
use std::sync::Arc;

use bytes::Bytes;
use magnetite_auth::access::Actor;
use magnetite_auth::http::Caller;
use magnetite_auth::model::Kind;
use magnetite_auth::mqtt::{LoginRefusal, MqttIdentity, MqttLogin, PublishRoute, SubscribeRoute};
use magnetite_auth::{MqttGate, Platform};
use magnetite_broker::protocol::{Publish, QoS};
use magnetite_broker::{BrokerHandle, ByteString, Message};

use crate::error::MessagesError;
use crate::query::ReadQuery;
use crate::store::{MessageStore, Page};
use crate::writer::channel_topic;

/// How a device proves who it is over HTTP.
pub enum Credentials {
    /// `Authorization: Client <secret>` (Magistrala's form; names no client id).
    Secret(String),
    /// `Authorization: Basic base64(<client id>:<secret>)`, as MQTT's username/password.
    Basic { client_id: String, secret: String },
}

/// Who reads a channel's messages.
pub enum Reader<'a> {
    /// `Authorization: Bearer` of a user.
    User(&'a Caller),
    /// `Authorization: Client <secret>` of a device (the OpenAPI's thing access).
    Client { secret: &'a str, peer: IpAddr },
}

/// Where an HTTP publish goes: `m/<domain>/c/<channel>[/<subtopic>]`, or the legacy
/// `channels/<channel>/messages[/<subtopic>]` when no domain is named.
pub struct Target<'a> {
    pub domain: Option<&'a str>,
    pub channel: &'a str,
    pub subtopic: &'a str,
}

impl Target<'_> {
    /// The MQTT topic this names (a trailing `/` is dropped: the SDK sends one when
    /// there is no subtopic), or a 400 for what no MQTT topic may hold.
    fn topic(&self, max_levels: usize) -> Result<String, MessagesError> {
        let subtopic = self.subtopic.trim_end_matches('/');
        if subtopic.contains(['+', '#', '\0']) {
            return Err(MessagesError::Invalid(
                "a subtopic may not hold the wildcards + or #".into(),
            ));
        }
        let mut topic = match self.domain {
            Some(domain) => format!("m/{domain}/c/{}", self.channel),
            None => format!("channels/{}/messages", self.channel),
        };
        if !subtopic.is_empty() {
            topic.push('/');
            topic.push_str(subtopic);
        }
        if topic.split('/').count() > max_levels {
            return Err(MessagesError::Invalid(format!(
                "a topic may have at most {max_levels} levels"
            )));
        }
        Ok(topic)
    }
}

/// A publish the gate allowed: its routed topic and the client publishing.
pub struct Authorized {
    topic: String,
    publisher: String,
}

/// The broker's limits an HTTP publish obeys as an MQTT one does.
#[derive(Debug, Clone, Copy)]
pub struct PublishLimits {
    /// `--max-packet-size`: no payload of an HTTP publish is larger.
    pub max_payload: usize,
    pub max_topic_levels: usize,
}

pub struct MessagesService {
    platform: Arc<Platform>,
    gate: MqttGate,
    broker: BrokerHandle,
    store: Option<MessageStore>,
    limits: PublishLimits,
}

impl MessagesService {
    pub fn new(
        platform: Arc<Platform>,
        broker: BrokerHandle,
        store: Option<MessageStore>,
        limits: PublishLimits,
    ) -> MessagesService {
        let gate = MqttGate::new(Arc::clone(&platform));
        MessagesService {
            platform,
            gate,
            broker,
            store,
            limits,
        }
    }

    pub fn platform(&self) -> &Platform {
        &self.platform
    }

    pub fn limits(&self) -> PublishLimits {
        self.limits
    }

    /// Who may publish where: the client `credentials` prove (from `peer`) and the
    /// routed topic of `target`, decided as an MQTT PUBLISH of that client is. Asked
    /// before the body is read, so an unauthorized request costs no payload buffer.
    pub async fn authorize(
        &self,
        credentials: &Credentials,
        target: Target<'_>,
        peer: IpAddr,
    ) -> Result<Authorized, MessagesError> {
        let topic = target.topic(self.limits.max_topic_levels)?;
        let identity = self
            .login(credentials, target.domain, peer)
            .await
            .map_err(login_error)?;
        let routed = match self.gate.route_publish(&identity, &topic).await {
            PublishRoute::Refuse => return Err(MessagesError::Refused),
            PublishRoute::AsSent => topic,
            PublishRoute::Canonical(canonical) => canonical,
        };
        Ok(Authorized {
            topic: routed,
            publisher: identity.client_id.to_string(),
        })
    }

    /// Publishes `payload` where `authorized` says, as a QoS 1 PUBLISH of its client.
    pub fn publish(&self, authorized: Authorized, payload: Bytes) -> Result<(), MessagesError> {
        if payload.len() > self.limits.max_payload {
            return Err(MessagesError::TooLarge(self.limits.max_payload));
        }
        let publish = Publish {
            dup: false,
            qos: QoS::AtLeastOnce,
            retain: false,
            topic: ByteString::from(authorized.topic),
            pkid: 0,
            payload,
            properties: Default::default(),
        };
        let message = Message::from_publish(publish, 0)
            .with_publisher(ByteString::from(authorized.publisher));
        self.broker.publish(message);
        Ok(())
    }

    async fn login(
        &self,
        credentials: &Credentials,
        domain: Option<&str>,
        peer_ip: IpAddr,
    ) -> Result<MqttIdentity, LoginRefusal> {
        match credentials {
            Credentials::Secret(secret) => {
                self.gate.login_with_secret(domain, secret, peer_ip).await
            }
            Credentials::Basic { client_id, secret } => {
                let login = MqttLogin {
                    username: Some(client_id),
                    password: Some(secret.as_bytes()),
                    peer_ip,
                    peer_certificate: None,
                };
                self.gate.login(login).await
            }
        }
    }

    /// A page of the messages of channel `channel` (id or route) of `domain`.
    pub async fn read(
        &self,
        reader: Reader<'_>,
        domain: &str,
        channel: &str,
        query: &ReadQuery,
    ) -> Result<Page, MessagesError> {
        let (domain_id, channel_id) = match reader {
            Reader::User(caller) => self.readable_by_user(caller, domain, channel).await?,
            Reader::Client { secret, peer } => {
                self.readable_by_client(secret, peer, domain, channel)
                    .await?
            }
        };
        let store = self.store.as_ref().ok_or(MessagesError::StoreOff)?;
        Ok(store.page(&domain_id, &channel_id, query).await?)
    }

    /// What `GET /{d}/channels/{id}` asks: the `read` action on the channel (roles on
    /// it, a group above it or the domain). (domain id, channel id).
    async fn readable_by_user(
        &self,
        caller: &Caller,
        domain: &str,
        channel: &str,
    ) -> Result<(String, String), MessagesError> {
        let (d, channel) = Actor::User(caller)
            .authorize_entity(&self.platform, domain, Kind::Channel, channel, "read")
            .await?;
        Ok((d.id, channel.id))
    }

    /// A device reads what it may subscribe to: the MQTT gate's SUBSCRIBE decision on
    /// the channel's topic, after the same login as a publish. Refused like a publish.
    async fn readable_by_client(
        &self,
        secret: &str,
        peer: IpAddr,
        domain: &str,
        channel: &str,
    ) -> Result<(String, String), MessagesError> {
        let identity = self
            .gate
            .login_with_secret(Some(domain), secret, peer)
            .await
            .map_err(login_error)?;
        let topic = format!("m/{domain}/c/{channel}");
        let routed = match self.gate.route_subscribe(&identity, &topic).await {
            SubscribeRoute::Refuse => return Err(MessagesError::Refused),
            SubscribeRoute::AsSent => topic,
            SubscribeRoute::Canonical { filter, .. } => filter,
        };
        let (domain_id, channel_id, _) = channel_topic(&routed).ok_or(MessagesError::Refused)?;
        Ok((domain_id.to_string(), channel_id.to_string()))
    }
}

fn login_error(refusal: LoginRefusal) -> MessagesError {
    match refusal {
        LoginRefusal::BadCredentials => MessagesError::BadCredentials,
        LoginRefusal::NotAuthorized => MessagesError::Disabled,
        LoginRefusal::Throttled => MessagesError::Throttled,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(domain: Option<&str>, subtopic: &str) -> Result<String, MessagesError> {
        let target = Target {
            domain,
            channel: "ch",
            subtopic,
        };
        target.topic(8)
    }

    #[test]
    fn targets_become_the_mqtt_topics_of_the_same_channel() {
        assert_eq!(topic(Some("d"), "").unwrap(), "m/d/c/ch");
        assert_eq!(topic(Some("d"), "a/b/").unwrap(), "m/d/c/ch/a/b");
        assert_eq!(topic(None, "a").unwrap(), "channels/ch/messages/a");
    }

    #[test]
    fn wildcards_and_deep_topics_are_refused() {
        for subtopic in ["a/+", "#", "a\0b", "1/2/3/4/5"] {
            assert!(
                matches!(topic(Some("d"), subtopic), Err(MessagesError::Invalid(_))),
                "{subtopic:?}"
            );
        }
    }
}
