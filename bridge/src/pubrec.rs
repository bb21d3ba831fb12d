//! Which queued QoS 2 messages the upstream has acknowledged with PUBREC: the durable
//! half of the QoS 2 handshake, so a link that drops (or an edge that restarts)
//! between PUBREC and PUBCOMP sends PUBREL again — not the PUBLISH, which the upstream
//! would deliver a second time once it has released the first.
//!
//! A small append-only log beside the queue (`pubrec` in its directory): entries
//! `seq u64 | state u8 | crc32 u32` (little endian), the last entry of a sequence number
//! wins. State 1: PUBREC received; state 0: that mark no longer holds (the message went
//! out again as a fresh PUBLISH to an upstream that lost our session). Entries at or
//! below the queue's release mark are dead (the message completed); the log is
//! rewritten with only the live ones when it has grown past `COMPACT_AFTER` entries.
//!
//! Durability is the queue's: an entry is in the page cache when [`PubRecLog::set`]
//! returns (survives `kill -9`), fsynced by the once-a-second ticker. A torn tail ends
//! the log: a lost mark means the PUBLISH is sent again with its packet id, which an
//! upstream still holding our session answers with PUBREC without delivering it again.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

const FILE: &str = "pubrec";
const ENTRY: usize = 8 + 1 + 4;
/// Entries appended before the log is rewritten with its live ones.
const COMPACT_AFTER: usize = 4096;

pub struct PubRecLog {
    path: PathBuf,
    file: File,
    /// Marked and not cleared nor released.
    live: BTreeSet<u64>,
    /// Entries in the file.
    entries: usize,
}

fn entry(seq: u64, marked: bool) -> [u8; ENTRY] {
    let mut out = [0u8; ENTRY];
    out[..8].copy_from_slice(&seq.to_le_bytes());
    out[8] = u8::from(marked);
    let crc = crc32fast::hash(&out[..9]);
    out[9..].copy_from_slice(&crc.to_le_bytes());
    out
}

/// The entries of `bytes` up to the first damaged or short one.
fn parse(bytes: &[u8]) -> impl Iterator<Item = (u64, bool)> + '_ {
    bytes.chunks_exact(ENTRY).map_while(|e| {
        let crc = u32::from_le_bytes([e[9], e[10], e[11], e[12]]);
        let seq = u64::from_le_bytes(e[..8].try_into().ok()?);
        (crc32fast::hash(&e[..9]) == crc && e[8] <= 1).then_some((seq, e[8] == 1))
    })
}

impl PubRecLog {
    /// Opens (or creates) the log in `dir`; marks at or below `released` are dropped.
    pub fn open(dir: &Path, released: u64) -> io::Result<PubRecLog> {
        let path = dir.join(FILE);
        let mut bytes = Vec::new();
        match File::open(&path) {
            Ok(mut file) => {
                file.read_to_end(&mut bytes)?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let mut live = BTreeSet::new();
        for (seq, marked) in parse(&bytes) {
            if marked {
                live.insert(seq);
            } else {
                live.remove(&seq);
            }
        }
        live.retain(|&seq| seq > released);
        let mut log = PubRecLog {
            file: OpenOptions::new().create(true).append(true).open(&path)?,
            path,
            live,
            entries: 0,
        };
        log.compact()?;
        Ok(log)
    }

    /// Whether the upstream acknowledged `seq` with PUBREC.
    pub fn is_marked(&self, seq: u64) -> bool {
        self.live.contains(&seq)
    }

    /// Records that `seq` got its PUBREC (`true`) or was sent again as a new PUBLISH
    /// (`false`). Idempotent.
    pub fn set(&mut self, seq: u64, marked: bool) -> io::Result<()> {
        let changed = if marked {
            self.live.insert(seq)
        } else {
            self.live.remove(&seq)
        };
        if !changed {
            return Ok(());
        }
        self.file.write_all(&entry(seq, marked))?;
        self.entries += 1;
        Ok(())
    }

    /// Everything up to `seq` completed: its marks are dead, and the file is rewritten
    /// when it has grown long.
    pub fn released_through(&mut self, seq: u64) -> io::Result<()> {
        self.live = self.live.split_off(&(seq + 1));
        if self.entries >= COMPACT_AFTER {
            self.compact()?;
        }
        Ok(())
    }

    /// Rewrites the file with the live marks only (a new file renamed over the old one).
    fn compact(&mut self) -> io::Result<()> {
        let fresh = self.path.with_extension("new");
        let mut bytes = Vec::with_capacity(self.live.len() * ENTRY);
        for &seq in &self.live {
            bytes.extend_from_slice(&entry(seq, true));
        }
        std::fs::write(&fresh, &bytes)?;
        std::fs::rename(&fresh, &self.path)?;
        self.file = OpenOptions::new().append(true).open(&self.path)?;
        self.entries = self.live.len();
        Ok(())
    }

    /// Flushes the log to disk (the queue's power-loss bound).
    pub fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_survive_a_reopen_until_cleared_or_released() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = PubRecLog::open(dir.path(), 0).unwrap();
        for seq in [3, 4, 5, 9] {
            log.set(seq, true).unwrap();
        }
        log.set(5, false).unwrap();
        drop(log);
        let log = PubRecLog::open(dir.path(), 3).unwrap();
        assert!(!log.is_marked(3), "at the release mark: completed");
        assert!(log.is_marked(4) && log.is_marked(9));
        assert!(!log.is_marked(5), "cleared");
        let mut log = log;
        log.released_through(4).unwrap();
        assert!(!log.is_marked(4) && log.is_marked(9));
    }

    #[test]
    fn a_torn_tail_loses_only_the_torn_entry_and_the_log_stays_small() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = PubRecLog::open(dir.path(), 0).unwrap();
        log.set(1, true).unwrap();
        log.set(2, true).unwrap();
        drop(log);
        let path = dir.path().join(FILE);
        let len = std::fs::metadata(&path).unwrap().len();
        OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(len - 3)
            .unwrap();
        let mut log = PubRecLog::open(dir.path(), 0).unwrap();
        assert!(log.is_marked(1) && !log.is_marked(2));
        for seq in 2..(COMPACT_AFTER as u64 + 10) {
            log.set(seq, true).unwrap();
            log.released_through(seq - 1).unwrap();
        }
        let size = std::fs::metadata(&path).unwrap().len() as usize;
        assert!(size < COMPACT_AFTER * ENTRY, "compacted: {size} bytes");
        drop(log);
        let log = PubRecLog::open(dir.path(), COMPACT_AFTER as u64 + 8).unwrap();
        assert!(log.is_marked(COMPACT_AFTER as u64 + 9));
    }
}
