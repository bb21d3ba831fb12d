//! The process memory watermark: how much memory is "too much", how the process's
//! resident size is read, and the hysteresis between shedding and normal.
//!
//! The resident size is read once a second by the admission sampler (one small read of
//! `/proc/self/statm`), never on the message path: publishers and CONNECTs only load
//! the resulting flag.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// A memory size as configured: bytes, or a share of the machine's memory (the smaller
/// of physical RAM and the cgroup's `memory.max`, where there is one).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MemoryAmount {
    Bytes(u64),
    PercentOfRam(f64),
}

/// Why a memory size could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MemoryAmountError {
    #[error("{0:?} is not a memory size: use bytes (e.g. 2147483648, 512MiB, 2GiB) or a percentage of RAM (e.g. 80%)")]
    Unreadable(String),
    #[error("a percentage of RAM must be above 0% and at most 100%")]
    PercentOutOfRange,
    #[error(
        "the machine's memory size cannot be read (no /proc/meminfo): give the watermark in bytes"
    )]
    NoTotal,
}

impl std::str::FromStr for MemoryAmount {
    type Err = MemoryAmountError;

    /// `80%`, `2147483648`, `512MiB`, `2GiB`, `1.5G`, `100MB` (K/M/G/T: powers of 1024
    /// with or without `iB`; `KB`/`MB`/`GB`/`TB`: powers of 1000).
    fn from_str(text: &str) -> Result<MemoryAmount, MemoryAmountError> {
        let text = text.trim();
        let unreadable = || MemoryAmountError::Unreadable(text.to_string());
        if let Some(percent) = text.strip_suffix('%') {
            let value: f64 = percent.trim().parse().map_err(|_| unreadable())?;
            if !(value > 0.0 && value <= 100.0) {
                return Err(MemoryAmountError::PercentOutOfRange);
            }
            return Ok(MemoryAmount::PercentOfRam(value));
        }
        let split = text
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let number: f64 = number.parse().map_err(|_| unreadable())?;
        let multiplier: f64 = match unit.trim() {
            "" | "B" => 1.0,
            "K" | "KiB" => 1024.0,
            "M" | "MiB" => 1024.0 * 1024.0,
            "G" | "GiB" => 1024.0 * 1024.0 * 1024.0,
            "T" | "TiB" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
            "KB" => 1e3,
            "MB" => 1e6,
            "GB" => 1e9,
            "TB" => 1e12,
            _ => return Err(unreadable()),
        };
        let bytes = number * multiplier;
        if !bytes.is_finite() || bytes < 1.0 || bytes > u64::MAX as f64 {
            return Err(unreadable());
        }
        Ok(MemoryAmount::Bytes(bytes as u64))
    }
}

impl MemoryAmount {
    /// The size in bytes on this machine.
    pub fn resolve(self) -> Result<u64, MemoryAmountError> {
        match self {
            MemoryAmount::Bytes(bytes) => Ok(bytes),
            MemoryAmount::PercentOfRam(percent) => {
                let total = machine_memory().ok_or(MemoryAmountError::NoTotal)?;
                Ok((total as f64 * percent / 100.0) as u64)
            }
        }
    }
}

/// The memory this process may use: physical RAM, or the cgroup v2 limit if smaller.
fn machine_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let ram = meminfo_total(&meminfo)?;
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|text| text.trim().parse::<u64>().ok());
    Some(cgroup.map_or(ram, |limit| limit.min(ram)))
}

/// `MemTotal` of a `/proc/meminfo` text, in bytes.
fn meminfo_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The process's resident set size in bytes (`None` where `/proc` is not available).
pub fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    Some(statm_resident_pages(&statm)? * page_size())
}

/// The second field of `/proc/self/statm`: resident pages.
fn statm_resident_pages(statm: &str) -> Option<u64> {
    statm.split_whitespace().nth(1)?.parse().ok()
}

fn page_size() -> u64 {
    // SAFETY: sysconf only reads a constant of the system; it has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(size).ok().filter(|s| *s > 0).unwrap_or(4096)
}

/// Gives the allocator's free pages back to the system. glibc's malloc returns memory
/// only from the top of each arena: the holes that parked connections leave (their
/// ended tasks, read buffers) between live records stay resident otherwise, and a
/// fleet that connected at once then parked keeps its connect-time peak as RSS.
/// `malloc_trim` releases every whole free page (`MADV_DONTNEED`), wherever it is.
/// Walks the arenas under their locks: called at most once a second, off the workers.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim has no preconditions; it only changes the allocator's state.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Whether the process should shed after a sample of `rss` bytes: it starts above
/// `high` and stops only at or below `low`, so a process hovering at the line does not
/// flap between the two on every sample.
pub fn shedding_after(shedding: bool, rss: u64, high: u64, low: u64) -> bool {
    if shedding {
        rss > low
    } else {
        rss > high
    }
}

/// The watermark's live state, read by publishers and CONNECTs with one atomic load.
#[derive(Debug)]
pub struct MemoryGuard {
    high: AtomicU64,
    low: AtomicU64,
    rss: AtomicU64,
    shedding: AtomicBool,
}

impl MemoryGuard {
    /// `low` above `high` is taken as `high` (no hysteresis).
    pub fn new(high: u64, low: u64) -> MemoryGuard {
        MemoryGuard {
            high: AtomicU64::new(high),
            low: AtomicU64::new(low.min(high)),
            rss: AtomicU64::new(0),
            shedding: AtomicBool::new(false),
        }
    }

    /// Moves the watermarks (operators, tests); the next sample applies them.
    pub fn set_watermarks(&self, high: u64, low: u64) {
        self.high.store(high, Ordering::Relaxed);
        self.low.store(low.min(high), Ordering::Relaxed);
    }

    pub fn watermarks(&self) -> (u64, u64) {
        (
            self.high.load(Ordering::Relaxed),
            self.low.load(Ordering::Relaxed),
        )
    }

    /// Records a sample; returns `Some(new state)` when it changed.
    pub fn sample(&self, rss: u64) -> Option<bool> {
        self.rss.store(rss, Ordering::Relaxed);
        let (high, low) = self.watermarks();
        let was = self.shedding.load(Ordering::Relaxed);
        let now = shedding_after(was, rss, high, low);
        self.shedding.store(now, Ordering::Relaxed);
        (now != was).then_some(now)
    }

    pub fn is_shedding(&self) -> bool {
        self.shedding.load(Ordering::Relaxed)
    }

    /// The last sampled resident size (0 before the first sample).
    pub fn rss(&self) -> u64 {
        self.rss.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_bytes_units_or_percentages() {
        let parse = |text: &str| text.parse::<MemoryAmount>();
        assert_eq!(parse("2147483648"), Ok(MemoryAmount::Bytes(2147483648)));
        assert_eq!(parse("512MiB"), Ok(MemoryAmount::Bytes(512 << 20)));
        assert_eq!(parse("2G"), Ok(MemoryAmount::Bytes(2 << 30)));
        assert_eq!(parse("1.5GiB"), Ok(MemoryAmount::Bytes(3 << 29)));
        assert_eq!(parse("100MB"), Ok(MemoryAmount::Bytes(100_000_000)));
        assert_eq!(parse(" 80% "), Ok(MemoryAmount::PercentOfRam(80.0)));
        for bad in ["", "lots", "10XB", "-5", "0", "0.1", "1e400"] {
            assert!(
                matches!(parse(bad), Err(MemoryAmountError::Unreadable(_))),
                "{bad:?}"
            );
        }
        for bad in ["0%", "101%", "-3%"] {
            assert_eq!(
                parse(bad),
                Err(MemoryAmountError::PercentOutOfRange),
                "{bad}"
            );
        }
    }

    #[test]
    fn proc_texts_are_read() {
        assert_eq!(statm_resident_pages("1000 250 30 1 0 200 0\n"), Some(250));
        assert_eq!(statm_resident_pages("1000"), None);
        let meminfo = "MemTotal:        8000000 kB\nMemFree:  1 kB\n";
        assert_eq!(meminfo_total(meminfo), Some(8_000_000 * 1024));
        assert_eq!(meminfo_total("MemFree: 1 kB\n"), None);
    }

    #[test]
    fn this_process_has_a_resident_size_and_a_percentage_resolves() {
        assert!(resident_bytes().is_some_and(|rss| rss > 0));
        let half = MemoryAmount::PercentOfRam(50.0).resolve().unwrap();
        let all = MemoryAmount::PercentOfRam(100.0).resolve().unwrap();
        assert!(half > 0 && half < all);
    }

    #[test]
    fn shedding_starts_above_high_and_stops_at_low() {
        let (high, low) = (1000, 800);
        assert!(!shedding_after(false, 1000, high, low));
        assert!(shedding_after(false, 1001, high, low));
        assert!(shedding_after(true, 900, high, low), "between: stays on");
        assert!(!shedding_after(true, 800, high, low));
        assert!(!shedding_after(false, 900, high, low), "between: stays off");
    }

    #[test]
    fn the_guard_reports_changes_only() {
        let guard = MemoryGuard::new(1000, 2000);
        assert_eq!(guard.watermarks(), (1000, 1000), "low capped at high");
        assert_eq!(guard.sample(500), None);
        assert_eq!(guard.sample(1500), Some(true));
        assert!(guard.is_shedding());
        assert_eq!(guard.sample(1400), None);
        guard.set_watermarks(10_000, 9_000);
        assert_eq!(guard.sample(1400), Some(false));
        assert_eq!(guard.rss(), 1400);
    }
}
