//! One owner per session cluster-wide: three platform instances of the real binary on
//! one PostgreSQL and one `nats-server -js`. A persistent session moves to the instance
//! its device reconnects to with every queued message, a second connection elsewhere
//! takes it over (the first gets DISCONNECT 0x8E), only within its tenant, and the
//! devices of an instance killed with -9 resume their subscriptions on a survivor.

mod cluster_kit;
mod common;
mod platform;

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use rumqttc::v5::mqttbytes::v5::{ConnectProperties, ConnectReturnCode, Packet};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{AsyncClient, ConnectionError, Event, EventLoop, MqttOptions, StateError};
use tokio::sync::mpsc;

use cluster_kit::{backing, instance, metric, mqtt_events, Backing};
use common::Server;
use platform::{Api, Device, Fleet};

/// A deadline for the waits below, not a measurement.
const DEADLINE: Duration = Duration::from_secs(20);
/// 1,000 messages of this size make a session of over 1 MiB (NATS's default max
/// payload): it must move through the object store, not in one reply.
const PAYLOAD_SIZE: usize = 1_100;

/// Three instances on one backing; the instances drop before what they use.
struct Cluster {
    a: Server,
    b: Server,
    c: Server,
    backing: Backing,
}

fn cluster(extra: &[&str]) -> Cluster {
    let backing = backing();
    let mut flags = vec!["--cluster-nats", backing.nats_url.as_str()];
    flags.extend_from_slice(extra);
    // One after the other: the first creates the schema.
    let a = instance(&backing.db_url, "instance-a", &flags);
    let b = instance(&backing.db_url, "instance-b", &flags);
    let c = instance(&backing.db_url, "instance-c", &flags);
    Cluster { a, b, c, backing }
}

/// What a connection's event loop reports to the test.
#[derive(Debug)]
enum Seen {
    Publish(Bytes),
    /// The broker's DISCONNECT reason code.
    Disconnected(u8),
    Closed,
}

/// A v5 connection with a persistent session (expiry one hour).
struct V5 {
    client: AsyncClient,
    seen: mpsc::UnboundedReceiver<Seen>,
    session_present: bool,
}

fn options(server: &Server, dev: &Device, mqtt_id: &str) -> MqttOptions {
    let mut o = MqttOptions::new(mqtt_id, "127.0.0.1", server.mqtt.port());
    o.set_credentials(&dev.id, &dev.secret);
    o.set_clean_start(false);
    o.set_keep_alive(Duration::from_secs(30));
    let mut props = ConnectProperties::new();
    props.session_expiry_interval = Some(3600);
    o.set_connect_properties(props);
    o
}

/// Connects with clean start 0 (see [`connect_with`]).
async fn connect(server: &Server, dev: &Device, mqtt_id: &str) -> V5 {
    connect_with(server, dev, mqtt_id, false).await
}

/// Connects and waits for a successful CONNACK, then pumps the connection on a task
/// until it ends (never reconnecting: a reconnect would take the session back).
async fn connect_with(server: &Server, dev: &Device, mqtt_id: &str, clean: bool) -> V5 {
    let mut o = options(server, dev, mqtt_id);
    o.set_clean_start(clean);
    let (client, mut eventloop) = AsyncClient::new(o, 2000);
    let connack = tokio::time::timeout(DEADLINE, async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(ack))) => return Some(ack),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    })
    .await
    .ok()
    .flatten()
    .unwrap_or_else(|| panic!("{mqtt_id}: no CONNACK\n{}", server.log()));
    assert_eq!(
        connack.code,
        ConnectReturnCode::Success,
        "{mqtt_id} accepted"
    );
    let (tx, seen) = mpsc::unbounded_channel();
    tokio::spawn(pump(eventloop, tx));
    V5 {
        client,
        seen,
        session_present: connack.session_present,
    }
}

async fn pump(mut eventloop: EventLoop, tx: mpsc::UnboundedSender<Seen>) {
    loop {
        let seen = match eventloop.poll().await {
            Ok(Event::Incoming(Packet::Publish(p))) => Seen::Publish(p.payload),
            Ok(_) => continue,
            Err(ConnectionError::MqttState(StateError::ServerDisconnect {
                reason_code, ..
            })) => Seen::Disconnected(reason_code as u8),
            Err(_) => Seen::Closed,
        };
        let last = !matches!(seen, Seen::Publish(_));
        if tx.send(seen).is_err() || last {
            return;
        }
    }
}

impl V5 {
    async fn subscribe(&mut self, filter: &str) {
        self.client
            .subscribe(filter, QoS::AtLeastOnce)
            .await
            .expect("subscribe");
    }

    /// Disconnects normally and waits until the connection is gone.
    async fn leave(mut self) {
        self.client.disconnect().await.expect("disconnect");
        while let Some(seen) = self.next(DEADLINE).await {
            if !matches!(seen, Seen::Publish(_)) {
                return;
            }
        }
    }

    async fn next(&mut self, limit: Duration) -> Option<Seen> {
        tokio::time::timeout(limit, self.seen.recv())
            .await
            .ok()
            .flatten()
    }

    /// What arrives until `n` messages came (at most `DEADLINE`) and then nothing more
    /// for a moment (a duplicate would come right behind): each payload with how often
    /// it arrived.
    async fn received(&mut self, n: usize) -> BTreeMap<Bytes, usize> {
        let mut got: BTreeMap<Bytes, usize> = BTreeMap::new();
        let deadline = tokio::time::Instant::now() + DEADLINE;
        while got.values().sum::<usize>() < n && tokio::time::Instant::now() < deadline {
            match self.next(Duration::from_secs(1)).await {
                Some(Seen::Publish(payload)) => *got.entry(payload).or_default() += 1,
                Some(other) => panic!("connection ended while receiving: {other:?}"),
                None => {}
            }
        }
        while let Some(Seen::Publish(payload)) = self.next(Duration::from_millis(500)).await {
            *got.entry(payload).or_default() += 1;
        }
        got
    }
}

/// Payload `i`, padded to [`PAYLOAD_SIZE`].
fn payload(i: usize) -> Bytes {
    let mut text = format!("msg-{i:05}-");
    text.extend(std::iter::repeat_n('x', PAYLOAD_SIZE - text.len()));
    Bytes::from(text)
}

/// Publishes `payloads` QoS 1 as `dev` on `server` and waits for every PUBACK.
async fn publish(server: &Server, dev: &Device, topic: &str, payloads: &[Bytes]) {
    let mut o = options(server, dev, "publisher");
    o.set_clean_start(true);
    o.set_connect_properties(ConnectProperties::new());
    let (client, mut eventloop) = AsyncClient::new(o, payloads.len() + 10);
    for p in payloads {
        client
            .publish(topic, QoS::AtLeastOnce, false, p.clone())
            .await
            .expect("publish");
    }
    let mut acked = 0;
    let all = tokio::time::timeout(DEADLINE * 2, async {
        while acked < payloads.len() {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::PubAck(_))) => acked += 1,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
        true
    })
    .await;
    assert_eq!(
        all.ok(),
        Some(true),
        "{acked} of {} acknowledged",
        payloads.len()
    );
    let _ = client.disconnect().await;
    let _ = tokio::time::timeout(Duration::from_secs(1), eventloop.poll()).await;
}

fn topic(f: &Fleet) -> String {
    format!("m/{}/c/{}", f.domain, f.ch)
}

/// Waits until `server` listens on NATS for its local subscribers (a message from
/// another instance before that would not reach them).
async fn wait_for_bus(server: &Server) {
    wait_for_count(server, "magnetite_cluster_subscriptions", 1).await;
}

/// Waits until the metric `name` of `server` reaches `want`.
async fn wait_for_count(server: &Server, name: &str, want: u64) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while metric(server, name).await < want {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} never reached {want} on {}",
            server.http
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits (polling) until `done`, at most twice `DEADLINE`.
async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + DEADLINE * 2;
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Runs `f` with the admin's API on `server`. The HTTP helper is blocking (and so is
/// dropping it): off the async workers.
fn with_api<T>(server: &Server, f: impl FnOnce(&Api) -> T) -> T {
    tokio::task::block_in_place(|| f(&Api::admin(server)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_moves_to_another_instance_with_its_1000_queued_messages() {
    let c = cluster(&[]);
    let f = with_api(&c.a, |api| platform::fleet(api, "plant"));
    let mut on_a = connect(&c.a, &f.device, "tracker").await;
    assert!(!on_a.session_present, "a new session");
    on_a.subscribe(&topic(&f)).await;
    // The subscription is in place once a message to it comes back.
    publish(&c.a, &f.device, &topic(&f), &[Bytes::from_static(b"probe")]).await;
    assert_eq!(on_a.received(1).await.len(), 1, "the probe");
    on_a.leave().await;

    let payloads: Vec<Bytes> = (0..1000).map(payload).collect();
    publish(&c.a, &f.device, &topic(&f), &payloads).await;

    let mut on_b = connect(&c.b, &f.device, "tracker").await;
    assert!(on_b.session_present, "the session came from A");
    let got = on_b.received(1000).await;
    let missing = payloads.iter().filter(|p| !got.contains_key(*p)).count();
    let twice = got.values().filter(|&&n| n > 1).count();
    assert_eq!(
        (missing, twice, got.len()),
        (0, 0, 1000),
        "each message once"
    );

    let taken = "magnetite_cluster_sessions_taken_over_total";
    let handed = "magnetite_cluster_sessions_handed_over_total";
    assert_eq!(metric(&c.b, taken).await, 1);
    assert_eq!(metric(&c.a, handed).await, 1);
    assert_eq!(metric(&c.c, handed).await, 0);

    // Delivery resumes on B: a message published on C reaches the moved session.
    wait_for_bus(&c.b).await;
    publish(&c.c, &f.device, &topic(&f), &[Bytes::from_static(b"after")]).await;
    let after = on_b.received(1).await;
    assert_eq!(after.get(&Bytes::from_static(b"after")), Some(&1));

    // A clean start on C kicks B's connection and discards the session, not moves it.
    let mut fresh = connect_with(&c.c, &f.device, "tracker", true).await;
    assert!(!fresh.session_present, "clean start: a new session");
    match on_b.next(DEADLINE).await {
        Some(Seen::Disconnected(code)) => assert_eq!(code, 0x8E, "session taken over"),
        other => panic!("B's connection was not taken over: {other:?}"),
    }
    assert_eq!(metric(&c.b, handed).await, 1, "B was asked once");
    publish(&c.a, &f.device, &topic(&f), &[Bytes::from_static(b"gone")]).await;
    let leftover = fresh.next(Duration::from_secs(2)).await;
    assert!(
        leftover.is_none(),
        "the old subscription went with the session: {leftover:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_on_another_instance_takes_the_session_over_only_in_its_tenant() {
    let c = cluster(&[]);
    let (f, other) = with_api(&c.a, |api| {
        (platform::fleet(api, "plant"), platform::fleet(api, "depot"))
    });
    let mut on_a = connect(&c.a, &f.device, "sensor-1").await;
    on_a.subscribe(&topic(&f)).await;
    publish(&c.a, &f.device, &topic(&f), &[Bytes::from_static(b"probe")]).await;
    assert_eq!(on_a.received(1).await.len(), 1, "the probe");

    // Another domain's device with the same MQTT client id, on B: its own new session.
    let mut stranger = connect(&c.b, &other.device, "sensor-1").await;
    assert!(
        !stranger.session_present,
        "another tenant's session is not found"
    );
    wait_for_bus(&c.a).await;
    publish(
        &c.c,
        &f.device,
        &topic(&f),
        &[Bytes::from_static(b"still-a")],
    )
    .await;
    let still = on_a.received(1).await;
    assert_eq!(
        still.get(&Bytes::from_static(b"still-a")),
        Some(&1),
        "A kept its device"
    );
    assert!(stranger.next(Duration::from_millis(500)).await.is_none());
    assert_eq!(
        metric(&c.a, "magnetite_cluster_sessions_handed_over_total").await,
        0
    );

    // The same device with the same id on B: A's connection is taken over.
    let mut on_b = connect(&c.b, &f.device, "sensor-1").await;
    assert!(on_b.session_present, "the session came from A");
    match on_a.next(DEADLINE).await {
        Some(Seen::Disconnected(code)) => assert_eq!(code, 0x8E, "session taken over"),
        other => panic!("A's connection was not taken over: {other:?}"),
    }
    wait_for_bus(&c.b).await;
    publish(&c.c, &f.device, &topic(&f), &[Bytes::from_static(b"on-b")]).await;
    let moved = on_b.received(1).await;
    assert_eq!(
        moved.get(&Bytes::from_static(b"on-b")),
        Some(&1),
        "B got the subscription"
    );
    assert!(stranger.next(Duration::from_millis(500)).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_of_a_killed_instance_resume_their_sessions_on_a_survivor() {
    let c = cluster(&["--instance-timeout", "2s"]);
    let (f, second) = with_api(&c.a, |api| {
        let f = platform::fleet(api, "plant");
        let second = api.client(&f.domain, "sensor-2");
        api.connect(&f.domain, &f.ch, &second.id, &["publish", "subscribe"]);
        (f, second)
    });
    let devices = [(&f.device, "first"), (&second, "second")];
    let mut live = Vec::new();
    for (dev, id) in devices {
        let mut conn = connect(&c.c, dev, id).await;
        conn.subscribe(&topic(&f)).await;
        live.push(conn);
    }
    publish(&c.c, &f.device, &topic(&f), &[Bytes::from_static(b"probe")]).await;
    for conn in &mut live {
        assert_eq!(conn.received(1).await.len(), 1, "the probe");
    }
    let recorded_on_c = |dev: &Device, kind: &str| {
        with_api(&c.a, |api| mqtt_events(api, &dev.id, kind, "instance-c"))
    };
    for (dev, id) in devices {
        let what = format!("C's connect event of {id} is in the outbox");
        wait_until(&what, || recorded_on_c(dev, "connect") >= 1).await;
    }
    let Cluster {
        a,
        b,
        c: doomed,
        backing: _backing,
    } = c;
    doomed.kill9();

    let mut resumed = Vec::new();
    for ((dev, id), survivor) in devices.into_iter().zip([&a, &b]) {
        let conn = connect(survivor, dev, id).await;
        assert!(
            conn.session_present,
            "{id}: its session resumed on a survivor"
        );
        resumed.push(conn);
    }
    wait_for_bus(&b).await;
    publish(&a, &f.device, &topic(&f), &[Bytes::from_static(b"after")]).await;
    for conn in &mut resumed {
        let got = conn.received(1).await;
        assert_eq!(
            got.get(&Bytes::from_static(b"after")),
            Some(&1),
            "subscription back"
        );
    }
    assert_eq!(
        metric(&a, "magnetite_cluster_sessions_resumed_from_dead_total").await
            + metric(&b, "magnetite_cluster_sessions_resumed_from_dead_total").await,
        2
    );

    // Every connect C recorded is closed exactly once, by C itself or by a survivor.
    // The publisher's session on C (the probe) may have ended after C's last batch of
    // events was written: then its disconnect is a survivor's too, so a device can have
    // two; the session still open at the kill always needs the survivor's.
    for dev in [&f.device, &second] {
        let count = |kind: &str| with_api(&a, |api| mqtt_events(api, &dev.id, kind, "instance-c"));
        let connects = count("connect");
        wait_until("survivors close C's sessions", || {
            count("disconnect") >= connects
        })
        .await;
        assert_eq!(
            count("disconnect"),
            connects,
            "each of C's connects closed once"
        );
    }
    for survivor in [&a, &b] {
        assert_eq!(
            metric(survivor, "magnetite_cluster_sessions_errors_total").await,
            0
        );
    }
}
