//! Accept loops for MQTT over TCP and over WebSocket.
//!
//! Accepting never waits on a client: each socket gets its own task at once (the
//! WebSocket handshake and CONNECT run there, under timeouts). A connection slot is taken
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
