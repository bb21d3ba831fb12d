//! Parking: an idle connection gives up its task.
//!
//! A tokio task is as large as its largest state, and a connection task waiting in its
//! select carries ~1.3 KB of futures (socket readiness, deliveries, kick, shutdown, the
//! keep-alive `Sleep`) whatever the connection does. Most of an IoT fleet does nothing
//! most of the time, so a connection that stayed idle for `park_idle_after` (nothing
//! read, nothing delivered, nothing in flight or buffered) leaves its task: the
//! connection itself, buffers released, moves into one [`ParkingLot`] slot and the task
//! ends. Busy connections never park, so the throughput path is unchanged.
//!
//! What can need a parked connection reaches it through one small waker per slot:
//! - the socket turns readable (a PUBLISH, a PINGREQ, EOF): `poll_read_ready` holds it;
//! - a delivery or a kick (takeover, revocation): the session's wake signal holds it
//!   (kicks wait in the session and signal it too, see `Session::kick_owner`);
//! - its keep-alive deadline: one sweep per second over the lot's deadline buckets,
//!   not a timer per connection;
//! - server shutdown: [`ParkingLot::resume_all`].
//!
//! A wake removes the connection from its slot and spawns its task again (on the
//! broker's `TaskTracker`), which picks up where it stopped: it reads, drains, answers
//! the kick or finds its keep-alive expired. A parked slot holds a tracker token, so a
//! graceful shutdown still waits for every connection to end.
//!
//! Wake races: a slot is reserved (`Parking`) before its wakers are registered, and
//! filled (`Parked`) only if no wake came meanwhile; a waker carries the slot's
//! generation, so a stale one (left in a socket after the connection resumed) can never
//! wake a later occupant of the same slot.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::task::{Context, Wake, Waker};
use std::time::Duration;

use parking_lot::Mutex;
use slab::Slab;
use tokio::runtime::Handle;
use tokio::time::Instant;
use tokio_util::task::task_tracker::TaskTrackerToken as TaskToken;

/// A connection that can wait without a task.
pub(crate) trait Parkable: Send + 'static {
    /// Registers `cx`'s waker with everything that can need the connection (its
    /// socket, its session's deliveries and kicks). True if one of them already does.
    fn register(&mut self, cx: &mut Context<'_>) -> bool;
    /// When the connection must run again to check its keep-alive (`None`: never).
    fn deadline(&self) -> Option<Instant>;
    /// Runs the connection again in a new task on `handle`.
    fn resume(self: Box<Self>, handle: &Handle);
}

/// The parked connections of one broker.
pub struct ParkingLot {
    lot: Arc<Lot>,
}

/// Gives free pages back with glibc's `malloc_trim`, the allocator of embedders and tests.
impl Default for ParkingLot {
    fn default() -> Self {
        ParkingLot::new(Some(crate::memory::release_free_memory))
    }
}

struct Lot {
    slots: Mutex<Slots>,
    /// The runtime the connections run on, to spawn them again from a waker (which
    /// may run outside any runtime context). Set by the first park.
    handle: OnceLock<Handle>,
    /// Keep-alive buckets count whole seconds from here.
    epoch: Instant,
    sweeper_started: AtomicBool,
    /// Gives the allocator's free pages back after a wave of parks (`None`: the
    /// allocator does it by itself).
    release_free_memory: Option<fn()>,
}

#[derive(Default)]
struct Slots {
    slab: Slab<Slot>,
    next_generation: u32,
    /// Keep-alive deadlines: second (from `Lot::epoch`, rounded up) -> slots due then.
    /// Entries of connections that resumed earlier stay until their second comes and
    /// are then skipped (their generation no longer matches).
    due: BTreeMap<u64, Vec<(usize, u32)>>,
    /// Set at shutdown: nothing parks any more.
    closed: bool,
    /// Slots holding a parked connection.
    parked: usize,
    /// Connections parked since the allocator last gave free pages back.
    parked_since_trim: usize,
}

enum Slot {
    /// Wakers are being registered; a wake now only marks it.
    Reserved { generation: u32, woken: bool },
    Parked {
        generation: u32,
        connection: Box<dyn Parkable>,
        /// Keeps the broker's graceful shutdown waiting for this connection.
        _token: TaskToken,
    },
}

impl Slot {
    fn generation(&self) -> u32 {
        match self {
            Slot::Reserved { generation, .. } | Slot::Parked { generation, .. } => *generation,
        }
    }
}

/// How often parked keep-alive deadlines are checked; a parked connection's keep-alive
/// (1.5 x its interval) is thus enforced up to this much late.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// Parks within one sweep after which the allocator is asked to give free pages back
/// (`Lot::release_free_memory`): each park frees a task (~1.4 KB) in the middle of
/// the heap, and a few hundred of them make whole pages worth returning.
const TRIM_AFTER_PARKS: usize = 256;

impl ParkingLot {
    /// An empty lot; `release_free_memory` as in `BrokerConfig::release_free_memory`.
    pub fn new(release_free_memory: Option<fn()>) -> ParkingLot {
        let lot = Lot {
            slots: Mutex::default(),
            handle: OnceLock::new(),
            epoch: Instant::now(),
            sweeper_started: AtomicBool::new(false),
            release_free_memory,
        };
        ParkingLot { lot: Arc::new(lot) }
    }

    /// Parks `connection` until something needs it, or hands it back (`Err`) when
    /// something already does (or the lot is closed): the caller then goes on running it.
    pub(crate) fn park<P: Parkable>(
        &self,
        mut connection: Box<P>,
        token: TaskToken,
    ) -> Result<(), Box<P>> {
        let Ok(handle) = Handle::try_current() else {
            return Err(connection);
        };
        self.lot.handle.get_or_init(|| handle);
        self.start_sweeper();
        let (key, generation) = {
            let mut slots = self.lot.slots.lock();
            if slots.closed {
                return Err(connection);
            }
            slots.next_generation = slots.next_generation.wrapping_add(1);
            let generation = slots.next_generation;
            let key = slots.slab.insert(Slot::Reserved {
                generation,
                woken: false,
            });
            (key, generation)
        };
        // Registered without the lock held: a registration may wake at once.
        let waker = Waker::from(Arc::new(SlotWaker {
            lot: Arc::clone(&self.lot),
            key,
            generation,
        }));
        let needed = connection.register(&mut Context::from_waker(&waker));
        let deadline = connection.deadline();
        let mut slots = self.lot.slots.lock();
        let woken = matches!(
            slots.slab.get(key),
            Some(Slot::Reserved { woken: true, .. })
        );
        if needed || woken || slots.closed {
            slots.slab.remove(key);
            return Err(connection);
        }
        slots.slab[key] = Slot::Parked {
            generation,
            connection,
            _token: token,
        };
        slots.parked += 1;
        slots.parked_since_trim += 1;
        if let Some(deadline) = deadline {
            let second = self.lot.second_of(deadline);
            slots.due.entry(second).or_default().push((key, generation));
        }
        Ok(())
    }

    /// Connections parked now.
    pub(crate) fn parked(&self) -> usize {
        self.lot.slots.lock().parked
    }

    /// Server shutdown: closes the lot and runs every parked connection again (each
    /// then sees the shutdown and ends as a running one would).
    pub fn resume_all(&self) {
        let parked = {
            let mut slots = self.lot.slots.lock();
            slots.closed = true;
            slots.due.clear();
            let mut parked = Vec::new();
            let keys: Vec<usize> = slots.slab.iter().map(|(key, _)| key).collect();
            for key in keys {
                if let Some(connection) = slots.take_parked(key, None) {
                    parked.push(connection);
                } else if let Some(Slot::Reserved { woken, .. }) = slots.slab.get_mut(key) {
                    *woken = true;
                }
            }
            parked
        };
        self.lot.resume(parked);
    }

    fn start_sweeper(&self) {
        if self.lot.sweeper_started.swap(true, Ordering::AcqRel) {
            return;
        }
        let Some(handle) = self.lot.handle.get() else {
            return;
        };
        let lot = Arc::downgrade(&self.lot);
        handle.spawn(sweep_keep_alives(lot));
    }
}

/// Once a second, runs the parked connections whose keep-alive deadline has come
/// (they find it expired and close). Ends with the lot or at shutdown.
async fn sweep_keep_alives(lot: Weak<Lot>) {
    let mut tick = tokio::time::interval(SWEEP_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(lot) = lot.upgrade() else {
            return;
        };
        let now = lot.second_of(Instant::now());
        let (due, trim) = {
            let mut slots = lot.slots.lock();
            if slots.closed {
                return;
            }
            let trim = slots.parked_since_trim >= TRIM_AFTER_PARKS;
            if trim {
                slots.parked_since_trim = 0;
            }
            (
                slots.take_due(now),
                lot.release_free_memory.filter(|_| trim),
            )
        };
        lot.resume(due);
        if let Some(release_free_memory) = trim {
            tokio::task::spawn_blocking(release_free_memory);
        }
    }
}

impl Lot {
    /// The whole second (from the epoch) at or after `at`.
    fn second_of(&self, at: Instant) -> u64 {
        let since = at.saturating_duration_since(self.epoch);
        since.as_secs() + u64::from(since.subsec_nanos() > 0)
    }

    fn wake(&self, key: usize, generation: u32) {
        let connection = {
            let mut slots = self.slots.lock();
            match slots.slab.get_mut(key) {
                Some(Slot::Reserved {
                    generation: g,
                    woken,
                }) if *g == generation => {
                    *woken = true;
                    None
                }
                _ => slots.take_parked(key, Some(generation)),
            }
        };
        self.resume(connection);
    }

    fn resume(&self, connections: impl IntoIterator<Item = Box<dyn Parkable>>) {
        let Some(handle) = self.handle.get() else {
            return;
        };
        for connection in connections {
            connection.resume(handle);
        }
    }
}

impl Slots {
    /// Empties slot `key` if it holds a parked connection (of `generation`, if given).
    fn take_parked(&mut self, key: usize, generation: Option<u32>) -> Option<Box<dyn Parkable>> {
        let slot = self.slab.get(key)?;
        let matches = generation.is_none_or(|g| slot.generation() == g);
        if !matches || !matches!(slot, Slot::Parked { .. }) {
            return None;
        }
        match self.slab.remove(key) {
            Slot::Parked { connection, .. } => {
                self.parked -= 1;
                Some(connection)
            }
            Slot::Reserved { .. } => None,
        }
    }

    /// Takes the parked connections whose keep-alive second is `now` or earlier.
    fn take_due(&mut self, now: u64) -> Vec<Box<dyn Parkable>> {
        let later = self.due.split_off(&(now + 1));
        let due = std::mem::replace(&mut self.due, later);
        due.into_values()
            .flatten()
            .filter_map(|(key, generation)| self.take_parked(key, Some(generation)))
            .collect()
    }
}

/// The waker of one parked slot.
struct SlotWaker {
    lot: Arc<Lot>,
    key: usize,
    generation: u32,
}

impl Wake for SlotWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.lot.wake(self.key, self.generation);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use tokio_util::task::TaskTracker;

    /// A stand-in connection: "needed" on demand, counts its resumes.
    struct Probe {
        needed: bool,
        deadline: Option<Instant>,
        resumed: Arc<AtomicUsize>,
        waker: Arc<Mutex<Option<Waker>>>,
    }

    impl Parkable for Probe {
        fn register(&mut self, cx: &mut Context<'_>) -> bool {
            *self.waker.lock() = Some(cx.waker().clone());
            self.needed
        }
        fn deadline(&self) -> Option<Instant> {
            self.deadline
        }
        fn resume(self: Box<Self>, _handle: &Handle) {
            self.resumed.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn probe(
        needed: bool,
        deadline: Option<Instant>,
    ) -> (Box<Probe>, Arc<AtomicUsize>, Arc<Mutex<Option<Waker>>>) {
        let resumed = Arc::new(AtomicUsize::new(0));
        let waker = Arc::new(Mutex::new(None));
        let p = Probe {
            needed,
            deadline,
            resumed: Arc::clone(&resumed),
            waker: Arc::clone(&waker),
        };
        (Box::new(p), resumed, waker)
    }

    #[tokio::test]
    async fn a_wake_resumes_once_and_a_stale_waker_is_ignored() {
        let lot = ParkingLot::default();
        let tracker = TaskTracker::new();
        let (first, resumed, waker) = probe(false, None);
        assert!(lot.park(first, tracker.token()).is_ok());
        assert_eq!(lot.parked(), 1);
        let stale = waker.lock().clone().expect("registered");
        stale.wake_by_ref();
        assert_eq!(resumed.load(Ordering::SeqCst), 1);
        assert_eq!(lot.parked(), 0);
        // The same slot, parked again by another connection: the old waker is stale.
        let (second, resumed_second, _) = probe(false, None);
        assert!(lot.park(second, tracker.token()).is_ok());
        stale.wake();
        assert_eq!(resumed_second.load(Ordering::SeqCst), 0);
        assert_eq!(lot.parked(), 1);
    }

    #[tokio::test]
    async fn a_connection_needed_while_parking_is_handed_back() {
        let lot = ParkingLot::default();
        let (needed, resumed, _) = probe(true, None);
        assert!(lot.park(needed, TaskTracker::new().token()).is_err());
        assert_eq!(lot.parked(), 0);
        assert_eq!(resumed.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn shutdown_resumes_every_parked_connection_and_closes_the_lot() {
        let lot = ParkingLot::default();
        let tracker = TaskTracker::new();
        let counters: Vec<_> = (0..3)
            .map(|_| {
                let (p, resumed, _) = probe(false, None);
                assert!(lot.park(p, tracker.token()).is_ok());
                resumed
            })
            .collect();
        lot.resume_all();
        assert!(counters.iter().all(|c| c.load(Ordering::SeqCst) == 1));
        let (late, _, _) = probe(false, None);
        assert!(lot.park(late, tracker.token()).is_err(), "closed lot");
    }

    #[tokio::test]
    async fn keep_alive_deadlines_resume_when_due_not_before() {
        let lot = ParkingLot::default();
        let tracker = TaskTracker::new();
        let (soon, resumed_soon, _) = probe(false, Some(Instant::now() + Duration::from_secs(1)));
        let (later, resumed_later, _) =
            probe(false, Some(Instant::now() + Duration::from_secs(600)));
        assert!(lot.park(soon, tracker.token()).is_ok());
        assert!(lot.park(later, tracker.token()).is_ok());
        assert_eq!(resumed_soon.load(Ordering::SeqCst), 0, "not before");
        for _ in 0..100 {
            if resumed_soon.load(Ordering::SeqCst) == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(resumed_soon.load(Ordering::SeqCst), 1);
        assert_eq!(resumed_later.load(Ordering::SeqCst), 0);
        assert_eq!(lot.parked(), 1);
    }

    static RELEASES: AtomicUsize = AtomicUsize::new(0);

    fn count_release() {
        RELEASES.fetch_add(1, Ordering::SeqCst);
    }

    #[tokio::test]
    async fn a_wave_of_parks_asks_the_configured_releaser_to_give_pages_back() {
        let lot = ParkingLot::new(Some(count_release));
        let tracker = TaskTracker::new();
        for _ in 0..TRIM_AFTER_PARKS {
            let (p, _, _) = probe(false, None);
            assert!(lot.park(p, tracker.token()).is_ok());
        }
        for _ in 0..100 {
            if RELEASES.load(Ordering::SeqCst) > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(RELEASES.load(Ordering::SeqCst), 1, "one sweep, one release");
        // Without a releaser (an allocator that purges by itself) the sweep still runs.
        let quiet = ParkingLot::new(None);
        for _ in 0..TRIM_AFTER_PARKS {
            let (p, _, _) = probe(false, Some(Instant::now() + Duration::from_millis(500)));
            assert!(quiet.park(p, tracker.token()).is_ok());
        }
        for _ in 0..100 {
            if quiet.parked() == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(quiet.parked(), 0, "keep-alive sweep ran");
        assert_eq!(RELEASES.load(Ordering::SeqCst), 1, "nothing more released");
    }

    #[test]
    fn parked_slot_size() {
        // One slab entry per parked connection, next to its boxed connection and its
        // one waker allocation: keep it small.
        println!("Slot: {} B", std::mem::size_of::<Slot>());
        assert!(std::mem::size_of::<Slot>() <= 40);
        assert!(std::mem::size_of::<SlotWaker>() <= 24);
    }
}
