//! When a connection is idle: its keep-alive check, and whether and how it parks
//! (gives up its task, see `park`).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::io::Io;
use super::park::Parkable;
use super::Connection;
use crate::hooks::Hooks;

/// A deadline far enough away to mean "never" for a timer that is disabled anyway.
const FAR: Duration = Duration::from_secs(86_400 * 365);

impl<H: Hooks, S: Io> Connection<H, S> {
    /// How long the connection must stay idle before it parks (`None`: never parks,
    /// e.g. WebSocket and TLS, whose readiness cannot be awaited without a future).
    pub(super) fn park_after(&self) -> Option<Duration> {
        self.shared.config.park_idle_after.filter(|_| S::PARKS)
    }

    /// The client's keep-alive with the spec's grace: 1.5 times the interval.
    fn keep_alive_limit(&self) -> Option<Duration> {
        let keep_alive = self.keep_alive;
        (!keep_alive.is_zero()).then(|| keep_alive + keep_alive / 2)
    }

    pub(super) fn keep_alive_expired(&self) -> bool {
        self.keep_alive_limit()
            .is_some_and(|limit| self.last_read.elapsed() >= limit)
    }

    /// When the event loop next looks at keep-alive and idleness.
    pub(super) fn next_check(&self, park_after: Option<Duration>) -> Instant {
        let keep_alive = self.keep_alive_limit().map(|limit| self.last_read + limit);
        let park = park_after.map(|after| Instant::now() + after);
        match (keep_alive, park) {
            (Some(a), Some(b)) => a.min(b),
            (Some(at), None) | (None, Some(at)) => at,
            (None, None) => Instant::now() + FAR,
        }
    }

    /// Whether the connection holds nothing that needs its task: no bytes to write or
    /// decode, no ack waiting for the store, no message in flight, no takeover waiting.
    pub(super) fn can_park(&self) -> bool {
        self.park_after().is_some()
            && self.wbuf.is_empty()
            && self.rbuf.is_empty()
            && self.acks.is_none()
            && self.pending_done.is_none()
            && self.state.inflight.is_empty()
    }

    /// Gives the buffers' memory back; they are allocated again on the next use.
    pub(super) fn release_buffers(&mut self) {
        self.rbuf = Default::default();
        self.wbuf = Default::default();
        self.scratch = Vec::new();
    }
}

impl<H: Hooks, S: Io> Parkable for Connection<H, S> {
    fn register(&mut self, cx: &mut Context<'_>) -> bool {
        // All registered whatever the first says, so no wake is missed either way.
        let readable = self.io.register_readable(cx);
        let signalled = self.session.register_waker(cx);
        // Kicks reach a parked connection through the session's signal (see
        // `Session::send_kick`); the kick channel must not keep the ended task alive.
        let kicked = release_waker(&mut self.kick);
        readable || signalled || kicked
    }

    fn deadline(&self) -> Option<Instant> {
        self.keep_alive_limit().map(|limit| self.last_read + limit)
    }

    fn resume(self: Box<Self>, handle: &Handle) {
        let tasks = self.shared.tasks.clone();
        tasks.spawn_on(self.run(), handle);
    }
}

/// Drops the task waker that polling `receiver` left in its channel. A waker holds its
/// task's memory: a parked connection's kick channel would otherwise keep the whole
/// ended task (~1.4 KB, its future) alive for as long as the connection stays parked.
/// True if a value (or the channel's close) arrived meanwhile: it is put back into a
/// fresh channel, so whoever polls `receiver` next still sees it.
fn release_waker<T>(receiver: &mut oneshot::Receiver<T>) -> bool {
    let mut noop = Context::from_waker(Waker::noop());
    match Pin::new(&mut *receiver).poll(&mut noop) {
        Poll::Pending => false,
        Poll::Ready(outcome) => {
            let (sender, fresh) = oneshot::channel();
            if let Ok(value) = outcome {
                let _ = sender.send(value);
            }
            *receiver = fresh;
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    /// Stands for a task: alive while any waker of it is.
    struct Task(AtomicUsize);

    impl Wake for Task {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn poll_with<T>(receiver: &mut oneshot::Receiver<T>, task: &Arc<Task>) -> bool {
        let waker = Waker::from(Arc::clone(task));
        Pin::new(receiver)
            .poll(&mut Context::from_waker(&waker))
            .is_ready()
    }

    #[test]
    fn the_task_waker_is_dropped_and_the_channel_still_works() {
        let task = Arc::new(Task(AtomicUsize::new(0)));
        let (sender, mut receiver) = oneshot::channel::<u8>();
        assert!(!poll_with(&mut receiver, &task));
        assert_eq!(Arc::strong_count(&task), 2, "the channel holds the task");
        assert!(!release_waker(&mut receiver));
        assert_eq!(Arc::strong_count(&task), 1, "released");
        sender.send(7).unwrap();
        assert_eq!(
            task.0.load(Ordering::SeqCst),
            0,
            "the old task is not woken"
        );
        assert_eq!(receiver.try_recv(), Ok(7));
    }

    #[test]
    fn a_value_or_close_that_came_first_is_kept_for_the_next_poll() {
        let (sender, mut receiver) = oneshot::channel::<u8>();
        sender.send(9).unwrap();
        assert!(release_waker(&mut receiver), "needed: do not park");
        assert_eq!(receiver.try_recv(), Ok(9));

        let (sender, mut receiver) = oneshot::channel::<u8>();
        drop(sender);
        assert!(release_waker(&mut receiver));
        assert!(receiver.try_recv().is_err(), "still closed");
    }
}
