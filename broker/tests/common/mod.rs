//! An in-process broker on a free port and a raw MQTT client built on the protocol
//! crate, so tests can send exactly the bytes they mean and check every packet back.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use bytestring::ByteString;
use magnetite_broker::protocol::{
    self, Connect, Packet, Properties, ProtocolVersion, PubResponse, Publish, QoS, RetainHandling,
    Subscribe, SubscriptionOptions,
};
use magnetite_broker::{Broker, BrokerConfig, Hooks};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub struct TestBroker<H: Hooks> {
    pub broker: Broker<H>,
    pub addr: SocketAddr,
}

pub async fn start<H: Hooks>(config: BrokerConfig, hooks: H) -> TestBroker<H> {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let broker = Broker::new(config, hooks);
    let serving = broker.clone();
    tokio::spawn(async move { serving.serve_tcp(listener).await });
    TestBroker { broker, addr }
}

/// A raw MQTT client; `S` is TCP by default, or e.g. a TLS stream (see `Client::over`).
pub struct Client<S = TcpStream> {
    pub stream: S,
    pub version: ProtocolVersion,
    buf: BytesMut,
}

pub fn connect_packet(version: ProtocolVersion, client_id: &str, clean: bool) -> Connect {
    Connect {
        protocol: version,
        clean_start: clean,
        keep_alive: 60,
        client_id: ByteString::from(client_id),
        will: None,
        username: None,
        password: None,
        properties: Properties::default(),
    }
}

pub fn publish(topic: &str, payload: &'static [u8], qos: QoS, pkid: u16) -> Publish {
    Publish {
        dup: false,
        qos,
        retain: false,
        topic: ByteString::from(topic),
        pkid,
        payload: Bytes::from_static(payload),
        properties: Properties::default(),
    }
}

pub fn subscribe(pkid: u16, filter: &str, qos: QoS) -> Subscribe {
    Subscribe {
        pkid,
        filters: vec![(
            ByteString::from(filter),
            SubscriptionOptions {
                qos,
                no_local: false,
                retain_as_published: false,
                retain_handling: RetainHandling::SendAtSubscribe,
            },
        )],
        properties: Properties::default(),
    }
}

impl Client {
    pub async fn open(addr: SocketAddr, version: ProtocolVersion) -> Client {
        let stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).ok();
        Client {
            stream,
            version,
            buf: BytesMut::new(),
        }
    }

    /// Opens a socket, sends CONNECT and returns the client with the CONNACK.
    pub async fn connect_with(addr: SocketAddr, connect: Connect) -> (Client, Packet) {
        let mut client = Client::open(addr, connect.protocol).await;
        client.send(Packet::Connect(Box::new(connect))).await;
        let connack = client.recv().await.expect("CONNACK");
        (client, connack)
    }

    pub async fn connect(addr: SocketAddr, version: ProtocolVersion, client_id: &str) -> Client {
        let (client, connack) =
            Client::connect_with(addr, connect_packet(version, client_id, true)).await;
        match connack {
            Packet::ConnAck(ack) => assert_eq!(ack.code, 0, "connack {ack:?}"),
            other => panic!("expected CONNACK, got {other:?}"),
        }
        client
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    /// A client on an already open stream (TLS, ...); nothing is sent yet.
    pub fn over(stream: S, version: ProtocolVersion) -> Client<S> {
        Client {
            stream,
            version,
            buf: BytesMut::new(),
        }
    }

    /// Sends CONNECT on `stream` and expects CONNACK 0.
    pub async fn connect_over(stream: S, version: ProtocolVersion, client_id: &str) -> Client<S> {
        let mut client = Client::over(stream, version);
        client
            .send(Packet::Connect(Box::new(connect_packet(
                version, client_id, true,
            ))))
            .await;
        match client.recv().await {
            Some(Packet::ConnAck(ack)) => assert_eq!(ack.code, 0, "connack {ack:?}"),
            other => panic!("expected CONNACK, got {other:?}"),
        }
        client
    }

    pub async fn send(&mut self, packet: Packet) {
        let mut out = BytesMut::new();
        protocol::encode(&packet, self.version, &mut out).expect("encode");
        self.stream.write_all(&out).await.expect("write");
    }

    /// Sends a PUBLISH built by [`publish`].
    pub async fn publish(&mut self, topic: &str, payload: &'static [u8], qos: QoS, pkid: u16) {
        self.send(Packet::Publish(publish(topic, payload, qos, pkid)))
            .await;
    }

    /// PINGREQ, and asserts that the next packet is PINGRESP: everything sent before it
    /// has been handled.
    pub async fn ping(&mut self) {
        self.send(Packet::PingReq).await;
        assert!(matches!(self.recv().await, Some(Packet::PingResp)));
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write raw");
    }

    /// The next packet, or None on EOF / 3 s without one.
    pub async fn recv(&mut self) -> Option<Packet> {
        self.recv_within(Duration::from_secs(3)).await
    }

    pub async fn recv_within(&mut self, wait: Duration) -> Option<Packet> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match protocol::decode(&mut self.buf, self.version, 16 * 1024 * 1024) {
                Ok(Some(packet)) => return Some(packet),
                Ok(None) => {}
                Err(err) => panic!("broker sent a malformed packet: {err}"),
            }
            let read = tokio::time::timeout_at(deadline, self.stream.read_buf(&mut self.buf)).await;
            match read {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return None,
                Ok(Ok(_)) => {}
            }
        }
    }

    /// True when the broker closed the socket within `wait`.
    pub async fn closed_within(&mut self, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        let mut scratch = [0u8; 1024];
        loop {
            match tokio::time::timeout_at(deadline, self.stream.read(&mut scratch)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => continue,
                Err(_) => return false,
            }
        }
    }

    /// DISCONNECT, then close the socket as a real client does (the client closes
    /// first), and give the broker a moment to finish the session.
    pub async fn disconnect(mut self) {
        self.send(Packet::Disconnect(Default::default())).await;
        drop(self);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    pub async fn subscribe(&mut self, filter: &str, qos: QoS) -> Vec<u8> {
        self.send(Packet::Subscribe(subscribe(1, filter, qos)))
            .await;
        loop {
            match self.recv().await {
                Some(Packet::SubAck(ack)) => return ack.codes,
                Some(_) => continue,
                None => panic!("no SUBACK"),
            }
        }
    }

    /// Next PUBLISH, acknowledging QoS 1/2 as a well-behaved client would.
    pub async fn next_publish(&mut self) -> Option<Publish> {
        loop {
            match self.recv().await? {
                Packet::Publish(p) => {
                    match p.qos {
                        QoS::AtMostOnce => {}
                        QoS::AtLeastOnce => {
                            self.send(Packet::PubAck(PubResponse::ok(p.pkid))).await
                        }
                        QoS::ExactlyOnce => {
                            self.send(Packet::PubRec(PubResponse::ok(p.pkid))).await;
                        }
                    }
                    return Some(p);
                }
                Packet::PubRel(rel) => self.send(Packet::PubComp(PubResponse::ok(rel.pkid))).await,
                _ => continue,
            }
        }
    }
}
