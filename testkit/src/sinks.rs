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

/// An event's fields: name -> value as text (flat in Redis; JSON strings unquoted and
/// other JSON values as JSON text from NATS and RabbitMQ).
pub type Fields = std::collections::BTreeMap<String, String>;

/// JSON bodies as [`Fields`].
pub fn flat_fields(bodies: Vec<Map<String, Value>>) -> Vec<Fields> {
    bodies
        .into_iter()
        .map(|m| {
            m.into_iter()
                .map(|(k, v)| match v {
                    Value::String(s) => (k, s),
                    other => (k, other.to_string()),
                })
                .collect()
        })
        .collect()
}

/// Which sink a [`StreamReader`] reads, and its port.
#[derive(Clone, Copy, Debug)]
pub enum Sink {
    Redis(u16),
    Nats(u16),
    Rabbitmq(u16),
}

/// Reads the platform's `magistrala` event streams from one sink, blocking, for tests
/// that drive the binary from synchronous code.
pub struct StreamReader {
    sink: Sink,
    within: Duration,
    rt: tokio::runtime::Runtime,
}

impl StreamReader {
    /// A reader that waits up to `within` for the events it is asked for.
    pub fn new(sink: Sink, within: Duration) -> StreamReader {
        let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
        StreamReader { sink, within, rt }
    }

    /// The `--event-store` URL of the sink.
    pub fn store_url(&self) -> String {
        match self.sink {
            Sink::Redis(port) => format!("redis://127.0.0.1:{port}"),
            Sink::Nats(port) => format!("nats://127.0.0.1:{port}"),
            Sink::Rabbitmq(port) => format!("rabbitmq-stream://guest:guest@127.0.0.1:{port}"),
        }
    }

    /// The events of `service`'s stream once there are at least `n`, or what there is
    /// when the wait runs out (the caller asserts on it).
    pub fn read(&self, service: &str, n: usize) -> Vec<Fields> {
        let stream = format!("magistrala.{service}");
        match self.sink {
            Sink::Redis(port) => wait_for_len(self.within, n, || xrange(port, &stream)),
            Sink::Nats(port) => {
                let subject = format!("events.{stream}");
                wait_for_len(self.within, n, || {
                    flat_fields(self.rt.block_on(read_subject(port, &subject)))
                })
            }
            Sink::Rabbitmq(port) => flat_fields(self.rt.block_on(read_stream(port, &stream, n))),
        }
    }
}

/// Calls `read` until it returns at least `n` items or `within` passes; returns the last.
pub fn wait_for_len<T>(within: Duration, n: usize, mut read: impl FnMut() -> Vec<T>) -> Vec<T> {
    let started = std::time::Instant::now();
    loop {
        let v = read();
        if v.len() >= n || started.elapsed() > within {
            return v;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
