//! The event consumers' test helpers (`/consumers` over HTTP, SSE lines), shared by
//! `tests/consumers.rs` and `tests/consumer_scopes.rs`.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::platform::Api;

/// Longest a test waits for something the server does in the background.
pub const PATIENCE: Duration = Duration::from_secs(20);

pub fn consumer(api: &Api, target: &str, id: &str, sub: bool, start: Value) -> String {
    let body = json!({"target": target, "id": id, "include_subresources": sub, "start": start});
    let c = api.expect("POST", "/consumers", Some(body), 201);
    c["id"].as_str().expect("consumer id").to_string()
}

pub fn batch(api: &Api, id: &str, size: u32) -> Vec<Value> {
    let b = api.expect(
        "GET",
        &format!("/consumers/{id}/batch?size={size}"),
        None,
        200,
    );
    b["events"].as_array().expect("events").clone()
}

/// `(operation, id)` of each delivery.
pub fn ops(events: &[Value]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|e| {
            let ev = &e["event"];
            let s = |k: &str| ev[k].as_str().unwrap_or_default().to_string();
            (s("operation"), s("id"))
        })
        .collect()
}

pub fn replies(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["reply"].as_str().expect("reply").to_string())
        .collect()
}

pub fn ack(api: &Api, replies: &[String]) -> (usize, usize) {
    let out = api.expect(
        "POST",
        "/consumers/acknowledge",
        Some(json!({ "replies": replies })),
        200,
    );
    let n = |k: &str| out[k].as_array().map_or(0, Vec::len);
    (n("accepted"), n("refused"))
}

/// Fetches (and acknowledges) until a delivery satisfies `done`; everything delivered.
pub fn until(
    api: &Api,
    id: &str,
    done: impl Fn(&(String, String)) -> bool,
) -> Vec<(String, String)> {
    until_all(api, id, ops, |seen| seen.iter().any(&done))
}

/// Fetches (and acknowledges) until `done` holds for everything delivered so far, each
/// delivery read by `read`; everything delivered.
pub fn until_all(
    api: &Api,
    id: &str,
    read: fn(&[Value]) -> Vec<(String, String)>,
    done: impl Fn(&[(String, String)]) -> bool,
) -> Vec<(String, String)> {
    let deadline = Instant::now() + PATIENCE;
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        let events = batch(api, id, 1000);
        ack(api, &replies(&events));
        seen.extend(read(&events));
        if done(&seen) {
            return seen;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("consumer {id} never delivered the awaited events; got {seen:?}");
}

/// The first non-empty batch (of at most 5): events become visible to consumers a
/// moment after their commit (the horizon reader's wake-up).
pub fn first_batch(api: &Api, id: &str) -> Vec<Value> {
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        let b = batch(api, id, 5);
        if !b.is_empty() {
            return b;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("consumer {id} delivered nothing");
}

pub fn entity(api: &Api, domain: &str, kind: &str, name: &str, parent: Option<&str>) -> String {
    let body = json!({"name": name, "parent_id": parent});
    let e = api.expect("POST", &format!("/{domain}/{kind}"), Some(body), 201);
    e["id"].as_str().expect("id").to_string()
}

pub fn rename(api: &Api, domain: &str, kind: &str, id: &str, name: &str) {
    let body = json!({ "name": name });
    api.expect("PATCH", &format!("/{domain}/{kind}/{id}"), Some(body), 200);
}

pub fn updated(seen: &[(String, String)], id: &str) -> usize {
    seen.iter()
        .filter(|(op, i)| op.ends_with(".update") && i == id)
        .count()
}

/// Reads an SSE body line by line until `done` holds for the lines read so far.
pub fn read_sse(
    lines: &mut impl Iterator<Item = String>,
    done: impl Fn(&[String]) -> bool,
) -> Vec<String> {
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        seen.push(line);
        if done(&seen) {
            return seen;
        }
    }
    panic!("the stream ended first: {seen:?}");
}

pub fn sse_lines(api: &Api, id: &str) -> impl Iterator<Item = String> {
    let resp = open_sse(api, id);
    assert_eq!(resp.status().as_u16(), 200);
    BufReader::new(resp).lines().map_while(Result::ok)
}

/// A stream request, answered with its status (the body is not read: a 200 stays open
/// while the response lives).
pub fn open_sse(api: &Api, id: &str) -> reqwest::blocking::Response {
    reqwest::blocking::Client::builder()
        .timeout(PATIENCE)
        .build()
        .expect("client")
        .get(format!("{}/consumers/{id}/stream", api.base_url()))
        .bearer_auth(&api.token)
        .send()
        .expect("stream request")
}
