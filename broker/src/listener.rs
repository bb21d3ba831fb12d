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
            let timeout = shared.config.connect_timeout;
            match tokio::time::timeout(timeout, ws::accept(stream)).await {
                Ok(Ok(ws)) => {
                    let accepted = accepted(&shared, Buffered(ws), peer, Transport::WebSocket);
                    serve_connection(shared, accepted).await
                }
                Ok(Err(err)) => tracing::debug!(%peer, error = %err, "websocket handshake failed"),
                Err(_) => tracing::debug!(%peer, "websocket handshake timed out"),
            }
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
                let timeout = shared.config.connect_timeout;
                match tokio::time::timeout(timeout, tls.accept(stream)).await {
                    Ok(Ok((stream, certificate))) => {
                        let mut accepted =
                            accepted(&shared, Buffered(stream), peer, Transport::Tls);
                        accepted.peer_certificate = certificate;
                        serve_connection(shared, accepted).await
                    }
                    Ok(Err(err)) => tracing::debug!(%peer, error = %err, "TLS handshake failed"),
                    Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                }
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
                let timeout = shared.config.connect_timeout;
                let handshakes = async {
                    let (stream, certificate) = tls
                        .accept(stream)
                        .await
                        .map_err(|err| format!("TLS handshake failed: {err}"))?;
                    let ws = ws::accept(stream)
                        .await
                        .map_err(|err| format!("websocket handshake failed: {err}"))?;
                    Ok::<_, String>((ws, certificate))
                };
                match tokio::time::timeout(timeout, handshakes).await {
                    Ok(Ok((ws, certificate))) => {
                        let mut accepted =
                            accepted(&shared, Buffered(ws), peer, Transport::WebSocketTls);
                        accepted.peer_certificate = certificate;
                        serve_connection(shared, accepted).await
                    }
                    Ok(Err(err)) => tracing::debug!(%peer, error = %err, "wss handshake failed"),
                    Err(_) => tracing::debug!(%peer, "wss handshake timed out"),
                }
            }
        });
        // Both end at shutdown; joined so the watcher can never cut accepting short.
        tokio::join!(accept, watcher);
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
    loop {
        let accepted = tokio::select! {
            _ = shutdown.changed() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
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
