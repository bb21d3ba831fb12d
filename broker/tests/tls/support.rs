//! Fixtures of the TLS tests: certificates made with rcgen and written as an operator's
//! files would be, a broker serving TLS, rustls clients, and hooks that record the
//! certificate each client presented.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::common::{connect_packet, Client};
use bytes::BytesMut;
use magnetite_broker::protocol::{self, Packet, ProtocolVersion, QoS};
use magnetite_broker::{
    AuthDecision, Broker, BrokerConfig, ConnectInfo, FilterVerdict, Hooks, TlsAcceptorSource,
    TopicVerdict, Transport,
};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SerialNumber,
};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

pub const V311: ProtocolVersion = ProtocolVersion::V311;

// ---- certificates ---------------------------------------------------------------

pub struct Ca {
    pub cert: rcgen::Certificate,
    pub key: KeyPair,
}

pub struct Leaf {
    pub cert: rcgen::Certificate,
    pub key: KeyPair,
}

impl Leaf {
    pub fn der(&self) -> Vec<u8> {
        self.cert.der().to_vec()
    }
}

pub fn new_ca(name: &str) -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let cert = params.self_signed(&key).unwrap();
    Ca { cert, key }
}

pub fn leaf(ca: &Ca, names: &[&str], serial: u64, usage: ExtendedKeyUsagePurpose) -> Leaf {
    let key = KeyPair::generate().unwrap();
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut params = CertificateParams::new(names.clone()).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, &names[0]);
    params.serial_number = Some(SerialNumber::from(serial));
    params.extended_key_usages = vec![usage];
    let cert = params.signed_by(&key, &ca.cert, &ca.key).unwrap();
    Leaf { cert, key }
}

pub fn server_leaf(ca: &Ca, serial: u64) -> Leaf {
    leaf(
        ca,
        &["localhost", "127.0.0.1"],
        serial,
        ExtendedKeyUsagePurpose::ServerAuth,
    )
}

pub fn client_leaf(ca: &Ca, name: &str) -> Leaf {
    leaf(ca, &[name], 1000, ExtendedKeyUsagePurpose::ClientAuth)
}

/// Server cert, key and CA bundle on disk.
pub struct Files {
    pub dir: tempfile::TempDir,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
}

pub fn write_files(ca: &Ca, server: &Leaf) -> Files {
    let dir = tempfile::tempdir().unwrap();
    let files = Files {
        cert: dir.path().join("server.pem"),
        key: dir.path().join("server.key"),
        ca: dir.path().join("ca.pem"),
        dir,
    };
    std::fs::write(&files.cert, server.cert.pem()).unwrap();
    std::fs::write(&files.key, server.key.serialize_pem()).unwrap();
    std::fs::write(&files.ca, ca.cert.pem()).unwrap();
    files
}

/// Replaces `path` the way deploy tools do: write aside, then rename over it.
pub fn replace(path: &Path, contents: &str) {
    let aside = path.with_extension("new");
    std::fs::write(&aside, contents).unwrap();
    std::fs::rename(&aside, path).unwrap();
}

// ---- broker and clients ---------------------------------------------------------

pub async fn start_tls<H: Hooks>(hooks: H, tls: TlsAcceptorSource) -> (Broker<H>, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let broker = Broker::new(BrokerConfig::default(), hooks);
    let serving = broker.clone();
    tokio::spawn(async move { serving.serve_tls(listener, Arc::new(tls)).await });
    (broker, addr)
}

pub fn client_config(ca: &Ca, identity: Option<&Leaf>) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(ca.cert.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match identity {
        Some(leaf) => builder
            .with_client_auth_cert(
                vec![leaf.cert.der().clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf.key.serialize_der())),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    Arc::new(config)
}

pub async fn tls_connect(
    addr: SocketAddr,
    config: Arc<ClientConfig>,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").unwrap();
    TlsConnector::from(config).connect(name, tcp).await
}

/// The server's leaf certificate as this client saw it.
pub fn server_cert_seen(stream: &TlsStream<TcpStream>) -> Vec<u8> {
    stream.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

/// True when the broker does not let this client in: the handshake fails, or (TLS 1.3,
/// where the client finishes first and the server rejects its certificate afterwards)
/// CONNECT gets no CONNACK.
pub async fn refused(addr: SocketAddr, config: Arc<ClientConfig>, client_id: &str) -> bool {
    let Ok(stream) = tls_connect(addr, config).await else {
        return true;
    };
    let mut client = Client::over(stream, V311);
    // Not `Client::send`: a write refused by a closed TLS session is the expected outcome.
    let mut out = BytesMut::new();
    let connect = Packet::Connect(Box::new(connect_packet(V311, client_id, true)));
    protocol::encode(&connect, V311, &mut out).unwrap();
    let _ = client.stream.write_all(&out).await;
    let _ = client.stream.flush().await;
    !matches!(client.recv().await, Some(Packet::ConnAck(_)))
}

/// Records what `authenticate` was given: client id, certificate DER, transport.
#[derive(Clone, Default)]
pub struct CertRecorder {
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

/// Client id, certificate DER, transport.
pub type Seen = (String, Option<Vec<u8>>, Transport);

impl CertRecorder {
    pub fn seen(&self, client_id: &str) -> Option<(Option<Vec<u8>>, Transport)> {
        let seen = self.seen.lock().unwrap();
        seen.iter()
            .find(|(id, _, _)| id == client_id)
            .map(|(_, cert, transport)| (cert.clone(), *transport))
    }
}

impl Hooks for CertRecorder {
    type Identity = ();

    async fn authenticate(&self, info: ConnectInfo<'_>) -> AuthDecision<()> {
        self.seen.lock().unwrap().push((
            info.client_id.to_string(),
            info.peer_certificate.map(<[u8]>::to_vec),
            info.transport,
        ));
        AuthDecision::Allow(())
    }

    async fn authorize_publish(&self, _: &(), _: &str, _: &str) -> TopicVerdict {
        TopicVerdict::Allow
    }

    async fn authorize_subscribe(&self, _: &(), _: &str, _: &str) -> FilterVerdict {
        FilterVerdict::Allow
    }
}

/// `subscriber` gets what `publisher` sends on `topic` (QoS 1, PUBACK checked).
pub async fn round_trip<A, B>(publisher: &mut Client<A>, subscriber: &mut Client<B>, topic: &str)
where
    A: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    B: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    publisher
        .publish(topic, b"over tls", QoS::AtLeastOnce, 7)
        .await;
    match publisher.recv().await {
        Some(Packet::PubAck(ack)) => assert_eq!(ack.pkid, 7),
        other => panic!("expected PUBACK, got {other:?}"),
    }
    let got = subscriber.next_publish().await.expect("publish delivered");
    assert_eq!(&*got.topic, topic);
    assert_eq!(&got.payload[..], b"over tls");
}
