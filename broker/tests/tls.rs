//! MQTT over TLS and secure WebSocket: server-only TLS, client certificates (required,
//! optional, from another CA), the certificate reaching the hooks, hot reload of the
//! server certificate without dropping sessions, and configuration errors.
//!
//! Every certificate is made here with rcgen (a CA, server and client leaves) and
//! written to a temporary directory, as an operator's files would be.

mod common;
#[path = "tls/support.rs"]
mod support;
#[path = "tls/wss.rs"]
mod wss;

use std::sync::Arc;
use std::time::Duration;

use common::{connect_packet, Client};
use magnetite_broker::protocol::{Packet, QoS};
use magnetite_broker::{
    AllowAll, Broker, BrokerConfig, ClientAuth, TlsAcceptorSource, TlsError, TlsSettings, Transport,
};
use rustls::{ClientConfig, RootCertStore};
use support::*;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};

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
