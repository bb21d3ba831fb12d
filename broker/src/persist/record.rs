//! What is stored: a record per change of durable state, and the image they add up to.
//!
//! Records have key-value meaning, so a store only needs "put", "delete" and "delete
//! everything under a session": a retained message is keyed by its (canonical) topic, a
//! session by its persistence id `pid`, and a session's subscriptions, queued messages
//! and QoS 2 packet ids by `pid` plus the subscription text, the queue sequence number
//! or the packet id. That is what lets the cluster put the same records into NATS KV
//! keys or PostgreSQL rows (see [`super::Store`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use bytestring::ByteString;

use crate::message::{Delivery, Message};
use crate::router::SubOptions;
use crate::session::StoredSubscription;

/// A session as stored: who owns it and how long it outlives its connection. The
/// (namespace, client id) pair is the session's key (see `Hooks::session_namespace`),
/// kept whole so a restart never merges two tenants' sessions.
#[derive(Debug, Clone)]
pub struct SessionMeta {
    pub namespace: ByteString,
    pub client_id: ByteString,
    /// Session Expiry Interval, seconds (`u32::MAX`: never).
    pub expiry: u32,
    /// Unix seconds the connection ended; `None` while connected (after a crash the
    /// restart counts as the disconnect).
    pub offline_since: Option<u64>,
    /// The will still to publish and its delay (seconds from `offline_since`).
    pub will: Option<(Arc<Message>, u32)>,
}

/// A subscription with its delivery options.
#[derive(Debug, Clone)]
pub struct PersistedSubscription {
    pub stored: StoredSubscription,
    pub options: SubOptions,
}

/// One change of durable state.
#[derive(Debug, Clone)]
pub enum Record {
    /// Sets (`Some`) or clears the retained message of a canonical topic.
    Retained {
        topic: ByteString,
        message: Option<Arc<Message>>,
    },
    Session {
        pid: u64,
        meta: SessionMeta,
    },
    /// Deletes the session and everything under it.
    SessionGone {
        pid: u64,
    },
    Subscribed {
        pid: u64,
        text: ByteString,
        sub: PersistedSubscription,
    },
    Unsubscribed {
        pid: u64,
        text: ByteString,
    },
    /// A QoS 1/2 delivery entered the session's queue.
    Queued {
        pid: u64,
        seq: u64,
        delivery: Delivery,
    },
    /// A queued delivery was sent with `pkid`; `released` once PUBREC came (PUBREL sent).
    Sent {
        pid: u64,
        seq: u64,
        pkid: u16,
        released: bool,
    },
    /// A queued delivery's flow ended (PUBACK, PUBCOMP, refused, expired).
    Done {
        pid: u64,
        seq: u64,
    },
    /// An incoming QoS 2 packet id was received (`true`) or released by PUBREL (`false`).
    IncomingQos2 {
        pid: u64,
        pkid: u16,
        held: bool,
    },
}

/// A queued delivery and where its flow stands.
#[derive(Debug, Clone)]
pub struct QueuedImage {
    pub delivery: Delivery,
    /// Packet id it was sent with, if it was.
    pub pkid: Option<u16>,
    pub released: bool,
}

/// One session's durable state.
#[derive(Debug, Clone, Default)]
pub struct SessionImage {
    /// `None` for records whose session record was lost or already deleted.
    pub meta: Option<SessionMeta>,
    pub subscriptions: BTreeMap<ByteString, PersistedSubscription>,
    pub queued: BTreeMap<u64, QueuedImage>,
    pub incoming_qos2: BTreeSet<u16>,
}

/// Everything durable, as the records so far add up to. The writer keeps one to
/// rewrite the journal compactly; the broker restores itself from the one read at start.
#[derive(Debug, Default, Clone)]
pub struct Image {
    pub retained: HashMap<ByteString, Arc<Message>>,
    pub sessions: HashMap<u64, SessionImage>,
}

impl Image {
    pub fn apply(&mut self, record: Record) {
        match record {
            Record::Retained { topic, message } => match message {
                Some(message) => {
                    self.retained.insert(topic, message);
                }
                None => {
                    self.retained.remove(&topic);
                }
            },
            Record::Session { pid, meta } => {
                self.sessions.entry(pid).or_default().meta = Some(meta)
            }
            Record::SessionGone { pid } => {
                self.sessions.remove(&pid);
            }
            Record::Subscribed { pid, text, sub } => {
                self.session(pid).subscriptions.insert(text, sub);
            }
            Record::Unsubscribed { pid, text } => {
                self.session(pid).subscriptions.remove(&text);
            }
            Record::Queued { pid, seq, delivery } => {
                let queued = QueuedImage {
                    delivery,
                    pkid: None,
                    released: false,
                };
                self.session(pid).queued.insert(seq, queued);
            }
            Record::Sent {
                pid,
                seq,
                pkid,
                released,
            } => {
                if let Some(queued) = self.session(pid).queued.get_mut(&seq) {
                    queued.pkid = Some(pkid);
                    queued.released = released;
                }
            }
            Record::Done { pid, seq } => {
                self.session(pid).queued.remove(&seq);
            }
            Record::IncomingQos2 { pid, pkid, held } => {
                let ids = &mut self.session(pid).incoming_qos2;
                if held {
                    ids.insert(pkid);
                } else {
                    ids.remove(&pkid);
                }
            }
        }
    }

    fn session(&mut self, pid: u64) -> &mut SessionImage {
        self.sessions.entry(pid).or_default()
    }

    /// Drops sessions whose session record is missing (their other records are strays
    /// of a deleted session, or their session record was damaged).
    pub fn drop_orphans(&mut self) -> usize {
        let before = self.sessions.len();
        self.sessions.retain(|_, s| s.meta.is_some());
        before - self.sessions.len()
    }

    /// The records that rebuild this image, for a compacted journal.
    pub fn records(&self) -> Vec<Record> {
        let mut out = Vec::new();
        for (topic, message) in &self.retained {
            out.push(Record::Retained {
                topic: topic.clone(),
                message: Some(Arc::clone(message)),
            });
        }
        for (&pid, session) in &self.sessions {
            let Some(meta) = &session.meta else { continue };
            out.push(Record::Session {
                pid,
                meta: meta.clone(),
            });
            session_records(pid, session, &mut out);
        }
        out
    }
}

fn session_records(pid: u64, session: &SessionImage, out: &mut Vec<Record>) {
    for (text, sub) in &session.subscriptions {
        out.push(Record::Subscribed {
            pid,
            text: text.clone(),
            sub: sub.clone(),
        });
    }
    for (&seq, queued) in &session.queued {
        out.push(Record::Queued {
            pid,
            seq,
            delivery: queued.delivery.clone(),
        });
        if let Some(pkid) = queued.pkid {
            out.push(Record::Sent {
                pid,
                seq,
                pkid,
                released: queued.released,
            });
        }
    }
    for &pkid in &session.incoming_qos2 {
        out.push(Record::IncomingQos2 {
            pid,
            pkid,
            held: true,
        });
    }
}
