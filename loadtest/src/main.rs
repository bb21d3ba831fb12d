//! `magnetite-loadtest`: drives any MQTT broker and reports throughput, latency,
//! losses, connect rate and memory per connection.

mod cli;
mod client;
mod connections;
mod messages;
mod probe;
mod progress;
mod publisher;
mod report;
mod setup;
mod sources;
mod stats;
mod storm;
mod subscriber;
mod tls;
mod transport;

use clap::Parser;

use cli::{Cli, Command, Common};
use report::Report;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    setup::raise_fd_limit();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(cli.command))
}

async fn run(command: Command) -> anyhow::Result<()> {
    let (report, common) = match command {
        Command::Compare { a, b } => {
            print!(
                "{}",
                report::compare(&Report::read_json(&a)?, &Report::read_json(&b)?)
            );
            return Ok(());
        }
        Command::Conn(c) => (measure_cpu(&c, connections::conn(&c)).await?, c),
        Command::Idle(c) => (connections::idle(&c).await?, c),
        Command::Storm(a) => (measure_cpu(&a.common, storm::run(&a)).await?, a.common),
        Command::Pub(c) => (
            measure_cpu(&c, messages::run(messages::plan("pub", &c), &c)).await?,
            c,
        ),
        Command::Sub(c) => (
            measure_cpu(&c, messages::run(messages::plan("sub", &c), &c)).await?,
            c,
        ),
        Command::FanIn(c) => (
            measure_cpu(&c, messages::run(messages::plan("fan-in", &c), &c)).await?,
            c,
        ),
        Command::FanOut(c) => (
            measure_cpu(&c, messages::run(messages::plan("fan-out", &c), &c)).await?,
            c,
        ),
        Command::P2p(c) => (
            measure_cpu(&c, messages::run(messages::plan("p2p", &c), &c)).await?,
            c,
        ),
    };
    if !common.quiet {
        eprintln!();
    }
    print!("{}", report.table());
    if let Some(path) = &common.json {
        report.write_json(path)?;
    }
    Ok(())
}

/// Runs a scenario and, when the broker's PID is known, adds the CPU it used.
async fn measure_cpu(
    c: &Common,
    scenario: impl std::future::Future<Output = anyhow::Result<Report>>,
) -> anyhow::Result<Report> {
    let before = c.broker_pid.and_then(setup::cpu_seconds);
    let mut report = scenario.await?;
    let after = c.broker_pid.and_then(setup::cpu_seconds);
    if let (Some(b), Some(a)) = (before, after) {
        report.broker_cpu_s = Some(a - b);
        let delivered = report.received.max(report.sent);
        if delivered > 0 {
            report.broker_cpu_us_per_msg = Some((a - b) * 1e6 / delivered as f64);
        }
    }
    Ok(report)
}
