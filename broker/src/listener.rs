//! Accept loops for MQTT over TCP, WebSocket, TLS and secure WebSocket.
//!
//! Accepting never waits on a client: each socket gets its own task at once (the TLS
//! and WebSocket handshakes and CONNECT run there, under timeouts), so a slow or
//! malicious client cannot stall the accept loop. A connection slot is taken
//! from the broker's semaphore; when none is left the client is still answered — with a
//! CONNACK refusal — instead of being left hanging.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

use crate::broker::{Broker, Shared};
use crate::connection::io::Buffered;
use crate::connection::{serve_connection, Accepted};
use crate::hooks::{Hooks, Transport};
use crate::tls::TlsAcceptorSource;
use crate::ws;

impl<H: Hooks> Broker<H> {
    /// Serves MQTT over TCP on `listener` until shutdown.
    pub async fn serve_tcp(&self, listener: TcpListener) {
        let shared = Arc::clone(&self.shared);
        accept_loop(&shared, listener, move |shared, stream, peer| {
            let accepted = accepted(&shared, stream, peer, Transport::Tcp);
            serve_connection(shared, accepted)
        })
        .await
    }

    /// Serves MQTT over WebSocket (path `/mqtt`) on `listener` until shutdown.
    pub async fn serve_ws(&self, listener: TcpListener) {
        let shared = Arc::clone(&self.shared);
        accept_loop(&shared, listener, move |shared, stream, peer| async move {
            let handshake = async {
                let ws = ws::accept(stream).await.map_err(|err| err.to_string())?;
                Ok((ws, None))
            };
            serve_after_handshake(shared, peer, Transport::WebSocket, "websocket", handshake).await
        })
        .await
    }

    /// Serves MQTT over TLS on `listener` until shutdown. The server certificate is
    /// reloaded from its files while this runs (see [`crate::tls`]); the client's leaf
    /// certificate, if any, reaches the hooks as `ConnectInfo::peer_certificate`.
    pub async fn serve_tls(&self, listener: TcpListener, tls: Arc<TlsAcceptorSource>) {
        let shared = Arc::clone(&self.shared);
        let watcher = Arc::clone(&tls).watch(shared.shutdown.subscribe());
        let accept = accept_loop(&shared, listener, move |shared, stream, peer| {
            let tls = Arc::clone(&tls);
            async move {
                let handshake = async { tls.accept(stream).await.map_err(|err| err.to_string()) };
                serve_after_handshake(shared, peer, Transport::Tls, "TLS", handshake).await
            }
        });
        // Both end at shutdown; joined so the watcher can never cut accepting short.
        tokio::join!(accept, watcher);
    }

    /// Serves MQTT over WebSocket over TLS (path `/mqtt`) on `listener` until shutdown.
    /// Both handshakes share one `connect_timeout`.
    pub async fn serve_wss(&self, listener: TcpListener, tls: Arc<TlsAcceptorSource>) {
        let shared = Arc::clone(&self.shared);
        let watcher = Arc::clone(&tls).watch(shared.shutdown.subscribe());
        let accept = accept_loop(&shared, listener, move |shared, stream, peer| {
            let tls = Arc::clone(&tls);
            async move {
                let handshake = async {
                    let (stream, certificate) = tls
                        .accept(stream)
                        .await
                        .map_err(|err| format!("TLS handshake failed: {err}"))?;
                    let ws = ws::accept(stream)
                        .await
                        .map_err(|err| format!("websocket handshake failed: {err}"))?;
                    Ok((ws, certificate))
                };
                serve_after_handshake(shared, peer, Transport::WebSocketTls, "wss", handshake).await
            }
        });
        // Both end at shutdown; joined so the watcher can never cut accepting short.
        tokio::join!(accept, watcher);
    }
}

/// Runs a connection's `handshake` (TLS, WebSocket or both; it yields the stream and
/// the client's certificate, if any) within `connect_timeout`, then serves MQTT on it.
/// A failed or slow handshake is only a debug line: it costs the accept loop nothing.
/// `name` is the transport in the log's words.
async fn serve_after_handshake<H, S, F>(
    shared: Arc<Shared<H>>,
    peer: SocketAddr,
    transport: Transport,
    name: &str,
    handshake: F,
) where
    H: Hooks,
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    F: std::future::Future<Output = Result<(S, Option<Vec<u8>>), String>>,
{
    match tokio::time::timeout(shared.config.connect_timeout, handshake).await {
        Ok(Ok((stream, certificate))) => {
            let mut accepted = accepted(&shared, Buffered(stream), peer, transport);
            accepted.peer_certificate = certificate;
            serve_connection(shared, accepted).await
        }
        Ok(Err(err)) => tracing::debug!(%peer, error = %err, "{name} handshake failed"),
        Err(_) => tracing::debug!(%peer, "{name} handshake timed out"),
    }
}

fn accepted<H: Hooks, S>(
    shared: &Shared<H>,
    io: S,
    peer: SocketAddr,
    transport: Transport,
) -> Accepted<S> {
    Accepted {
        io,
        peer,
        transport,
        peer_certificate: None,
        permit: Arc::clone(&shared.connection_slots)
            .try_acquire_owned()
            .ok(),
    }
}

async fn accept_loop<H, F, Fut>(shared: &Arc<Shared<H>>, listener: TcpListener, serve: F)
where
    H: Hooks,
    F: Fn(Arc<Shared<H>>, TcpStream, SocketAddr) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let mut shutdown = shared.shutdown.subscribe();
    let inherited = nodelay_on_listener(&listener);
    loop {
        let accepted = tokio::select! {
            _ = shutdown.changed() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                if !inherited {
                    let _ = stream.set_nodelay(true);
                }
                shared.tasks.spawn(serve(Arc::clone(shared), stream, peer));
            }
            Err(err) => {
                // Usually out of file descriptors: back off instead of spinning.
                tracing::warn!(error = %err, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Sets `TCP_NODELAY` on the listening socket; `true` when every socket it accepts has
/// it from there. Linux copies the option to accepted sockets, which saves a
/// `setsockopt` per connect (`bench/connect_floor.sh`); elsewhere, or if the call
/// fails, each accepted socket gets its own.
fn nodelay_on_listener(listener: &TcpListener) -> bool {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let on: libc::c_int = 1;
        // SAFETY: `on` is a live c_int for the duration of the call, its size is passed.
        let rc = unsafe {
            libc::setsockopt(
                listener.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_NODELAY,
                (&on as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        rc == 0
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = listener;
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The saving rests on the kernel: a socket accepted from a listener with
    /// `TCP_NODELAY` has it too, without being asked.
    #[tokio::test]
    async fn accepted_sockets_inherit_nodelay_from_the_listener() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let inherited = nodelay_on_listener(&listener);
        let addr = listener.local_addr().expect("address");
        let client = TcpStream::connect(addr).await.expect("connect");
        let (accepted, _) = listener.accept().await.expect("accept");
        assert_eq!(accepted.nodelay().expect("getsockopt"), inherited);
        assert_eq!(inherited, cfg!(target_os = "linux"));
        drop(client);
    }
}
