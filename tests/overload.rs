//! Overload protection through the binary: the flags reach the engine, refusals come
//! back as CONNACK codes, and every limit shows on `/metrics` (the engine's own tests,
//! `broker/tests/overload.rs`, drive each limit in detail).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::Server;

/// 3.1.1 CONNECT (clean session, client id `k<n>`) on a fresh socket; the CONNACK's
/// return code.
fn connack_code(server: &Server, n: u8) -> u8 {
    let mut stream = TcpStream::connect(server.mqtt).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let connect = [
        0x10,
        0x0e,
        0,
        4,
        b'M',
        b'Q',
        b'T',
        b'T',
        4,
        0x02,
        0,
        60,
        0,
        2,
        b'k',
        b'0' + n,
    ];
    stream.write_all(&connect).expect("CONNECT");
    let mut connack = [0u8; 4];
    stream.read_exact(&mut connack).expect("CONNACK");
    assert_eq!(connack[..2], [0x20, 0x02], "a CONNACK");
    connack[3]
}

fn metrics(server: &Server) -> String {
    let url = format!("http://{}/metrics", server.http);
    let response = reqwest::blocking::get(url).expect("GET /metrics");
    response.text().expect("metrics text")
}

/// The value of the series `series` (name and labels exactly as exposed).
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in /metrics:\n{text}"))
}

#[test]
fn connect_rate_per_address_refuses_and_every_limit_is_on_metrics() {
    let server = common::start(&[
        "--max-connect-rate-per-ip",
        "2",
        "--max-connect-rate",
        "1000",
        "--max-publish-rate",
        "50",
        "--max-publish-bandwidth",
        "100000",
        "--memory-high-watermark",
        "64TiB",
    ]);
    assert_eq!(connack_code(&server, 1), 0);
    assert_eq!(connack_code(&server, 2), 0);
    assert_eq!(connack_code(&server, 3), 3, "3.1.1: server unavailable");
    let text = metrics(&server);
    let refused = "magnetite_mqtt_connects_refused_total";
    assert_eq!(
        value(&text, &format!("{refused}{{reason=\"ip_connect_rate\"}}")),
        1.0
    );
    assert_eq!(
        value(&text, &format!("{refused}{{reason=\"connect_rate\"}}")),
        0.0
    );
    assert_eq!(
        value(&text, &format!("{refused}{{reason=\"memory\"}}")),
        0.0
    );
    let throttled = "magnetite_mqtt_publish_throttled_total";
    assert_eq!(value(&text, &format!("{throttled}{{limit=\"rate\"}}")), 0.0);
    assert_eq!(
        value(&text, &format!("{throttled}{{limit=\"bandwidth\"}}")),
        0.0
    );
    assert_eq!(value(&text, "magnetite_mqtt_qos0_shed_total"), 0.0);
    assert_eq!(
        value(&text, "magnetite_memory_high_watermark_bytes"),
        (64u64 << 40) as f64
    );
    assert_eq!(value(&text, "magnetite_memory_overloaded"), 0.0);
    assert!(value(&text, "magnetite_mqtt_connect_rate_sources") <= 1.0);
}

#[test]
fn past_a_low_memory_watermark_connects_are_refused_and_metrics_say_so() {
    let server = common::start(&["--memory-high-watermark", "1MiB"]);
    // The first sample is taken at start; allow a few for a slow machine.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut n = 0;
    while connack_code(&server, n % 10) == 0 {
        assert!(Instant::now() < deadline, "never refused");
        n += 1;
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(connack_code(&server, 9), 3);
    let text = metrics(&server);
    assert_eq!(value(&text, "magnetite_memory_overloaded"), 1.0);
    assert!(value(&text, "magnetite_memory_resident_bytes") > (1u64 << 20) as f64);
    let refused = "magnetite_mqtt_connects_refused_total{reason=\"memory\"}";
    assert!(value(&text, refused) >= 2.0);
}

#[test]
fn bad_overload_settings_stop_the_start_with_their_name() {
    let bin = env!("CARGO_BIN_EXE_magnetite");
    for (flag, bad) in [
        ("--memory-high-watermark", "lots"),
        ("--max-connect-rate", "0"),
        ("--max-publish-bandwidth", "-1"),
    ] {
        let out = std::process::Command::new(bin)
            .args(["serve", "--auth", "none", &format!("{flag}={bad}")])
            .output()
            .expect("run magnetite");
        assert!(!out.status.success(), "{flag} {bad} accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(flag), "{flag}: {stderr}");
    }
}
