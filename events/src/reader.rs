//! The one way to follow the outbox: a cursor saved in `events_cursors`, a lease so one
//! instance reads per name on a shared PostgreSQL, the gap rule, stop, and backoff
//! ([`crate::retry`]'s policy). The
//! event shippers and the bootstrap tailer read through it (and the journal, consumers
//! and cluster invalidation will).
//!
//! # The gap rule
//!
//! Outbox ids are taken when a row is inserted but become visible when its transaction
//! commits, and transactions commit out of order: on PostgreSQL a `BIGSERIAL` id 7 may be
//! visible while id 6 is still being written by a slower transaction (and a rolled-back
//! insert leaves 6 empty for good). A reader that moved its cursor past 7 would never see
//! 6. So a reader hands out only the leading run of rows whose ids follow the cursor
//! without a hole ([`ready_prefix`]); at the first hole it stops, and it passes over that
//! hole only after it has watched it for [`GAP_GRACE`] (long enough for any insert to
//! commit, so the hole is a rollback). The wait is measured on this reader's own
//! monotonic clock from when it first saw the hole — never against `created_at`, which
//! another host's clock wrote. SQLite has one writer and `AUTOINCREMENT` rolls back with
//! the transaction, so there it never waits.
//!
//! Holes are holes in the sequence of *all* streams, so a reader interested in some
//! rows still reads every id ([`crate::window`] brings only the rows it wants whole,
//! [`ReaderConfig::rows`]) and its cursor moves over the others.
//!
//! Delivery is at least once: the cursor is saved after the consumer has handled a
//! batch ([`OutboxReader::commit`]), so a crash in between hands the batch out again.

use crate::error::EventsError;
use crate::outbox::{Lease, OutboxDb, OutboxRow};
pub use crate::retry::{Backoff, BACKOFF_MAX, BACKOFF_MIN};
pub use crate::window::Rows;
use magnetite_db::Db;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How long a hole in the id sequence is waited for before it is taken as a rolled-back
/// insert.
pub const GAP_GRACE: Duration = Duration::from_secs(3);
/// How often a standby reader checks whether the active one went away.
const STANDBY_POLL: Duration = Duration::from_secs(1);

/// A hole in the id sequence: the missing id and when this reader first saw it missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gap {
    /// The first missing id.
    pub at: i64,
    /// When it was first seen missing.
    pub since: Instant,
}

/// How many leading `ids` (ascending, all after `cursor`) are safe to hand out at `now`:
/// up to the first hole in the sequence, unless that hole has been watched for
/// [`GAP_GRACE`] already. Records a newly seen hole in `gap`.
pub fn ready_prefix(cursor: i64, ids: &[i64], gap: &mut Option<Gap>, now: Instant) -> usize {
    let mut expected = cursor + 1;
    for (i, &id) in ids.iter().enumerate() {
        if id != expected {
            match gap {
                Some(g) if g.at == expected && now.duration_since(g.since) >= GAP_GRACE => {}
                Some(g) if g.at == expected => return i,
                _ => {
                    *gap = Some(Gap {
                        at: expected,
                        since: now,
                    });
                    return i;
                }
            }
        }
        expected = id + 1;
    }
    ids.len()
}

/// Rows behind the newest outbox row, for the lag gauge.
pub fn pending(max_id: i64, cursor: i64) -> i64 {
    (max_id - cursor).max(0)
}

/// Where a reader without a saved cursor begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// At the first row (a sink ships the whole history).
    Beginning,
    /// After the newest row, saved at once (the bootstrap tailer: no config predates it).
    End,
}

/// What a reader is called and what it reads.
#[derive(Debug, Clone)]
pub struct ReaderConfig {
    /// Its row in `events_cursors`.
    pub cursor_key: String,
    /// Its advisory lock on a shared PostgreSQL.
    pub lease_key: String,
    /// Which rows are handed out (the others are passed over).
    pub rows: Rows,
    /// Rows per read.
    pub batch: i64,
    /// Pause when nothing is ready.
    pub poll: Duration,
    /// Where to begin without a saved cursor.
    pub start: Start,
}

/// Ready rows after the cursor.
#[derive(Debug)]
pub struct Batch {
    /// The rows to handle, in id order (only those [`ReaderConfig::rows`] wants).
    pub rows: Vec<OutboxRow>,
    /// The id to [`OutboxReader::commit`] once they are handled (it may be past the last
    /// row handed out: rows not wanted are passed over).
    pub last: i64,
}

/// What a reader that reacts to rows does with a window ([`OutboxReader::follow`]).
/// A trait rather than a closure so the future stays `Send` for `tokio::spawn`.
pub trait WindowHandler: Send {
    /// Why a window could not be handled (logged; the window is offered again).
    type Error: std::fmt::Display;
    /// Handles the window's rows in id order; `pending` is how many rows were still
    /// unread when it was taken (for a lag gauge).
    fn handle(
        &mut self,
        batch: &Batch,
        pending: i64,
    ) -> impl std::future::Future<Output = Result<(), Self::Error>> + Send;
}

/// What one [`OutboxReader::next`] gave.
#[derive(Debug)]
pub enum Step {
    /// Ready rows.
    Batch(Batch),
    /// Nothing ready (drained, or a hole is being waited for, or the read failed and was
    /// logged); the reader has already paused.
    Waiting,
    /// Shutdown.
    Stopped,
}

/// A reader of the outbox holding its lease and its cursor.
pub struct OutboxReader {
    db: Db,
    config: ReaderConfig,
    stop: watch::Receiver<bool>,
    cursor: i64,
    gap: Option<Gap>,
    pending: i64,
    /// Shared by every retry of the consumer (reads, shipments, cursor saves).
    pub backoff: Backoff,
    /// Ends a drained reader's poll early ([`OutboxReader::wake_on`]).
    wake: Option<watch::Receiver<u64>>,
    _lease: Lease,
}

impl std::fmt::Debug for OutboxReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxReader")
            .field("config", &self.config)
            .field("cursor", &self.cursor)
            .finish_non_exhaustive()
    }
}

impl OutboxReader {
    /// Waits for the lease (at once on SQLite; on a shared PostgreSQL the other
    /// instances stand by until the holder goes away), then loads the cursor, retrying
    /// with backoff. `None` on shutdown.
    pub async fn open(
        db: Db,
        config: ReaderConfig,
        mut stop: watch::Receiver<bool>,
    ) -> Option<OutboxReader> {
        let lease = wait_for_lease(&db, &config.lease_key, &mut stop).await?;
        let mut reader = OutboxReader {
            db,
            config,
            stop,
            cursor: 0,
            gap: None,
            pending: 0,
            backoff: Backoff::default(),
            wake: None,
            _lease: lease,
        };
        loop {
            match reader.initial_cursor().await {
                Ok(c) => break reader.cursor = c,
                Err(e) => {
                    tracing::warn!(reader = %reader.config.cursor_key, error = %e, "outbox: cannot read the cursor")
                }
            }
            let delay = reader.backoff.next_delay();
            if reader.pause(delay).await {
                return None;
            }
        }
        reader.backoff.reset();
        Some(reader)
    }

    async fn initial_cursor(&self) -> Result<i64, EventsError> {
        let key = &self.config.cursor_key;
        match (self.db.saved_cursor(key).await?, self.config.start) {
            (Some(c), _) => Ok(c),
            (None, Start::Beginning) => Ok(0),
            (None, Start::End) => {
                let end = self.db.max_id().await?;
                self.db.save_cursor(key, end).await?;
                Ok(end)
            }
        }
    }

    /// The database read.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The committed position.
    pub fn cursor(&self) -> i64 {
        self.cursor
    }

    /// Rows behind the newest one at the last read.
    pub fn pending(&self) -> i64 {
        self.pending
    }

    /// Wakes a drained reader as soon as `wake` changes (typically
    /// `magnetite_db::commits()`: a commit of this process) instead of after the whole
    /// poll; the poll stays, for rows other processes write. Only the wait for new rows
    /// ends early (a failed read still waits its backoff); the gap rule is untouched:
    /// a hole is passed over only once this reader's clock has watched it for
    /// [`GAP_GRACE`], however often it reads.
    pub fn wake_on(&mut self, wake: watch::Receiver<u64>) {
        self.wake = Some(wake);
    }

    /// The next ready rows after the cursor, or a pause. The cursor does not move until
    /// [`OutboxReader::commit`], so rows not committed are handed out again.
    pub async fn next(&mut self) -> Step {
        if *self.stop.borrow() {
            return Step::Stopped;
        }
        // Seen before the read: a commit after it ends the pause below.
        if let Some(w) = self.wake.as_mut() {
            w.borrow_and_update();
        }
        let (pause, wakeable) = match self.read().await {
            Ok(Some(batch)) => return Step::Batch(batch),
            Ok(None) => (self.config.poll, true),
            Err(e) => {
                tracing::warn!(reader = %self.config.cursor_key, error = %e, "outbox: read failed");
                (self.backoff.next_delay(), false)
            }
        };
        let stopped = match self.wake.as_mut().filter(|_| wakeable) {
            Some(wake) => pause_or_wake(&mut self.stop, wake, pause).await,
            None => self.pause(pause).await,
        };
        if stopped {
            return Step::Stopped;
        }
        Step::Waiting
    }

    async fn read(&mut self) -> Result<Option<Batch>, EventsError> {
        let max = self.db.max_id().await?;
        self.pending = pending(max, self.cursor);
        if max <= self.cursor {
            return Ok(None);
        }
        let window = crate::window::fetch_window(
            &self.db,
            self.cursor,
            &self.config.rows,
            self.config.batch,
        )
        .await?;
        let ready = ready_prefix(self.cursor, &window.ids, &mut self.gap, Instant::now());
        let Some(&last) = window.ids[..ready].last() else {
            return Ok(None);
        };
        let mut rows = window.rows;
        rows.retain(|r| r.id <= last);
        Ok(Some(Batch { rows, last }))
    }

    /// Saves `last` as the cursor until it sticks; `false` on shutdown.
    pub async fn commit(&mut self, last: i64) -> bool {
        loop {
            match self.db.save_cursor(&self.config.cursor_key, last).await {
                Ok(()) => {
                    self.cursor = last;
                    return true;
                }
                Err(e) => {
                    tracing::warn!(reader = %self.config.cursor_key, error = %e, "outbox: cursor save failed")
                }
            }
            let delay = self.backoff.next_delay();
            if self.pause(delay).await {
                return false;
            }
        }
    }

    /// Follows the outbox until shutdown, for a reader that reacts to rows: hands each
    /// window to `handler`, saves the cursor once it succeeds, and on failure logs and
    /// offers the same window again after a backoff, so nothing is skipped. The loop the
    /// bootstrap tailer and the notifications reader share; `what` names it in logs.
    pub async fn follow(&mut self, what: &str, handler: &mut impl WindowHandler) {
        loop {
            let batch = match self.next().await {
                Step::Stopped => return,
                Step::Waiting => continue,
                Step::Batch(batch) => batch,
            };
            if let Err(e) = handler.handle(&batch, self.pending()).await {
                let delay = self.backoff.next_delay();
                tracing::warn!(reader = what, error = %e, retry_in_ms = delay.as_millis() as u64,
                    "outbox: handling a window failed; retrying");
                if self.pause(delay).await {
                    return;
                }
                continue;
            }
            if !self.commit(batch.last).await {
                return;
            }
            self.backoff.reset();
        }
    }

    /// Sleeps `d` unless shutdown comes first; `true` on shutdown.
    pub async fn pause(&mut self, d: Duration) -> bool {
        pause_or_stop(&mut self.stop, d).await
    }
}

async fn pause_or_stop(stop: &mut watch::Receiver<bool>, d: Duration) -> bool {
    if *stop.borrow() {
        return true;
    }
    tokio::select! {
        _ = tokio::time::sleep(d) => *stop.borrow(),
        _ = stop.changed() => true,
    }
}

/// Like [`pause_or_stop`], ending early (`false`) when `wake` changes.
async fn pause_or_wake(
    stop: &mut watch::Receiver<bool>,
    wake: &mut watch::Receiver<u64>,
    d: Duration,
) -> bool {
    tokio::select! {
        stopped = pause_or_stop(stop, d) => stopped,
        // A closed signal disables this branch: the pause then runs its course.
        Ok(()) = wake.changed() => *stop.borrow(),
    }
}

/// A background reader task and its stop signal: how a service owns the task that
/// follows the outbox for it, and stops it at shutdown (the reader saves its cursor
/// after every batch, so the next start resumes there).
#[derive(Debug)]
pub struct ReaderTask {
    stop: watch::Sender<bool>,
    task: tokio::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl ReaderTask {
    /// Spawns `run` with the receiver it must watch (e.g. give it to
    /// [`OutboxReader::open`]).
    pub fn spawn<F>(run: impl FnOnce(watch::Receiver<bool>) -> F) -> ReaderTask
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(run(stopped));
        ReaderTask {
            stop,
            task: tokio::sync::Mutex::new(Some(task)),
        }
    }

    /// Signals the task to stop and waits for it.
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.lock().await.take() {
            let _ = task.await;
        }
    }
}

/// Waits until this instance holds `key`'s lease; `None` on shutdown.
async fn wait_for_lease(db: &Db, key: &str, stop: &mut watch::Receiver<bool>) -> Option<Lease> {
    let mut standby_logged = false;
    loop {
        match db.try_lease(key).await {
            Ok(Some(lease)) => return Some(lease),
            Ok(None) if !standby_logged => {
                standby_logged = true;
                tracing::info!(reader = %key, "outbox: another instance reads this; standing by");
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(reader = %key, error = %e, "outbox: cannot take the lease"),
        }
        if pause_or_stop(stop, STANDBY_POLL).await {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contiguous_rows_are_all_ready() {
        let mut gap = None;
        assert_eq!(ready_prefix(0, &[1, 2, 3], &mut gap, Instant::now()), 3);
        assert!(gap.is_none());
    }

    #[test]
    fn a_fresh_hole_stops_the_batch_then_expires() {
        let t0 = Instant::now();
        let mut gap = None;
        assert_eq!(ready_prefix(0, &[1, 2, 4, 5], &mut gap, t0), 2);
        assert_eq!(gap.map(|g| g.at), Some(3));
        // Still young: nothing past the hole.
        let young = t0 + GAP_GRACE - Duration::from_millis(1);
        assert_eq!(ready_prefix(2, &[4, 5], &mut gap, young), 0);
        // Watched for the whole grace: passed over.
        assert_eq!(ready_prefix(2, &[4, 5], &mut gap, t0 + GAP_GRACE), 2);
    }

    #[test]
    fn a_hole_filled_late_is_read_in_order() {
        let t0 = Instant::now();
        let mut gap = None;
        assert_eq!(ready_prefix(2, &[4, 5], &mut gap, t0), 0);
        // The slow transaction commits id 3: everything is ready, in id order.
        assert_eq!(ready_prefix(2, &[3, 4, 5], &mut gap, t0), 3);
    }

    #[test]
    fn a_second_hole_gets_its_own_wait() {
        let t0 = Instant::now();
        let mut gap = Some(Gap { at: 3, since: t0 });
        let later = t0 + GAP_GRACE;
        assert_eq!(ready_prefix(2, &[4, 5, 7], &mut gap, later), 2);
        assert_eq!(
            gap,
            Some(Gap {
                at: 6,
                since: later
            })
        );
    }

    #[test]
    fn the_cursor_never_waits_for_itself() {
        let mut gap = None;
        assert_eq!(ready_prefix(9, &[], &mut gap, Instant::now()), 0);
        assert!(gap.is_none());
    }

    #[test]
    fn pending_is_never_negative() {
        assert_eq!(pending(10, 4), 6);
        assert_eq!(pending(4, 10), 0);
    }
}
