//! MQTT over secure WebSocket: only `/mqtt` is served, the `mqtt` subprotocol is
//! answered, and the client certificate reaches the hooks as `WebSocketTls`.

use std::sync::Arc;
use std::time::Duration;

use super::common::{connect_packet, publish, subscribe};
use super::support::{
    client_config, client_leaf, new_ca, server_leaf, tls_connect, write_files, CertRecorder, V311,
};
use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use magnetite_broker::protocol::{self, Packet, QoS};
use magnetite_broker::{Broker, BrokerConfig, TlsAcceptorSource, TlsSettings, Transport};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

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
