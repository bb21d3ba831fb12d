//! A blocking raw MQTT client for the adversarial suite, built on the broker's own
//! protocol crate so a test sends exactly the packets it means (clean start off, v5
//! reason codes, retained flags) and sees every packet back (session present, PUBACK
//! codes, the topic each delivery carries).
//!
//! "Nothing arrived" is never concluded from a timeout alone: [`Mqtt::until`] reads up
//! to a sentinel message that was published after the attack, so every message routed
//! before it has been delivered (or not) by the time the sentinel arrives.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use magnetite_broker::protocol::{
    self, ConnAck, Connect, Packet, Properties, ProtocolVersion, PubResponse, Publish, QoS,
    RetainHandling, Subscribe, SubscriptionOptions, Unsubscribe,
};
use magnetite_broker::ByteString;

use crate::platform::Device;

pub const V5: ProtocolVersion = ProtocolVersion::V5;
pub const V311: ProtocolVersion = ProtocolVersion::V311;

/// How long a reply may take before the test fails (a safety net, not an assertion).
const REPLY_LIMIT: Duration = Duration::from_secs(10);

pub struct Mqtt {
    stream: TcpStream,
    pub version: ProtocolVersion,
    buf: BytesMut,
    next_pkid: u16,
}

/// A delivered PUBLISH as the subscriber saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub topic: String,
    pub payload: String,
    pub retain: bool,
}

/// Options of one CONNECT.
pub struct Login<'a> {
    pub version: ProtocolVersion,
    pub client_id: &'a str,
    pub device: &'a Device,
    /// Clean start (3.1.1: clean session).
    pub clean: bool,
}

impl Mqtt {
    /// Connects and returns the client with its CONNACK.
    pub fn connect(addr: SocketAddr, login: Login<'_>) -> (Mqtt, ConnAck) {
        let stream = TcpStream::connect(addr).expect("TCP connect to the broker");
        stream.set_nodelay(true).ok();
        let mut client = Mqtt {
            stream,
            version: login.version,
            buf: BytesMut::new(),
            next_pkid: 0,
        };
        let mut properties = Properties::default();
        if !login.clean && login.version.is_v5() {
            properties.session_expiry_interval = Some(3600);
        }
        let connect = Connect {
            protocol: login.version,
            clean_start: login.clean,
            keep_alive: 60,
            client_id: ByteString::from(login.client_id),
            will: None,
            username: Some(ByteString::from(login.device.id.as_str())),
            password: Some(Bytes::from(login.device.secret.clone())),
            properties,
        };
        client.send(Packet::Connect(Box::new(connect)));
        match client.recv(REPLY_LIMIT) {
            Some(Packet::ConnAck(ack)) => (client, ack),
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    /// Connects with clean start and asserts success.
    pub fn online(addr: SocketAddr, version: ProtocolVersion, device: &Device) -> Mqtt {
        let client_id = format!("{}-{}", &device.id[..8], rand_suffix());
        let (client, ack) = Mqtt::connect(
            addr,
            Login {
                version,
                client_id: &client_id,
                device,
                clean: true,
            },
        );
        assert_eq!(ack.code, 0, "CONNACK {ack:?}");
        client
    }

    pub fn send(&mut self, packet: Packet) {
        let mut out = BytesMut::new();
        protocol::encode(&packet, self.version, &mut out).expect("encode");
        // A write to a socket the broker closed may fail; the next read reports it.
        let _ = self.stream.write_all(&out);
    }

    /// The next packet within `wait`, or `None` on close / nothing in time.
    pub fn recv(&mut self, wait: Duration) -> Option<Packet> {
        let deadline = Instant::now() + wait;
        loop {
            match protocol::decode(&mut self.buf, self.version, 16 * 1024 * 1024) {
                Ok(Some(packet)) => return Some(packet),
                Ok(None) => {}
                Err(err) => panic!("broker sent a malformed packet: {err}"),
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            self.stream
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .ok();
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(_) => return None,
            }
        }
    }

    fn pkid(&mut self) -> u16 {
        self.next_pkid = self.next_pkid.wrapping_add(1).max(1);
        self.next_pkid
    }

    /// Subscribes at QoS 1; returns the SUBACK codes.
    pub fn subscribe(&mut self, filter: &str) -> Vec<u8> {
        self.subscribe_qos(filter, QoS::AtLeastOnce)
    }

    pub fn subscribe_qos(&mut self, filter: &str, qos: QoS) -> Vec<u8> {
        let pkid = self.pkid();
        let options = SubscriptionOptions {
            qos,
            no_local: false,
            retain_as_published: false,
            retain_handling: RetainHandling::SendAtSubscribe,
        };
        self.send(Packet::Subscribe(Subscribe {
            pkid,
            filters: vec![(ByteString::from(filter), options)],
            properties: Properties::default(),
        }));
        self.reply(&format!("SUBACK for {filter}"), |p| match p {
            Packet::SubAck(ack) if ack.pkid == pkid => Some(ack.codes),
            _ => None,
        })
    }

    /// Unsubscribes; returns the v5 UNSUBACK codes (empty for 3.1.1).
    pub fn unsubscribe(&mut self, filter: &str) -> Vec<u8> {
        let pkid = self.pkid();
        self.send(Packet::Unsubscribe(Unsubscribe {
            pkid,
            filters: vec![ByteString::from(filter)],
            properties: Properties::default(),
        }));
        self.reply(&format!("UNSUBACK for {filter}"), |p| match p {
            Packet::UnsubAck(ack) if ack.pkid == pkid => Some(ack.codes),
            _ => None,
        })
    }

    /// Skips packets until `pick` takes one; panics naming `what` if none comes.
    fn reply<T>(&mut self, what: &str, pick: impl Fn(Packet) -> Option<T>) -> T {
        loop {
            match self.recv(REPLY_LIMIT) {
                Some(packet) => {
                    if let Some(v) = pick(packet) {
                        return v;
                    }
                }
                None => panic!("no {what}"),
            }
        }
    }

    /// Publishes at QoS 1 and waits for the PUBACK: `Some(code)` (0 on 3.1.1 success),
    /// `None` when the broker closed the connection instead (3.1.1 refusal).
    pub fn publish(&mut self, topic: &str, payload: &str, retain: bool) -> Option<u8> {
        let pkid = self.pkid();
        self.send(Packet::Publish(Publish {
            dup: false,
            qos: QoS::AtLeastOnce,
            retain,
            topic: ByteString::from(topic),
            pkid,
            payload: Bytes::from(payload.to_string()),
            properties: Properties::default(),
        }));
        loop {
            match self.recv(REPLY_LIMIT)? {
                Packet::PubAck(ack) if ack.pkid == pkid => return Some(ack.code),
                Packet::Publish(p) => self.ack(&p),
                Packet::Disconnect(_) => return None,
                _ => continue,
            }
        }
    }

    /// Publishes and asserts success.
    pub fn publish_ok(&mut self, topic: &str, payload: &str) {
        let code = self.publish(topic, payload, false);
        assert!(matches!(code, Some(0 | 0x10)), "publish {topic}: {code:?}");
    }

    fn ack(&mut self, publish: &Publish) {
        if publish.qos == QoS::AtLeastOnce {
            self.send(Packet::PubAck(PubResponse::ok(publish.pkid)));
        }
    }

    /// Every message delivered up to and including the first with payload `sentinel`.
    /// Panics if the sentinel does not come (the connection closed or stalled).
    pub fn until(&mut self, sentinel: &str) -> Vec<Received> {
        let mut got = Vec::new();
        loop {
            match self.recv(REPLY_LIMIT) {
                Some(Packet::Publish(p)) => {
                    self.ack(&p);
                    let received = Received {
                        topic: p.topic.to_string(),
                        payload: String::from_utf8_lossy(&p.payload).into_owned(),
                        retain: p.retain,
                    };
                    let done = received.payload == sentinel;
                    got.push(received);
                    if done {
                        return got;
                    }
                }
                Some(_) => continue,
                None => panic!("sentinel {sentinel:?} never arrived; got {got:?}"),
            }
        }
    }

    /// True when the broker closed the connection (after an optional DISCONNECT).
    pub fn closed(&mut self) -> bool {
        loop {
            match self.recv(REPLY_LIMIT) {
                None => return true,
                Some(Packet::Disconnect(_)) => continue,
                Some(Packet::Publish(p)) => self.ack(&p),
                Some(_) => continue,
            }
        }
    }

    /// PINGREQ -> PINGRESP: proves the connection is still up (and flushes what the
    /// broker queued before the ping).
    pub fn alive(&mut self) -> bool {
        self.send(Packet::PingReq);
        loop {
            match self.recv(REPLY_LIMIT) {
                Some(Packet::PingResp) => return true,
                Some(Packet::Publish(p)) => self.ack(&p),
                Some(Packet::Disconnect(_)) | None => return false,
                Some(_) => continue,
            }
        }
    }

    pub fn disconnect(mut self) {
        self.send(Packet::Disconnect(Default::default()));
    }
}

/// Payloads of `got`.
pub fn payloads(got: &[Received]) -> Vec<&str> {
    got.iter().map(|r| r.payload.as_str()).collect()
}

fn rand_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("{nanos:08x}")
}
