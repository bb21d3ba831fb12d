//! kill -9 of a process running the shipper, with events pending: a new shipper on the
//! same outbox delivers them, in order. The "broker" here is this test binary re-run as a
//! child process (`child_shipper`), so it can really be SIGKILLed.

mod common;

use common::*;
use magnetite_events::OutboxDb;
use magnetite_events::{Events, EventsConfig};
use std::process::{Command, Stdio};
use std::time::Duration;

const CHILD_DB: &str = "MAGNETITE_EVENTS_CHILD_DB";
const CHILD_REDIS: &str = "MAGNETITE_EVENTS_CHILD_REDIS";

fn config(redis_port: u16) -> EventsConfig {
    EventsConfig {
        stores: vec![format!("redis://127.0.0.1:{redis_port}")],
        ..Default::default()
    }
}

/// Not a test on its own: the child process body (runs only with the env vars set).
#[test]
#[ignore = "run as a child process by kill_9_with_events_pending_then_restart"]
fn child_shipper() {
    let (Ok(db), Ok(port)) = (std::env::var(CHILD_DB), std::env::var(CHILD_REDIS)) else {
        return;
    };
    let port: u16 = port.parse().expect("port");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let _events = Events::start(db.as_str(), config(port))
            .await
            .expect("start");
        tokio::time::sleep(Duration::from_secs(120)).await;
    });
}

async fn mqtt_ids(port: u16) -> Vec<String> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let raw: Vec<(String, Vec<String>)> = redis::cmd("XRANGE")
        .arg("magistrala.mqtt")
        .arg("-")
        .arg("+")
        .query_async(&mut con)
        .await
        .unwrap();
    raw.into_iter()
        .map(|(_, kv)| {
            let i = kv.iter().position(|k| k == "client_id").unwrap();
            kv[i + 1].clone()
        })
        .collect()
}

async fn wait_ids(port: u16, n: usize) -> Vec<String> {
    eventually(Duration::from_secs(30), || async {
        let v = mqtt_ids(port).await;
        (v.len() >= n).then_some(v)
    })
    .await
    .unwrap_or_else(|| panic!("did not reach {n} events"))
}

#[tokio::test]
async fn kill_9_with_events_pending_then_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut redis = redis_persistent(dir.path());
    let (db, url) = sqlite_db(dir.path()).await;
    db.append_batch(&numbered(300, 0)).await.unwrap();

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["child_shipper", "--exact", "--ignored", "--nocapture"])
        .env(CHILD_DB, &url)
        .env(CHILD_REDIS, redis.port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child shipper");
    wait_ids(redis.port, 300).await;

    // Sink down, 700 more events pending in the child's backlog, then SIGKILL.
    redis.stop();
    db.append_batch(&numbered(700, 300)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    child.kill().expect("kill -9 child");
    let _ = child.wait();
    redis.start();

    let events = Events::start(url.as_str(), config(redis.port))
        .await
        .unwrap();
    let got = wait_ids(redis.port, 1000).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(mqtt_ids(redis.port).await.len(), 1000, "no duplicates");
    let want: Vec<String> = (0..1000).map(|i| format!("dev-{i}")).collect();
    assert_eq!(got, want, "all pending events arrive, in order");
    events.shutdown().await;
}
