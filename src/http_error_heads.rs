//! hyper answers a few errors itself, before any handler runs: a request line over
//! 64 KiB gets `414 URI Too Long`, a head over the buffer limit `431`, a malformed one
//! `400`, all with an empty body. Everything the API answers must be `{"message"}` (see
//! `http_errors`), so [`JsonErrorHeads`] rewrites such a bodiless error head on its way
//! to the socket. The router's own errors always carry `content-type:
//! application/json`, so only hyper's match.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Passes bytes through, except a bodiless 4xx/5xx response head, which gets a JSON
/// `{"message"}` body (the status's reason phrase, lowercased).
pub struct JsonErrorHeads<T> {
    inner: T,
    /// A rewritten head being written, and how many bytes of hyper's to report then.
    pending: Option<(Vec<u8>, usize, usize)>,
}

impl<T> JsonErrorHeads<T> {
    pub fn new(inner: T) -> Self {
        JsonErrorHeads {
            inner,
            pending: None,
        }
    }
}

/// The head with a JSON body, when `buf` is exactly a bodiless error head.
fn with_json_body(buf: &[u8]) -> Option<Vec<u8>> {
    // Cheap refusal first: this runs on every write of every response.
    if !(buf.starts_with(b"HTTP/1.1 4") || buf.starts_with(b"HTTP/1.1 5")) {
        return None;
    }
    let head = std::str::from_utf8(buf).ok()?;
    let status_line = head.strip_prefix("HTTP/1.1 ")?.split("\r\n").next()?;
    let (code, reason) = status_line.split_once(' ')?;
    let is_error = code.len() == 3 && (code.starts_with('4') || code.starts_with('5'));
    let lower = head.to_ascii_lowercase();
    let bodiless = lower.contains("\r\ncontent-length: 0\r\n") && head.ends_with("\r\n\r\n");
    if !is_error || !bodiless || lower.contains("\r\ncontent-type:") {
        return None;
    }
    let body = serde_json::json!({ "message": reason.to_ascii_lowercase() }).to_string();
    let at = lower.find("\r\ncontent-length: 0\r\n")?;
    let rest = &head[at + "\r\ncontent-length: 0".len()..];
    Some(
        format!(
            "{}\r\ncontent-type: application/json\r\ncontent-length: {}{rest}{body}",
            &head[..at],
            body.len()
        )
        .into_bytes(),
    )
}

impl<T: AsyncRead + Unpin> AsyncRead for JsonErrorHeads<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for JsonErrorHeads<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.pending.is_none() {
            match with_json_body(buf) {
                Some(bytes) => this.pending = Some((bytes, 0, buf.len())),
                None => return Pin::new(&mut this.inner).poll_write(cx, buf),
            }
        }
        let Some((bytes, written, reported)) = this.pending.as_mut() else {
            return Poll::Ready(Ok(0));
        };
        while *written < bytes.len() {
            match ready!(Pin::new(&mut this.inner).poll_write(cx, &bytes[*written..])) {
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(n) => *written += n,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        let reported = *reported;
        this.pending = None;
        Poll::Ready(Ok(reported))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bodiless_error_heads_get_a_body() {
        let head = "HTTP/1.1 414 URI Too Long\r\nconnection: close\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        let out = String::from_utf8(with_json_body(head.as_bytes()).unwrap()).unwrap();
        let body = r#"{"message":"uri too long"}"#;
        assert_eq!(
            out,
            format!("HTTP/1.1 414 URI Too Long\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\ndate: x\r\n\r\n{body}", body.len())
        );
        for kept in [
            "HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n",
            "HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: 0\r\n\r\n",
            "HTTP/1.1 400 Bad Request\r\ncontent-length: 12\r\n\r\n{\"a\":1}     ",
            "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n",
        ] {
            assert_eq!(with_json_body(kept.as_bytes()), None, "{kept}");
        }
    }
}
