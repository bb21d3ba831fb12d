//! Counters shared by all tasks of a run, the payload header that carries send time and
//! sequence, and latency histograms (merged per task at the end, never locked per message).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

use std::sync::Mutex;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Bytes at the start of every payload: send time (ns), publisher index, sequence.
pub const HEADER_LEN: usize = 16;

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

pub fn now_ns() -> u64 {
    epoch().elapsed().as_nanos() as u64
}

pub fn write_header(payload: &mut [u8], publisher: u32, seq: u32) {
    payload[..8].copy_from_slice(&now_ns().to_be_bytes());
    payload[8..12].copy_from_slice(&publisher.to_be_bytes());
    payload[12..16].copy_from_slice(&seq.to_be_bytes());
}

/// (send time ns, publisher, sequence), if the payload carries our header.
pub fn read_header(payload: &[u8]) -> Option<(u64, u32, u32)> {
    if payload.len() < HEADER_LEN {
        return None;
    }
    let mut t = [0u8; 8];
    t.copy_from_slice(&payload[..8]);
    let mut p = [0u8; 4];
    p.copy_from_slice(&payload[8..12]);
    let mut s = [0u8; 4];
    s.copy_from_slice(&payload[12..16]);
    Some((
        u64::from_be_bytes(t),
        u32::from_be_bytes(p),
        u32::from_be_bytes(s),
    ))
}

/// 1 us .. 100 s at 3 significant digits; values above are clamped when recorded.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 100_000_000, 3).expect("constant bounds are valid")
}

#[derive(Default)]
pub struct Stats {
    pub sent: AtomicU64,
    pub received: AtomicU64,
    pub duplicates: AtomicU64,
    pub errors: AtomicU64,
    pub connected: AtomicU64,
    /// When the last delivery arrived (ns on the run's clock), for the receive rate.
    pub last_receive_ns: AtomicU64,
    latency: Mutex<Option<Histogram<u64>>>,
    connect: Mutex<Option<Histogram<u64>>>,
}

fn merge(slot: &Mutex<Option<Histogram<u64>>>, h: &Histogram<u64>) {
    if let Ok(mut guard) = slot.lock() {
        match guard.as_mut() {
            Some(total) => {
                let _ = total.add(h);
            }
            None => *guard = Some(h.clone()),
        }
    }
}

impl Stats {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    pub fn merge_latency(&self, h: &Histogram<u64>) {
        merge(&self.latency, h);
    }

    pub fn merge_connect(&self, h: &Histogram<u64>) {
        merge(&self.connect, h);
    }

    pub fn latency(&self) -> Option<Latency> {
        self.latency
            .lock()
            .ok()?
            .as_ref()
            .filter(|h| !h.is_empty())
            .map(Latency::from)
    }

    pub fn connect_latency(&self) -> Option<Latency> {
        self.connect
            .lock()
            .ok()?
            .as_ref()
            .filter(|h| !h.is_empty())
            .map(Latency::from)
    }
}

/// Percentiles in microseconds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Latency {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    pub mean: f64,
}

impl From<&Histogram<u64>> for Latency {
    fn from(h: &Histogram<u64>) -> Latency {
        Latency {
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
            mean: h.mean(),
        }
    }
}

/// Which (publisher, sequence) pairs one subscriber has seen, to count losses and
/// duplicates exactly.
#[derive(Default)]
pub struct Seen {
    by_publisher: Vec<Vec<u64>>,
}

impl Seen {
    /// Records a delivery; false when it was a duplicate.
    pub fn insert(&mut self, publisher: u32, seq: u32) -> bool {
        let p = publisher as usize;
        if self.by_publisher.len() <= p {
            self.by_publisher.resize_with(p + 1, Vec::new);
        }
        let bits = &mut self.by_publisher[p];
        let (word, bit) = (seq as usize / 64, seq % 64);
        if bits.len() <= word {
            bits.resize(word + 1, 0);
        }
        let fresh = bits[word] & (1 << bit) == 0;
        bits[word] |= 1 << bit;
        fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips() {
        let mut payload = vec![0u8; 64];
        write_header(&mut payload, 7, 99);
        let (t, p, s) = read_header(&payload).unwrap();
        assert_eq!((p, s), (7, 99));
        assert!(t <= now_ns());
        assert!(read_header(&payload[..10]).is_none());
    }

    #[test]
    fn seen_counts_duplicates() {
        let mut seen = Seen::default();
        assert!(seen.insert(3, 1000));
        assert!(!seen.insert(3, 1000));
        assert!(seen.insert(0, 0));
    }

    #[test]
    fn latency_percentiles_are_ordered() {
        let mut h = new_histogram();
        for v in 1..=1000u64 {
            h.record(v).unwrap();
        }
        let l = Latency::from(&h);
        assert!(l.p50 <= l.p90 && l.p90 <= l.p99 && l.p99 <= l.p999 && l.p999 <= l.max);
        assert!((495..=505).contains(&l.p50), "{l:?}");
    }
}
