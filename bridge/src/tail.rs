//! The records appended last, kept in memory beside the segment file so the link sends
//! them from here instead of reading each back from disk (two `pread`s, a checksum and
//! a decode per message while the link keeps up).
//!
//! Durability does not change: [`crate::queue::Queue::append_record`] still writes the
//! record to the segment before it returns (so a PUBACKed message survives `kill -9`);
//! only the read-back goes. The tail is bounded ([`TAIL_RECORDS`], [`TAIL_BYTES`]): a
//! link that falls further behind reads from disk as before, and a restart (empty
//! tail) reads everything from disk. Each entry remembers where its record ends on
//! disk, so a cursor that read from here continues on disk at the right place.

use std::collections::VecDeque;

use crate::record::Record;

/// Most records kept.
const TAIL_RECORDS: usize = 1024;
/// Most payload and topic bytes kept (a larger record is not kept at all).
const TAIL_BYTES: usize = 4 << 20;

/// A record and where it ends on disk.
struct Cached {
    record: Record,
    /// The segment it is in (its first sequence number).
    segment: u64,
    /// Offset just past it in that segment.
    end: u64,
}

/// The last records appended, consecutive sequence numbers, oldest first.
#[derive(Default)]
pub(crate) struct Tail {
    entries: VecDeque<Cached>,
    bytes: usize,
}

fn weight(record: &Record) -> usize {
    record.payload.len() + record.topic.len()
}

impl Tail {
    /// Keeps `record` (just written to `segment`, ending at `end`), forgetting the
    /// oldest past the bounds. A record that does not follow the last kept one starts
    /// the tail afresh (the tail always holds consecutive sequence numbers).
    pub(crate) fn push(&mut self, record: Record, segment: u64, end: u64) {
        let size = weight(&record);
        let follows = self
            .entries
            .back()
            .is_none_or(|last| last.record.seq + 1 == record.seq);
        if size > TAIL_BYTES || !follows {
            self.entries.clear();
            self.bytes = 0;
            if size > TAIL_BYTES {
                return;
            }
        }
        while self.entries.len() >= TAIL_RECORDS || self.bytes + size > TAIL_BYTES {
            let Some(old) = self.entries.pop_front() else {
                break;
            };
            self.bytes -= weight(&old.record);
        }
        self.bytes += size;
        self.entries.push_back(Cached {
            record,
            segment,
            end,
        });
    }

    /// Record `seq` with its segment and end offset, if it is still kept.
    pub(crate) fn get(&self, seq: u64) -> Option<(Record, u64, u64)> {
        let first = self.entries.front()?.record.seq;
        let index = usize::try_from(seq.checked_sub(first)?).ok()?;
        let cached = self.entries.get(index)?;
        Some((cached.record.clone(), cached.segment, cached.end))
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use magnetite_protocol::QoS;

    use super::*;
    use crate::record::NewRecord;

    fn record(seq: u64, payload: usize) -> Record {
        NewRecord {
            topic: "t",
            payload: &[],
            qos: QoS::AtLeastOnce,
            retain: false,
            properties: None,
        }
        .into_record(seq, 0, 0, Bytes::from(vec![0; payload]))
    }

    #[test]
    fn keeps_the_last_records_within_bounds_and_knows_where_they_end() {
        let mut tail = Tail::default();
        for seq in 1..=(TAIL_RECORDS as u64 + 10) {
            tail.push(record(seq, 1), 1, seq * 100);
        }
        assert!(tail.get(10).is_none(), "the oldest are forgotten");
        let (kept, segment, end) = tail.get(11).unwrap();
        assert_eq!((kept.seq, segment, end), (11, 1, 1100));
        assert!(
            tail.get(TAIL_RECORDS as u64 + 11).is_none(),
            "not written yet"
        );
        tail.push(record(5000, TAIL_BYTES / 2), 2, 7);
        assert!(tail.get(12).is_none(), "a gap starts afresh");
        tail.push(record(5001, TAIL_BYTES / 2 + 1), 2, 8);
        assert!(tail.get(5000).is_none(), "over the byte bound");
        assert_eq!(tail.get(5001).unwrap().0.seq, 5001);
        tail.push(record(5002, TAIL_BYTES + 1), 2, 9);
        assert!(
            tail.get(5001).is_none() && tail.get(5002).is_none(),
            "too large to keep"
        );
    }
}
