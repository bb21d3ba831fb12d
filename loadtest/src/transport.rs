//! The byte stream under a load-test connection: plain TCP or WebSocket (`/mqtt`,
//! subprotocol `mqtt`), split into a read half and a write half so one task can read
//! acknowledgements while another writes.

use std::io;
use std::net::{IpAddr, SocketAddr};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

pub type Reader = Box<dyn AsyncRead + Send + Unpin>;
pub type Writer = Box<dyn AsyncWrite + Send + Unpin>;

/// `abortive_close`: close with a reset instead of FIN (SO_LINGER 0), so a connect storm
/// leaves no TIME_WAIT sockets whose port reuse would stall later connects in SYN retries.
/// `tls`: the handshake runs before MQTT (and before the WebSocket upgrade for wss).
/// `source`: the local address to bind first (`--source-addrs`).
pub async fn open(
    host: &str,
    port: u16,
    source: Option<IpAddr>,
    websocket: bool,
    abortive_close: bool,
    tls: Option<&TlsConnector>,
) -> io::Result<(Reader, Writer)> {
    let tcp = match source {
        None => TcpStream::connect((host, port)).await?,
        Some(source) => connect_from(source, host, port).await?,
    };
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

/// Binds `source` (port chosen at connect time) and connects: each source address
/// then has the whole ephemeral port range towards the broker's address and port.
async fn connect_from(source: IpAddr, host: &str, port: u16) -> io::Result<TcpStream> {
    let peer = tokio::net::lookup_host((host, port))
        .await?
        .find(|a| a.is_ipv4() == source.is_ipv4())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "no address of the source's family",
            )
        })?;
    let socket = match peer {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    bind_address_no_port(&socket);
    socket.bind(SocketAddr::new(source, 0))?;
    socket.connect(peer).await
}

/// IP_BIND_ADDRESS_NO_PORT: without it `bind(ip:0)` reserves a port for that address
/// alone before the destination is known, and the port range runs out sooner. Best
/// effort (older kernels lack it; the bind still works).
fn bind_address_no_port(socket: &TcpSocket) {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    // SAFETY: the descriptor is open (owned by `socket`) and the option value is a
    // c_int that outlives the call.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
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
