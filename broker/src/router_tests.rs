use std::sync::Arc;

use bytestring::ByteString;

use super::*;
use crate::session::Session;
use crate::sessions::SessionKey;

fn session(id: u64) -> Arc<Session> {
    let key = SessionKey::new("", ByteString::from(format!("c{id}")));
    let s = Arc::new(Session::new(id, key, 100));
    s.set_online(true);
    s
}

fn entry(session: Arc<Session>, presented: Option<Arc<Presentation>>) -> Entry {
    Entry {
        session,
        options: options(),
        presented,
    }
}

fn plain(session_id: u64) -> EntryKey<'static> {
    EntryKey {
        session_id,
        presented: None,
    }
}

fn options() -> SubOptions {
    SubOptions {
        qos: QoS::AtLeastOnce,
        no_local: false,
        retain_as_published: false,
        subscription_id: None,
    }
}

fn matches(router: &Router, topic: &str) -> Vec<u64> {
    let mut ids = Vec::new();
    router.route(topic, |e| ids.push(e.session.id));
    ids.sort_unstable();
    ids
}

#[test]
fn exact_and_wildcard_filters_match() {
    let router = Router::default();
    router.subscribe("a/b", None, entry(session(1), None));
    router.subscribe("a/+", None, entry(session(2), None));
    router.subscribe("a/#", None, entry(session(3), None));
    router.subscribe("#", None, entry(session(4), None));
    router.subscribe("+/+/c", None, entry(session(5), None));
    assert_eq!(matches(&router, "a/b"), vec![1, 2, 3, 4]);
    assert_eq!(matches(&router, "a"), vec![3, 4]);
    assert_eq!(matches(&router, "a/x/c"), vec![3, 4, 5]);
    assert_eq!(matches(&router, "b"), vec![4]);
}

#[test]
fn dollar_topics_skip_leading_wildcards() {
    let router = Router::default();
    router.subscribe("#", None, entry(session(1), None));
    router.subscribe("+/info", None, entry(session(2), None));
    router.subscribe("$SYS/#", None, entry(session(3), None));
    router.subscribe("$SYS/info", None, entry(session(4), None));
    assert_eq!(matches(&router, "$SYS/info"), vec![3, 4]);
}

#[test]
fn unsubscribe_prunes_and_resubscribe_replaces() {
    let router = Router::default();
    let s = session(1);
    assert!(!router.subscribe("a/+/c", None, entry(Arc::clone(&s), None)));
    assert!(router.subscribe("a/+/c", None, entry(Arc::clone(&s), None)));
    assert_eq!(matches(&router, "a/b/c"), vec![1]);
    assert!(router.unsubscribe("a/+/c", None, plain(1)));
    assert!(!router.unsubscribe("a/+/c", None, plain(1)));
    assert!(matches(&router, "a/b/c").is_empty());
    assert!(router.wild.read().is_empty());
}

#[test]
fn shared_group_delivers_to_one_member_in_turn() {
    let router = Router::default();
    router.subscribe("t", Some("g"), entry(session(1), None));
    router.subscribe("t", Some("g"), entry(session(2), None));
    router.subscribe("t", None, entry(session(3), None));
    let mut counts = [0usize; 4];
    for _ in 0..10 {
        let got = matches(&router, "t");
        assert_eq!(
            got.len(),
            2,
            "one group member plus the plain subscriber: {got:?}"
        );
        for id in got {
            counts[id as usize] += 1;
        }
    }
    assert_eq!(counts[3], 10);
    assert_eq!(counts[1] + counts[2], 10);
    assert!(counts[1] >= 4 && counts[2] >= 4, "round robin: {counts:?}");
}

#[test]
fn a_clustered_pass_skips_shared_groups_which_are_reached_by_name() {
    let router = Router::default();
    router.subscribe("t/+", Some("g"), entry(session(1), None));
    router.subscribe("t/+", Some("g"), entry(session(2), None));
    router.subscribe("t/+", Some("h"), entry(session(3), None));
    router.subscribe("t/x", None, entry(session(4), None));
    let mut direct = Vec::new();
    router.route_within("t/x", Reach::DirectOnly, |e| direct.push(e.session.id));
    assert_eq!(direct, vec![4], "only the plain subscriber");
    let mut picked = Vec::new();
    for _ in 0..4 {
        router.route_to_group("t/+", "g", |e| picked.push(e.session.id));
    }
    picked.sort_unstable();
    assert_eq!(
        picked,
        vec![1, 1, 2, 2],
        "one member of g each time, in turn"
    );
    let mut none = Vec::new();
    router.route_to_group("t/x", "g", |e| none.push(e.session.id));
    router.route_to_group("t/+", "other", |e| none.push(e.session.id));
    router.route_to_group("t/#", "g", |e| none.push(e.session.id));
    assert!(none.is_empty(), "another filter or group: {none:?}");
}

#[test]
fn deep_topics_beyond_inline_levels_match() {
    let router = Router::default();
    let deep: Vec<String> = (0..20).map(|i| i.to_string()).collect();
    let topic = deep.join("/");
    router.subscribe("0/+/#", None, entry(session(1), None));
    assert_eq!(matches(&router, &topic), vec![1]);
}

#[test]
fn one_filter_under_two_presentations_is_two_entries() {
    let router = Router::default();
    let s = session(1);
    let by_route =
        Presentation::new(ByteString::from("m/d/c/ch"), ByteString::from("m/r/c/x")).map(Arc::new);
    assert!(!router.subscribe("m/d/c/ch", None, entry(Arc::clone(&s), None)));
    assert!(!router.subscribe("m/d/c/ch", None, entry(Arc::clone(&s), by_route.clone())));
    assert_eq!(matches(&router, "m/d/c/ch"), vec![1, 1]);
    let key = EntryKey {
        session_id: 1,
        presented: by_route.as_deref(),
    };
    assert!(router.unsubscribe("m/d/c/ch", None, key));
    assert_eq!(matches(&router, "m/d/c/ch"), vec![1]);
    assert!(router.unsubscribe("m/d/c/ch", None, plain(1)));
    assert!(matches(&router, "m/d/c/ch").is_empty());
}
