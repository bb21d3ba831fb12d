//! A minimal, fast MQTT client on the shared codec: CONNECT/CONNACK, then a packet
//! reader and a batching packet writer that can live in different tasks.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::{BufMut, Bytes, BytesMut};
use bytestring::ByteString;
use magnetite_protocol::{
    decode, encode, Connect, Packet, Properties, ProtocolVersion, QoS, RetainHandling, Subscribe,
    SubscriptionOptions,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::transport::{self, Reader, Writer};

/// Where and how every connection of a run connects.
#[derive(Clone)]
pub struct Target {
    pub host: String,
    pub port: u16,
    pub websocket: bool,
    pub version: ProtocolVersion,
    pub keep_alive: u16,
    /// Reset connections on close (connect storms); see `transport::open`.
    pub abortive_close: bool,
    pub tls: Option<tokio_rustls::TlsConnector>,
    /// Every connection keeps a persistent session (`--persistent-sessions`).
    pub persistent: bool,
    /// Local addresses connections bind to, taken in turn (`--source-addrs`); empty:
    /// the kernel's choice.
    pub sources: crate::sources::SourceAddrs,
}

/// The broker answered CONNECT with a non-zero CONNACK code: kept typed so a storm can
/// tell "come back later" (0x9F, 0x89, ...) from "never" (bad credentials).
#[derive(Debug, thiserror::Error)]
#[error("connection refused with code {0:#04x}")]
pub struct Refused(pub u8);

/// Session expiry asked for with `--persistent-sessions` (5.0; 3.1.1 has no expiry).
const PERSISTENT_SESSION_EXPIRY: u32 = 3600;

/// Credentials of one connection.
#[derive(Debug, Clone, Default)]
pub struct Identity {
    pub client_id: String,
    pub username: Option<String>,
    pub password: Option<String>,
}

pub struct PacketReader {
    reader: Reader,
    buf: BytesMut,
    version: ProtocolVersion,
}

impl PacketReader {
    /// The next packet; `None` when the broker closed the connection.
    pub async fn next(&mut self) -> anyhow::Result<Option<Packet>> {
        loop {
            if let Some(packet) = self.try_next()? {
                return Ok(Some(packet));
            }
            if !self.fill().await? {
                return Ok(None);
            }
        }
    }

    /// A packet already in the buffer, without reading.
    pub fn try_next(&mut self) -> anyhow::Result<Option<Packet>> {
        Ok(decode(&mut self.buf, self.version, 256 * 1024 * 1024)?)
    }

    /// Reads more bytes; false on EOF.
    pub async fn fill(&mut self) -> anyhow::Result<bool> {
        self.buf.reserve(16 * 1024);
        Ok(self.reader.read_buf(&mut self.buf).await? > 0)
    }
}

pub struct PacketWriter {
    writer: Writer,
    buf: BytesMut,
    version: ProtocolVersion,
    /// The broker's Receive Maximum (5.0 CONNACK): QoS 1/2 messages it accepts unacknowledged.
    pub receive_maximum: u16,
}

impl PacketWriter {
    pub fn queue(&mut self, packet: &Packet) -> anyhow::Result<()> {
        encode(packet, self.version, &mut self.buf)?;
        Ok(())
    }

    /// A PUBLISH without properties written straight into the buffer: the load
    /// generator's hot path, with no per-message allocation.
    pub fn queue_raw_publish(&mut self, topic: &str, qos: QoS, pkid: u16, payload: &[u8]) {
        let v5 = self.version.is_v5();
        let len = 2
            + topic.len()
            + if qos == QoS::AtMostOnce { 0 } else { 2 }
            + usize::from(v5)
            + payload.len();
        self.buf.reserve(len + 5);
        self.buf.put_u8(0x30 | ((qos as u8) << 1));
        let mut rest = len;
        loop {
            let mut byte = (rest & 0x7f) as u8;
            rest >>= 7;
            if rest > 0 {
                byte |= 0x80;
            }
            self.buf.put_u8(byte);
            if rest == 0 {
                break;
            }
        }
        self.buf.put_u16(topic.len() as u16);
        self.buf.put_slice(topic.as_bytes());
        if qos != QoS::AtMostOnce {
            self.buf.put_u16(pkid);
        }
        if v5 {
            self.buf.put_u8(0); // no properties
        }
        self.buf.put_slice(payload);
    }

    pub async fn flush(&mut self) -> anyhow::Result<()> {
        if !self.buf.is_empty() {
            self.writer.write_all(&self.buf).await?;
            self.writer.flush().await?;
            self.buf.clear();
        }
        Ok(())
    }

    pub async fn send(&mut self, packet: &Packet) -> anyhow::Result<()> {
        self.queue(packet)?;
        self.flush().await
    }
}

/// Connects and waits for a successful CONNACK; returns the halves and the connect time.
pub async fn connect(
    target: &Target,
    id: &Identity,
    clean: bool,
) -> anyhow::Result<(PacketReader, PacketWriter, Duration)> {
    let started = Instant::now();
    let (reader, writer) = transport::open(
        &target.host,
        target.port,
        target.sources.next(),
        target.websocket,
        target.abortive_close,
        target.tls.as_ref(),
    )
    .await
    .with_context(|| format!("connecting to {}:{}", target.host, target.port))?;
    let mut reader = PacketReader {
        reader,
        buf: BytesMut::new(),
        version: target.version,
    };
    let mut writer = PacketWriter {
        writer,
        buf: BytesMut::new(),
        version: target.version,
        receive_maximum: u16::MAX,
    };
    let mut properties = Properties::default();
    if target.persistent && target.version.is_v5() {
        properties.session_expiry_interval = Some(PERSISTENT_SESSION_EXPIRY);
    }
    let connect = Connect {
        protocol: target.version,
        clean_start: clean && !target.persistent,
        keep_alive: target.keep_alive,
        client_id: ByteString::from(id.client_id.as_str()),
        will: None,
        username: id.username.as_deref().map(ByteString::from),
        password: id
            .password
            .as_ref()
            .map(|p| Bytes::copy_from_slice(p.as_bytes())),
        properties,
    };
    writer.send(&Packet::Connect(Box::new(connect))).await?;
    match reader.next().await? {
        Some(Packet::ConnAck(ack)) if ack.code == 0 => {
            writer.receive_maximum = ack.properties.receive_maximum.unwrap_or(u16::MAX);
            Ok((reader, writer, started.elapsed()))
        }
        Some(Packet::ConnAck(ack)) => Err(Refused(ack.code).into()),
        Some(other) => bail!("expected CONNACK, got {}", other.name()),
        None => bail!("connection closed before CONNACK"),
    }
}

/// Subscribes to one filter and waits for the SUBACK.
pub async fn subscribe(
    reader: &mut PacketReader,
    writer: &mut PacketWriter,
    filter: &str,
    qos: QoS,
) -> anyhow::Result<()> {
    let options = SubscriptionOptions {
        qos,
        no_local: false,
        retain_as_published: false,
        retain_handling: RetainHandling::SendAtSubscribe,
    };
    let subscribe = Subscribe {
        pkid: 1,
        filters: vec![(ByteString::from(filter), options)],
        properties: Properties::default(),
    };
    writer.send(&Packet::Subscribe(subscribe)).await?;
    loop {
        match reader.next().await? {
            Some(Packet::SubAck(ack)) => {
                if ack.codes.iter().any(|&c| c >= 0x80) {
                    bail!("subscription to {filter} refused ({:?})", ack.codes);
                }
                return Ok(());
            }
            Some(_) => continue,
            None => bail!("connection closed before SUBACK"),
        }
    }
}
