//! `$SYS/broker/...`: the broker's counters as retained messages, under mosquitto's
//! topic names (its `src/sys_tree.c`), so dashboards and scripts written for mosquitto
//! read Magnetite unchanged.
//!
//! Every `interval` one task reads the counters the engine keeps anyway ([`Stats`], the
//! session table, the retained store) and publishes what changed since the last tick,
//! retained, at QoS 0, on this instance only (each broker reports itself). Nothing is
//! added to the publish path but the byte counters' one `fetch_add` per read or write.
//!
//! Who may read them is the hooks' decision, like any other filter (`--auth none`: the
//! ACL; `--auth platform`: the platform admin's clients only). Nobody may publish to
//! them: [`authorize_publish`] refuses a client's `$SYS` PUBLISH (and will) before the
//! hooks are asked, whatever they would say.
//!
//! Differences from mosquitto: `messages/*` count PUBLISH packets (as
//! `publish/messages/*` do), not every packet; there is no `heap/*` (no allocator
//! accounting) and no `load/sockets/*`.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use bytestring::ByteString;
use tokio::time::MissedTickBehavior;

use crate::broker::{Broker, Shared};
use crate::hooks::{Hooks, TopicVerdict};
use crate::message::Message;
use crate::protocol::{Properties, Publish, QoS};
use crate::stats::DropReason;

/// mosquitto's `sys_interval` default.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);

/// Whether `topic` is in the broker's own tree, which no client may publish to. The
/// same test as mosquitto's (`strncmp(topic, "$SYS", 4)`).
pub fn is_sys_topic(topic: &str) -> bool {
    topic.starts_with("$SYS")
}

/// The hooks' verdict on a client's PUBLISH (or will) to `topic`, except that `$SYS`
/// is refused before they are asked: only the broker writes there.
pub(crate) async fn authorize_publish<H: Hooks>(
    shared: &Shared<H>,
    identity: &H::Identity,
    client_id: &str,
    topic: &str,
) -> TopicVerdict {
    if is_sys_topic(topic) {
        tracing::debug!(client_id, topic, "publish to $SYS refused");
        return TopicVerdict::Refuse;
    }
    shared
        .hooks
        .authorize_publish(identity, client_id, topic)
        .await
}

/// One reading of the counters behind the tree.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Reading {
    pub connected: u64,
    /// Sessions held, connected or not (mosquitto's `clients/total`).
    pub sessions: u64,
    pub subscriptions: u64,
    pub retained: u64,
    pub received: u64,
    pub sent: u64,
    pub dropped: u64,
    pub bytes_received: u64,
    pub bytes_sent: u64,
    pub connects: u64,
}

impl Reading {
    fn of<H: Hooks>(shared: &Shared<H>) -> Reading {
        let stats = &shared.stats;
        let load = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed);
        Reading {
            connected: stats.connections.load(Ordering::Relaxed) as u64,
            sessions: shared.sessions.len() as u64,
            subscriptions: stats.subscriptions.load(Ordering::Relaxed) as u64,
            retained: shared.retained.len() as u64,
            received: load(&stats.messages_received),
            sent: load(&stats.messages_sent),
            dropped: DropReason::ALL.iter().map(|r| stats.dropped.get(*r)).sum(),
            bytes_received: load(&stats.bytes_received),
            bytes_sent: load(&stats.bytes_sent),
            connects: load(&stats.connects),
        }
    }
}

/// A per-minute rate averaged over 1, 5 and 15 minutes, as mosquitto's `load/*`.
struct Load {
    topics: [String; 3],
    values: [f64; 3],
    /// Which counter of a [`Reading`] it follows.
    counter: Counter,
}

const WINDOWS_SECS: [f64; 3] = [60.0, 300.0, 900.0];

/// Reads one counter of a [`Reading`].
type Counter = fn(&Reading) -> u64;

fn loads() -> Vec<Load> {
    let series: [(&str, Counter); 8] = [
        ("messages/received", |r| r.received),
        ("messages/sent", |r| r.sent),
        ("publish/dropped", |r| r.dropped),
        ("publish/received", |r| r.received),
        ("publish/sent", |r| r.sent),
        ("bytes/received", |r| r.bytes_received),
        ("bytes/sent", |r| r.bytes_sent),
        ("connections", |r| r.connects),
    ];
    series
        .into_iter()
        .map(|(name, counter)| Load {
            topics: ["1min", "5min", "15min"].map(|w| format!("$SYS/broker/load/{name}/{w}")),
            values: [0.0; 3],
            counter,
        })
        .collect()
}

/// The tree's state between ticks: what was last published (only changes are sent
/// again, as mosquitto does), the previous reading for the load averages, the maximum.
pub struct SysTree {
    version: String,
    started: Instant,
    previous: Option<(Reading, Instant)>,
    maximum: u64,
    loads: Vec<Load>,
    published: HashMap<String, String>,
}

impl SysTree {
    pub fn new(version: &str, started: Instant) -> SysTree {
        SysTree {
            version: format!("magnetite version {version}"),
            started,
            previous: None,
            maximum: 0,
            loads: loads(),
            published: HashMap::new(),
        }
    }

    /// The (topic, value) pairs to publish for `reading` taken at `now`: every one on the
    /// first tick, then those whose text changed.
    pub fn update(&mut self, reading: Reading, now: Instant) -> Vec<(String, String)> {
        let mut values = self.counters(&reading, now);
        self.update_loads(&reading, now, &mut values);
        self.previous = Some((reading, now));
        values
            .into_iter()
            .filter(|(topic, value)| {
                let changed = self.published.get(topic) != Some(value);
                if changed {
                    self.published.insert(topic.clone(), value.clone());
                }
                changed
            })
            .collect()
    }

    fn counters(&mut self, r: &Reading, now: Instant) -> Vec<(String, String)> {
        self.maximum = self.maximum.max(r.connected);
        let uptime = now.saturating_duration_since(self.started).as_secs();
        [
            ("version", self.version.clone()),
            ("uptime", format!("{uptime} seconds")),
            ("clients/connected", r.connected.to_string()),
            ("clients/total", r.sessions.max(r.connected).to_string()),
            ("clients/maximum", self.maximum.to_string()),
            (
                "clients/disconnected",
                r.sessions.saturating_sub(r.connected).to_string(),
            ),
            ("messages/received", r.received.to_string()),
            ("messages/sent", r.sent.to_string()),
            ("publish/messages/received", r.received.to_string()),
            ("publish/messages/sent", r.sent.to_string()),
            ("publish/messages/dropped", r.dropped.to_string()),
            ("bytes/received", r.bytes_received.to_string()),
            ("bytes/sent", r.bytes_sent.to_string()),
            ("subscriptions/count", r.subscriptions.to_string()),
            ("retained messages/count", r.retained.to_string()),
        ]
        .into_iter()
        .map(|(name, value)| (format!("$SYS/broker/{name}"), value))
        .collect()
    }

    /// mosquitto's `calc_load`: the per-minute rate of the last interval, folded into an
    /// exponentially decaying average per window; 0 until two readings exist.
    fn update_loads(&mut self, r: &Reading, now: Instant, out: &mut Vec<(String, String)>) {
        let elapsed = self
            .previous
            .map(|(_, at)| now.saturating_duration_since(at).as_secs_f64())
            .filter(|secs| *secs > 0.0);
        for load in &mut self.loads {
            if let (Some(secs), Some((before, _))) = (elapsed, self.previous) {
                let delta = (load.counter)(r).saturating_sub((load.counter)(&before));
                let per_minute = delta as f64 * 60.0 / secs;
                for (value, window) in load.values.iter_mut().zip(WINDOWS_SECS) {
                    let exponent = (-secs / window).exp();
                    *value = per_minute + exponent * (*value - per_minute);
                }
            }
            for (topic, value) in load.topics.iter().zip(load.values) {
                out.push((topic.clone(), format!("{value:.2}")));
            }
        }
    }
}

fn sys_message(topic: String, value: String) -> Message {
    let publish = Publish {
        dup: false,
        qos: QoS::AtMostOnce,
        retain: true,
        topic: ByteString::from(topic),
        pkid: 0,
        payload: Bytes::from(value),
        properties: Properties::default(),
    };
    Message::from_publish(publish, 0)
}

impl<H: Hooks> Broker<H> {
    /// Publishes the `$SYS` tree every `interval` until shutdown (nothing when it is
    /// zero). `version` is this build's, shown in `$SYS/broker/version`.
    pub fn start_sys_tree(&self, interval: Duration, version: &str) {
        if interval.is_zero() {
            return;
        }
        let shared: Weak<Shared<H>> = Arc::downgrade(&self.shared);
        let mut shutdown = self.shared.shutdown.subscribe();
        let mut tree = SysTree::new(version, Instant::now());
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = ticks.tick() => {}
                    _ = shutdown.changed() => return,
                }
                let Some(shared) = shared.upgrade() else {
                    return;
                };
                for (topic, value) in tree.update(Reading::of(&shared), Instant::now()) {
                    shared.publish_sys(Arc::new(sys_message(topic, value)));
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value<'a>(out: &'a [(String, String)], topic: &str) -> Option<&'a str> {
        out.iter()
            .find(|(t, _)| t == topic)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn sys_topics_are_recognised_like_mosquitto() {
        assert!(is_sys_topic("$SYS/broker/uptime"));
        assert!(is_sys_topic("$SYS"));
        assert!(!is_sys_topic("$share/g/x"));
        assert!(!is_sys_topic("a/$SYS"));
    }

    #[test]
    fn first_tick_sends_everything_then_only_changes() {
        let start = Instant::now();
        let mut tree = SysTree::new("1.2.3", start);
        let first = tree.update(Reading::default(), start);
        assert_eq!(
            value(&first, "$SYS/broker/version"),
            Some("magnetite version 1.2.3")
        );
        assert_eq!(value(&first, "$SYS/broker/clients/connected"), Some("0"));
        assert_eq!(
            value(&first, "$SYS/broker/load/connections/1min"),
            Some("0.00")
        );
        assert_eq!(
            value(&first, "$SYS/broker/retained messages/count"),
            Some("0")
        );
        let reading = Reading {
            connected: 3,
            sessions: 5,
            received: 7,
            ..Reading::default()
        };
        let second = tree.update(reading, start + Duration::from_secs(10));
        assert_eq!(value(&second, "$SYS/broker/version"), None, "unchanged");
        assert_eq!(value(&second, "$SYS/broker/clients/connected"), Some("3"));
        assert_eq!(
            value(&second, "$SYS/broker/clients/disconnected"),
            Some("2")
        );
        assert_eq!(value(&second, "$SYS/broker/clients/maximum"), Some("3"));
        assert_eq!(
            value(&second, "$SYS/broker/publish/messages/received"),
            Some("7")
        );
        assert_eq!(value(&second, "$SYS/broker/uptime"), Some("10 seconds"));
        assert_eq!(value(&second, "$SYS/broker/bytes/sent"), None, "still 0");
    }

    #[test]
    fn maximum_keeps_the_peak() {
        let start = Instant::now();
        let mut tree = SysTree::new("x", start);
        let peak = Reading {
            connected: 9,
            ..Reading::default()
        };
        tree.update(peak, start);
        let out = tree.update(Reading::default(), start + Duration::from_secs(1));
        assert_eq!(value(&out, "$SYS/broker/clients/connected"), Some("0"));
        assert_eq!(value(&out, "$SYS/broker/clients/maximum"), None, "still 9");
    }

    /// 600 messages in 60 s is 600/min; the 1-minute average moves 1 - e^-1 of the way.
    #[test]
    fn loads_decay_like_mosquitto() {
        let start = Instant::now();
        let mut tree = SysTree::new("x", start);
        tree.update(Reading::default(), start);
        let busy = Reading {
            received: 600,
            ..Reading::default()
        };
        let out = tree.update(busy, start + Duration::from_secs(60));
        let expected = 600.0 * (1.0 - (-1.0f64).exp());
        assert_eq!(
            value(&out, "$SYS/broker/load/messages/received/1min"),
            Some(format!("{expected:.2}").as_str())
        );
        let five = 600.0 * (1.0 - (-0.2f64).exp());
        assert_eq!(
            value(&out, "$SYS/broker/load/publish/received/5min"),
            Some(format!("{five:.2}").as_str())
        );
    }
}
