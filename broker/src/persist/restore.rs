//! Start-up: the broker takes back what the store held.
//!
//! Time the broker was down counts: a session whose expiry passed while it was down is
//! deleted (its pending will, if any, is published, as the will delay never exceeds the
//! expiry), and a pending will whose delay passed is published at once, after every
//! session and retained message is back so its subscribers receive it. A session that
//! was connected when the broker died is treated as disconnected at this start (its
//! connection was lost): its will is scheduled like after any lost connection.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use super::record::{Image, SessionImage};
use super::{unix_now, Link, Record};
use crate::broker::Shared;
use crate::hooks::Hooks;
use crate::message::Message;
use crate::router::Entry;
use crate::session::{Inflight, Session, SessionState};
use crate::sessions::SessionKey;

pub(crate) fn restore<H: Hooks>(shared: &Arc<Shared<H>>, image: Image) {
    let now = Instant::now();
    for message in image.retained.into_values() {
        if !message.is_expired(now) {
            shared.retained.restore(message);
        }
    }
    let mut due_wills = Vec::new();
    for (pid, session) in image.sessions {
        if let Some(will) = restore_session(shared, pid, session) {
            due_wills.push(will);
        }
    }
    for will in due_wills {
        shared.publish_detached(will);
    }
}

/// Rebuilds one session; returns its will if that is due now.
fn restore_session<H: Hooks>(
    shared: &Arc<Shared<H>>,
    pid: u64,
    image: SessionImage,
) -> Option<Arc<Message>> {
    let persist = shared.persist.as_ref()?;
    let mut meta = image.meta.clone()?;
    let now = unix_now();
    let since = meta.offline_since.unwrap_or(now).min(now);
    meta.offline_since = Some(since);
    let down = now - since;
    if meta.expiry != u32::MAX && down >= u64::from(meta.expiry) {
        persist.store.append(Record::SessionGone { pid });
        return meta.will.take().map(|(will, _)| will);
    }
    let key = SessionKey::new(&meta.namespace, meta.client_id.clone());
    let session = shared.sessions.create(key, shared.config.max_queued);
    let mut state = session.take_state().unwrap_or_default();
    let next_seq = restore_queue(&session, &mut state, &image);
    restore_subscriptions(shared, &session, &mut state, image);
    session.put_state(state);
    let mut due = None;
    if let Some((will, delay)) = meta.will.take() {
        let left = (since + u64::from(delay)).saturating_sub(now);
        if left == 0 {
            due = Some(will);
        } else {
            meta.will = Some((Arc::clone(&will), delay));
            crate::will::schedule(shared, &session, will, left as u32);
        }
    }
    let link = Link {
        store: Arc::clone(&persist.store),
        pid,
        next_seq,
        meta,
    };
    link.write_meta();
    let expiry = link.meta.expiry;
    session.replace_link(Some(Box::new(link)));
    if expiry != u32::MAX {
        shared.schedule_expiry(&session, expiry - down as u32);
    }
    due
}

/// In-flight messages (sent, with their packet ids) back into the state, the rest into
/// the queue, in their original order. Returns the next free sequence number.
pub(super) fn restore_queue(
    session: &Session,
    state: &mut SessionState,
    image: &SessionImage,
) -> u64 {
    let mut next_seq = 1;
    for (&seq, queued) in &image.queued {
        next_seq = seq + 1;
        let mut delivery = queued.delivery.clone();
        delivery.stored = seq;
        match queued.pkid {
            Some(pkid) => {
                state.next_pkid = state.next_pkid.max(pkid);
                state.inflight.push_back(Inflight {
                    pkid,
                    delivery,
                    released: queued.released,
                });
            }
            None => session.restore_queued(delivery),
        }
    }
    state.incoming_qos2 = image.incoming_qos2.iter().copied().collect();
    next_seq
}

pub(super) fn restore_subscriptions<H: Hooks>(
    shared: &Shared<H>,
    session: &Arc<Session>,
    state: &mut SessionState,
    image: SessionImage,
) {
    for (text, sub) in image.subscriptions {
        let stored = sub.stored;
        let entry = Entry {
            session: Arc::clone(session),
            options: sub.options,
            presented: stored.presented.clone(),
        };
        let existed = shared.add_subscription(&stored.filter, stored.group.as_deref(), entry);
        if !existed {
            session.subscription_count.fetch_add(1, Ordering::Relaxed);
        }
        state.subscriptions.insert(text, stored);
    }
}
