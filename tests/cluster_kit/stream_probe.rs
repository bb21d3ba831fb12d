//! Where lost cross-instance messages sit in the JetStream message stream: printed when
//! a "nothing PUBACKed is lost" assertion fails, next to the receiving instance's
//! catch-up log lines, so a failure says which catch-up window missed them.

use std::collections::BTreeSet;
use std::time::Duration;

use async_nats::jetstream::{self, consumer};
use futures_util::StreamExt;

use crate::common::Server;

/// The stream sequences of `missing` payloads (as ranges), read from the stream at `url`,
/// and what `receiver` logged about its NATS connection and its catch-ups.
pub async fn where_missing(url: &str, missing: &[&String], receiver: &Server) -> String {
    let sequences = match stream_sequences(url, missing).await {
        Ok(found) => ranges(&found),
        Err(err) => format!("(stream not readable: {err})"),
    };
    let log = receiver.log();
    let lines = log.lines().filter(|l| {
        l.contains("caught up") || l.contains("catch-up") || l.contains("NATS connection")
    });
    let lines: Vec<&str> = lines.collect();
    format!(
        "{} missing at stream sequences {sequences}\nreceiver log:\n{}",
        missing.len(),
        lines.join("\n")
    )
}

async fn stream_sequences(url: &str, missing: &[&String]) -> Result<Vec<u64>, String> {
    let wanted: BTreeSet<&str> = missing.iter().map(|s| s.as_str()).collect();
    let client = async_nats::connect(url).await.map_err(|e| e.to_string())?;
    let js = jetstream::new(client);
    let mut stream = js
        .get_stream("magnetite_messages")
        .await
        .map_err(|e| e.to_string())?;
    let last = stream
        .info()
        .await
        .map_err(|e| e.to_string())?
        .state
        .last_sequence;
    let consumer = stream
        .create_consumer(consumer::pull::OrderedConfig::default())
        .await
        .map_err(|e| e.to_string())?;
    let mut messages = consumer.messages().await.map_err(|e| e.to_string())?;
    let mut found = Vec::new();
    while let Ok(Some(Ok(message))) =
        tokio::time::timeout(Duration::from_secs(5), messages.next()).await
    {
        let sequence = message.info().map_err(|e| e.to_string())?.stream_sequence;
        if let Ok(bus) = magnetite_cluster::wire::decode(message.payload.clone()) {
            if wanted.contains(std::str::from_utf8(&bus.message.payload).unwrap_or("")) {
                found.push(sequence);
            }
        }
        if sequence >= last {
            break;
        }
    }
    Ok(found)
}

/// `3..=7, 9` for `[3, 4, 5, 6, 7, 9]`.
fn ranges(sorted: &[u64]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        while i + 1 < sorted.len() && sorted[i + 1] == sorted[i] + 1 {
            i += 1;
        }
        out.push(if sorted[i] == start {
            start.to_string()
        } else {
            format!("{start}..={}", sorted[i])
        });
        i += 1;
    }
    if out.is_empty() {
        return "(none of them in the stream)".into();
    }
    out.join(", ")
}
