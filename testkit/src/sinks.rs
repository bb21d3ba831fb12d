//! Readers for the event sinks, as a consumer would read them: a JetStream pull
//! consumer, a RabbitMQ stream consumer, `redis-cli XRANGE`.

use async_nats::jetstream::{self, consumer};
use futures_util::StreamExt;
use rabbitmq_stream_client::types::OffsetSpecification;
use rabbitmq_stream_client::Environment;
use serde_json::{Map, Value};
use std::time::Duration;

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
    read_raw_filtered(port, "events", Some(subject))
        .await
        .into_iter()
        .map(|(got, body)| {
            assert_eq!(got, subject);
            let v: Value = serde_json::from_slice(&body).expect("JSON body");
            v.as_object().cloned().expect("JSON object")
        })
        .collect()
}

/// Connects, retrying while the node finishes booting (the port opens before it
/// accepts stream connections).
pub async fn env(port: u16) -> Environment {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        match Environment::builder()
            .host("127.0.0.1")
            .port(port)
            .build()
            .await
        {
            Ok(env) => return env,
            Err(e) if tokio::time::Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => panic!("rabbitmq env: {e}"),
        }
    }
}

/// Reads `stream` from the first offset until `n` messages or 20 s pass; then waits a
/// little more to catch duplicates.
pub async fn read_stream(port: u16, stream: &str, n: usize) -> Vec<Map<String, Value>> {
    let env = env(port).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut consumer = loop {
        match env
            .consumer()
            .offset(OffsetSpecification::First)
            .build(stream)
            .await
        {
            Ok(c) => break c,
            Err(e) if tokio::time::Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("consumer on {stream}: {e}"),
        }
    };
    let mut out = Vec::new();
    loop {
        let wait = if out.len() >= n {
            Duration::from_millis(500)
        } else {
            deadline.saturating_duration_since(tokio::time::Instant::now())
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

/// Every message of JetStream stream `stream` (subject, raw body), in stream order;
/// empty when the stream does not exist yet. For binary bodies (Kaa's Avro).
pub async fn read_raw(port: u16, stream: &str) -> Vec<(String, Vec<u8>)> {
    read_raw_filtered(port, stream, None).await
}

/// [`read_raw`] of the messages on `subject` only, when given.
async fn read_raw_filtered(
    port: u16,
    stream: &str,
    subject: Option<&str>,
) -> Vec<(String, Vec<u8>)> {
    let client = async_nats::connect(format!("127.0.0.1:{port}"))
        .await
        .unwrap();
    let js = jetstream::new(client);
    let Ok(stream) = js.get_stream(stream).await else {
        return Vec::new();
    };
    let cons = stream
        .create_consumer(consumer::pull::Config {
            filter_subject: subject.unwrap_or_default().to_string(),
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
            out.push((m.subject.to_string(), m.payload.to_vec()));
            n += 1;
        }
        if n == 0 {
            return out;
        }
    }
}
