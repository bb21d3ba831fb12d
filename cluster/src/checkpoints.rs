//! Where a catch-up starts and where it stops: the pure decisions behind
//! [`crate::catch_up`], from the markers this instance published and received back.
//!
//! A marker is a small message this instance publishes through the stream (its
//! acknowledgement gives the marker's stream sequence) on a subject only it subscribes
//! to, on its main connection (the one that receives messages). The server writes to one
//! connection in order, so when a marker comes back, every message the stream stored
//! before it and that matched our subscriptions reached us before it (or was dropped by
//! the client, which counts as a gap and triggers a catch-up that starts from an earlier
//! marker). That stream sequence is a checkpoint: a catch-up that starts there misses
//! nothing that was in flight when the connection dropped.

use std::collections::VecDeque;

/// How many confirmed checkpoints are kept; a catch-up starts at the oldest. Not the
/// newest: a slow-consumer drop is reported through the client's event channel, so the
/// marker right after a drop can be confirmed before the drop is counted; and on a
/// cluster of NATS servers a message and a marker take different routes, so a marker
/// can overtake a message stored before it by a route's delay. One marker interval
/// (a second) of slack covers both.
pub(crate) const KEPT: usize = 2;
/// Markers published and not yet both acknowledged and received back, at most (older
/// ones are forgotten: a marker lost in an outage never confirms).
const PENDING: usize = 16;

/// One marker on its way: its number, and its stream sequence once acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pending {
    id: u64,
    sequence: Option<u64>,
    received: bool,
}

/// The confirmed checkpoints of one connection generation (between two catch-ups).
#[derive(Debug, Default)]
pub(crate) struct Checkpoints {
    pending: VecDeque<Pending>,
    /// Stream sequences of markers acknowledged and received back, oldest first.
    confirmed: VecDeque<u64>,
}

impl Checkpoints {
    /// A marker numbered `id` was published.
    pub fn published(&mut self, id: u64) {
        if self.pending.len() == PENDING {
            self.pending.pop_front();
        }
        self.pending.push_back(Pending {
            id,
            sequence: None,
            received: false,
        });
    }

    /// JetStream stored marker `id` at `sequence`.
    pub fn acknowledged(&mut self, id: u64, sequence: u64) {
        if let Some(marker) = self.pending.iter_mut().find(|m| m.id == id) {
            marker.sequence = Some(sequence);
        }
        self.confirm();
    }

    /// Marker `id` came back by core delivery on the main connection, with no reconnection
    /// or drop since the last catch-up (the caller checks: a marker received after one
    /// says nothing about what that one lost).
    pub fn received(&mut self, id: u64) {
        if let Some(marker) = self.pending.iter_mut().find(|m| m.id == id) {
            marker.received = true;
        }
        self.confirm();
    }

    /// Moves markers both acknowledged and received back to the checkpoints, with every
    /// marker published before them (they can no longer confirm anything newer).
    fn confirm(&mut self) {
        let Some(last) = self
            .pending
            .iter()
            .rposition(|m| m.received && m.sequence.is_some())
        else {
            return;
        };
        let done: Vec<Pending> = self.pending.drain(..=last).collect();
        if let Some(sequence) = done.last().and_then(|m| m.sequence) {
            self.push(sequence);
        }
    }

    fn push(&mut self, sequence: u64) {
        if self
            .confirmed
            .back()
            .is_some_and(|&newest| newest >= sequence)
        {
            return;
        }
        if self.confirmed.len() == KEPT {
            self.confirmed.pop_front();
        }
        self.confirmed.push_back(sequence);
    }

    /// Where a catch-up starts (it reads after this sequence): the oldest kept
    /// checkpoint; `None` before the first one.
    pub fn start(&self) -> Option<u64> {
        self.confirmed.front().copied()
    }

    /// A catch-up read the stream up to `end`: everything stored up to there reached us,
    /// so it is the checkpoint from now on. Markers still pending belong to the
    /// connection before the catch-up and are forgotten.
    pub fn caught_up(&mut self, end: u64) {
        self.pending.clear();
        self.confirmed.clear();
        self.confirmed.push_back(end);
    }

    /// A reconnection or a drop happened: markers on their way can no longer confirm
    /// (the caller stops counting receipts until the catch-up), so they are forgotten.
    pub fn interrupted(&mut self) {
        self.pending.clear();
    }
}

/// What a catch-up reads: the stream after `from`, up to and including `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Window {
    pub from: u64,
    pub end: u64,
}

impl Window {
    /// The window from checkpoint `start` to the end marker's sequence `end`. A stream
    /// that began again (a NATS with a new store) numbers from 1 again: an end below the
    /// start means every message it holds is new to us. `None` when there is nothing.
    pub fn between(start: u64, end: u64) -> Option<Window> {
        let from = if end < start { 0 } else { start };
        (end > from).then_some(Window { from, end })
    }

    /// Whether the message stored at `sequence` is the last one to read.
    pub fn is_last(&self, sequence: u64) -> bool {
        sequence >= self.end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Marker `id` published, stored at `sequence` and received back.
    fn round_trip(checkpoints: &mut Checkpoints, id: u64, sequence: u64) {
        checkpoints.published(id);
        checkpoints.acknowledged(id, sequence);
        checkpoints.received(id);
    }

    #[test]
    fn a_marker_confirms_once_acknowledged_and_received_in_either_order() {
        let mut checkpoints = Checkpoints::default();
        checkpoints.published(1);
        checkpoints.received(1);
        assert_eq!(checkpoints.start(), None, "not yet acknowledged");
        checkpoints.acknowledged(1, 40);
        assert_eq!(checkpoints.start(), Some(40));
        checkpoints.published(2);
        checkpoints.acknowledged(2, 50);
        assert_eq!(checkpoints.start(), Some(40), "not yet received back");
        checkpoints.received(2);
        assert_eq!(checkpoints.start(), Some(40), "the older of the kept two");
        round_trip(&mut checkpoints, 3, 60);
        assert_eq!(checkpoints.start(), Some(50));
    }

    #[test]
    fn a_marker_that_never_comes_back_confirms_nothing() {
        let mut checkpoints = Checkpoints::default();
        checkpoints.published(1);
        checkpoints.acknowledged(1, 10);
        checkpoints.interrupted();
        checkpoints.received(1);
        assert_eq!(checkpoints.start(), None);
        checkpoints.published(2);
        checkpoints.received(2);
        checkpoints.acknowledged(2, 20);
        checkpoints.published(3);
        checkpoints.acknowledged(3, 30);
        assert_eq!(checkpoints.start(), Some(20));
        checkpoints.received(99);
        assert_eq!(
            checkpoints.start(),
            Some(20),
            "an unknown marker is no receipt"
        );
    }

    #[test]
    fn a_newer_marker_confirms_the_older_ones_lost_on_the_way() {
        let mut checkpoints = Checkpoints::default();
        for id in 1..=3 {
            checkpoints.published(id);
            checkpoints.acknowledged(id, id * 10);
        }
        checkpoints.received(3);
        assert_eq!(checkpoints.start(), Some(30));
        checkpoints.received(1);
        assert_eq!(checkpoints.start(), Some(30), "1 left with 3");
    }

    #[test]
    fn pending_markers_are_bounded() {
        let mut checkpoints = Checkpoints::default();
        for id in 0..100 {
            checkpoints.published(id);
        }
        assert_eq!(checkpoints.pending.len(), PENDING);
        checkpoints.acknowledged(0, 1);
        checkpoints.received(0);
        assert_eq!(checkpoints.start(), None, "forgotten");
    }

    #[test]
    fn a_catch_up_end_is_the_next_start() {
        let mut checkpoints = Checkpoints::default();
        round_trip(&mut checkpoints, 1, 10);
        checkpoints.published(2);
        checkpoints.caught_up(500);
        assert_eq!(checkpoints.start(), Some(500));
        checkpoints.acknowledged(2, 20);
        checkpoints.received(2);
        assert_eq!(
            checkpoints.start(),
            Some(500),
            "pending before the catch-up"
        );
        round_trip(&mut checkpoints, 3, 600);
        assert_eq!(checkpoints.start(), Some(500));
        round_trip(&mut checkpoints, 4, 700);
        assert_eq!(checkpoints.start(), Some(600));
    }

    #[test]
    fn a_window_runs_from_the_start_to_the_end_marker() {
        let window = Window::between(100, 250).expect("something to read");
        assert_eq!((window.from, window.end), (100, 250));
        assert!(!window.is_last(249));
        assert!(window.is_last(250));
        assert!(window.is_last(251), "past the end: stop too");
    }

    #[test]
    fn a_stream_that_began_again_is_read_from_its_first_message() {
        assert_eq!(
            Window::between(100, 7),
            Some(Window { from: 0, end: 7 }),
            "a new store numbers from 1"
        );
        assert_eq!(Window::between(100, 100), None);
        assert_eq!(Window::between(0, 0), None);
    }
}
