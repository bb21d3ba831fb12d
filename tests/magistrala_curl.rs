//! Magistrala's own curl examples (SuperMQ-era docs: users, domains, clients, channels,
//! connect), pasted into `tests/journeys/magistrala_curl.sh`, against the binary with
//! self-registration on as in SuperMQ's docker setup. The HTTP publish example
//! (`magistrala_curl_http.sh`) runs after them on the same platform: an MQTT subscriber
//! must receive what the example posts.

mod common;

use std::path::Path;
use std::process::Output;

fn script(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/journeys")
        .join(name)
}

/// `name` in `dir` against `server`, with `extra` environment.
fn run(server: &common::Server, dir: &Path, name: &str, extra: &[(&str, &str)]) -> Output {
    let mut cmd = common::shell_journey(server, &script(name));
    cmd.current_dir(dir);
    for (key, value) in extra {
        cmd.env(key, value);
    }
    cmd.output().expect("bash")
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn magistralas_curl_examples_pass_unchanged() {
    let server = common::start_platform(&["--allow-self-register"]);
    let work = tempfile::tempdir().expect("temp dir");
    let out = run(&server, work.path(), "magistrala_curl.sh", &[]);
    let report = text(&out);
    assert!(out.status.success(), "{report}");
    for step in [
        "register",
        "login",
        "profile",
        "list-users",
        "update-user",
        "reset-request",
        "create-domain",
        "create-client",
        "list-clients",
        "view-client",
        "update-client",
        "disable-client",
        "enable-client",
        "create-channel",
        "connect",
        "connected",
        "disconnect",
        "disconnected",
        "delete-client",
        "deleted",
    ] {
        assert!(
            report.contains(&format!("STEP {step} ok")),
            "{step}\n{report}"
        );
    }
}

/// The HTTP publish example (through the HTTP messaging adapter) reaches a device
/// subscribed over MQTT on the channel's subtopic.
#[test]
fn the_http_publish_example_reaches_an_mqtt_subscriber() {
    let server = common::start_platform(&["--allow-self-register"]);
    let work = tempfile::tempdir().expect("temp dir");
    let setup = run(
        &server,
        work.path(),
        "magistrala_curl.sh",
        &[("KEEP_CLIENT", "1")],
    );
    assert!(setup.status.success(), "{}", text(&setup));
    let out = run(&server, work.path(), "magistrala_curl_http.sh", &[]);
    let report = text(&out);
    assert!(
        out.status.success() && report.contains("STEP http-publish ok"),
        "{report}"
    );
}
