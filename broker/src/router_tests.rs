use std::sync::Arc;

use bytestring::ByteString;

use super::*;
use crate::session::Session;

fn session(id: u64) -> Arc<Session> {
    let s = Arc::new(Session::new(id, ByteString::from(format!("c{id}")), 100));
    s.set_online(true);
    s
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
    router.subscribe("a/b", None, session(1), options());
    router.subscribe("a/+", None, session(2), options());
    router.subscribe("a/#", None, session(3), options());
    router.subscribe("#", None, session(4), options());
    router.subscribe("+/+/c", None, session(5), options());
    assert_eq!(matches(&router, "a/b"), vec![1, 2, 3, 4]);
    assert_eq!(matches(&router, "a"), vec![3, 4]);
    assert_eq!(matches(&router, "a/x/c"), vec![3, 4, 5]);
    assert_eq!(matches(&router, "b"), vec![4]);
}

#[test]
fn dollar_topics_skip_leading_wildcards() {
    let router = Router::default();
    router.subscribe("#", None, session(1), options());
    router.subscribe("+/info", None, session(2), options());
    router.subscribe("$SYS/#", None, session(3), options());
    router.subscribe("$SYS/info", None, session(4), options());
    assert_eq!(matches(&router, "$SYS/info"), vec![3, 4]);
}

#[test]
fn unsubscribe_prunes_and_resubscribe_replaces() {
    let router = Router::default();
    let s = session(1);
    assert!(!router.subscribe("a/+/c", None, Arc::clone(&s), options()));
    assert!(router.subscribe("a/+/c", None, Arc::clone(&s), options()));
    assert_eq!(matches(&router, "a/b/c"), vec![1]);
    assert!(router.unsubscribe("a/+/c", None, 1));
    assert!(!router.unsubscribe("a/+/c", None, 1));
    assert!(matches(&router, "a/b/c").is_empty());
    assert!(router.wild.read().is_empty());
}

#[test]
fn shared_group_delivers_to_one_member_in_turn() {
    let router = Router::default();
    router.subscribe("t", Some("g"), session(1), options());
    router.subscribe("t", Some("g"), session(2), options());
    router.subscribe("t", None, session(3), options());
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
fn deep_topics_beyond_inline_levels_match() {
    let router = Router::default();
    let deep: Vec<String> = (0..20).map(|i| i.to_string()).collect();
    let topic = deep.join("/");
    router.subscribe("0/+/#", None, session(1), options());
    assert_eq!(matches(&router, &topic), vec![1]);
}
