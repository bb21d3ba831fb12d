//! The bridge's MQTT client to its upstream, on the project's own codec so the link
//! decides packet ids and when a queued message counts as delivered (its PUBACK).
//! Transports: TCP, TLS (rustls; the CA from the spec, optional client certificate for
//! mutual TLS), and WebSocket over either (`/mqtt`, subprotocol `mqtt`).

use std::io;
use std::path::Path;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use bytestring::ByteString;
use magnetite_protocol::{decode, encode, Connect, DecodeError, EncodeError, Packet, Properties};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::config::{BridgeSpec, TlsFiles, Upstream};
use crate::upstream::UpstreamLimits;

/// Largest packet accepted from the upstream.
const MAX_PACKET: usize = 16 * 1024 * 1024;
/// Session expiry asked for a persistent (clean=false) 5.0 session.
const PERSISTENT_SESSION_EXPIRY: u32 = 7 * 24 * 3600;

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    #[error("tls setup: {0}")]
    Tls(String),
    #[error("undecodable packet from the upstream: {0}")]
    Decode(#[from] DecodeError),
    #[error("could not encode a packet: {0}")]
    Encode(#[from] EncodeError),
    #[error("the upstream refused the connection (code {0:#04x})")]
    Refused(u8),
    #[error("the upstream closed the connection")]
    Closed,
    #[error("protocol: {0}")]
    Protocol(String),
}

type Reader = Box<dyn AsyncRead + Send + Unpin>;
type Writer = Box<dyn AsyncWrite + Send + Unpin>;

pub struct PacketReader {
    reader: Reader,
    buf: BytesMut,
    spec_version: magnetite_protocol::ProtocolVersion,
}

impl PacketReader {
    /// The next packet; `LinkError::Closed` at EOF.
    pub async fn next(&mut self) -> Result<Packet, LinkError> {
        loop {
            if let Some(packet) = decode(&mut self.buf, self.spec_version, MAX_PACKET)? {
                return Ok(packet);
            }
            self.buf.reserve(16 * 1024);
            if self.reader.read_buf(&mut self.buf).await? == 0 {
                return Err(LinkError::Closed);
            }
        }
    }
}

impl PacketReader {
    /// A packet already read from the socket, without waiting for more (the link
    /// handles a burst of acknowledgements before it writes once).
    pub fn buffered(&mut self) -> Result<Option<Packet>, LinkError> {
        Ok(decode(&mut self.buf, self.spec_version, MAX_PACKET)?)
    }
}

pub struct PacketWriter {
    writer: Writer,
    buf: BytesMut,
    version: magnetite_protocol::ProtocolVersion,
}

impl PacketWriter {
    pub fn queue(&mut self, packet: &Packet) -> Result<(), LinkError> {
        encode(packet, self.version, &mut self.buf)?;
        Ok(())
    }

    pub fn has_queued(&self) -> bool {
        !self.buf.is_empty()
    }

    pub async fn flush(&mut self) -> Result<(), LinkError> {
        if !self.buf.is_empty() {
            self.writer.write_all(&self.buf).await?;
            self.writer.flush().await?;
            self.buf.clear();
        }
        Ok(())
    }
}

/// What the upstream said in its CONNACK that the link must respect.
pub struct Connected {
    pub reader: PacketReader,
    pub writer: PacketWriter,
    pub session_present: bool,
    /// Receive Maximum, Maximum QoS, Retain Available, Maximum Packet Size (5.0).
    pub limits: UpstreamLimits,
    /// The keep-alive to use: the upstream's Server Keep Alive when it set one (5.0
    /// says the client must), else the spec's.
    pub keep_alive: u16,
}

/// Opens the transport, sends CONNECT and waits for a successful CONNACK.
pub async fn connect(
    spec: &BridgeSpec,
    tls: Option<&TlsConnector>,
) -> Result<Connected, LinkError> {
    let (reader, writer) = open(&spec.upstream, tls).await?;
    let mut reader = PacketReader {
        reader,
        buf: BytesMut::new(),
        spec_version: spec.version,
    };
    let mut writer = PacketWriter {
        writer,
        buf: BytesMut::new(),
        version: spec.version,
    };
    let mut properties = Properties::default();
    if spec.version.is_v5() {
        // The upstream must not send what we would refuse to decode (it drops such a
        // message for us instead of breaking the link on it).
        properties.maximum_packet_size = Some(MAX_PACKET as u32);
        if !spec.clean {
            properties.session_expiry_interval = Some(PERSISTENT_SESSION_EXPIRY);
        }
    }
    let connect = Connect {
        protocol: spec.version,
        clean_start: spec.clean,
        keep_alive: spec.keep_alive,
        client_id: ByteString::from(spec.client_id.as_str()),
        will: None,
        username: spec.username.as_deref().map(ByteString::from),
        password: spec
            .password
            .as_ref()
            .map(|p| Bytes::copy_from_slice(p.0.as_bytes())),
        properties,
    };
    writer.queue(&Packet::Connect(Box::new(connect)))?;
    writer.flush().await?;
    match reader.next().await? {
        Packet::ConnAck(ack) if ack.code == 0 => Ok(Connected {
            reader,
            writer,
            session_present: ack.session_present,
            limits: UpstreamLimits::from_connack(&ack.properties),
            keep_alive: ack.properties.server_keep_alive.unwrap_or(spec.keep_alive),
        }),
        Packet::ConnAck(ack) => Err(LinkError::Refused(ack.code)),
        other => Err(LinkError::Protocol(format!(
            "expected CONNACK, got {}",
            other.name()
        ))),
    }
}

async fn open(
    upstream: &Upstream,
    tls: Option<&TlsConnector>,
) -> Result<(Reader, Writer), LinkError> {
    let tcp = TcpStream::connect((upstream.host.as_str(), upstream.port)).await?;
    tcp.set_nodelay(true)?;
    match tls {
        None => split(tcp, upstream).await,
        Some(connector) => {
            let name = ServerName::try_from(upstream.host.clone())
                .map_err(|e| LinkError::Tls(format!("{}: {e}", upstream.host)))?;
            let stream = connector.connect(name, tcp).await?;
            split(stream, upstream).await
        }
    }
}

async fn split<S>(stream: S, upstream: &Upstream) -> Result<(Reader, Writer), LinkError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    if !upstream.scheme.is_websocket() {
        let (r, w) = tokio::io::split(stream);
        return Ok((Box::new(r), Box::new(w)));
    }
    let scheme = if upstream.scheme.is_tls() {
        "wss"
    } else {
        "ws"
    };
    let url = format!(
        "{scheme}://{}:{}{}",
        upstream.host, upstream.port, upstream.path
    );
    let mut request = url.into_client_request().map_err(io::Error::other)?;
    request
        .headers_mut()
        .insert("sec-websocket-protocol", HeaderValue::from_static("mqtt"));
    let (ws, _) = tokio_tungstenite::client_async(request, stream)
        .await
        .map_err(io::Error::other)?;
    let (r, w) = tokio::io::split(magnetite_wsbytes::bytes(ws));
    Ok((Box::new(r), Box::new(w)))
}

/// The TLS connector of an mqtts/wss upstream: trusts only `files.ca`, presents
/// `files.cert` + `files.key` when given (mutual TLS, e.g. a certificate issued by the
/// central instance's certs service).
pub fn tls_connector(files: &TlsFiles) -> Result<TlsConnector, LinkError> {
    let tls = |e: &dyn std::fmt::Display| LinkError::Tls(e.to_string());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls(&e))?;
    let ca = files
        .ca
        .as_deref()
        .ok_or_else(|| LinkError::Tls("an mqtts/wss bridge needs ca=<file>".into()))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in read_certs(ca)? {
        roots.add(cert).map_err(|e| tls(&e))?;
    }
    let builder = builder.with_root_certificates(roots);
    let config = match (&files.cert, &files.key) {
        (Some(cert), Some(key)) => builder
            .with_client_auth_cert(read_certs(cert)?, read_key(key)?)
            .map_err(|e| tls(&e))?,
        _ => builder.with_no_client_auth(),
    };
    Ok(TlsConnector::from(Arc::new(config)))
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, LinkError> {
    let pem = std::fs::read(path)
        .map_err(|e| LinkError::Tls(format!("reading {}: {e}", path.display())))?;
    let certs = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| LinkError::Tls(format!("{}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(LinkError::Tls(format!(
            "no certificate in {}",
            path.display()
        )));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, LinkError> {
    let pem = std::fs::read(path)
        .map_err(|e| LinkError::Tls(format!("reading {}: {e}", path.display())))?;
    rustls_pemfile::private_key(&mut pem.as_slice())
        .map_err(|e| LinkError::Tls(format!("{}: {e}", path.display())))?
        .ok_or_else(|| LinkError::Tls(format!("no private key in {}", path.display())))
}
