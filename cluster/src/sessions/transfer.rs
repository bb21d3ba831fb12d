//! Asking another instance for a session over NATS, and answering such requests.
//!
//! Request/reply on the owner's subject `magnetite.sessions.<instance>.takeover`
//! (the instance id base64url-encoded: an id may hold dots). The reply carries the
//! session inline when it fits well within the server's max payload; a larger one (a
//! session with thousands of queued messages) is put into the JetStream object store
//! `magnetite_handover`, which chunks it, and the reply names the object; the new owner
//! reads it and deletes it (objects left behind expire after [`OBJECT_MAX_AGE`]).

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, object_store::ObjectStore};
use base64::Engine;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use futures_util::StreamExt;
use magnetite_broker::BrokerHandle;
use tokio::io::AsyncReadExt;

use super::SessionStats;

const BUCKET: &str = "magnetite_handover";
const OBJECT_MAX_AGE: Duration = Duration::from_secs(600);
/// The owner may wait up to 5 s for its connection to let go, and a large session
/// takes a moment to store and read.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

const NOTHING: u8 = 0;
const INLINE: u8 = 1;
const OBJECT: u8 = 2;

/// Why a session could not be brought over.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TransferError {
    #[error("takeover request: {0}")]
    Request(String),
    #[error("handover object: {0}")]
    Object(String),
    #[error("malformed takeover message")]
    Malformed,
}

/// The subject an instance answers takeover requests on.
pub(crate) fn subject(instance: &str) -> String {
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(instance);
    format!("magnetite.sessions.{token}.takeover")
}

/// What a takeover request asks for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct TakeoverRequest {
    pub namespace: String,
    pub client_id: String,
    /// Return the session (resume) or discard it (clean start).
    pub keep: bool,
}

impl TakeoverRequest {
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::new();
        out.put_u8(u8::from(self.keep));
        out.put_u32(self.namespace.len() as u32);
        out.put_slice(self.namespace.as_bytes());
        out.put_slice(self.client_id.as_bytes());
        out.freeze()
    }

    pub fn decode(mut b: Bytes) -> Result<TakeoverRequest, TransferError> {
        let keep = b.try_get_u8().map_err(|_| TransferError::Malformed)? == 1;
        let len = b.try_get_u32().map_err(|_| TransferError::Malformed)? as usize;
        if b.len() < len {
            return Err(TransferError::Malformed);
        }
        let namespace = b.split_to(len);
        let text = |b: &[u8]| {
            std::str::from_utf8(b)
                .map(str::to_string)
                .map_err(|_| TransferError::Malformed)
        };
        Ok(TakeoverRequest {
            namespace: text(&namespace)?,
            client_id: text(&b)?,
            keep,
        })
    }
}

async fn bucket(client: &async_nats::Client) -> Result<ObjectStore, TransferError> {
    let js = jetstream::new(client.clone());
    if let Ok(store) = js.get_object_store(BUCKET).await {
        return Ok(store);
    }
    js.create_object_store(jetstream::object_store::Config {
        bucket: BUCKET.to_string(),
        max_age: OBJECT_MAX_AGE,
        ..Default::default()
    })
    .await
    .map_err(|e| TransferError::Object(e.to_string()))
}

/// Asks `owner` to hand the session over; `None` when it held none.
pub(crate) async fn request(
    client: &async_nats::Client,
    owner: &str,
    ask: &TakeoverRequest,
) -> Result<Option<Bytes>, TransferError> {
    let asking = client.request(subject(owner), ask.encode());
    let reply = tokio::time::timeout(REQUEST_TIMEOUT, asking)
        .await
        .map_err(|_| TransferError::Request("timed out".into()))?
        .map_err(|e| TransferError::Request(e.to_string()))?;
    let mut payload = reply.payload;
    match payload.try_get_u8().map_err(|_| TransferError::Malformed)? {
        NOTHING => Ok(None),
        INLINE => Ok(Some(payload)),
        OBJECT => {
            let name = std::str::from_utf8(&payload).map_err(|_| TransferError::Malformed)?;
            fetch_object(client, name).await.map(Some)
        }
        _ => Err(TransferError::Malformed),
    }
}

async fn fetch_object(client: &async_nats::Client, name: &str) -> Result<Bytes, TransferError> {
    let store = bucket(client).await?;
    let failed = |e: &dyn std::fmt::Display| TransferError::Object(e.to_string());
    let mut object = store.get(name).await.map_err(|e| failed(&e))?;
    let mut bytes = Vec::new();
    object
        .read_to_end(&mut bytes)
        .await
        .map_err(|e| failed(&e))?;
    if let Err(err) = store.delete(name).await {
        tracing::debug!(error = %err, "handover object not deleted (it expires)");
    }
    Ok(Bytes::from(bytes))
}

/// Answers takeover requests for this instance's sessions until the subscription ends.
pub(crate) async fn serve(
    client: async_nats::Client,
    instance: String,
    broker: BrokerHandle,
    stats: Arc<SessionStats>,
) {
    let mut requests = loop {
        match client.subscribe(subject(&instance)).await {
            Ok(requests) => break requests,
            Err(err) => {
                tracing::warn!(error = %err, "session takeover subject: retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    };
    while let Some(message) = requests.next().await {
        let Some(reply_to) = message.reply else {
            continue;
        };
        let (client, broker, stats) = (client.clone(), broker.clone(), Arc::clone(&stats));
        tokio::spawn(async move {
            let reply = answer(&client, &broker, message.payload, &stats).await;
            if let Err(err) = client.publish(reply_to, reply).await {
                stats.count_error();
                tracing::warn!(error = %err, "takeover reply not sent: the session handed over is lost");
            }
        });
    }
}

async fn answer(
    client: &async_nats::Client,
    broker: &BrokerHandle,
    payload: Bytes,
    stats: &SessionStats,
) -> Bytes {
    let Ok(ask) = TakeoverRequest::decode(payload) else {
        stats.count_error();
        return Bytes::from_static(&[NOTHING]);
    };
    let handed = broker
        .hand_over(&ask.namespace, &ask.client_id, ask.keep)
        .await;
    stats.count_handover();
    let Some(session) = handed else {
        return Bytes::from_static(&[NOTHING]);
    };
    let inline_max = (client.server_info().max_payload / 2).max(1024);
    if session.len() <= inline_max {
        let mut out = BytesMut::with_capacity(session.len() + 1);
        out.put_u8(INLINE);
        out.put_slice(&session);
        return out.freeze();
    }
    match store_object(client, session).await {
        Ok(name) => {
            let mut out = BytesMut::with_capacity(name.len() + 1);
            out.put_u8(OBJECT);
            out.put_slice(name.as_bytes());
            out.freeze()
        }
        Err(err) => {
            stats.count_error();
            tracing::warn!(client_id = %ask.client_id, error = %err, "session too large to reply and not stored: lost");
            Bytes::from_static(&[NOTHING])
        }
    }
}

async fn store_object(
    client: &async_nats::Client,
    session: Bytes,
) -> Result<String, TransferError> {
    let store = bucket(client).await?;
    let name = format!("session-{:032x}", rand::random::<u128>());
    let mut reader: &[u8] = &session;
    store
        .put(name.as_str(), &mut reader)
        .await
        .map_err(|e| TransferError::Object(e.to_string()))?;
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_and_junk_is_refused() {
        let ask = TakeoverRequest {
            namespace: "tenant.a".into(),
            client_id: "sensor-1".into(),
            keep: true,
        };
        assert_eq!(TakeoverRequest::decode(ask.encode()).ok(), Some(ask));
        assert!(TakeoverRequest::decode(Bytes::from_static(&[1, 0, 0, 0, 9, b'x'])).is_err());
        assert!(TakeoverRequest::decode(Bytes::new()).is_err());
    }

    #[test]
    fn subjects_hold_one_token_per_instance_whatever_its_id() {
        let s = subject("node.1 *>");
        assert_eq!(s.split('.').count(), 4);
        assert!(!s.contains(' ') && !s.contains('*') && !s.contains('>'));
    }
}
