//! The byte stream under a load-test connection: plain TCP or WebSocket (`/mqtt`,
//! subprotocol `mqtt`), split into a read half and a write half so one task can read
//! acknowledgements while another writes.

use std::io;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

pub type Reader = Box<dyn AsyncRead + Send + Unpin>;
pub type Writer = Box<dyn AsyncWrite + Send + Unpin>;

/// `abortive_close`: close with a reset instead of FIN (SO_LINGER 0), so a connect storm
/// leaves no TIME_WAIT sockets whose port reuse would stall later connects in SYN retries.
/// `tls`: the handshake runs before MQTT (and before the WebSocket upgrade for wss).
pub async fn open(
    host: &str,
    port: u16,
    websocket: bool,
    abortive_close: bool,
    tls: Option<&TlsConnector>,
) -> io::Result<(Reader, Writer)> {
    let tcp = TcpStream::connect((host, port)).await?;
    tcp.set_nodelay(true)?;
    if abortive_close {
        // Deprecated because a non-zero linger blocks on drop; zero never blocks.
        #[allow(deprecated)]
        tcp.set_linger(Some(std::time::Duration::ZERO))?;
    }
    match tls {
        None => split(tcp, host, port, websocket).await,
        Some(connector) => {
            let name = crate::tls::server_name(host)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            let stream = connector.connect(name, tcp).await?;
            split(stream, host, port, websocket).await
        }
    }
}

async fn split<S>(stream: S, host: &str, port: u16, websocket: bool) -> io::Result<(Reader, Writer)>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    if !websocket {
        let (r, w) = tokio::io::split(stream);
        return Ok((Box::new(r), Box::new(w)));
    }
    let mut request = format!("ws://{host}:{port}/mqtt")
        .into_client_request()
        .map_err(to_io)?;
    request
        .headers_mut()
        .insert("sec-websocket-protocol", HeaderValue::from_static("mqtt"));
    let (ws, _) = tokio_tungstenite::client_async(request, stream)
        .await
        .map_err(to_io)?;
    let (r, w) = tokio::io::split(magnetite_wsbytes::bytes(ws));
    Ok((Box::new(r), Box::new(w)))
}

fn to_io(err: impl std::error::Error + Send + Sync + 'static) -> io::Error {
    io::Error::other(err)
}
