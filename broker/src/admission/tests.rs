//! The admission's decisions, driven with explicit instants.

use super::*;
use std::net::{Ipv4Addr, Ipv6Addr};

fn n(value: u32) -> NonZeroU32 {
    NonZeroU32::new(value).unwrap()
}

fn config() -> OverloadConfig {
    OverloadConfig::default()
}

const A: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
const B: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

#[test]
fn nothing_configured_admits_everything() {
    let admission = Admission::new(&config());
    for _ in 0..10_000 {
        assert_eq!(admission.admit(A), Ok(()));
    }
    assert!(!admission.needs_sampler());
    assert!(!admission.shedding());
}

#[test]
fn a_source_over_its_rate_is_refused_while_another_is_admitted() {
    let admission = Admission::new(&OverloadConfig {
        max_connect_rate_per_ip: Some(n(3)),
        ..config()
    });
    let now = Instant::now();
    for _ in 0..3 {
        assert_eq!(admission.decide(A, now), Ok(()));
    }
    let refusal = admission.decide(A, now).unwrap_err();
    assert_eq!(refusal.reason, RefusalReason::SourceConnectRate);
    assert!(refusal.retry_after >= Duration::from_millis(333));
    assert_eq!(admission.decide(B, now), Ok(()));
    // A second later A's bucket is full again and the sweep forgets it.
    admission.tick(None, now + Duration::from_secs(1));
    assert_eq!(admission.tracked_sources(), 0);
    assert_eq!(admission.decide(A, now + Duration::from_secs(1)), Ok(()));
}

#[test]
fn the_global_rate_refuses_everyone_past_it() {
    let admission = Admission::new(&OverloadConfig {
        max_connect_rate: Some(n(2)),
        ..config()
    });
    assert_eq!(admission.admit(A), Ok(()));
    assert_eq!(admission.admit(B), Ok(()));
    let refusal = admission.admit(A).unwrap_err();
    assert_eq!(refusal.reason, RefusalReason::ConnectRate);
    assert_eq!(admission.counters.refused(RefusalReason::ConnectRate), 1);
}

#[test]
fn a_full_source_table_admits_new_sources_untracked() {
    let limiter = SourceLimiter {
        rate: n(1),
        buckets: Mutex::default(),
    };
    let now = Instant::now();
    for i in 0..MAX_SOURCES as u32 {
        assert_eq!(limiter.admit(IpAddr::V4(Ipv4Addr::from(i)), now), Ok(()));
    }
    let newcomer = IpAddr::V4(Ipv4Addr::new(250, 0, 0, 1));
    assert_eq!(limiter.admit(newcomer, now), Ok(()));
    assert_eq!(limiter.admit(newcomer, now), Ok(()), "untracked");
    assert_eq!(limiter.len(), MAX_SOURCES);
    assert!(limiter.admit(IpAddr::V4(Ipv4Addr::from(7)), now).is_err());
}

#[test]
fn publish_budgets_are_per_session_and_forgotten_when_full() {
    let admission = Admission::new(&OverloadConfig {
        max_publish_rate: Some(n(1)),
        ..config()
    });
    assert!(admission.limits_publishers() && admission.needs_sampler());
    assert_eq!(admission.admit_publish(1, 10), Ok(()));
    let (limit, _) = admission.admit_publish(1, 10).unwrap_err();
    assert_eq!(limit, PublishLimit::Rate);
    assert_eq!(admission.admit_publish(2, 10), Ok(()), "another session");
    assert_eq!(admission.tracked_publishers(), 2);
    admission.tick(None, Instant::now() + Duration::from_secs(2));
    assert_eq!(admission.tracked_publishers(), 0);
    let unlimited = Admission::new(&config());
    assert_eq!(unlimited.admit_publish(1, 10), Ok(()));
    assert_eq!(unlimited.tracked_publishers(), 0);
}

#[test]
fn ipv6_sources_are_keyed_by_their_64_prefix() {
    let one: Ipv6Addr = "2001:db8:1:2:aaaa::1".parse().unwrap();
    let two: Ipv6Addr = "2001:db8:1:2:bbbb::9".parse().unwrap();
    let other: Ipv6Addr = "2001:db8:1:3::1".parse().unwrap();
    let key = |ip: Ipv6Addr| source_key(IpAddr::V6(ip));
    assert_eq!(key(one), key(two));
    assert_ne!(key(one), key(other));
    let mapped: Ipv6Addr = "::ffff:10.1.2.3".parse().unwrap();
    assert_eq!(key(mapped), IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3)));
}

#[test]
fn memory_refuses_connects_until_below_the_low_watermark() {
    let admission = Admission::new(&OverloadConfig {
        memory_high_watermark: Some(1000),
        ..config()
    });
    assert_eq!(admission.memory().unwrap().watermarks(), (1000, 900));
    let now = Instant::now();
    admission.tick(Some(1001), now);
    assert!(admission.shedding());
    let refusal = admission.admit(A).unwrap_err();
    assert_eq!(refusal.reason, RefusalReason::Memory);
    assert!(refusal.retry_after >= MEMORY_RETRY);
    admission.tick(Some(950), now);
    assert!(admission.shedding(), "hysteresis");
    admission.tick(Some(900), now);
    assert!(!admission.shedding());
    assert_eq!(admission.admit(A), Ok(()));
}

#[test]
fn the_retry_hint_spreads_with_the_crowd() {
    let wait = Duration::from_millis(10);
    assert_eq!(retry_hint(wait, 0, 100, 0.0), wait);
    assert_eq!(retry_hint(wait, 0, 100, 1.0), wait + Duration::from_secs(1));
    // 5,000 refused at 100/s: spread over the 50 s the limit needs.
    assert_eq!(
        retry_hint(wait, 5000, 100, 1.0),
        wait + Duration::from_secs(50)
    );
    assert_eq!(
        retry_hint(wait, 5000, 100, 0.5),
        wait + Duration::from_secs(25)
    );
    assert_eq!(retry_hint(wait, u64::MAX, 1, 1.0), wait + MAX_SPREAD);
}

#[test]
fn refusal_connacks_per_version_and_server_reference() {
    let refusal = Refusal {
        reason: RefusalReason::ConnectRate,
        retry_after: Duration::from_millis(1500),
    };
    let v3 = refusal_connack(ProtocolVersion::V311, &refusal, None);
    assert_eq!(v3.code, reason::v3::SERVER_UNAVAILABLE);
    assert!(v3.properties.is_empty());
    let v5 = refusal_connack(ProtocolVersion::V5, &refusal, None);
    assert_eq!(v5.code, reason::CONNECTION_RATE_EXCEEDED);
    assert_eq!(
        v5.properties.user_properties,
        vec![("retry-after-ms".into(), "1500".into())]
    );
    assert!(v5.properties.reason_string.is_some());
    assert_eq!(v5.properties.server_reference, None);
    let memory = Refusal {
        reason: RefusalReason::Memory,
        ..refusal
    };
    let v5 = refusal_connack(ProtocolVersion::V5, &memory, None);
    assert_eq!(v5.code, reason::QUOTA_EXCEEDED);
    let other: ByteString = "mqtt2.example.com:1883".into();
    let v5 = refusal_connack(ProtocolVersion::V5, &refusal, Some(&other));
    assert_eq!(v5.code, reason::USE_ANOTHER_SERVER);
    assert_eq!(v5.properties.server_reference, Some(other));
}

#[test]
fn the_summary_names_only_what_moved() {
    assert_eq!(summary(&[1, 2, 3, 4, 5, 6], &[1, 2, 3, 4, 5, 6]), None);
    let line = summary(&[0; 6], &[0, 0, 7, 100, 0, 2]).unwrap();
    assert_eq!(
        line,
        "7 connects refused (global rate), 100 QoS 0 deliveries shed, 2 publisher pauses (bandwidth)"
    );
}
