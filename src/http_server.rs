//! The HTTP API's accept loop, with the bounds `axum::serve` does not offer.
//!
//! The HTTP port is open to anyone and shares the process's file descriptors with MQTT,
//! so a peer without credentials must not be able to hold sockets for long or in bulk:
//! - at most `max_connections` connections at once; more are answered `503` (a best-effort
//!   write that never waits) and closed at once, and counted on `/metrics`;
//! - a request's headers must arrive within `header_read_timeout` (hyper starts that timer
//!   whenever the connection waits for a request, so it also ends idle keep-alives);
//! - a connection that moves no byte either way for `idle_timeout` is closed (a body
//!   dribbled after its headers, a response the client does not read).
//!
//! It also hands handlers the peer address (`ConnectInfo<SocketAddr>`, used to throttle
//! password-reset requests per source address) and gives hyper's own bodiless error
//! answers a JSON body ([`JsonErrorHeads`]).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use std::net::SocketAddr;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tower::ServiceExt;

use crate::http_error_heads::JsonErrorHeads;

/// The HTTP settings of `serve`.
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

/// Connection counters for `/metrics`.
#[derive(Debug, Default)]
pub struct HttpStats {
    open: AtomicU64,
    refused: AtomicU64,
}

impl prometheus_client::collector::Collector for HttpStats {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let open = ConstGauge::new(self.open.load(Ordering::Relaxed));
        open.encode(encoder.encode_descriptor(
            "magnetite_http_connections",
            "Open HTTP API connections.",
            None,
            MetricType::Gauge,
        )?)?;
        let refused = ConstCounter::new(self.refused.load(Ordering::Relaxed));
        refused.encode(encoder.encode_descriptor(
            "magnetite_http_connections_refused",
            "HTTP connections closed at once because --max-http-connections were open.",
            None,
            MetricType::Counter,
        )?)
    }
}

/// What an over-the-limit connection is told (if its socket takes it without waiting).
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
content-length: 39\r\nconnection: close\r\n\r\n{\"message\":\"too many HTTP connections\"}";

/// Serves `app` on `listener` until `shutdown` completes, then lets open connections
/// finish their current request (at most 5 s).
pub async fn serve(
    listener: TcpListener,
    app: axum::Router,
    limits: HttpLimits,
    stats: Arc<HttpStats>,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(err) => {
                // Out of file descriptors, typically: let some close before retrying.
                tracing::warn!(error = %err, "HTTP accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
            stats.refused.fetch_add(1, Ordering::Relaxed);
            let _ = stream.try_write(BUSY);
            continue;
        };
        let connection = Connection {
            app: app.clone(),
            limits,
            stats: Arc::clone(&stats),
            stop: stop_rx.clone(),
            peer,
            _permit: permit,
        };
        tokio::spawn(connection.serve(stream));
    }
    let _ = stop_tx.send(true);
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(Duration::from_secs(5), slots.acquire_many(all)).await;
}

/// One accepted socket and what it needs; holds its slot until it ends.
struct Connection {
    app: axum::Router,
    limits: HttpLimits,
    stats: Arc<HttpStats>,
    stop: watch::Receiver<bool>,
    peer: SocketAddr,
    _permit: OwnedSemaphorePermit,
}

impl Connection {
    async fn serve(mut self, stream: TcpStream) {
        self.stats.open.fetch_add(1, Ordering::Relaxed);
        let activity = Arc::new(Activity::new());
        let io = TokioIo::new(JsonErrorHeads::new(Tracked {
            inner: stream,
            activity: Arc::clone(&activity),
        }));
        let (app, peer) = (self.app.clone(), self.peer);
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            app.clone().oneshot(req.map(axum::body::Body::new))
        });
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(self.limits.header_read_timeout);
        // Upgrades: the consumer streams' WebSocket (`/consumers/{id}/ws`) takes the
        // connection over once the handler has authenticated the caller.
        let conn = builder.serve_connection(io, service).with_upgrades();
        tokio::pin!(conn);
        let idle = self.limits.idle_timeout;
        let mut stopping = false;
        loop {
            tokio::select! {
                _ = conn.as_mut() => break,
                _ = self.stop.changed(), if !stopping => {
                    stopping = true;
                    conn.as_mut().graceful_shutdown();
                }
                _ = tokio::time::sleep_until(activity.last() + idle) => {
                    if activity.last().elapsed() >= idle {
                        break;
                    }
                }
            }
        }
        self.stats.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// When bytes last moved on a connection (milliseconds after it opened).
struct Activity {
    opened: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Activity {
            opened: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.opened + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }
}

/// A socket that notes every byte moved in [`Activity`].
struct Tracked {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
