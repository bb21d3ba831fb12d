//! The journal store: the embedded single-instance [`Store`](super::Store).
//!
//! Appends go into an in-memory pending list under a short lock; one writer thread (a
//! plain OS thread: blocking file I/O never runs on the runtime's workers) takes the
//! whole list at a time, encodes it, writes it with one `write`, and:
//! - `sync`: `fdatasync`s, then reports the batch durable. Everything appended while an
//!   fsync runs goes into the next batch: one fsync per batch, however many publishers
//!   wait on it (group commit).
//! - `batched`: reports it written at once (the page cache survives a `kill -9` of the
//!   broker) and `fdatasync`s at most every flush interval, so a power loss or kernel
//!   crash loses at most the last interval.
//!
//! The pending list is bounded ([`MAX_PENDING`]): past it, publishers wait
//! ([`JournalStore::wait_for_room`]) — backpressure, never a silent drop. A write or
//! fsync error (a full disk) marks the store failing: the batch stays pending and is
//! retried every interval, the file is cut back to its last whole frame, and the engine
//! refuses new persistent state until a retry succeeds.
//!
//! The writer keeps the [`Image`] the journal adds up to; when the file has grown to
//! twice its last compacted size (and past [`COMPACT_MIN`]) it writes the image to a new
//! file and renames it over the journal, so the file stays proportional to live state.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use parking_lot::{Condvar, Mutex};
use tokio::sync::{watch, Notify};

use super::record::{Image, Record};
use super::{codec, journal, Counters, Progress};

/// Records waiting for the writer before appenders must wait.
pub const MAX_PENDING: usize = 64 * 1024;
/// The journal is not compacted below this size.
pub const COMPACT_MIN: u64 = 64 * 1024 * 1024;
const JOURNAL: &str = "journal.mgj";

/// How the writer makes appends durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// fsync every batch before reporting it durable.
    Sync,
    /// Write every batch at once, fsync at most every interval.
    Batched(Duration),
}

struct Pending {
    records: Vec<Record>,
    /// Ticket of the last record appended.
    last_ticket: u64,
    closing: bool,
}

struct Inner {
    pending: Mutex<Pending>,
    wake: Condvar,
    room: Notify,
    progress: watch::Sender<Progress>,
    counters: Arc<Counters>,
}

pub struct JournalStore {
    inner: Arc<Inner>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// What opening found: the image to restore from.
pub struct Opened {
    pub store: JournalStore,
    pub image: Image,
}

impl JournalStore {
    /// Reads the journal in `dir` (created 0700 if missing), keeping what is intact,
    /// rewrites it compacted and starts the writer. Fails only when `dir` cannot be used.
    pub fn open(
        dir: &Path,
        durability: Durability,
        counters: Arc<Counters>,
    ) -> std::io::Result<Opened> {
        create_private_dir(dir)?;
        let path = dir.join(JOURNAL);
        let image = load(&path, &counters);
        let file = compact(&path, &image).or_else(|err| {
            tracing::warn!(error = %err, path = %path.display(), "cannot rewrite the journal; appending to it as it is");
            open_append(&path)
        })?;
        let size = file.metadata().map_or(0, |m| m.len());
        let (progress, _) = watch::channel(Progress::default());
        let inner = Arc::new(Inner {
            pending: Mutex::new(Pending {
                records: Vec::new(),
                last_ticket: 0,
                closing: false,
            }),
            wake: Condvar::new(),
            room: Notify::new(),
            progress,
            counters,
        });
        let writer = Writer {
            inner: Arc::clone(&inner),
            durability,
            path,
            file,
            size,
            compacted_size: size,
            image: Image::default(),
            backlog: BytesMut::new(),
            backlog_ticket: 0,
            last_sync: Instant::now(),
            unsynced: false,
        };
        let thread = std::thread::Builder::new()
            .name("persist-writer".into())
            .spawn({
                let writer_image = image.clone();
                move || writer.run(writer_image)
            })?;
        let store = JournalStore {
            inner,
            thread: Mutex::new(Some(thread)),
        };
        Ok(Opened { store, image })
    }

    /// Queues `record`; returns its ticket for [`JournalStore::wait_durable`].
    pub fn append(&self, record: Record) -> u64 {
        let mut pending = self.inner.pending.lock();
        pending.records.push(record);
        pending.last_ticket += 1;
        let ticket = pending.last_ticket;
        let first = pending.records.len() == 1;
        drop(pending);
        if first {
            self.inner.wake.notify_one();
        }
        ticket
    }

    /// The ticket of the last record appended so far.
    pub fn last_ticket(&self) -> u64 {
        self.inner.pending.lock().last_ticket
    }

    /// Waits while [`MAX_PENDING`] records wait for the writer.
    pub async fn wait_for_room(&self) {
        loop {
            let room = self.inner.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            if self.inner.pending.lock().records.len() < MAX_PENDING {
                return;
            }
            room.await;
        }
    }

    /// Waits until every record up to `ticket` is durable (per the policy) or the store
    /// is failing (a full disk); returns the progress then. Owns its receiver, so the
    /// future outlives the borrow of the store.
    pub fn wait_durable(&self, ticket: u64) -> impl std::future::Future<Output = Progress> {
        let mut progress = self.inner.progress.subscribe();
        async move {
            match progress
                .wait_for(|p| p.durable >= ticket || p.failing)
                .await
            {
                Ok(reached) => *reached,
                // The writer is gone: nothing more becomes durable.
                Err(_) => Progress {
                    durable: 0,
                    failing: true,
                },
            }
        }
    }

    pub fn is_failing(&self) -> bool {
        self.inner.progress.borrow().failing
    }

    /// Writes and fsyncs everything appended, then stops the writer (clean shutdown).
    pub fn close(&self) {
        self.inner.pending.lock().closing = true;
        self.inner.wake.notify_one();
        if let Some(thread) = self.thread.lock().take() {
            if thread.join().is_err() {
                tracing::warn!("the persistence writer panicked");
            }
        }
    }
}

impl Drop for JournalStore {
    fn drop(&mut self) {
        self.close();
    }
}

struct Writer {
    inner: Arc<Inner>,
    durability: Durability,
    path: PathBuf,
    file: File,
    /// Bytes of whole frames in the file.
    size: u64,
    compacted_size: u64,
    image: Image,
    /// Encoded frames not yet written (a failed write keeps them for the retry).
    backlog: BytesMut,
    backlog_ticket: u64,
    last_sync: Instant,
    unsynced: bool,
}

impl Writer {
    fn run(mut self, image: Image) {
        self.image = image;
        loop {
            let (records, ticket, closing) = self.next_batch();
            self.inner.room.notify_waiters();
            for record in records {
                codec::encode_into_frame(&record, &mut self.backlog);
                self.image.apply(record);
            }
            self.backlog_ticket = self.backlog_ticket.max(ticket);
            self.write_backlog(closing);
            if closing && self.backlog.is_empty() {
                return;
            }
            if closing {
                // A full disk at shutdown: what could not be written is lost, said once.
                tracing::warn!("persistence: shutting down with unwritten state (write failing)");
                return;
            }
            self.maybe_compact();
        }
    }

    /// Waits for records (or, in batched mode, for the next fsync due), then takes them.
    fn next_batch(&mut self) -> (Vec<Record>, u64, bool) {
        let mut pending = self.inner.pending.lock();
        while pending.records.is_empty() && !pending.closing {
            let wait = match (self.durability, self.unsynced || !self.backlog.is_empty()) {
                (Durability::Batched(every), true) => {
                    every.saturating_sub(self.last_sync.elapsed())
                }
                (Durability::Sync, true) => Duration::from_millis(100),
                (_, false) => Duration::from_secs(3600),
            };
            if wait.is_zero() || self.inner.wake.wait_for(&mut pending, wait).timed_out() {
                break;
            }
        }
        let records = std::mem::take(&mut pending.records);
        (records, pending.last_ticket, pending.closing)
    }

    fn write_backlog(&mut self, closing: bool) {
        let sync_now = match self.durability {
            Durability::Sync => true,
            Durability::Batched(every) => closing || self.last_sync.elapsed() >= every,
        };
        if self.backlog.is_empty() && !(sync_now && self.unsynced) {
            return;
        }
        let result = self.write_and_sync(sync_now);
        match result {
            Ok(()) => {
                self.backlog.clear();
                let durable = self.backlog_ticket;
                self.inner.progress.send_modify(|p| {
                    p.durable = p.durable.max(durable);
                    p.failing = false;
                });
            }
            Err(err) => self.fail(&err),
        }
    }

    fn write_and_sync(&mut self, sync_now: bool) -> std::io::Result<()> {
        if !self.backlog.is_empty() {
            let written = self.file.write_all(&self.backlog);
            if let Err(err) = written {
                // Cut a partly written frame off, so the retry appends after whole ones.
                let _ = self.file.set_len(self.size);
                return Err(err);
            }
            self.size += self.backlog.len() as u64;
            self.unsynced = true;
        }
        if sync_now && self.unsynced {
            self.file.sync_data()?;
            self.unsynced = false;
            self.last_sync = Instant::now();
        }
        Ok(())
    }

    fn fail(&mut self, err: &std::io::Error) {
        self.inner
            .counters
            .write_errors
            .fetch_add(1, Ordering::Relaxed);
        // `send_modify`, not `send_replace(.. *borrow())`: the borrow's read lock would
        // still be held when the send takes the write lock (the writer deadlocked there).
        let mut was_failing = false;
        self.inner.progress.send_modify(|p| {
            was_failing = p.failing;
            p.failing = true;
        });
        if !was_failing {
            tracing::error!(error = %err, path = %self.path.display(), "persistence: cannot write the journal; refusing new persistent state until it can");
        }
        // Retry after a pause rather than spinning on a full disk.
        std::thread::sleep(Duration::from_millis(100));
    }

    fn maybe_compact(&mut self) {
        if self.size < COMPACT_MIN.max(self.compacted_size * 2) || !self.backlog.is_empty() {
            return;
        }
        match compact(&self.path, &self.image) {
            Ok(file) => {
                self.file = file;
                self.size = self.file.metadata().map_or(0, |m| m.len());
                self.compacted_size = self.size;
                self.unsynced = false;
            }
            Err(err) => {
                tracing::warn!(error = %err, "persistence: compaction failed; journal keeps growing");
                self.compacted_size = self.size;
            }
        }
    }
}

/// Reads what is intact of the journal at `path` into an image, counting damage.
fn load(path: &Path, counters: &Counters) -> Image {
    let mut image = Image::default();
    let data = match std::fs::read(path) {
        Ok(data) => Bytes::from(data),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return image,
        Err(err) => {
            tracing::error!(error = %err, path = %path.display(), "persistence: journal unreadable; starting without persisted state");
            counters.corrupt_records.fetch_add(1, Ordering::Relaxed);
            return image;
        }
    };
    let scan = journal::scan(data);
    let mut corrupt = scan.corrupt;
    let mut read = 0u64;
    for payload in scan.payloads {
        match codec::decode(payload) {
            Ok(record) => {
                image.apply(record);
                read += 1;
            }
            Err(err) => {
                tracing::warn!(error = %err, "persistence: skipping an unreadable record");
                corrupt += 1;
            }
        }
    }
    let orphans = image.drop_orphans();
    if corrupt > 0 {
        tracing::warn!(
            damaged_regions = corrupt,
            records_read = read,
            sessions_without_record = orphans,
            path = %path.display(),
            "persistence: journal damaged; kept everything intact"
        );
    }
    counters
        .corrupt_records
        .fetch_add(corrupt, Ordering::Relaxed);
    tracing::info!(
        retained = image.retained.len(),
        sessions = image.sessions.len(),
        "persistence: state loaded"
    );
    image
}

/// Writes `image` to a new file, fsyncs it and renames it over `path`; returns the new
/// journal opened for appending.
fn compact(path: &Path, image: &Image) -> std::io::Result<File> {
    let tmp = path.with_extension("tmp");
    let mut out = BytesMut::new();
    for record in image.records() {
        codec::encode_into_frame(&record, &mut out);
    }
    {
        let mut file = private_file(&tmp, true)?;
        file.write_all(&out)?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    open_append(path)
}

fn open_append(path: &Path) -> std::io::Result<File> {
    private_file(path, false)
}

fn private_file(path: &Path, truncate: bool) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options
        .create(true)
        .append(!truncate)
        .write(true)
        .truncate(truncate);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}
