//! MQTT over WebSocket (MQTT 5.0 §6) as a byte stream.
//!
//! MQTT packets ride in binary WebSocket messages, and a packet may span messages or
//! share one, so both the broker's listener and the load generator's client want the
//! messages as one continuous `AsyncRead + AsyncWrite` stream. That adapter lives here,
//! once, because neither of them should depend on the other (the broker must not carry a
//! benchmark, the benchmark runs against any broker).
//!
//! The byte handling is tokio-util's: [`StreamReader`] serves reads from the received
//! messages (keeping the unread rest of one between reads), [`CopyToBytes`] and
//! [`SinkWriter`] turn each write into one outgoing message. What is ours is only which
//! frames carry data ([`incoming`]).

use std::io;

use bytes::Bytes;
use futures_util::future::{ready, Ready};
use futures_util::sink::{SinkExt, SinkMapErr, With};
use futures_util::stream::{FilterMap, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;
use tokio_util::io::{CopyToBytes, SinkWriter, StreamReader};

type Incoming = Ready<Option<io::Result<Bytes>>>;
type Outgoing = Ready<io::Result<Message>>;

/// The WebSocket as a stream of received payloads and a sink of payloads to send.
type Frames<S> = With<
    SinkMapErr<
        FilterMap<WebSocketStream<S>, Incoming, fn(Result<Message, WsError>) -> Incoming>,
        fn(WsError) -> io::Error,
    >,
    Message,
    Bytes,
    Outgoing,
    fn(Bytes) -> Outgoing,
>;

/// A WebSocket connection read and written as bytes: each write is sent as one binary
/// message; reads return the payloads of received binary messages in order.
pub type WsBytes<S> = SinkWriter<StreamReader<CopyToBytes<Frames<S>>, Bytes>>;

/// Wraps an established WebSocket (either side of the handshake) as bytes.
pub fn bytes<S>(ws: WebSocketStream<S>) -> WsBytes<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let frames = ws
        .filter_map(incoming as fn(_) -> _)
        .sink_map_err(to_io as fn(_) -> _)
        .with(outgoing as fn(_) -> _);
    SinkWriter::new(StreamReader::new(CopyToBytes::new(frames)))
}

/// Binary messages carry MQTT; a text message is an error (MQTT 5.0 §6: "MUST close the
/// Network Connection"). Ping and pong are answered by tungstenite itself; after a close
/// message tungstenite ends the stream (at once on the server side, on the server's TCP
/// close on the client side, as RFC 6455 §7.1.1 has it), which reads as end of file.
fn incoming(frame: Result<Message, WsError>) -> Incoming {
    ready(match frame {
        Ok(Message::Binary(data)) => Some(Ok(Bytes::from(data))),
        Ok(Message::Text(_)) => Some(Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "MQTT needs binary frames",
        ))),
        Ok(_) => None,
        Err(err) => Some(Err(to_io(err))),
    })
}

fn outgoing(data: Bytes) -> Outgoing {
    ready(Ok(Message::Binary(Vec::from(data))))
}

fn to_io(err: WsError) -> io::Error {
    io::Error::other(err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::SinkExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
    use tokio_tungstenite::tungstenite::protocol::Role;

    async fn pair() -> (WebSocketStream<DuplexStream>, WebSocketStream<DuplexStream>) {
        let (a, b) = tokio::io::duplex(64 * 1024);
        let client = WebSocketStream::from_raw_socket(a, Role::Client, None).await;
        let server = WebSocketStream::from_raw_socket(b, Role::Server, None).await;
        (client, server)
    }

    #[tokio::test]
    async fn packets_split_and_joined_across_messages_read_as_one_stream() {
        let (mut client, server) = pair().await;
        let mut server = bytes(server);
        for part in [&b"ab"[..], b"", b"cdef", b"g"] {
            client.send(Message::Binary(part.to_vec())).await.unwrap();
        }
        client.send(Message::Ping(vec![1])).await.unwrap();
        client.close(None).await.unwrap();
        let mut got = [0u8; 3];
        server.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"abc");
        let mut rest = Vec::new();
        server.read_to_end(&mut rest).await.unwrap();
        assert_eq!(rest, b"defg", "the rest, then end of file at the close");
    }

    #[tokio::test]
    async fn each_write_is_one_binary_message() {
        let (client, mut server) = pair().await;
        let mut client = bytes(client);
        client.write_all(b"hello").await.unwrap();
        client.flush().await.unwrap();
        let got = server.next().await.unwrap().unwrap();
        assert_eq!(got, Message::Binary(b"hello".to_vec()));
    }

    #[tokio::test]
    async fn a_text_message_is_an_error() {
        let (mut client, server) = pair().await;
        let mut server = bytes(server);
        client.send(Message::Text("hi".into())).await.unwrap();
        let err = server.read_u8().await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }
}
