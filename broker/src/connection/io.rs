//! The byte stream under a connection, and how it reads without holding a buffer.
//!
//! Idle connections should cost almost nothing, so a TCP connection waits for
//! readiness first and only then reserves a read buffer; after the bytes are decoded the
//! buffer is released. Other transports (WebSocket) read straight into a buffer.

use std::io;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::TcpStream;

/// The first read of a burst; a read that fills the buffer doubles the next one.
pub const READ_CHUNK: usize = 4096;
const MAX_READ_CHUNK: usize = 64 * 1024;

pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    /// Reads whatever is available into `buf` (growing it as needed); 0 means EOF.
    /// Cancel safe: bytes are either in `buf` or still in the socket.
    fn read_into(
        &mut self,
        buf: &mut BytesMut,
    ) -> impl std::future::Future<Output = io::Result<usize>> + Send;

    /// Whether an idle connection on this stream may park (give up its task, see
    /// `park`): only if readiness can be awaited with a bare waker, no future.
    const PARKS: bool = false;

    /// Registers `cx`'s waker for read readiness; true if readable (or failed) now.
    /// Only called when [`Io::PARKS`].
    fn register_readable(&self, _cx: &mut std::task::Context<'_>) -> bool {
        true
    }
}

fn reserve_for_read(buf: &mut BytesMut) {
    let want = if buf.capacity() >= READ_CHUNK && buf.len() == buf.capacity() {
        (buf.capacity() * 2).min(MAX_READ_CHUNK)
    } else {
        READ_CHUNK
    };
    if buf.capacity() - buf.len() < want / 2 {
        buf.reserve(want);
    }
}

impl Io for TcpStream {
    const PARKS: bool = true;

    fn register_readable(&self, cx: &mut std::task::Context<'_>) -> bool {
        self.poll_read_ready(cx).is_ready()
    }

    async fn read_into(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        loop {
            // `poll_read_ready` keeps the waker in the socket's registration; the
            // `readable()` future would carry a 152-byte waiter in every idle task.
            std::future::poll_fn(|cx| self.poll_read_ready(cx)).await?;
            reserve_for_read(buf);
            match self.try_read_buf(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // Readiness was stale: give the buffer back before going idle.
                    if buf.is_empty() {
                        *buf = BytesMut::new();
                    }
                    continue;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// Any other stream (WebSocket adapter, TLS): read into a buffer directly.
pub struct Buffered<S>(pub S);

impl<S: AsyncRead + Unpin> AsyncRead for Buffered<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Buffered<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for Buffered<S> {
    async fn read_into(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        reserve_for_read(buf);
        self.0.read_buf(buf).await
    }
}
