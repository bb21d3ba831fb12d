//! Readers for the event sinks, as a consumer would read them: a JetStream pull
//! consumer, a RabbitMQ stream consumer, `redis-cli XRANGE`.

use async_nats::jetstream::{self, consumer};
use futures_util::StreamExt;
use rabbitmq_stream_client::types::OffsetSpecification;
use rabbitmq_stream_client::Environment;
use serde_json::{Map, Value};
use std::time::Duration;
use tokio::time::Instant;

/// `XRANGE key - +` on the Redis at `port`, each entry as a field map (flat strings),
/// read with the redis crate (values may span lines, e.g. PEM certificates).
pub fn xrange(port: u16, key: &str) -> Vec<std::collections::BTreeMap<String, String>> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).expect("redis url");
    let mut conn = client.get_connection().expect("redis connection");
    let reply: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg(key)
        .arg("-")
        .arg("+")
        .query(&mut conn)
        .expect("XRANGE");
    reply
        .ids
        .into_iter()
        .map(|entry| {
            entry
                .map
                .into_iter()
                .map(|(k, v)| {
                    (
                        k,
                        redis::from_redis_value::<String>(&v).expect("string value"),
                    )
                })
                .collect()
        })
        .collect()
}

/// Every message on `subject` in stream `events`, in stream order.
pub async fn read_subject(port: u16, subject: &str) -> Vec<Map<String, Value>> {
    let client = async_nats::connect(format!("127.0.0.1:{port}"))
        .await
        .unwrap();
    let js = jetstream::new(client);
    let Ok(stream) = js.get_stream("events").await else {
        return Vec::new();
    };
    let cons = stream
        .create_consumer(consumer::pull::Config {
            filter_subject: subject.to_string(),
            deliver_policy: consumer::DeliverPolicy::All,
            ack_policy: consumer::AckPolicy::None,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut out = Vec::new();
    loop {
        let mut batch = cons
            .fetch()
            .max_messages(500)
            .expires(Duration::from_millis(300))
            .messages()
            .await
            .unwrap();
        let mut n = 0;
        while let Some(m) = batch.next().await {
            let m = m.unwrap();
            assert_eq!(m.subject.as_str(), subject);
            let v: Value = serde_json::from_slice(&m.payload).expect("JSON body");
            out.push(v.as_object().cloned().expect("JSON object"));
            n += 1;
        }
        if n == 0 {
            return out;
        }
    }
}

/// Runs `attempt` until it succeeds, pausing `pause` between tries; past `deadline` its
/// error fails the test, named by `what`.
async fn retry<T, E, F, Fut>(what: &str, deadline: Instant, pause: Duration, mut attempt: F) -> T
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    loop {
        match attempt().await {
            Ok(v) => return v,
            Err(_) if Instant::now() < deadline => tokio::time::sleep(pause).await,
            Err(e) => panic!("{what}: {e}"),
        }
    }
}

/// Connects, retrying while the node finishes booting (the port opens before it
/// accepts stream connections).
pub async fn env(port: u16) -> Environment {
    let deadline = Instant::now() + Duration::from_secs(60);
    retry("rabbitmq env", deadline, Duration::from_millis(250), || {
        Environment::builder().host("127.0.0.1").port(port).build()
    })
    .await
}

/// Reads `stream` from the first offset until `n` messages or 20 s pass; then waits a
/// little more to catch duplicates.
pub async fn read_stream(port: u16, stream: &str, n: usize) -> Vec<Map<String, Value>> {
    let env = env(port).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let what = format!("consumer on {stream}");
    let mut consumer = retry(&what, deadline, Duration::from_millis(200), || {
        env.consumer()
            .offset(OffsetSpecification::First)
            .build(stream)
    })
    .await;
    let mut out = Vec::new();
    loop {
        let wait = if out.len() >= n {
            Duration::from_millis(500)
        } else {
            deadline.saturating_duration_since(Instant::now())
        };
        match tokio::time::timeout(wait, consumer.next()).await {
            Ok(Some(Ok(d))) => {
                let body = d.message().data().expect("body");
                let v: Value = serde_json::from_slice(body).expect("JSON body");
                out.push(v.as_object().cloned().expect("object"));
            }
            Ok(Some(Err(e))) => panic!("delivery: {e:?}"),
            Ok(None) | Err(_) => break,
        }
    }
    let _ = consumer.handle().close().await;
    out
}
