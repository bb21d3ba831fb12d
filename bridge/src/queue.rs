//! The store-and-forward queue of one bridge: a log of checksummed records in segment
//! files under `<data dir>/bridge/<name>/`, read in order by the link and released as
//! the upstream acknowledges.
//!
//! Why a segment log rather than SQLite through `db/`: the queue is a FIFO whose every
//! write sits on the publisher's path before its PUBACK. Appending a record is one
//! `write(2)` to the page cache (a few microseconds, no lock shared with the platform's
//! database writers); releasing is a number in the `acked` file, and whole segments are
//! deleted once all their records are released. A table would pay an insert and a
//! delete per message and share SQLite's one write lock with everything else.
//!
//! Durability: an appended record is in the page cache when [`Queue::append`] returns,
//! so a `kill -9` of the process loses nothing; [`Queue::sync`] (called by the link
//! once a second) bounds what a power loss may take. The release mark is written
//! without fsync: after a crash a few released messages may be sent again, which is
//! QoS 1's at-least-once.
//!
//! Reading: the link takes the records appended last from memory ([`crate::tail`]);
//! only a link that fell behind (or a restart) reads records back from the segments.
//!
//! A record: `len u32 | crc32(body) u32 | body` ([`crate::record`] has the body's two
//! formats, with and without 5.0 properties). A short or damaged record ends its
//! segment for the reader (a torn tail after a crash); the writer always starts a fresh
//! segment when opened.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use magnetite_protocol::QoS;
use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::config::QueueLimits;
use crate::pubrec::PubRecLog;
pub(crate) use crate::record::{decode, encode, BODY_FIXED, HEADER};
pub use crate::record::{NewRecord, Record};
use crate::stats::BridgeStats;
use crate::tail::Tail;

/// A segment is closed and a new one started past this size.
const SEGMENT_BYTES: u64 = 8 * 1024 * 1024;
const ACKED_FILE: &str = "acked";

pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The open segment and the list of segments (by their first sequence number).
struct Writer {
    file: File,
    /// Closed segments not fsynced yet: [`Queue::sync`] does it, off the publish path.
    closed: Vec<File>,
    written: u64,
    next_seq: u64,
    segments: VecDeque<u64>,
    buf: Vec<u8>,
    /// The records appended last, read by the link from memory ([`crate::tail`]).
    tail: Tail,
}

pub struct Queue {
    dir: PathBuf,
    limits: QueueLimits,
    writer: Mutex<Writer>,
    /// The last sequence number whose record is completely written.
    last_seq: AtomicU64,
    /// Everything up to here was acknowledged upstream (or dropped by age).
    released: AtomicU64,
    acked_file: File,
    /// The QoS 2 messages the upstream answered with PUBREC ([`crate::pubrec`]).
    pubrecs: Mutex<PubRecLog>,
    appended: Notify,
    stats: Arc<BridgeStats>,
}

/// Where the link reads next.
pub struct Cursor {
    segment: u64,
    file: Option<File>,
    offset: u64,
    next_seq: u64,
}

/// What [`Queue::append`] did with a message.
#[derive(Debug, PartialEq, Eq)]
pub enum Appended {
    Queued(u64),
    /// The queue is at `--bridge-queue-max-bytes`.
    Full,
}

fn segment_path(dir: &Path, first: u64) -> PathBuf {
    dir.join(format!("{first:020}.seg"))
}

fn create_segment(dir: &Path, first: u64) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(segment_path(dir, first))
}

impl Queue {
    /// Opens (or creates) the queue in `dir`: counts what is still unreleased and starts
    /// a fresh segment.
    pub fn open(dir: &Path, limits: QueueLimits, stats: Arc<BridgeStats>) -> io::Result<Queue> {
        std::fs::create_dir_all(dir)?;
        let acked_file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join(ACKED_FILE))?;
        let mut mark = [0u8; 8];
        let released = match acked_file.read_exact_at(&mut mark, 0) {
            Ok(()) => u64::from_le_bytes(mark),
            Err(_) => 0,
        };
        let mut segments = list_segments(dir)?;
        let mut last_seq = released;
        for &first in &segments {
            for record in SegmentRecords::open(&segment_path(dir, first))? {
                last_seq = last_seq.max(record.seq);
                if record.seq > released {
                    stats.queued(record.size(), record.written_ms);
                }
            }
        }
        let next_seq = last_seq + 1;
        segments.push_back(next_seq);
        let file = create_segment(dir, next_seq)?;
        let queue = Queue {
            dir: dir.to_path_buf(),
            limits,
            writer: Mutex::new(Writer {
                file,
                closed: Vec::new(),
                written: 0,
                next_seq,
                segments,
                buf: Vec::new(),
                tail: Tail::default(),
            }),
            last_seq: AtomicU64::new(last_seq),
            released: AtomicU64::new(released),
            acked_file,
            pubrecs: Mutex::new(PubRecLog::open(dir, released)?),
            appended: Notify::new(),
            stats,
        };
        queue.delete_released_segments();
        Ok(queue)
    }

    /// Appends a message without properties unless the queue is full (see
    /// [`Queue::append_record`]).
    pub fn append(
        &self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
    ) -> io::Result<Appended> {
        self.append_record(&NewRecord {
            topic,
            payload,
            qos,
            retain,
            properties: None,
        })
    }

    /// Appends a message unless the queue is full. Returns once the record is written
    /// (see the module comment for what that survives).
    pub fn append_record(&self, message: &NewRecord<'_>) -> io::Result<Appended> {
        self.append_shared(message, None)
    }

    /// [`Queue::append_record`] for a message whose payload is `payload` already
    /// (`message.payload` holds the same bytes): the link sends it from memory without
    /// copying it ([`crate::tail`]).
    pub fn append_shared(
        &self,
        message: &NewRecord<'_>,
        payload: Option<&Bytes>,
    ) -> io::Result<Appended> {
        let now = unix_ms();
        let mut writer = self.writer.lock();
        let seq = writer.next_seq;
        let Writer { buf, file, .. } = &mut *writer;
        encode(seq, now, message, buf).map_err(io::Error::other)?;
        let size = buf.len() as u64;
        if self.stats.backlog_bytes.load(Ordering::Relaxed) + size > self.limits.max_bytes {
            return Ok(Appended::Full);
        }
        file.write_all(buf)?;
        writer.next_seq += 1;
        writer.written += size;
        let payload = payload
            .cloned()
            .unwrap_or_else(|| Bytes::copy_from_slice(message.payload));
        let segment = writer.segments.back().copied().unwrap_or(seq);
        let end = writer.written;
        writer
            .tail
            .push(message.into_record(seq, now, size, payload), segment, end);
        self.last_seq.store(seq, Ordering::Release);
        self.stats.queued(size, now);
        if writer.written >= SEGMENT_BYTES {
            self.rotate(&mut writer)?;
        }
        drop(writer);
        self.appended.notify_one();
        Ok(Appended::Queued(seq))
    }

    fn rotate(&self, writer: &mut Writer) -> io::Result<()> {
        let closed = std::mem::replace(
            &mut writer.file,
            create_segment(&self.dir, writer.next_seq)?,
        );
        writer.closed.push(closed);
        writer.written = 0;
        writer.segments.push_back(writer.next_seq);
        Ok(())
    }

    /// Resolves when a record was appended since the last call (or at once if one was).
    pub async fn appended(&self) {
        self.appended.notified().await
    }

    /// Flushes the open segment to disk (the power-loss bound).
    pub fn sync(&self) -> io::Result<()> {
        let (file, closed) = {
            let mut writer = self.writer.lock();
            (writer.file.try_clone()?, std::mem::take(&mut writer.closed))
        };
        for segment in closed.iter().chain([&file]) {
            segment.sync_data()?;
        }
        self.pubrecs.lock().sync()
    }

    /// A cursor at the first unreleased record.
    pub fn cursor(&self) -> Cursor {
        let next_seq = self.released.load(Ordering::Acquire) + 1;
        Cursor {
            segment: self.segment_of(next_seq),
            file: None,
            offset: 0,
            next_seq,
        }
    }

    fn segment_of(&self, seq: u64) -> u64 {
        let writer = self.writer.lock();
        writer
            .segments
            .iter()
            .rev()
            .find(|&&first| first <= seq)
            .or(writer.segments.front())
            .copied()
            .unwrap_or(seq)
    }

    fn segment_after(&self, first: u64) -> Option<u64> {
        self.writer
            .lock()
            .segments
            .iter()
            .find(|&&f| f > first)
            .copied()
    }

    /// The next record after `cursor`, or `None` when it has read everything written.
    pub fn next(&self, cursor: &mut Cursor) -> io::Result<Option<Record>> {
        loop {
            if cursor.next_seq > self.last_seq.load(Ordering::Acquire) {
                return Ok(None);
            }
            if let Some(record) = self.next_in_tail(cursor) {
                return Ok(Some(record));
            }
            if cursor.file.is_none() {
                cursor.file = Some(File::open(segment_path(&self.dir, cursor.segment))?);
            }
            let Some(file) = cursor.file.as_ref() else {
                continue;
            };
            match read_at(file, cursor.offset)? {
                Some((record, len)) => {
                    cursor.offset += len;
                    if record.seq >= cursor.next_seq {
                        cursor.next_seq = record.seq + 1;
                        return Ok(Some(record));
                    }
                }
                None => match self.segment_after(cursor.segment) {
                    Some(next) => {
                        cursor.segment = next;
                        cursor.file = None;
                        cursor.offset = 0;
                    }
                    None => return Ok(None),
                },
            }
        }
    }

    /// The cursor's next record from memory, if the tail still holds it; the cursor
    /// then stands just past it on disk.
    fn next_in_tail(&self, cursor: &mut Cursor) -> Option<Record> {
        let (record, segment, end) = self.writer.lock().tail.get(cursor.next_seq)?;
        if segment != cursor.segment {
            cursor.segment = segment;
            cursor.file = None;
        }
        cursor.offset = end;
        cursor.next_seq = record.seq + 1;
        Some(record)
    }

    /// Everything up to `seq` is delivered (or dropped): the mark moves, and segments
    /// holding only released records are deleted.
    pub fn release_through(
        &self,
        seq: u64,
        messages: u64,
        bytes: u64,
        head_ms: Option<u64>,
    ) -> io::Result<()> {
        self.stats.released(messages, bytes, head_ms);
        if self.released.fetch_max(seq, Ordering::AcqRel) >= seq {
            return Ok(());
        }
        self.acked_file.write_all_at(&seq.to_le_bytes(), 0)?;
        self.pubrecs.lock().released_through(seq)?;
        self.delete_released_segments();
        Ok(())
    }

    /// Whether the upstream answered record `seq` with PUBREC (and it is not released).
    pub fn pubrec_received(&self, seq: u64) -> bool {
        self.pubrecs.lock().is_marked(seq)
    }

    /// Records (durably) that record `seq` got its PUBREC, or (`false`) that it goes
    /// out again as a new PUBLISH.
    pub fn set_pubrec(&self, seq: u64, received: bool) -> io::Result<()> {
        self.pubrecs.lock().set(seq, received)
    }

    /// The sequence number of the last record written (0: none ever).
    pub fn last_seq(&self) -> u64 {
        self.last_seq.load(Ordering::Acquire)
    }

    fn delete_released_segments(&self) {
        let released = self.released.load(Ordering::Acquire);
        let mut writer = self.writer.lock();
        while writer.segments.len() > 1 && writer.segments[1] <= released + 1 {
            if let Some(first) = writer.segments.pop_front() {
                if let Err(e) = std::fs::remove_file(segment_path(&self.dir, first)) {
                    tracing::warn!(error = %e, segment = first, "bridge queue: could not delete a released segment");
                }
            }
        }
    }

    pub fn limits(&self) -> QueueLimits {
        self.limits
    }
}

/// The record at `offset` and its length on disk; `None` at the end of the segment or
/// at a short or damaged record (a torn tail).
fn read_at(file: &File, offset: u64) -> io::Result<Option<(Record, u64)>> {
    let mut header = [0u8; HEADER];
    if !read_fully(file, &mut header, offset)? {
        return Ok(None);
    }
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    if !(BODY_FIXED..=(64 << 20)).contains(&len) {
        return Ok(None);
    }
    let mut body = vec![0u8; len];
    if !read_fully(file, &mut body, offset + HEADER as u64)? || crc32fast::hash(&body) != crc {
        return Ok(None);
    }
    Ok(decode(&body).map(|record| (record, (HEADER + len) as u64)))
}

fn read_fully(file: &File, buf: &mut [u8], offset: u64) -> io::Result<bool> {
    match file.read_exact_at(buf, offset) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}

/// The segments in `dir`, oldest first.
fn list_segments(dir: &Path) -> io::Result<VecDeque<u64>> {
    let mut firsts = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name();
        let name = name.to_string_lossy();
        if let Some(first) = name
            .strip_suffix(".seg")
            .and_then(|n| n.parse::<u64>().ok())
        {
            firsts.push(first);
        }
    }
    firsts.sort_unstable();
    Ok(firsts.into())
}

/// Every readable record of one segment, in order (for the count at open).
struct SegmentRecords {
    file: File,
    offset: u64,
}

impl SegmentRecords {
    fn open(path: &Path) -> io::Result<SegmentRecords> {
        Ok(SegmentRecords {
            file: File::open(path)?,
            offset: 0,
        })
    }
}

impl Iterator for SegmentRecords {
    type Item = Record;
    fn next(&mut self) -> Option<Record> {
        let (record, len) = read_at(&self.file, self.offset).ok()??;
        self.offset += len;
        Some(record)
    }
}

#[cfg(test)]
#[path = "queue_tests.rs"]
mod tests;
