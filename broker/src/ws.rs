//! MQTT over WebSocket: the handshake (path `/mqtt`, subprotocol `mqtt`); the byte
//! stream the connection task reads and writes is `magnetite_wsbytes`' (shared with the
//! load generator).

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};

pub const PATH: &str = "/mqtt";

/// Accepts the WebSocket upgrade on `/mqtt`, agreeing on the `mqtt` subprotocol when
/// the client offers it (MQTT 5.0 §6).
/// Generic over the stream so the same upgrade runs over plain TCP and over TLS (wss).
#[allow(clippy::result_large_err)] // the callback's signature is tungstenite's
pub async fn accept<S>(stream: S) -> Result<WsStream<S>, tokio_tungstenite::tungstenite::Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let callback = |request: &Request, mut response: Response| -> Result<Response, ErrorResponse> {
        if request.uri().path() != PATH {
            let mut refusal = ErrorResponse::new(Some(format!("MQTT is served on {PATH}")));
            *refusal.status_mut() = StatusCode::NOT_FOUND;
            return Err(refusal);
        }
        let offers_mqtt = request
            .headers()
            .get_all("sec-websocket-protocol")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|p| p.trim().eq_ignore_ascii_case("mqtt"));
        if offers_mqtt {
            response
                .headers_mut()
                .insert("sec-websocket-protocol", HeaderValue::from_static("mqtt"));
        }
        Ok(response)
    };
    let ws = tokio_tungstenite::accept_hdr_async(stream, callback).await?;
    Ok(magnetite_wsbytes::bytes(ws))
}

/// A WebSocket connection read and written as MQTT bytes.
pub type WsStream<S = TcpStream> = magnetite_wsbytes::WsBytes<S>;
