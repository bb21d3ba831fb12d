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
use crate::session::SessionState;
use crate::sessions::SessionKey;

/// The persistence id inside a snapshot: one session per snapshot, so any constant.
const PID: u64 = 1;

/// The session record of a snapshot.
fn meta_record(key: &SessionKey, expiry: u32) -> Record {
    let meta = SessionMeta {
        namespace: key.namespace.clone(),
        client_id: key.client_id.clone(),
        expiry,
        offline_since: None,
        will: None,
    };
    Record::Session { pid: PID, meta }
}

fn subscription_records(pid: u64, state: &SessionState, emit: &mut impl FnMut(Record)) {
    for (text, stored) in &state.subscriptions {
        let sub = PersistedSubscription {
            stored: stored.clone(),
            options: stored.options,
        };
        emit(Record::Subscribed {
            pid,
            text: text.clone(),
            sub,
        });
    }
}

/// The records of a session's state under `pid`: subscriptions, in-flight messages
/// (queued, then sent with their packet id), queued messages, incoming QoS 2 ids. The
/// messages are numbered from `first_seq` in that order (see [`renumber`]).
fn state_records(
    pid: u64,
    state: &SessionState,
    queued: &[Delivery],
    first_seq: u64,
    emit: &mut impl FnMut(Record),
) {
    subscription_records(pid, state, emit);
    let inflight = state.inflight.iter().map(|m| (&m.delivery, Some(m)));
    let waiting = queued.iter().map(|d| (d, None));
    for (seq, (delivery, sent)) in (first_seq..).zip(inflight.chain(waiting)) {
        let delivery = delivery.clone();
        emit(Record::Queued { pid, seq, delivery });
        if let Some(m) = sent {
            let (pkid, released) = (m.pkid, m.released);
            emit(Record::Sent {
                pid,
                seq,
                pkid,
                released,
            });
        }
    }
    for &pkid in state.incoming_qos2.iter() {
        emit(Record::IncomingQos2 {
            pid,
            pkid,
            held: true,
        });
    }
}

/// Gives the messages of `state` and `queued` the sequence numbers [`state_records`]
/// writes them under (from `first_seq`), or 0 (not stored) for `None`. Returns how many.
fn renumber(state: &mut SessionState, queued: &mut [Delivery], first_seq: Option<u64>) -> u64 {
    let inflight = state.inflight.iter_mut().map(|m| &mut m.delivery);
    let mut count = 0;
    for delivery in inflight.chain(queued.iter_mut()) {
        delivery.stored = first_seq.map_or(0, |first| first + count);
        count += 1;
    }
    count
}

/// Only the subscriptions (what the cluster keeps to resume after an instance died).
pub(crate) fn encode_subscriptions(key: &SessionKey, expiry: u32, state: &SessionState) -> Bytes {
    let mut out = BytesMut::new();
    let mut emit = |record: Record| encode_into_frame(&record, &mut out);
    emit(meta_record(key, expiry));
    subscription_records(PID, state, &mut emit);
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
    let mut emit = |record: Record| encode_into_frame(&record, &mut out);
    emit(meta_record(key, expiry));
    state_records(PID, state, &queued, 1, &mut emit);
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
    let mut queued = session.take_queued();
    match (&shared.persist, meta) {
        (Some(persist), Some(meta)) => {
            let mut link = Link::new(Arc::clone(&persist.store), meta);
            let first = link.next_seq;
            link.next_seq += renumber(&mut state, &mut queued, Some(first));
            state_records(link.pid, &state, &queued, first, &mut |r| {
                link.append(r);
            });
            session.replace_link(Some(Box::new(link)));
        }
        _ => {
            renumber(&mut state, &mut queued, None);
        }
    }
    for delivery in queued {
        session.restore_queued(delivery);
    }
    session.put_state(state);
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
