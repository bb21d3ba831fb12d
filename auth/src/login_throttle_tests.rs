use super::*;

#[test]
fn delays_after_the_free_failures_and_doubles() {
    let t = LoginThrottle::default();
    let now = Instant::now();
    for _ in 0..FREE_FAILURES - 1 {
        t.failed("Admin@Example.com", now);
    }
    assert_eq!(t.wait("admin@example.com", now), None);
    t.failed("admin@example.com", now);
    assert_eq!(
        t.wait("ADMIN@example.com", now),
        Some(Duration::from_secs(1))
    );
    assert_eq!(
        t.wait("admin@example.com", now + Duration::from_secs(1)),
        None
    );
    t.failed("admin@example.com", now + Duration::from_secs(1));
    assert_eq!(
        t.wait("admin@example.com", now + Duration::from_secs(1)),
        Some(Duration::from_secs(2))
    );
    assert_eq!(t.wait("other@example.com", now), None, "per login");
    for i in 0..40 {
        t.failed("admin@example.com", now + Duration::from_secs(2 + i));
    }
    let last = now + Duration::from_secs(41);
    assert_eq!(t.wait("admin@example.com", last), Some(MAX_DELAY));
    t.succeeded("admin@example.com");
    assert_eq!(t.wait("admin@example.com", last), None);
}

#[test]
fn old_failures_are_forgotten() {
    let t = LoginThrottle::default();
    let now = Instant::now();
    for _ in 0..FREE_FAILURES - 1 {
        t.failed("a", now);
    }
    let later = now + ThrottlePolicy::LOGIN.forget_after;
    t.failed("a", later);
    assert_eq!(t.wait("a", later), None, "the count restarted");
}

#[test]
fn concurrent_guesses_are_counted_as_they_start() {
    let t = LoginThrottle::default();
    let now = Instant::now();
    // Forty guesses begin before any of them finishes hashing.
    let started: Vec<_> = (0..40).map(|_| t.begin("victim", now)).collect();
    let admitted = started.iter().filter(|a| a.is_ok()).count();
    assert_eq!(admitted, FREE_FAILURES as usize);
    drop(started);
    assert!(t.wait("victim", now).is_some());
}

#[test]
fn a_success_clears_and_a_non_guess_gives_the_reservation_back() {
    let t = LoginThrottle::default();
    let now = Instant::now();
    for _ in 0..FREE_FAILURES - 1 {
        let _failed = t.begin("user", now).unwrap();
    }
    t.begin("user", now).unwrap().not_a_guess();
    assert_eq!(t.wait("user", now), None, "the fifth did not count");
    t.begin("user", now).unwrap().succeeded();
    assert!(t.is_empty(), "a success forgets the key");
}

#[test]
fn the_table_never_exceeds_its_cap_and_keeps_the_most_failed_keys() {
    let policy = ThrottlePolicy {
        max_entries: 64,
        ..ThrottlePolicy::LOGIN
    };
    let t = LoginThrottle::new(policy);
    let now = Instant::now();
    for _ in 0..FREE_FAILURES {
        t.failed("victim", now);
    }
    for i in 0..10_000 {
        t.failed(&format!("junk-{i}"), now + Duration::from_millis(i));
        assert!(t.len() <= 64);
    }
    assert!(
        t.wait("victim", now).is_some(),
        "one failure per junk key cannot evict a throttled key"
    );
}

#[test]
fn keys_are_fixed_size_whatever_their_length() {
    let t = LoginThrottle::default();
    let long = "x".repeat(1 << 20);
    t.failed(&long, Instant::now());
    assert_eq!(t.len(), 1);
    assert_eq!(std::mem::size_of::<Key>(), 16);
}

#[test]
fn keys_ignore_case_and_surrounding_space_whatever_the_script() {
    let t = LoginThrottle::default();
    assert_eq!(t.key("  admin@example.com\t"), t.key("ADMIN@Example.com"));
    assert_eq!(t.key("\u{c9}milie"), t.key(" \u{e9}milie "));
    assert_ne!(t.key("admin@example.com"), t.key("admin@example.co"));
    assert_ne!(t.key("10.0.0.1"), t.key("10.0.0.2"));
}
