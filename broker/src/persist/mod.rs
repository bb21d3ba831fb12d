//! Durable broker state: retained messages, persistent sessions (subscriptions, queued
//! and in-flight QoS 1/2 messages with their packet ids, incoming QoS 2 ids), session
//! expiry and pending wills, kept across a restart or a `kill -9`.
//!
//! The engine writes [`Record`]s (key-value changes, see [`record`]) through the
//! [`Store`] trait and never reads a store while running: at start the broker restores
//! itself from the [`Image`] the store was opened with ([`restore`]). QoS 0 messages and
//! clean sessions (expiry 0) never reach the store, and with `--persistence none` there
//! is no store at all: the publish path then pays one `Option` check.
//!
//! Why a journal of checksummed records ([`journal`], [`writer`]) rather than an
//! embedded database. The rule is that a torn write or a corrupt store never
//! stops the broker from starting and keeps everything else; the state is a log
//! (queued, sent, done; set, cleared), written in small records. Measured on
//! 2026-11-30 with the programs in `bench/store-eval/` (BENCHMARKS.md, "Persistence"):
//! - redb 2.6.4 (B-tree, copy-on-write pages): a file cut short by 3 bytes, or to
//!   half, makes `Database::create` *panic* (an assertion that the file is at least
//!   as long as its header's layout), not even return an error; 64 scrambled bytes in one
//!   page refused the open (page 0) or panicked (4 of the 900 pages: index out of
//!   range, `unreachable`). Nothing to keep "everything else" from. A commit of one
//!   100 B value wrote 16.8 KB (168x; 21x for 1 KB values).
//! - fjall 2.11.2 (LSM tree with a write-ahead journal): opens after damage, but recovery
//!   stops at the first bad journal entry *silently*: 64 bytes scrambled a quarter
//!   into the journal left 250 of 1,000 records, with no error and nothing to count.
//!   A synced 100 B write cost 1.5x in the journal (SSTable flush and compaction come
//!   on top).
//! - SQLite (already here through sqlx, async and page-based; not measured here): by
//!   its documentation a damaged page fails queries with `SQLITE_CORRUPT`, and
//!   salvaging the rest is an offline `.recover`.
//!
//! Our journal writes each change once, appended in batches (a frame header per
//! record; compaction rewrites only live state, once the file has doubled), fsyncs
//! exactly when the policy says (group commit under `sync`, an interval under
//! `batched`), and a torn tail or scribbled bytes cost only the damaged records: CRC
//! per frame, resync on the next frame marker, the loss logged and counted on
//! `/metrics` (`tests/persistence.rs`). It adds one small, well-kept dependency
//! (`crc32fast`) instead of a storage engine. Neither crate meets the corrupt-store
//! rule, so the journal stays.
//!
//! Sessions move between instances in the same record format ([`snapshot`]): the
//! cluster's session directory (see [`crate::directory`]) carries a session's records
//! from its old owner to its new one, which rebuilds it with the restore code. The
//! journal itself stays local to each instance.

mod codec;
mod journal;
pub(crate) mod record;
pub(crate) mod restore;
pub(crate) mod snapshot;
mod writer;

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub(crate) use codec::unix_now;
pub(crate) use record::{Image, PersistedSubscription, Record, SessionMeta};
pub use writer::{COMPACT_MIN, MAX_PENDING};

/// `--persistence`: what survives a restart, and how soon a change is on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Nothing is stored (today's in-memory engine).
    None,
    /// Written at once (survives `kill -9`), fsynced every flush interval (a power loss
    /// loses at most that interval).
    Batched(Duration),
    /// A QoS 1/2 PUBLISH is acknowledged only once what it changed is fsynced.
    Sync,
}

/// Counters exported on `/metrics`.
#[derive(Debug, Default)]
pub struct Counters {
    /// Damaged stretches and unreadable records skipped when the store was read.
    pub corrupt_records: AtomicU64,
    /// Failed journal writes or fsyncs (each retried).
    pub write_errors: AtomicU64,
    /// CONNECTs and PUBLISHes refused because the store was failing.
    pub refused: AtomicU64,
}

/// Writes and fsyncs reported by the writer.
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    /// Every record with a ticket up to this one is durable.
    pub durable: u64,
    /// The last write failed (a full disk); new persistent state is refused.
    pub failing: bool,
}

/// A boxed future of the engine's doors (`Store`, `SessionDirectory`).
pub type WaitFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where durable state goes. One implementation today ([`writer::JournalStore`], the
/// data dir); the cluster implements it over NATS KV / PostgreSQL (module comment).
pub(crate) trait Store: Send + Sync + 'static {
    /// Queues a change; returns its ticket. Never blocks on I/O.
    fn append(&self, record: Record) -> u64;
    /// The ticket of the last change appended.
    fn last_ticket(&self) -> u64;
    /// Resolves when the store accepts more changes (bounded queue: backpressure).
    fn wait_for_room(&self) -> WaitFuture<'_, ()>;
    /// Resolves with the store's progress once every change up to `ticket` is durable
    /// or the store is failing (then `durable` may be short of `ticket`). `'static`: a
    /// connection keeps it across the turns of its loop while its acks wait
    /// (pipelining, `connection::pending_acks`), so it must not borrow the store.
    fn wait_durable(&self, ticket: u64) -> WaitFuture<'static, Progress>;
    fn is_failing(&self) -> bool;
    /// Makes everything appended durable and stops (clean shutdown).
    fn close(&self);
}

impl Store for writer::JournalStore {
    fn append(&self, record: Record) -> u64 {
        writer::JournalStore::append(self, record)
    }
    fn last_ticket(&self) -> u64 {
        writer::JournalStore::last_ticket(self)
    }
    fn wait_for_room(&self) -> WaitFuture<'_, ()> {
        Box::pin(writer::JournalStore::wait_for_room(self))
    }
    fn wait_durable(&self, ticket: u64) -> WaitFuture<'static, Progress> {
        Box::pin(writer::JournalStore::wait_durable(self, ticket))
    }
    fn is_failing(&self) -> bool {
        writer::JournalStore::is_failing(self)
    }
    fn close(&self) {
        writer::JournalStore::close(self)
    }
}

/// An opened store and what it held, to build a broker with
/// ([`Broker::assemble`](crate::Broker::assemble)).
pub struct Persistence {
    pub(crate) persist: Persist,
    pub(crate) image: Image,
}

impl Persistence {
    /// Opens (or creates) the journal under `dir` for `policy`; `None` for
    /// [`Policy::None`]. A damaged journal is read as far as it is intact (see
    /// [`Counters::corrupt_records`]); only an unusable `dir` is an error.
    pub fn open(dir: &Path, policy: Policy) -> std::io::Result<Option<Persistence>> {
        let durability = match policy {
            Policy::None => return Ok(None),
            Policy::Batched(every) => writer::Durability::Batched(every),
            Policy::Sync => writer::Durability::Sync,
        };
        let counters = Arc::new(Counters::default());
        let opened = writer::JournalStore::open(dir, durability, Arc::clone(&counters))?;
        Ok(Some(Persistence {
            persist: Persist {
                store: Arc::new(opened.store),
                sync: policy == Policy::Sync,
                counters,
            },
            image: opened.image,
        }))
    }

    pub fn counters(&self) -> Arc<Counters> {
        Arc::clone(&self.persist.counters)
    }
}

/// The engine's handle on its store.
#[derive(Clone)]
pub(crate) struct Persist {
    pub store: Arc<dyn Store>,
    /// `--persistence sync`: acknowledge QoS 1/2 only once durable.
    pub sync: bool,
    pub counters: Arc<Counters>,
}

impl Persist {
    /// Counts a refusal caused by a failing store.
    pub fn refused(&self) {
        self.counters.refused.fetch_add(1, Ordering::Relaxed);
    }
}

/// A session's tie to the store: its persistence id and last written session record.
pub(crate) struct Link {
    pub store: Arc<dyn Store>,
    pub pid: u64,
    pub next_seq: u64,
    pub meta: SessionMeta,
}

impl Link {
    pub fn new(store: Arc<dyn Store>, meta: SessionMeta) -> Link {
        let pid = rand::random::<u64>().max(1);
        let link = Link {
            store,
            pid,
            next_seq: 1,
            meta,
        };
        link.write_meta();
        link
    }

    pub fn write_meta(&self) {
        self.store.append(Record::Session {
            pid: self.pid,
            meta: self.meta.clone(),
        });
    }

    pub fn append(&self, record: Record) {
        self.store.append(record);
    }
}
