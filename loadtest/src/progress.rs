//! The live progress line on stderr, once a second.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::stats::Stats;

pub fn spawn(stats: Arc<Stats>, quiet: bool) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if quiet {
            return;
        }
        let started = Instant::now();
        let (mut last_sent, mut last_recv) = (0, 0);
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.tick().await;
        loop {
            tick.tick().await;
            let (sent, recv) = (Stats::get(&stats.sent), Stats::get(&stats.received));
            let mut err = std::io::stderr().lock();
            let _ = write!(
                err,
                "\r{:>5.0}s  sent {:>11} ({:>9}/s)  recv {:>11} ({:>9}/s)  conns {:>6}  errors {}   ",
                started.elapsed().as_secs_f64(),
                sent,
                sent - last_sent,
                recv,
                recv - last_recv,
                Stats::get(&stats.connected),
                Stats::get(&stats.errors),
            );
            let _ = err.flush();
            (last_sent, last_recv) = (sent, recv);
        }
    })
}
