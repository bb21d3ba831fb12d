//! The README's platform journey, run as written: the shell block under "The platform in
//! five minutes" is taken from README.md and executed with bash against the binary
//! (only the lines that start the server and set its address are replaced).

mod common;

use common::run;

fn journey_block() -> String {
    let readme = include_str!("../README.md");
    let start = readme
        .find("## The platform in five minutes")
        .expect("journey section");
    let section = &readme[start..];
    let mut lines = Vec::new();
    let mut in_block = false;
    for line in section.lines().skip(1) {
        if let Some(code) = line.strip_prefix("    ") {
            in_block = true;
            lines.push(code.to_string());
        } else if in_block && !line.trim().is_empty() {
            break;
        } else if in_block {
            lines.push(String::new());
        }
    }
    lines
        .into_iter()
        .filter(|l| {
            !(l.starts_with("export MAGNETITE_ADMIN")
                || l.starts_with("cargo run")
                || l.starts_with("H="))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_readme_journey_works_as_written() {
    let server = common::start_platform(&[]);
    let work = tempfile::tempdir().expect("temp dir");
    let script = work.path().join("journey.sh");
    let block = journey_block();
    assert!(
        block.contains("mosquitto_pub") && block.contains("channels/connect"),
        "{block}"
    );
    std::fs::write(&script, format!("cd {}\n{block}\n", work.path().display())).expect("script");
    let out = common::shell_journey(&server, &script)
        .output()
        .expect("bash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let received: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("/room-1 21.5"))
        .collect();
    assert_eq!(
        received.len(),
        1,
        "the subscriber got the message\nstdout: {stdout}\nstderr: {stderr}"
    );
    assert!(
        stdout.lines().any(|l| l == "202"),
        "the HTTP publish was accepted\nstdout: {stdout}\nstderr: {stderr}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.ends_with(r#"/room-2 [{"n":"temp","u":"Cel","v":21.7}]"#)),
        "the subscriber got the HTTP message\nstdout: {stdout}\nstderr: {stderr}"
    );
    assert!(
        stdout.lines().any(|l| l == "disabled"),
        "client disabled\n{stdout}"
    );
    // The refused publish (unconnected channel) and the disabled client's connect failed.
    assert!(
        stderr.to_lowercase().contains("not authorised"),
        "refusals visible: {stderr}"
    );
    let _ = run("true", &[]);
}
