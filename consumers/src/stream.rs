//! A consumer as a live stream: one task fetches like a batch caller would (so access is
//! re-checked on every fetch) and hands the deliveries to the connection, as
//! Server-Sent Events or WebSocket frames, with keep-alives in between.
//!
//! The task wakes when the horizon moves (a new event may be in scope) and at least
//! every [`recheck`] (redeliveries fall due, access may have been revoked). When the
//! owner can no longer read the target, the stream gets an end item and closes.

use axum::extract::ws::{Message, WebSocket};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use magnetite_auth::access::Caller;
use serde_json::{json, Value};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::slots::StreamSlot;
use crate::ConsumerService;

/// Deliveries per fetch of a stream.
const STREAM_BATCH: i64 = 100;

/// What the fetching task hands to the connection.
#[derive(Debug)]
pub enum Item {
    /// One delivery (`position`, `stream`, `occurred_at`, `event`, `reply`).
    Delivery(Value),
    /// The stream ends (access revoked, consumer deleted or expired): why.
    End(String),
}

/// How long the task sleeps at most between fetches: the keep-alive, the ack-wait and
/// 5 s, whichever is shortest (at least 50 ms).
pub fn recheck(keepalive: Duration, ack_wait: Duration) -> Duration {
    keepalive
        .min(ack_wait)
        .min(Duration::from_secs(5))
        .max(Duration::from_millis(50))
}

/// Spawns the fetching task for `caller`'s consumer `id`; it ends with the receiver,
/// and gives back the stream's `slot` then.
pub fn spawn(
    svc: Arc<ConsumerService>,
    caller: Caller,
    id: String,
    slot: StreamSlot,
) -> mpsc::Receiver<Item> {
    let (tx, rx) = mpsc::channel(STREAM_BATCH as usize);
    tokio::spawn(async move {
        let _slot = slot;
        let mut horizon = svc.horizon.clone();
        let pause = recheck(svc.config.keepalive, svc.config.ack_wait);
        loop {
            let batch = match svc.fetch(&caller, &id, STREAM_BATCH).await {
                Ok(b) => b,
                Err(e) => {
                    let _ = tx.send(Item::End(e.to_string())).await;
                    return;
                }
            };
            let full = batch.len() as i64 == STREAM_BATCH;
            for d in batch {
                if tx.send(Item::Delivery(d)).await.is_err() {
                    return;
                }
            }
            if full {
                continue;
            }
            tokio::select! {
                _ = horizon.changed() => {}
                _ = tokio::time::sleep(pause) => {}
                _ = tx.closed() => return,
            }
        }
    });
    rx
}

/// The stream as Server-Sent Events: each delivery a `data:` JSON line; the end an
/// `event: end` with `{"message"}`; a `: keep-alive` comment every keep-alive interval.
pub fn sse(rx: mpsc::Receiver<Item>, keepalive: Duration) -> Response {
    let events = ReceiverStream::new(rx).map(|item| {
        Ok::<_, Infallible>(match item {
            Item::Delivery(v) => SseEvent::default().data(v.to_string()),
            Item::End(m) => SseEvent::default()
                .event("end")
                .data(json!({ "message": m }).to_string()),
        })
    });
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(keepalive).text("keep-alive"))
        .into_response()
}

/// The stream over a WebSocket: each delivery a text frame of JSON, a ping every
/// keep-alive interval; the end a close frame (1008, policy) with the reason. Frames
/// from the client are read only to notice that it closed.
pub async fn websocket(socket: WebSocket, mut rx: mpsc::Receiver<Item>, keepalive: Duration) {
    let (mut out, mut incoming) = socket.split();
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + keepalive, keepalive);
    loop {
        let frame = tokio::select! {
            item = rx.recv() => match item {
                Some(Item::Delivery(v)) => Message::Text(v.to_string()),
                Some(Item::End(reason)) => {
                    let close = axum::extract::ws::CloseFrame { code: 1008, reason: reason.into() };
                    let _ = out.send(Message::Close(Some(close))).await;
                    return;
                }
                None => return,
            },
            _ = ticks.tick() => Message::Ping(b"keep-alive".to_vec()),
            msg = incoming.next() => match msg {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => continue,
            },
        };
        if out.send(frame).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recheck_is_the_shortest_wait_within_bounds() {
        let s = Duration::from_secs;
        assert_eq!(recheck(s(30), s(30)), s(5));
        assert_eq!(recheck(s(1), s(30)), s(1));
        assert_eq!(
            recheck(s(30), Duration::from_millis(1)),
            Duration::from_millis(50)
        );
    }
}
