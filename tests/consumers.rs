//! Event consumers (`/consumers`, issue 14) against the real binary: scope by target and
//! by group membership at the time of the event, batch exactness, acknowledgement and
//! redelivery, refused replies, revocation, SSE and WebSocket streams with keep-alives,
//! expiry, per-user caps, bounds on open streams and tenant isolation.

mod common;
mod consumer_kit;
mod platform;

#[path = "security/tenants.rs"]
mod tenants;

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use consumer_kit::*;
use platform::Api;

#[test]
fn scope_follows_the_target_and_the_subtree_at_the_time_of_the_event() {
    let server = platform::server(&[]);
    let api = Api::admin(&server);
    let d = api.domain("Plant", "plant");
    let other = api.domain("Other", "other");
    let g = entity(&api, &d, "groups", "hall", None);
    let g2 = entity(&api, &d, "groups", "line", Some(&g));
    let c = entity(&api, &d, "channels", "temp", Some(&g2));
    let sibling = entity(&api, &d, "channels", "sibling", None);
    let k = entity(&api, &d, "clients", "sensor", Some(&g));
    let x = entity(&api, &other, "channels", "foreign", None);

    let new = json!("new");
    let whole = consumer(&api, "domain", &d, true, new.clone());
    let domain_only = consumer(&api, "domain", &d, false, new.clone());
    let subtree = consumer(&api, "group", &g, true, new.clone());
    let group_only = consumer(&api, "group", &g, false, new.clone());
    let channel = consumer(&api, "channel", &c, false, new.clone());
    let client = consumer(&api, "client", &k, false, new.clone());

    rename(&api, &d, "channels", &c, "temp-1");
    rename(&api, &d, "channels", &sibling, "sibling-1");
    rename(&api, &other, "channels", &x, "foreign-1");
    rename(&api, &d, "clients", &k, "sensor-1");
    // Out of the subtree, then changed again: the second change is not the group's.
    api.expect("DELETE", &format!("/{d}/channels/{c}/parent"), None, 204);
    rename(&api, &d, "channels", &c, "temp-2");
    rename(&api, &d, "groups", &g, "hall-1");

    // Every event of the domain has been delivered once the domain consumer saw the
    // last one; every other consumer's view is then complete too.
    let all = until(&api, &whole, |(op, id)| op == "group.update" && id == &g);
    assert_eq!(updated(&all, &c), 3, "{all:?}");
    assert_eq!(updated(&all, &sibling), 1);
    assert_eq!(
        updated(&all, &x),
        0,
        "another domain's event leaked: {all:?}"
    );

    let sub = ops(&batch(&api, &subtree, 1000));
    assert_eq!(
        updated(&sub, &c),
        1,
        "only the change made inside the subtree: {sub:?}"
    );
    assert_eq!(updated(&sub, &k), 1);
    assert_eq!(updated(&sub, &g), 1);
    assert_eq!(updated(&sub, &sibling) + updated(&sub, &x), 0);

    let own = ops(&batch(&api, &group_only, 1000));
    assert_eq!(own, vec![("group.update".to_string(), g.clone())]);

    let ch = ops(&batch(&api, &channel, 1000));
    assert_eq!(updated(&ch, &c), 3, "{ch:?}");
    assert!(ch.iter().all(|(_, id)| id == &c), "{ch:?}");

    let cl = ops(&batch(&api, &client, 1000));
    assert_eq!(cl, vec![("client.update".to_string(), k.clone())]);

    // Nothing names the domain itself: its own consumer without subresources is empty.
    assert!(batch(&api, &domain_only, 1000).is_empty());
}

#[test]
fn batches_are_exact_and_unacknowledged_events_come_again_with_a_new_reply() {
    let server = platform::server(&["--consumer-ack-wait", "1s"]);
    let api = Api::admin(&server);
    let d = api.domain("Batches", "batches");
    let id = consumer(&api, "domain", &d, true, json!("new"));
    let channels: Vec<String> = (0..7)
        .map(|i| entity(&api, &d, "channels", &format!("ch{i}"), None))
        .collect();
    // The first event is visible once the horizon passed the last one.
    let probe = consumer(&api, "domain", &d, true, json!("all"));
    until(&api, &probe, |(_, i)| i == &channels[6]);

    let mut delivered = Vec::new();
    for want in [3, 3, 1] {
        let b = batch(&api, &id, 3);
        assert_eq!(b.len(), want, "size=3 returns min(3, available)");
        delivered.extend(b);
    }
    let positions: Vec<i64> = delivered
        .iter()
        .map(|e| e["position"].as_i64().expect("position"))
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "in order: {positions:?}"
    );
    let ids: Vec<String> = ops(&delivered).into_iter().map(|(_, i)| i).collect();
    assert_eq!(ids, channels, "every event once, none of another scope");
    assert!(
        batch(&api, &id, 10).is_empty(),
        "nothing is due before the ack-wait"
    );

    let all = replies(&delivered);
    assert_eq!(ack(&api, &all[..6]), (6, 0));
    assert_eq!(
        ack(&api, &all[..1]),
        (0, 1),
        "a replayed reply acknowledges nothing"
    );

    let deadline = Instant::now() + PATIENCE;
    let again = loop {
        let b = batch(&api, &id, 10);
        if !b.is_empty() || Instant::now() > deadline {
            break b;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(again.len(), 1, "only the unacknowledged event comes again");
    assert_eq!(again[0]["position"], delivered[6]["position"]);
    let fresh = replies(&again);
    assert_ne!(fresh[0], all[6], "a redelivery carries a new salt");
    assert_eq!(
        ack(&api, &all[6..]),
        (0, 1),
        "the earlier delivery's reply is stale"
    );
    assert_eq!(ack(&api, &fresh), (1, 0));
    assert_eq!(ack(&api, &fresh), (0, 1));

    for bad in ["0", "1001", "x"] {
        let (status, body) = api.call("GET", &format!("/consumers/{id}/batch?size={bad}"), None);
        assert_eq!(status.as_u16(), 400, "size={bad}: {body}");
        assert!(body["message"].is_string());
    }
}

#[test]
fn forged_and_foreign_replies_acknowledge_nothing() {
    let t = tenants::two_tenants(&["--consumer-ack-wait", "1h"]);
    let (a, b) = (&t.d1.api, &t.d2.api);
    let mine = consumer(a, "domain", &t.d1.domain, true, json!("all"));
    let second = consumer(a, "channel", &t.d1.channel, false, json!("all"));
    let theirs = consumer(b, "domain", &t.d2.domain, true, json!("all"));
    let r1 = replies(&first_batch(a, &mine));
    let r2 = replies(&first_batch(a, &second));
    let rb = replies(&first_batch(b, &theirs));

    let mut forged = r1[0].clone();
    let last = forged.pop().expect("hmac digit");
    forged.push(if last == '0' { '1' } else { '0' });
    // Another consumer's reply re-addressed to this one: the signature breaks.
    let readdressed = r2[0].replacen(&second, &mine, 1);
    let junk = vec!["".to_string(), "a.b.c.d".into(), "x".repeat(10_000)];
    assert_eq!(ack(a, &[forged, readdressed]), (0, 2));
    assert_eq!(ack(a, &junk), (0, 3));
    assert_eq!(ack(a, &rb), (0, rb.len()), "another user's replies");
    assert_eq!(ack(b, &r1), (0, r1.len()), "replies used by another user");
    // All of that acknowledged nothing: the owners still can.
    assert_eq!(ack(a, &r1), (r1.len(), 0));
    assert_eq!(ack(a, &r2), (r2.len(), 0));
    assert_eq!(ack(b, &rb), (rb.len(), 0));
}

#[test]
fn other_tenants_and_strangers_reach_nothing_and_consumers_are_capped() {
    let t = tenants::two_tenants(&["--consumer-max-per-user", "3"]);
    let (a, b) = (&t.d1.api, &t.d2.api);
    let mine = consumer(a, "domain", &t.d1.domain, true, json!("all"));
    for (target, id) in [
        ("domain", t.d1.domain.as_str()),
        ("channel", t.d1.channel.as_str()),
        ("client", t.d1.device.id.as_str()),
        ("group", "00000000-0000-0000-0000-000000000000"),
        ("user", t.d1.user_id.as_str()),
    ] {
        let body = json!({"target": target, "id": id, "start": "all"});
        let (status, out) = b.call("POST", "/consumers", Some(body));
        assert_eq!(status.as_u16(), 404, "{target} of another tenant: {out}");
    }
    for (method, path) in [
        ("GET", format!("/consumers/{mine}/batch")),
        ("GET", format!("/consumers/{mine}/stream")),
        ("DELETE", format!("/consumers/{mine}")),
    ] {
        let (status, out) = b.call(method, &path, None);
        assert_eq!(status.as_u16(), 404, "{method} {path}: {out}");
    }
    let mut stranger = Api::admin(&t.server);
    stranger.token.clear();
    for (method, path, body) in [
        (
            "POST",
            "/consumers".to_string(),
            Some(json!({"target": "domain", "id": t.d1.domain})),
        ),
        ("GET", format!("/consumers/{mine}/batch"), None),
        (
            "POST",
            "/consumers/acknowledge".to_string(),
            Some(json!({"replies": []})),
        ),
        ("DELETE", format!("/consumers/{mine}"), None),
    ] {
        let (status, out) = stranger.call(method, &path, body);
        assert_eq!(status.as_u16(), 401, "{method} {path}: {out}");
    }
    for junk in [
        json!({"target": "planet", "id": "x"}),
        json!({"id": "x"}),
        json!([1]),
    ] {
        let (status, out) = a.call("POST", "/consumers", Some(junk));
        assert!(
            status.is_client_error() && out["message"].is_string(),
            "{status} {out}"
        );
    }
    // Still there and working for its owner.
    assert!(!first_batch(a, &mine).is_empty());

    let me = consumer(a, "user", &t.d1.user_id, false, json!("all"));
    let third = consumer(a, "channel", &t.d1.channel, false, json!("new"));
    let body = json!({"target": "client", "id": t.d1.device.id});
    let (status, out) = a.call("POST", "/consumers", Some(body.clone()));
    assert_eq!(status.as_u16(), 409, "a fourth consumer: {out}");
    a.expect("DELETE", &format!("/consumers/{third}"), None, 204);
    a.expect("DELETE", &format!("/consumers/{third}"), None, 404);
    a.expect("POST", "/consumers", Some(body), 201);
    a.expect("GET", &format!("/consumers/{me}/batch"), None, 200);
}

#[test]
fn a_reader_whose_access_is_revoked_stops_at_once() {
    let t = tenants::two_tenants(&["--consumer-keepalive", "200ms"]);
    let body = json!({"email": "reader@example.com", "credentials": {"username": "reader", "secret": "reader-password-1"}});
    let user = t.admin.expect("POST", "/users", Some(body), 201);
    let uid = user["id"].as_str().expect("user id").to_string();
    let assign = json!({"user_ids": [uid], "relation": "member"});
    let path = format!("/domains/{}/users/assign", t.d1.domain);
    t.d1.api.expect("POST", &path, Some(assign.clone()), 201);
    let mut reader = Api::admin(&t.server);
    reader.token = reader.login("reader@example.com", "reader-password-1");
    let id = consumer(&reader, "domain", &t.d1.domain, true, json!("all"));
    first_batch(&reader, &id);
    let mut stream = sse_lines(&reader, &id);
    read_sse(&mut stream, |l| {
        l.iter().any(|x| x.starts_with(": keep-alive"))
    });

    let path = format!("/domains/{}/users/unassign", t.d1.domain);
    t.d1.api
        .expect("POST", &path, Some(json!({"user_ids": [uid]})), 204);
    reader.expect("GET", &format!("/consumers/{id}/batch"), None, 404);
    read_sse(&mut stream, |l| l.iter().any(|x| x == "event: end"));
    let rest: Vec<String> = stream.collect();
    assert!(
        rest.iter().any(|x| x.contains("message")),
        "the end says why: {rest:?}"
    );
    assert!(
        !rest.iter().any(|x| x.contains("\"reply\"")),
        "no delivery after the end: {rest:?}"
    );
}

#[test]
fn sse_and_websocket_streams_deliver_events_and_keep_alives() {
    let server = platform::server(&["--consumer-keepalive", "300ms"]);
    let api = Api::admin(&server);
    let d = api.domain("Live", "live");
    let sse_id = consumer(&api, "domain", &d, true, json!("new"));
    let ws_id = consumer(&api, "domain", &d, true, json!("new"));
    let mut stream = sse_lines(&api, &sse_id);
    let ch = entity(&api, &d, "channels", "live-1", None);
    let seen = read_sse(&mut stream, |l| {
        l.iter().any(|x| x.starts_with("data:") && x.contains(&ch))
            && l.iter().any(|x| x == ": keep-alive")
    });
    let data = seen
        .iter()
        .find(|x| x.starts_with("data:"))
        .expect("data line");
    let delivery: Value = serde_json::from_str(&data["data:".len()..]).expect("JSON delivery");
    assert_eq!(delivery["event"]["operation"], "channel.create");
    assert!(delivery["reply"].is_string() && delivery["position"].is_i64());

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (text, pinged) = runtime.block_on(websocket(&api, &ws_id, &ch));
    let delivery: Value = serde_json::from_str(&text).expect("JSON frame");
    assert_eq!(delivery["event"]["id"], ch.as_str());
    assert!(pinged, "a ping within the keep-alive interval");
    assert_eq!(
        ack(
            &api,
            &[delivery["reply"].as_str().expect("reply").to_string()]
        ),
        (1, 0)
    );
}

type WsStream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A WebSocket stream of consumer `id`, or the status that refused the upgrade.
async fn open_ws(api: &Api, id: &str) -> Result<WsStream, u16> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::Error;
    let url = format!(
        "{}/consumers/{id}/ws",
        api.base_url().replace("http://", "ws://")
    );
    let mut req = url.into_client_request().expect("ws request");
    let bearer = format!("Bearer {}", api.token).parse().expect("header");
    req.headers_mut().insert("authorization", bearer);
    match tokio_tungstenite::connect_async(req).await {
        Ok((ws, _)) => Ok(ws),
        Err(Error::Http(resp)) => Err(resp.status().as_u16()),
        Err(e) => panic!("ws connect: {e}"),
    }
}

/// A refused stream: 429 with a `{"message"}`.
fn assert_too_many(api: &Api, id: &str, why: &str) {
    let (status, out) = api.call("GET", &format!("/consumers/{id}/stream"), None);
    assert_eq!(status.as_u16(), 429, "{why}: {out}");
    assert!(out["message"].is_string(), "{why}: {out}");
}

#[test]
fn open_streams_are_bounded_per_user_and_in_all() {
    let t = tenants::two_tenants(&[
        "--consumer-max-streams-per-user",
        "2",
        "--consumer-max-streams",
        "3",
        "--consumer-keepalive",
        "200ms",
    ]);
    let (a, b) = (&t.d1.api, &t.d2.api);
    let mine = consumer(a, "domain", &t.d1.domain, true, json!("new"));
    let theirs = consumer(b, "domain", &t.d2.domain, true, json!("new"));
    let runtime = tokio::runtime::Runtime::new().expect("runtime");

    let sse = open_sse(a, &mine);
    assert_eq!(sse.status().as_u16(), 200);
    let ws = runtime
        .block_on(open_ws(a, &mine))
        .expect("a's second stream");
    assert_too_many(a, &mine, "a third SSE stream of one user");
    let refused = runtime.block_on(open_ws(a, &mine)).err();
    assert_eq!(
        refused,
        Some(429),
        "a third stream of one user, as a WebSocket"
    );

    let other = open_sse(b, &theirs);
    assert_eq!(
        other.status().as_u16(),
        200,
        "another user has slots of its own"
    );
    assert_too_many(b, &theirs, "past the total");

    // A closed stream gives its slot back (noticed at the latest at its next
    // keep-alive), so b gets one now.
    drop(ws);
    let deadline = Instant::now() + PATIENCE;
    let second = loop {
        let r = open_sse(b, &theirs);
        if r.status().as_u16() == 200 {
            break r;
        }
        assert_eq!(r.status().as_u16(), 429);
        assert!(
            Instant::now() < deadline,
            "the closed stream's slot never came back"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_too_many(a, &mine, "the total is taken again");
    drop((sse, other, second));
}

/// The first text frame naming `want` and whether a ping came, over `/consumers/{id}/ws`.
async fn websocket(api: &Api, id: &str, want: &str) -> (String, bool) {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let mut ws = open_ws(api, id).await.expect("ws connect");
    let (mut text, mut pinged) = (None, false);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while text.is_none() || !pinged {
        let msg = tokio::time::timeout_at(deadline, ws.next()).await;
        match msg
            .expect("frames before the deadline")
            .expect("open")
            .expect("frame")
        {
            Message::Text(t) if t.contains(want) => text = Some(t),
            Message::Ping(_) => pinged = true,
            _ => {}
        }
    }
    (text.unwrap_or_default(), pinged)
}

#[test]
fn abandoned_consumers_expire() {
    let server = platform::server(&["--consumer-expiry", "1s"]);
    let api = Api::admin(&server);
    let d = api.domain("Expiry", "expiry");
    let abandoned = consumer(&api, "domain", &d, true, json!("all"));
    // Kept alive by fetching while the other one is left alone for well over the expiry
    // and its sweep interval (a quarter of it).
    let kept = consumer(&api, "domain", &d, true, json!("all"));
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        batch(&api, &kept, 1);
        std::thread::sleep(Duration::from_millis(200));
    }
    api.expect("GET", &format!("/consumers/{abandoned}/batch"), None, 404);
    api.expect("GET", &format!("/consumers/{kept}/batch"), None, 200);
}
