//! kill -9 of a process running the shipper, with events pending: a new shipper on the
//! same outbox delivers them, in order. The "broker" here is this test binary re-run as a
//! child process (`child_shipper`), so it can really be SIGKILLed.

mod common;

use common::*;
use magnetite_events::Events;
use magnetite_events::OutboxDb;
use std::process::{Command, Stdio};
use std::time::Duration;

const CHILD_DB: &str = "MAGNETITE_EVENTS_CHILD_DB";
const CHILD_REDIS: &str = "MAGNETITE_EVENTS_CHILD_REDIS";

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
        let _events = Events::start(db.as_str(), redis_config(port))
            .await
            .expect("start");
        tokio::time::sleep(Duration::from_secs(120)).await;
    });
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
    wait_redis_mqtt_ids(redis.port, 300).await;

    // Sink down, 700 more events pending in the child's backlog, then SIGKILL.
    redis.stop();
    db.append_batch(&numbered(700, 300)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    child.kill().expect("kill -9 child");
    let _ = child.wait();
    redis.start();

    let events = Events::start(url.as_str(), redis_config(redis.port))
        .await
        .unwrap();
    let got = wait_redis_mqtt_ids(redis.port, 1000).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        redis_mqtt_ids(redis.port).await.len(),
        1000,
        "no duplicates"
    );
    assert_eq!(
        got,
        expected_ids(0, 1000),
        "all pending events arrive, in order"
    );
    events.shutdown().await;
}
