//! MQTT over TLS and secure WebSocket: server-only TLS, client certificates (required,
//! optional, from another CA), the certificate reaching the hooks, hot reload of the
//! server certificate without dropping sessions, and configuration errors.
//!
//! Every certificate is made here with rcgen (a CA, server and client leaves) and
//! written to a temporary directory, as an operator's files would be.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use common::{connect_packet, publish, subscribe, Client};
use futures_util::{SinkExt, StreamExt};
use magnetite_broker::protocol::{self, Packet, ProtocolVersion, QoS};
use magnetite_broker::{
    AllowAll, AuthDecision, Broker, BrokerConfig, ClientAuth, ConnectInfo, FilterVerdict, Hooks,
    TlsAcceptorSource, TlsError, TlsSettings, TopicVerdict, Transport,
};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SerialNumber,
};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

const V311: ProtocolVersion = ProtocolVersion::V311;

// ---- certificates ---------------------------------------------------------------

struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

struct Leaf {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Leaf {
    fn der(&self) -> Vec<u8> {
        self.cert.der().to_vec()
    }
}

fn new_ca(name: &str) -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let cert = params.self_signed(&key).unwrap();
    Ca { cert, key }
}

fn leaf(ca: &Ca, names: &[&str], serial: u64, usage: ExtendedKeyUsagePurpose) -> Leaf {
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

fn server_leaf(ca: &Ca, serial: u64) -> Leaf {
    leaf(
        ca,
        &["localhost", "127.0.0.1"],
        serial,
        ExtendedKeyUsagePurpose::ServerAuth,
    )
}

fn client_leaf(ca: &Ca, name: &str) -> Leaf {
    leaf(ca, &[name], 1000, ExtendedKeyUsagePurpose::ClientAuth)
}

/// Server cert, key and CA bundle on disk.
struct Files {
    dir: tempfile::TempDir,
    cert: PathBuf,
    key: PathBuf,
    ca: PathBuf,
}

fn write_files(ca: &Ca, server: &Leaf) -> Files {
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
fn replace(path: &Path, contents: &str) {
    let aside = path.with_extension("new");
    std::fs::write(&aside, contents).unwrap();
    std::fs::rename(&aside, path).unwrap();
}

// ---- broker and clients ---------------------------------------------------------

async fn start_tls<H: Hooks>(hooks: H, tls: TlsAcceptorSource) -> (Broker<H>, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let broker = Broker::new(BrokerConfig::default(), hooks);
    let serving = broker.clone();
    tokio::spawn(async move { serving.serve_tls(listener, Arc::new(tls)).await });
    (broker, addr)
}

fn client_config(ca: &Ca, identity: Option<&Leaf>) -> Arc<ClientConfig> {
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

async fn tls_connect(
    addr: SocketAddr,
    config: Arc<ClientConfig>,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").unwrap();
    TlsConnector::from(config).connect(name, tcp).await
}

/// The server's leaf certificate as this client saw it.
fn server_cert_seen(stream: &TlsStream<TcpStream>) -> Vec<u8> {
    stream.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

/// True when the broker does not let this client in: the handshake fails, or (TLS 1.3,
/// where the client finishes first and the server rejects its certificate afterwards)
/// CONNECT gets no CONNACK.
async fn refused(addr: SocketAddr, config: Arc<ClientConfig>, client_id: &str) -> bool {
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
struct CertRecorder {
    seen: Arc<Mutex<Vec<Seen>>>,
}

/// Client id, certificate DER, transport.
type Seen = (String, Option<Vec<u8>>, Transport);

impl CertRecorder {
    fn seen(&self, client_id: &str) -> Option<(Option<Vec<u8>>, Transport)> {
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
async fn round_trip<A, B>(publisher: &mut Client<A>, subscriber: &mut Client<B>, topic: &str)
where
    A: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    B: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    publisher
        .send(Packet::Publish(publish(
            topic,
            b"over tls",
            QoS::AtLeastOnce,
            7,
        )))
        .await;
    match publisher.recv().await {
        Some(Packet::PubAck(ack)) => assert_eq!(ack.pkid, 7),
        other => panic!("expected PUBACK, got {other:?}"),
    }
    let got = subscriber.next_publish().await.expect("publish delivered");
    assert_eq!(&*got.topic, topic);
    assert_eq!(&got.payload[..], b"over tls");
}

// ---- tests ----------------------------------------------------------------------

#[tokio::test]
async fn server_only_tls_connect_and_round_trip() {
    let ca = new_ca("Test CA");
    let server = server_leaf(&ca, 1);
    let files = write_files(&ca, &server);
    let source = TlsAcceptorSource::new(&TlsSettings::new(&files.cert, &files.key)).unwrap();
    assert_eq!(source.current_certificate(), server.der());
    let (_broker, addr) = start_tls(AllowAll, source).await;

    // A client that never starts its handshake does not hold up the others.
    let _silent = TcpStream::connect(addr).await.unwrap();
    let stream = tls_connect(addr, client_config(&ca, None)).await.unwrap();
    assert_eq!(server_cert_seen(&stream), server.der());
    let mut sub = Client::connect_over(stream, V311, "sub").await;
    assert_eq!(sub.subscribe("tls/#", QoS::AtLeastOnce).await, vec![1]);

    // A TLS 1.2-only client is served too.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    roots.add(ca.cert.der().clone()).unwrap();
    let tls12 = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let stream = tls_connect(addr, Arc::new(tls12)).await.unwrap();
    assert_eq!(
        stream.get_ref().1.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_2)
    );
    let mut publisher = Client::connect_over(stream, V311, "pub").await;
    round_trip(&mut publisher, &mut sub, "tls/a").await;
    assert_eq!(
        publisher.subscribe("back/#", QoS::AtLeastOnce).await,
        vec![1]
    );
    round_trip(&mut sub, &mut publisher, "back/1").await;

    // Plain MQTT on the TLS port gets a TLS alert record (0x15) or a close, no CONNACK.
    let mut plain = Client::open(addr, V311).await;
    plain
        .send(Packet::Connect(Box::new(connect_packet(
            V311, "plain", true,
        ))))
        .await;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(
        Duration::from_secs(3),
        plain.stream.read_to_end(&mut answer),
    );
    read.await.expect("closed within 3 s").ok();
    assert!(answer.first().is_none_or(|&b| b == 0x15), "{answer:?}");
}

#[tokio::test]
async fn required_client_certificate_reaches_the_hooks() {
    let ca = new_ca("Test CA");
    let files = write_files(&ca, &server_leaf(&ca, 1));
    let mut settings = TlsSettings::new(&files.cert, &files.key);
    settings.client_ca = Some(files.ca.clone());
    settings.client_auth = ClientAuth::Required;
    let hooks = CertRecorder::default();
    let (_broker, addr) =
        start_tls(hooks.clone(), TlsAcceptorSource::new(&settings).unwrap()).await;

    assert!(refused(addr, client_config(&ca, None), "anonymous").await);
    assert!(hooks.seen("anonymous").is_none());

    let device = client_leaf(&ca, "device-1");
    let stream = tls_connect(addr, client_config(&ca, Some(&device)))
        .await
        .unwrap();
    let mut client = Client::connect_over(stream, V311, "device-1").await;
    let (cert, transport) = hooks.seen("device-1").expect("authenticate called");
    assert_eq!(cert.as_deref(), Some(device.der().as_slice()));
    assert_eq!(transport, Transport::Tls);
    assert_eq!(client.subscribe("d/#", QoS::AtMostOnce).await, vec![0]);
}

#[tokio::test]
async fn client_certificate_from_another_ca_is_refused() {
    let ca = new_ca("Test CA");
    let rogue = new_ca("Rogue CA");
    let files = write_files(&ca, &server_leaf(&ca, 1));
    for client_auth in [ClientAuth::Required, ClientAuth::Optional] {
        let mut settings = TlsSettings::new(&files.cert, &files.key);
        settings.client_ca = Some(files.ca.clone());
        settings.client_auth = client_auth;
        let hooks = CertRecorder::default();
        let (_broker, addr) =
            start_tls(hooks.clone(), TlsAcceptorSource::new(&settings).unwrap()).await;
        let impostor = client_leaf(&rogue, "impostor");
        assert!(
            refused(addr, client_config(&ca, Some(&impostor)), "impostor").await,
            "{client_auth:?}"
        );
        assert!(hooks.seen("impostor").is_none());
        // The same broker still lets a legitimate client in.
        let good = client_leaf(&ca, "good");
        assert!(!refused(addr, client_config(&ca, Some(&good)), "good").await);
    }
}

#[tokio::test]
async fn optional_client_certificate_with_in_memory_ca() {
    let ca = new_ca("Test CA");
    let files = write_files(&ca, &server_leaf(&ca, 1));
    let mut settings = TlsSettings::new(&files.cert, &files.key);
    settings.client_ca_der = vec![ca.cert.der().to_vec()];
    settings.client_auth = ClientAuth::Optional;
    let hooks = CertRecorder::default();
    let (_broker, addr) =
        start_tls(hooks.clone(), TlsAcceptorSource::new(&settings).unwrap()).await;

    let stream = tls_connect(addr, client_config(&ca, None)).await.unwrap();
    let _anonymous = Client::connect_over(stream, V311, "anonymous").await;
    assert_eq!(hooks.seen("anonymous"), Some((None, Transport::Tls)));

    let device = client_leaf(&ca, "device-2");
    let stream = tls_connect(addr, client_config(&ca, Some(&device)))
        .await
        .unwrap();
    let _device = Client::connect_over(stream, V311, "device-2").await;
    assert_eq!(
        hooks.seen("device-2"),
        Some((Some(device.der()), Transport::Tls))
    );
}

#[tokio::test]
async fn server_certificate_is_reloaded_without_dropping_sessions() {
    let ca = new_ca("Test CA");
    let first = server_leaf(&ca, 1);
    let files = write_files(&ca, &first);
    let mut settings = TlsSettings::new(&files.cert, &files.key);
    settings.reload_interval = Duration::from_millis(100);
    let (_broker, addr) = start_tls(AllowAll, TlsAcceptorSource::new(&settings).unwrap()).await;

    let stream = tls_connect(addr, client_config(&ca, None)).await.unwrap();
    assert_eq!(server_cert_seen(&stream), first.der());
    let mut old = Client::connect_over(stream, V311, "old").await;
    assert_eq!(old.subscribe("r/#", QoS::AtLeastOnce).await, vec![1]);

    let second = server_leaf(&ca, 2);
    assert_ne!(second.der(), first.der());
    replace(&files.cert, &second.cert.pem());
    replace(&files.key, &second.key.serialize_pem());

    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let stream = loop {
        let stream = tls_connect(addr, client_config(&ca, None)).await.unwrap();
        if server_cert_seen(&stream) == second.der() {
            break stream;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "new cert not served"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut new = Client::connect_over(stream, V311, "new").await;

    // The session from before the reload is alive in both directions.
    round_trip(&mut new, &mut old, "r/1").await;
    assert_eq!(new.subscribe("r/#", QoS::AtLeastOnce).await, vec![1]);
    round_trip(&mut old, &mut new, "r/2").await;

    // A broken file is not swapped in: new handshakes keep the second certificate.
    replace(&files.cert, "not a certificate");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let stream = tls_connect(addr, client_config(&ca, None)).await.unwrap();
    assert_eq!(server_cert_seen(&stream), second.der());
    drop(files.dir);
}

#[tokio::test]
async fn reload_refuses_broken_or_mismatched_files() {
    let ca = new_ca("Test CA");
    let first = server_leaf(&ca, 1);
    let files = write_files(&ca, &first);
    let source = TlsAcceptorSource::new(&TlsSettings::new(&files.cert, &files.key)).unwrap();
    assert!(!source.reload_if_changed().unwrap(), "nothing changed yet");

    // New certificate, old key: refused, the key file named.
    let second = server_leaf(&ca, 2);
    replace(&files.cert, &second.cert.pem());
    let err = source.reload_if_changed().unwrap_err();
    assert!(matches!(err, TlsError::BadKey { .. }), "{err}");
    assert!(err.to_string().contains("server.key"), "{err}");
    assert_eq!(source.current_certificate(), first.der());

    replace(&files.key, &second.key.serialize_pem());
    assert!(source.reload_if_changed().unwrap());
    assert_eq!(source.current_certificate(), second.der());

    replace(&files.cert, "garbage");
    let err = source.reload_if_changed().unwrap_err();
    assert!(matches!(err, TlsError::NoCertificate { .. }), "{err}");
    assert!(err.to_string().contains("server.pem"), "{err}");
    assert_eq!(source.current_certificate(), second.der());
}

#[tokio::test]
async fn configuration_errors_name_the_problem() {
    let ca = new_ca("Test CA");
    let files = write_files(&ca, &server_leaf(&ca, 1));
    let missing = files.dir.path().join("missing.pem");

    let err = TlsAcceptorSource::new(&TlsSettings::new(&missing, &files.key)).unwrap_err();
    assert!(matches!(err, TlsError::Read { .. }), "{err}");
    assert!(err.to_string().contains("missing.pem"), "{err}");

    // The certificate file holds no key.
    let err = TlsAcceptorSource::new(&TlsSettings::new(&files.cert, &files.cert)).unwrap_err();
    assert!(matches!(err, TlsError::NoPrivateKey { .. }), "{err}");

    let mut settings = TlsSettings::new(&files.cert, &files.key);
    settings.client_auth = ClientAuth::Required;
    let err = TlsAcceptorSource::new(&settings).unwrap_err();
    assert!(matches!(err, TlsError::RequiredWithoutCa), "{err}");

    settings.client_ca_der = vec![b"not DER".to_vec()];
    let err = TlsAcceptorSource::new(&settings).unwrap_err();
    assert!(matches!(err, TlsError::BadCa { .. }), "{err}");
    assert!(err.to_string().contains("client_ca_der[0]"), "{err}");

    settings.client_ca_der.clear();
    settings.client_ca = Some(files.key.clone());
    let err = TlsAcceptorSource::new(&settings).unwrap_err();
    assert!(matches!(err, TlsError::NoCertificate { .. }), "{err}");
}

/// MQTT packets over WebSocket frames, for the wss test.
struct WsMqtt<S> {
    ws: tokio_tungstenite::WebSocketStream<S>,
    buf: BytesMut,
}

impl<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin> WsMqtt<S> {
    async fn send(&mut self, packet: Packet) {
        let mut out = BytesMut::new();
        protocol::encode(&packet, V311, &mut out).unwrap();
        self.ws.send(Message::Binary(out.to_vec())).await.unwrap();
    }

    async fn recv(&mut self) -> Packet {
        loop {
            if let Some(packet) = protocol::decode(&mut self.buf, V311, 1 << 20).unwrap() {
                return packet;
            }
            let next = tokio::time::timeout(Duration::from_secs(3), self.ws.next()).await;
            match next.expect("a frame within 3 s") {
                Some(Ok(Message::Binary(data))) => self.buf.extend_from_slice(&data),
                Some(Ok(_)) => {}
                other => panic!("websocket ended: {other:?}"),
            }
        }
    }
}

#[tokio::test]
async fn secure_websocket_connect_and_round_trip() {
    let ca = new_ca("Test CA");
    let files = write_files(&ca, &server_leaf(&ca, 1));
    let mut settings = TlsSettings::new(&files.cert, &files.key);
    settings.client_ca = Some(files.ca.clone());
    let source = Arc::new(TlsAcceptorSource::new(&settings).unwrap());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hooks = CertRecorder::default();
    let broker = Broker::new(BrokerConfig::default(), hooks.clone());
    let serving = broker.clone();
    tokio::spawn(async move { serving.serve_wss(listener, source).await });

    let device = client_leaf(&ca, "ws-device");
    let open = |path: &'static str| {
        let config = client_config(&ca, Some(&device));
        async move {
            let tls = tls_connect(addr, config).await.unwrap();
            let mut request = format!("wss://localhost{path}")
                .into_client_request()
                .unwrap();
            request
                .headers_mut()
                .insert("sec-websocket-protocol", HeaderValue::from_static("mqtt"));
            tokio_tungstenite::client_async(request, tls).await
        }
    };

    assert!(open("/not-mqtt").await.is_err(), "only /mqtt is served");

    let (ws, response) = open("/mqtt").await.unwrap();
    assert_eq!(
        response.headers().get("sec-websocket-protocol").unwrap(),
        "mqtt"
    );
    let mut client = WsMqtt {
        ws,
        buf: BytesMut::new(),
    };
    client
        .send(Packet::Connect(Box::new(connect_packet(
            V311,
            "ws-device",
            true,
        ))))
        .await;
    match client.recv().await {
        Packet::ConnAck(ack) => assert_eq!(ack.code, 0),
        other => panic!("expected CONNACK, got {other:?}"),
    }
    assert_eq!(
        hooks.seen("ws-device"),
        Some((Some(device.der()), Transport::WebSocketTls))
    );

    client
        .send(Packet::Subscribe(subscribe(1, "ws/#", QoS::AtMostOnce)))
        .await;
    assert!(matches!(client.recv().await, Packet::SubAck(_)));
    client
        .send(Packet::Publish(publish(
            "ws/x",
            b"secure",
            QoS::AtMostOnce,
            0,
        )))
        .await;
    match client.recv().await {
        Packet::Publish(p) => {
            assert_eq!(&*p.topic, "ws/x");
            assert_eq!(&p.payload[..], b"secure");
        }
        other => panic!("expected PUBLISH, got {other:?}"),
    }
    broker.shutdown().await;
}

#[tokio::test]
async fn shutdown_stops_the_tls_listener_and_its_watcher() {
    let ca = new_ca("Test CA");
    let files = write_files(&ca, &server_leaf(&ca, 1));
    let mut settings = TlsSettings::new(&files.cert, &files.key);
    settings.reload_interval = Duration::from_millis(50);
    let source = Arc::new(TlsAcceptorSource::new(&settings).unwrap());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let broker = Broker::new(BrokerConfig::default(), AllowAll);
    let serving = broker.clone();
    let task = tokio::spawn(async move { serving.serve_tls(listener, source).await });
    tokio::time::sleep(Duration::from_millis(120)).await;
    broker.shutdown().await;
    tokio::time::timeout(Duration::from_secs(2), task)
        .await
        .expect("serve_tls returns at shutdown")
        .unwrap();
    drop(files);
}
