//! The broker as a mosquitto user sees it: mosquitto_pub / mosquitto_sub, 3.1.1 and 5.0.

mod common;

use std::time::Duration;

use common::{finish, run, spawn, Server};

fn sub(server: &Server, extra: &[&str]) -> std::process::Child {
    let port = server.port();
    let mut args = vec!["-h", "127.0.0.1", "-p", &port, "-v"];
    args.extend_from_slice(extra);
    spawn("mosquitto_sub", &args)
}

fn publish(server: &Server, extra: &[&str]) {
    let port = server.port();
    let mut args = vec!["-h", "127.0.0.1", "-p", &port];
    args.extend_from_slice(extra);
    let out = run("mosquitto_pub", &args);
    assert!(
        out.status.success(),
        "mosquitto_pub failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn lines(out: &std::process::Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn pub_sub_at_every_qos_in_both_versions() {
    let server = common::start(&[]);
    for version in ["mqttv311", "mqttv5"] {
        let s = sub(
            &server,
            &["-V", version, "-t", "sensors/+/temp", "-q", "2", "-C", "3"],
        );
        std::thread::sleep(Duration::from_millis(400));
        for qos in ["0", "1", "2"] {
            publish(
                &server,
                &[
                    "-V",
                    version,
                    "-t",
                    "sensors/r1/temp",
                    "-q",
                    qos,
                    "-m",
                    &format!("q{qos}"),
                ],
            );
        }
        let out = finish(s, Duration::from_secs(5));
        assert_eq!(
            lines(&out),
            vec![
                "sensors/r1/temp q0",
                "sensors/r1/temp q1",
                "sensors/r1/temp q2"
            ],
            "{version}"
        );
    }
}

#[test]
fn retained_set_replace_clear() {
    let server = common::start(&[]);
    publish(&server, &["-t", "state/door", "-m", "open", "-r"]);
    publish(&server, &["-t", "state/door", "-m", "closed", "-r"]);
    let out = finish(
        sub(&server, &["-t", "state/#", "-C", "1", "-W", "3"]),
        Duration::from_secs(5),
    );
    assert_eq!(lines(&out), vec!["state/door closed"]);
    publish(&server, &["-t", "state/door", "-r", "-n"]);
    let out = finish(
        sub(&server, &["-t", "state/#", "-C", "1", "-W", "1"]),
        Duration::from_secs(4),
    );
    assert!(
        lines(&out).is_empty(),
        "cleared retained message still delivered: {:?}",
        lines(&out)
    );
}

#[test]
fn hash_does_not_match_dollar_topics() {
    let server = common::start(&[]);
    let all = sub(&server, &["-t", "#", "-C", "1", "-W", "3"]);
    std::thread::sleep(Duration::from_millis(400));
    publish(&server, &["-t", "$internal/x", "-m", "hidden"]);
    publish(&server, &["-t", "visible/x", "-m", "shown"]);
    let out = finish(all, Duration::from_secs(5));
    assert_eq!(lines(&out), vec!["visible/x shown"]);
}

#[test]
fn will_is_sent_when_the_client_dies() {
    let server = common::start(&[]);
    let watcher = sub(&server, &["-t", "wills/#", "-C", "1", "-W", "5"]);
    let port = server.port();
    let mut doomed = spawn(
        "mosquitto_sub",
        &[
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-t",
            "nothing",
            "--will-topic",
            "wills/dev1",
            "--will-payload",
            "offline",
        ],
    );
    std::thread::sleep(Duration::from_millis(500));
    doomed.kill().expect("kill client"); // SIGKILL: no DISCONNECT is sent
    let _ = doomed.wait();
    let out = finish(watcher, Duration::from_secs(6));
    assert_eq!(lines(&out), vec!["wills/dev1 offline"]);
}

#[test]
fn shared_subscription_splits_messages() {
    let server = common::start(&[]);
    let a = sub(
        &server,
        &["-V", "mqttv5", "-t", "$share/workers/jobs", "-W", "3"],
    );
    let b = sub(
        &server,
        &["-V", "mqttv5", "-t", "$share/workers/jobs", "-W", "3"],
    );
    std::thread::sleep(Duration::from_millis(500));
    for i in 0..10 {
        publish(&server, &["-t", "jobs", "-m", &format!("job{i}")]);
    }
    let (a, b) = (
        finish(a, Duration::from_secs(5)),
        finish(b, Duration::from_secs(5)),
    );
    let (na, nb) = (lines(&a).len(), lines(&b).len());
    assert_eq!(na + nb, 10, "a={na} b={nb}");
    assert!(na > 0 && nb > 0, "both members get work: a={na} b={nb}");
}

#[test]
fn persistent_session_receives_what_was_published_while_offline() {
    let server = common::start(&[]);
    let first = sub(
        &server,
        &["-i", "keeper", "-c", "-q", "1", "-t", "inbox", "-W", "1"],
    );
    let _ = finish(first, Duration::from_secs(3));
    publish(&server, &["-t", "inbox", "-q", "1", "-m", "while-away"]);
    let back = sub(
        &server,
        &[
            "-i", "keeper", "-c", "-q", "1", "-t", "inbox", "-C", "1", "-W", "3",
        ],
    );
    let out = finish(back, Duration::from_secs(5));
    assert_eq!(lines(&out), vec!["inbox while-away"]);
}

#[test]
fn sigterm_exits_zero() {
    let server = common::start(&[]);
    let status = server.terminate();
    assert!(status.success(), "{status:?}");
}
