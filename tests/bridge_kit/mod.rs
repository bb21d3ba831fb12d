//! What the bridge tests share: `/metrics` readings of a bridge, a v5 event-loop
//! driver, [`proxy::CutProxy`] (a link that breaks at a chosen MQTT packet) and the
//! [`upstream::Upstream`]s an outage test stops and starts again.

#![allow(dead_code)]

pub mod proxy;
pub mod upstream;

use std::time::{Duration, Instant};

use crate::common::Server;

/// The value of the series `name{bridge="<bridge>"}` on `/metrics`.
pub async fn metric(server: &Server, name: &str, bridge: &str) -> Option<u64> {
    let text = reqwest::get(format!("http://{}/metrics", server.http))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let series = format!("{name}{{bridge=\"{bridge}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(series.as_str()))
        .and_then(|value| value.trim().parse().ok())
}

/// Waits until `metric` reads `want`; false after `within`.
pub async fn wait_metric(
    server: &Server,
    name: &str,
    bridge: &str,
    want: u64,
    within: Duration,
) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if metric(server, name, bridge).await == Some(want) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// Waits (20 s at most) until bridge `bridge` of `edge` is connected upstream.
pub async fn wait_connected(edge: &Server, bridge: &str) {
    assert!(
        wait_metric(
            edge,
            "magnetite_bridge_connected",
            bridge,
            1,
            Duration::from_secs(20)
        )
        .await,
        "{}",
        edge.log()
    );
}

/// Drives a v5 event loop until `done` says so or the time runs out.
pub async fn drive5(
    eventloop: &mut rumqttc::v5::EventLoop,
    limit: Duration,
    mut done: impl FnMut(&rumqttc::v5::Event) -> bool,
) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, eventloop.poll()).await {
            Ok(Ok(event)) => {
                if done(&event) {
                    return true;
                }
            }
            Ok(Err(_)) | Err(_) => return false,
        }
    }
}
