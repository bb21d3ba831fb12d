//! The engine alone (no platform hooks, no store) on one TCP port, for profiling the
//! message path: `cargo build --release -p magnetite-broker --example bare_broker`, then
//! `bare_broker 127.0.0.1:1883` under `valgrind --tool=callgrind` (BENCHMARKS.md, "CPU
//! per QoS 1 message: where it goes"). It builds in a fraction of the `magnetite`
//! binary's time, so a cut can be measured before and after in minutes.

use magnetite_broker::{AllowAll, Broker, BrokerConfig};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:1883".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let broker = Broker::new(BrokerConfig::default(), AllowAll);
    tokio::select! {
        _ = broker.serve_tcp(listener) => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(())
}
