//! The fleet features of the load tester against a scripted broker (`fake`), which
//! records what the tool sent: source addresses, per-connection credentials and
//! subscriptions, and a storm's retries through refusals.

mod fake;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::process::Command;

use fake::FakeBroker;

/// Runs `magnetite-loadtest <args> --port <port> --quiet --json <tmp>`; the JSON report.
fn loadtest(port: u16, args: &[&str]) -> serde_json::Value {
    let json = std::env::temp_dir().join(format!("lt-fleet-{}-{port}.json", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_magnetite-loadtest"))
        .args(args)
        .args(["--port", &port.to_string(), "--quiet", "--json"])
        .arg(&json)
        .output()
        .expect("run loadtest");
    assert!(
        out.status.success(),
        "{args:?}\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let report = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let _ = std::fs::remove_file(&json);
    report
}

#[test]
fn source_addresses_take_turns_binding_the_connections() {
    let broker = FakeBroker::start(|_, _| 0);
    let r = loadtest(
        broker.port,
        &[
            "idle",
            "--clients",
            "6",
            "--duration",
            "0",
            "--source-addrs",
            "127.0.0.2-127.0.0.4",
        ],
    );
    assert_eq!(r["clients"], 6, "{r}");
    let mut per_address: BTreeMap<IpAddr, usize> = BTreeMap::new();
    for login in broker.logins() {
        *per_address.entry(login.peer).or_default() += 1;
    }
    let expected: BTreeMap<IpAddr, usize> = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
        .iter()
        .map(|a| (a.parse().unwrap(), 2))
        .collect();
    assert_eq!(per_address, expected);
}

#[test]
fn idle_logs_each_connection_in_with_its_own_account_and_subscribes_it() {
    let broker = FakeBroker::start(|_, _| 0);
    let args = [
        "idle",
        "--clients",
        "4",
        "--duration",
        "0",
        "--qos",
        "1",
        "--username",
        "dev-%i",
        "--password",
        "secret-%i",
        "--topic",
        "fleet/%i/down",
    ];
    let r = loadtest(broker.port, &args);
    assert_eq!(
        (r["clients"].as_u64(), r["errors"].as_u64()),
        (Some(4), Some(0)),
        "{r}"
    );
    let mut accounts: Vec<_> = broker
        .logins()
        .into_iter()
        .map(|l| (l.client_id, l.username.unwrap(), l.password.unwrap()))
        .collect();
    accounts.sort();
    let expected: Vec<_> = (0..4)
        .map(|i| {
            (
                format!("lt-idle-{i}"),
                format!("dev-{i}"),
                format!("secret-{i}"),
            )
        })
        .collect();
    assert_eq!(accounts, expected);
    let mut subscriptions = broker.subscriptions();
    subscriptions.sort();
    let expected: Vec<_> = (0..4)
        .map(|i| (format!("lt-idle-{i}"), format!("fleet/{i}/down")))
        .collect();
    assert_eq!(subscriptions, expected);
}

#[test]
fn idle_reads_the_broker_rss_only_after_the_settle_time() {
    // The "broker" whose RSS is read is this test process (it runs the fake broker).
    let broker = FakeBroker::start(|_, _| 0);
    let pid = std::process::id().to_string();
    let args = [
        "idle",
        "--clients",
        "3",
        "--duration",
        "0",
        "--topic",
        "fleet/%i/down",
        "--settle",
        "2.5",
        "--broker-pid",
        &pid,
    ];
    let r = loadtest(broker.port, &args);
    assert_eq!(r["clients"], 3, "{r}");
    assert!(
        r["broker_rss_after_kib"]
            .as_u64()
            .is_some_and(|kib| kib > 0),
        "{r}"
    );
    let waited = r["rss_read_after_s"].as_f64().expect("reported");
    assert!(waited >= 2.5, "read {waited} s after the last SUBACK: {r}");
}

fn refused(wave: &serde_json::Value) -> BTreeMap<String, u64> {
    serde_json::from_value(wave["refused"].clone()).unwrap()
}

#[test]
fn a_storm_retries_through_busy_refusals_until_every_device_is_back() {
    // First connect: 0x9F then 0x89 before getting in; after the drop: 0x97 once.
    let broker = FakeBroker::start(|_, attempt| match attempt {
        1 => 0x9F,
        2 => 0x89,
        4 => 0x97,
        _ => 0,
    });
    let args = [
        "storm",
        "--clients",
        "10",
        "--storms",
        "1",
        "--duration",
        "0.2",
        "--topic",
        "dev/%i",
        "--backoff-min-ms",
        "5",
        "--backoff-max-ms",
        "40",
    ];
    let r = loadtest(broker.port, &args);
    let waves = r["storm"].as_array().expect("storm waves");
    assert_eq!(waves.len(), 2, "{r}");
    let (first, storm) = (&waves[0], &waves[1]);
    assert_eq!(first["connected"], 10, "{r}");
    assert_eq!(
        refused(first),
        BTreeMap::from([("0x89".to_string(), 10), ("0x9f".to_string(), 10)])
    );
    assert_eq!(first["retries"], 20, "{r}");
    assert_eq!(storm["connected"], 10, "{r}");
    assert_eq!(refused(storm), BTreeMap::from([("0x97".to_string(), 10)]));
    assert_eq!(storm["retries"], 10, "{r}");
    for wave in waves {
        assert_eq!(wave["gave_up"], 0, "{r}");
        assert!(wave["seconds_to_all_connected"].as_f64().is_some(), "{r}");
    }
    // Every device subscribed again after each connect: 2 waves x 10.
    assert_eq!(broker.subscriptions().len(), 20);
    assert_eq!(r["errors"], 0, "{r}");
}

#[test]
fn a_device_refused_for_good_gives_up_and_the_rest_come_back() {
    // MQTT 3.1.1: 0x03 (server unavailable) is retried, 0x05 (not authorized) is final.
    let broker = FakeBroker::start(|client_id, attempt| match (client_id, attempt) {
        ("lt-storm-0", _) => 0x05,
        (_, 1) => 0x03,
        _ => 0,
    });
    let args = [
        "storm",
        "--clients",
        "5",
        "--storms",
        "1",
        "--duration",
        "0.1",
        "--mqtt-version",
        "3",
        "--backoff-min-ms",
        "5",
    ];
    let r = loadtest(broker.port, &args);
    let waves = r["storm"].as_array().expect("storm waves");
    let first = &waves[0];
    assert_eq!(
        (first["devices"].as_u64(), first["connected"].as_u64()),
        (Some(5), Some(4)),
        "{r}"
    );
    assert_eq!(first["gave_up"], 1, "{r}");
    assert_eq!(
        refused(first),
        BTreeMap::from([("0x03".to_string(), 4), ("0x05".to_string(), 1)])
    );
    // The storm is about the four still trying, and the one refused never tries again.
    assert_eq!(
        (waves[1]["devices"].as_u64(), waves[1]["connected"].as_u64()),
        (Some(4), Some(4)),
        "{r}"
    );
    let tries_of_0 = broker
        .logins()
        .iter()
        .filter(|l| l.client_id == "lt-storm-0" && l.code == 0x05)
        .count();
    assert_eq!(tries_of_0, 1);
    assert_eq!(r["errors"], 1, "{r}");
}
