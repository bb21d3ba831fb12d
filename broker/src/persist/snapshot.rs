//! A session as bytes, to move it to another instance, and its adoption there.
//!
//! The bytes are the session's [`Record`]s in journal frames (the same codec and CRC as
//! the data dir's journal): a session record, its subscriptions with their options,
//! every QoS 1/2 message not yet completed (in flight with its packet id, then queued),
//! and the incoming QoS 2 packet ids. The receiving instance replays them into an
//! [`Image`] and rebuilds the session from it with the same code as a restart
//! ([`super::restore`]), so one format and one rebuild serve both.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use super::codec::{decode, encode_into_frame};
use super::journal::scan;
use super::record::{Image, PersistedSubscription, SessionImage, SessionMeta};
use super::restore::{restore_queue, restore_subscriptions};
use super::{Link, Record};
use crate::broker::Shared;
use crate::hooks::Hooks;
use crate::message::Delivery;
use crate::session::{Session, SessionState};
use crate::sessions::SessionKey;

/// The persistence id inside a snapshot: one session per snapshot, so any constant.
const PID: u64 = 1;

/// The session record and the subscriptions of `state`.
fn head(key: &SessionKey, expiry: u32, state: &SessionState, out: &mut BytesMut) {
    let meta = SessionMeta {
        namespace: key.namespace.clone(),
        client_id: key.client_id.clone(),
        expiry,
        offline_since: None,
        will: None,
    };
    encode_into_frame(&Record::Session { pid: PID, meta }, out);
    for (text, stored) in &state.subscriptions {
        let sub = PersistedSubscription {
            stored: stored.clone(),
            options: stored.options,
        };
        let record = Record::Subscribed {
            pid: PID,
            text: text.clone(),
            sub,
        };
        encode_into_frame(&record, out);
    }
}

/// Only the subscriptions (what the cluster keeps to resume after an instance died).
pub(crate) fn encode_subscriptions(key: &SessionKey, expiry: u32, state: &SessionState) -> Bytes {
    let mut out = BytesMut::new();
    head(key, expiry, state, &mut out);
    out.freeze()
}

/// The whole session: subscriptions, in-flight and queued messages, QoS 2 ids.
pub(crate) fn encode_session(
    key: &SessionKey,
    expiry: u32,
    state: &SessionState,
    queued: Vec<Delivery>,
) -> Bytes {
    let mut out = BytesMut::new();
    head(key, expiry, state, &mut out);
    let mut seq = 0;
    for inflight in &state.inflight {
        seq += 1;
        let delivery = inflight.delivery.clone();
        encode_into_frame(
            &Record::Queued {
                pid: PID,
                seq,
                delivery,
            },
            &mut out,
        );
        let sent = Record::Sent {
            pid: PID,
            seq,
            pkid: inflight.pkid,
            released: inflight.released,
        };
        encode_into_frame(&sent, &mut out);
    }
    for delivery in queued {
        seq += 1;
        encode_into_frame(
            &Record::Queued {
                pid: PID,
                seq,
                delivery,
            },
            &mut out,
        );
    }
    for &pkid in &state.incoming_qos2 {
        let held = Record::IncomingQos2 {
            pid: PID,
            pkid,
            held: true,
        };
        encode_into_frame(&held, &mut out);
    }
    out.freeze()
}

/// Why a snapshot could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("damaged session snapshot ({0} bad stretches)")]
    Damaged(u64),
    #[error("session snapshot record: {0}")]
    Record(#[from] super::codec::CodecError),
    #[error("session snapshot without its session record")]
    NoSession,
}

/// The session a snapshot holds. Damage of any kind refuses the whole snapshot: a
/// session with silently missing messages would be worse than a fresh one.
pub(crate) fn decode_session(bytes: Bytes) -> Result<SessionImage, SnapshotError> {
    let scanned = scan(bytes);
    if scanned.corrupt > 0 {
        return Err(SnapshotError::Damaged(scanned.corrupt));
    }
    let mut image = Image::default();
    for payload in scanned.payloads {
        image.apply(decode(payload)?);
    }
    image
        .sessions
        .remove(&PID)
        .filter(|s| s.meta.is_some())
        .ok_or(SnapshotError::NoSession)
}

/// Installs a session brought from another instance under `key`, replacing any stale
/// local copy (without telling the directory: the ownership is this instance's now).
/// With a local store, the adopted messages are journaled under a fresh persistence id,
/// so a restart of this instance keeps them too.
pub(crate) fn adopt<H: Hooks>(shared: &Arc<Shared<H>>, key: SessionKey, mut image: SessionImage) {
    if let Some(stale) = shared.sessions.get(&key) {
        if let Some(state) = stale.take_state() {
            stale.cancel_timers();
            shared.discard_local(&stale, &state);
        }
    }
    let session = shared.sessions.create(key, shared.config.max_queued);
    let mut state = session.take_state().unwrap_or_default();
    let meta = image.meta.take();
    restore_queue(&session, &mut state, &image);
    restore_subscriptions(shared, &session, &mut state, image);
    if let (Some(persist), Some(meta)) = (&shared.persist, meta) {
        let link = Link::new(Arc::clone(&persist.store), meta);
        journal_adopted(&session, &mut state, link);
    } else {
        forget_sequence_numbers(&session, &mut state);
    }
    session.put_state(state);
}

/// Records the adopted messages in this instance's store, renumbered in its sequence.
fn journal_adopted(session: &Session, state: &mut SessionState, mut link: Link) {
    for inflight in &mut state.inflight {
        let seq = link.next_seq;
        link.next_seq += 1;
        inflight.delivery.stored = seq;
        let queued = Record::Queued {
            pid: link.pid,
            seq,
            delivery: inflight.delivery.clone(),
        };
        link.append(queued);
        link.append(Record::Sent {
            pid: link.pid,
            seq,
            pkid: inflight.pkid,
            released: inflight.released,
        });
    }
    for (text, stored) in &state.subscriptions {
        let sub = PersistedSubscription {
            stored: stored.clone(),
            options: stored.options,
        };
        link.append(Record::Subscribed {
            pid: link.pid,
            text: text.clone(),
            sub,
        });
    }
    for &pkid in &state.incoming_qos2 {
        link.append(Record::IncomingQos2 {
            pid: link.pid,
            pkid,
            held: true,
        });
    }
    let queued = session.take_queued();
    session.replace_link(Some(Box::new(link)));
    for mut delivery in queued {
        session.with_link(|link| {
            delivery.stored = link.next_seq;
            link.next_seq += 1;
            link.append(Record::Queued {
                pid: link.pid,
                seq: delivery.stored,
                delivery: delivery.clone(),
            });
        });
        session.restore_queued(delivery);
    }
}

/// Without a local store, nothing adopted refers to a stored record.
fn forget_sequence_numbers(session: &Session, state: &mut SessionState) {
    for inflight in &mut state.inflight {
        inflight.delivery.stored = 0;
    }
    for mut delivery in session.take_queued() {
        delivery.stored = 0;
        session.restore_queued(delivery);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Message;
    use crate::protocol::{Publish, QoS};
    use crate::router::SubOptions;
    use crate::session::{Inflight, StoredSubscription};
    use bytestring::ByteString;

    fn delivery(payload: &'static str) -> Delivery {
        let publish = Publish {
            dup: false,
            qos: QoS::AtLeastOnce,
            retain: false,
            topic: ByteString::from("t/1"),
            pkid: 0,
            payload: Bytes::from_static(payload.as_bytes()),
            properties: Default::default(),
        };
        Delivery {
            message: Arc::new(Message::from_publish(publish, 0)),
            qos: QoS::AtLeastOnce,
            retain: false,
            subscription_ids: vec![7],
            presented: None,
            stored: 0,
        }
    }

    fn state() -> SessionState {
        let mut state = SessionState::default();
        let options = SubOptions {
            qos: QoS::ExactlyOnce,
            no_local: true,
            retain_as_published: false,
            subscription_id: Some(7),
        };
        let sub = StoredSubscription {
            group: None,
            filter: ByteString::from("t/+"),
            presented: None,
            options,
        };
        state.subscriptions.insert(ByteString::from("t/+"), sub);
        state.inflight.push_back(Inflight {
            pkid: 42,
            delivery: delivery("in flight"),
            released: true,
        });
        state.incoming_qos2.insert(9);
        state
    }

    #[test]
    fn a_session_round_trips_with_its_order_ids_and_options() {
        let key = SessionKey::new("tenant", ByteString::from("sensor-1"));
        let queued = vec![delivery("first"), delivery("second")];
        let bytes = encode_session(&key, 300, &state(), queued);
        let image = decode_session(bytes).expect("decodes");
        let meta = image.meta.expect("meta");
        assert_eq!((&*meta.namespace, &*meta.client_id), ("tenant", "sensor-1"));
        assert_eq!(meta.expiry, 300);
        let sub = &image.subscriptions[&ByteString::from("t/+")];
        assert_eq!(sub.options.qos, QoS::ExactlyOnce);
        assert!(sub.options.no_local);
        let order: Vec<_> = image
            .queued
            .values()
            .map(|q| (q.delivery.message.payload.clone(), q.pkid, q.released))
            .collect();
        assert_eq!(
            order,
            vec![
                (Bytes::from_static(b"in flight"), Some(42), true),
                (Bytes::from_static(b"first"), None, false),
                (Bytes::from_static(b"second"), None, false),
            ]
        );
        assert!(image.incoming_qos2.contains(&9));
    }

    #[test]
    fn a_damaged_snapshot_is_refused_whole() {
        let key = SessionKey::new("", ByteString::from("c"));
        let bytes = encode_session(&key, 1, &state(), vec![delivery("x")]);
        let mut damaged = BytesMut::from(&bytes[..]);
        let middle = damaged.len() / 2;
        damaged[middle] ^= 0xFF;
        assert!(decode_session(damaged.freeze()).is_err());
        assert!(matches!(
            decode_session(Bytes::new()),
            Err(SnapshotError::NoSession)
        ));
    }
}
