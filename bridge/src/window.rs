//! The queue records of one upstream connection between their send and their release:
//! where each stands in its QoS 1 / QoS 2 exchange, and the run at the front that the
//! queue may release (pure state, tested here; the link does the I/O).

use std::collections::VecDeque;

/// Where a record stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// QoS 1 PUBLISH sent.
    AwaitPubAck,
    /// QoS 2 PUBLISH sent.
    AwaitPubRec,
    /// PUBREC received (and recorded), PUBREL sent.
    AwaitPubComp,
    /// Finished: delivered upstream, or dropped (too old, expired, too large, refused).
    Done { delivered: bool },
}

#[derive(Debug)]
struct Entry {
    seq: u64,
    pkid: u16,
    size: u64,
    written_ms: u64,
    stage: Stage,
}

/// What [`Window::pubrec`] asks the link to do.
#[derive(Debug, PartialEq, Eq)]
pub enum OnPubRec {
    /// First PUBREC of record `seq`: record it durably, then send PUBREL.
    Record(u64),
    /// Send PUBREL (again, or for a packet id this connection does not know).
    Release,
    /// A refusal (5.0 code >= 0x80): the exchange ended, nothing to send.
    Nothing,
}

/// A contiguous run of finished records at the front, to release.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Run {
    pub messages: u64,
    pub bytes: u64,
    pub through: u64,
    pub delivered: u64,
    /// When the oldest record still in the window was written.
    pub head_ms: Option<u64>,
}

#[derive(Debug, Default)]
pub struct Window {
    entries: VecDeque<Entry>,
}

impl Window {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn push(&mut self, seq: u64, pkid: u16, size: u64, written_ms: u64, stage: Stage) {
        self.entries.push_back(Entry {
            seq,
            pkid,
            size,
            written_ms,
            stage,
        });
    }

    /// The entry with `pkid` at `stage`. Records take consecutive packet ids (by
    /// sequence number, wrapping), so the place an acknowledgement names is computed
    /// from the front's id and only checked; a scan (an id out of that order, or
    /// past the wrap of the ids) is the fallback, not the rule: an acknowledgement costs O(1), not O(window).
    fn waiting(&mut self, pkid: u16, stage: Stage) -> Option<&mut Entry> {
        let matches = |e: &Entry| e.pkid == pkid && e.stage == stage;
        let guess = self
            .entries
            .front()
            .and_then(|front| pkid.checked_sub(front.pkid))
            .map(usize::from);
        let direct = guess.filter(|&i| self.entries.get(i).is_some_and(matches));
        match direct {
            Some(i) => self.entries.get_mut(i),
            None => self.entries.iter_mut().find(|e| matches(e)),
        }
    }

    /// A PUBACK with reason `code`: finishes the QoS 1 record with that packet id (a
    /// 5.0 refusal, code >= 0x80, too — undelivered: it would be refused again).
    pub fn puback(&mut self, pkid: u16, code: u8) {
        if let Some(entry) = self.waiting(pkid, Stage::AwaitPubAck) {
            entry.stage = Stage::Done {
                delivered: code < 0x80,
            };
        }
    }

    /// A PUBREC with reason `code`.
    pub fn pubrec(&mut self, pkid: u16, code: u8) -> OnPubRec {
        let refused = code >= 0x80;
        if let Some(entry) = self.waiting(pkid, Stage::AwaitPubRec) {
            if refused {
                entry.stage = Stage::Done { delivered: false };
                return OnPubRec::Nothing;
            }
            entry.stage = Stage::AwaitPubComp;
            return OnPubRec::Record(entry.seq);
        }
        if refused {
            OnPubRec::Nothing
        } else {
            OnPubRec::Release
        }
    }

    /// A PUBCOMP: the QoS 2 exchange of that packet id is over.
    pub fn pubcomp(&mut self, pkid: u16) {
        if let Some(entry) = self.waiting(pkid, Stage::AwaitPubComp) {
            entry.stage = Stage::Done { delivered: true };
        }
    }

    /// Takes the finished records at the front (the queue's mark only moves over a
    /// contiguous run).
    pub fn take_finished(&mut self) -> Option<Run> {
        let mut run = Run::default();
        while self
            .entries
            .front()
            .is_some_and(|e| matches!(e.stage, Stage::Done { .. }))
        {
            let Some(entry) = self.entries.pop_front() else {
                break;
            };
            run.messages += 1;
            run.bytes += entry.size;
            run.through = entry.seq;
            run.delivered += u64::from(entry.stage == Stage::Done { delivered: true });
        }
        run.head_ms = self.entries.front().map(|e| e.written_ms);
        (run.messages > 0).then_some(run)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qos2_goes_pubrec_then_pubcomp_and_releases_in_order() {
        let mut window = Window::default();
        window.push(1, 2, 10, 100, Stage::AwaitPubRec);
        window.push(2, 3, 20, 200, Stage::AwaitPubAck);
        window.push(3, 4, 30, 300, Stage::Done { delivered: false });
        window.puback(3, 0);
        assert_eq!(window.take_finished(), None, "the head is not finished");
        window.pubcomp(2);
        assert_eq!(window.pubrec(2, 0), OnPubRec::Record(1));
        assert_eq!(window.pubrec(2, 0), OnPubRec::Release, "a repeated PUBREC");
        assert_eq!(window.pubrec(77, 0), OnPubRec::Release, "unknown id");
        assert_eq!(window.take_finished(), None, "PUBCOMP is still missing");
        window.puback(2, 0);
        assert_eq!(window.take_finished(), None, "a PUBACK does not end QoS 2");
        window.pubcomp(2);
        let run = window.take_finished().unwrap();
        assert_eq!(
            run,
            Run {
                messages: 3,
                bytes: 60,
                through: 3,
                delivered: 2,
                head_ms: None
            }
        );
        assert!(window.is_empty());
    }

    #[test]
    fn acknowledgements_find_their_record_across_the_packet_id_wrap() {
        let mut window = Window::default();
        window.push(10, 64_999, 1, 1, Stage::AwaitPubAck);
        window.push(11, 65_000, 1, 1, Stage::AwaitPubAck);
        window.push(12, 1, 1, 1, Stage::AwaitPubAck);
        window.push(13, 2, 1, 1, Stage::AwaitPubRec);
        window.puback(1, 0);
        window.puback(2, 0);
        assert_eq!(window.pubrec(2, 0), OnPubRec::Record(13), "by its stage");
        window.puback(65_000, 0);
        assert_eq!(window.take_finished(), None, "the head is not finished");
        window.puback(64_999, 0);
        let run = window.take_finished().unwrap();
        assert_eq!((run.messages, run.through, run.delivered), (3, 12, 3));
        assert_eq!(window.len(), 1);
    }

    #[test]
    fn a_refused_pubrec_ends_the_exchange_undelivered() {
        let mut window = Window::default();
        window.push(5, 6, 1, 1, Stage::AwaitPubRec);
        window.push(6, 7, 1, 2, Stage::AwaitPubRec);
        assert_eq!(window.pubrec(6, 0x87), OnPubRec::Nothing);
        let run = window.take_finished().unwrap();
        assert_eq!((run.messages, run.delivered, run.head_ms), (1, 0, Some(2)));
        assert_eq!(window.len(), 1);
        window.push(7, 8, 1, 3, Stage::AwaitPubAck);
        window.puback(8, 0x87);
        window.pubrec(7, 0);
        window.pubcomp(7);
        let run = window.take_finished().unwrap();
        assert_eq!((run.messages, run.delivered), (2, 1), "a refused PUBACK");
    }
}
