//! `--source-addrs`: the local addresses connections bind to before connecting, taken
//! in turn. One address reaches one broker address and port from at most the ephemeral
//! port range (`net.ipv4.ip_local_port_range`, ~28,000 ports by default); 127.0.0.0/8 is
//! all loopback on Linux, so `127.0.0.1-127.0.0.50` gives 50 times that with no setup.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The addresses, shared by every connection of a run, and whose turn is next.
#[derive(Clone, Debug, Default)]
pub struct SourceAddrs {
    addrs: Arc<[IpAddr]>,
    next: Arc<AtomicUsize>,
}

impl SourceAddrs {
    pub fn new(addrs: Vec<IpAddr>) -> SourceAddrs {
        SourceAddrs {
            addrs: addrs.into(),
            next: Arc::default(),
        }
    }

    /// The address the next connection binds to (round robin); `None` without
    /// `--source-addrs`.
    pub fn next(&self) -> Option<IpAddr> {
        if self.addrs.is_empty() {
            return None;
        }
        let turn = self.next.fetch_add(1, Ordering::Relaxed);
        Some(self.addrs[turn % self.addrs.len()])
    }
}

/// Most addresses one flag may name (a typo in a range must not allocate millions).
const MAX_SOURCES: u32 = 65_536;

/// `127.0.0.1-127.0.0.50` (an IPv4 range, inclusive), `50` (that many loopback
/// addresses from 127.0.0.1) or a comma-separated list of addresses.
pub fn parse(spec: &str) -> Result<Vec<IpAddr>, String> {
    let spec = spec.trim();
    if let Ok(count) = spec.parse::<u32>() {
        return range(Ipv4Addr::new(127, 0, 0, 1), count);
    }
    if let Some((first, last)) = spec.split_once('-') {
        let first: Ipv4Addr = first.trim().parse().map_err(|_| bad(spec))?;
        let last: Ipv4Addr = last.trim().parse().map_err(|_| bad(spec))?;
        let (a, b) = (u32::from(first), u32::from(last));
        if b < a {
            return Err(format!("{spec}: the range ends before it starts"));
        }
        return range(first, b - a + 1);
    }
    spec.split(',')
        .map(|a| a.trim().parse::<IpAddr>().map_err(|_| bad(spec)))
        .collect()
}

fn range(first: Ipv4Addr, count: u32) -> Result<Vec<IpAddr>, String> {
    if count == 0 || count > MAX_SOURCES {
        return Err(format!("between 1 and {MAX_SOURCES} source addresses"));
    }
    let start = u32::from(first);
    let end = start
        .checked_add(count - 1)
        .ok_or_else(|| "the range runs past 255.255.255.255".to_string())?;
    Ok((start..=end)
        .map(|a| IpAddr::V4(Ipv4Addr::from(a)))
        .collect())
}

fn bad(spec: &str) -> String {
    format!("{spec}: expected FIRST-LAST (IPv4), a count or a list of addresses")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(a, b, c, d))
    }

    #[test]
    fn a_range_is_inclusive_and_may_cross_an_octet() {
        let addrs = parse("127.0.0.254-127.0.1.1").unwrap();
        assert_eq!(
            addrs,
            vec![
                v4(127, 0, 0, 254),
                v4(127, 0, 0, 255),
                v4(127, 0, 1, 0),
                v4(127, 0, 1, 1)
            ]
        );
    }

    #[test]
    fn a_count_is_that_many_loopback_addresses() {
        let addrs = parse("3").unwrap();
        assert_eq!(
            addrs,
            vec![v4(127, 0, 0, 1), v4(127, 0, 0, 2), v4(127, 0, 0, 3)]
        );
    }

    #[test]
    fn a_list_is_taken_as_written() {
        assert_eq!(
            parse("127.0.0.5, ::1").unwrap(),
            vec![v4(127, 0, 0, 5), "::1".parse().unwrap()]
        );
    }

    #[test]
    fn nonsense_is_refused() {
        for spec in ["", "0", "127.0.0.9-127.0.0.1", "a-b", "1.2.3", "1000000"] {
            assert!(parse(spec).is_err(), "{spec}");
        }
    }

    #[test]
    fn connections_take_the_addresses_in_turn() {
        let s = SourceAddrs::new(parse("2").unwrap());
        let seen: Vec<_> = (0..4).map(|_| s.next().unwrap()).collect();
        assert_eq!(
            seen,
            vec![
                v4(127, 0, 0, 1),
                v4(127, 0, 0, 2),
                v4(127, 0, 0, 1),
                v4(127, 0, 0, 2)
            ]
        );
        assert_eq!(SourceAddrs::default().next(), None);
    }
}
