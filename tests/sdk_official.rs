//! The official Magistrala JavaScript SDK (npm `@absmach/magistrala-sdk`, pinned in
//! `tests/sdk/package.json`, installed by `scripts/test.sh` with `npm ci`) against the
//! binary, every SDK service URL pointed at its one HTTP address: `tests/sdk/run.cjs`
//! drives every call of the users, domains, clients, channels, groups, certs, bootstrap
//! and health modules (the domains module's invitation calls in
//! `tests/sdk/invitations.cjs`), the roles API of
//! the four entity modules (`tests/sdk/roles.cjs`), the PATs module (`tests/sdk/pats.cjs`,
//! a PAT made through the SDK then used as its token), and the messages and journal
//! modules with the later parity routes (`tests/sdk/parity_routes.cjs`), and asserts
//! the returned shapes. Every route the SDK reached must be in `/openapi.json`. Without node
//! or the package these tests fail; they never skip.

mod common;
mod platform;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{Server, ADMIN_EMAIL, ADMIN_PASSWORD};
use platform::Api;

/// The bootstrap encrypt key in the text form the SDK uses (`Buffer.from(key)`).
const BOOTSTRAP_KEY: &str = "sdk-bootstrap-key-32-bytes-long!";
const UI_URL: &str = "http://ui.example.com:3000";
const SDK_VERSION: &str = "0.17.18";

fn sdk_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk")
}

/// Fails unless node (>= 18) and the pinned SDK are installed.
fn require_node_and_sdk() {
    let out = common::run("node", &["--version"]);
    let version = String::from_utf8_lossy(&out.stdout);
    let major: u32 = version
        .trim()
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    assert!(major >= 18, "node >= 18 is required, found {version:?}");
    let manifest = sdk_dir().join("node_modules/@absmach/magistrala-sdk/package.json");
    let text = std::fs::read_to_string(&manifest).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; install the SDK with `npm ci` in tests/sdk (scripts/test.sh does)",
            manifest.display()
        )
    });
    let package: serde_json::Value = serde_json::from_str(&text).expect("SDK package.json");
    assert_eq!(package["version"], SDK_VERSION, "run `npm ci` in tests/sdk");
}

/// The platform with the certs service (self-signed TLS on free ports), a UI host for
/// reset links and a bootstrap encrypt key.
fn server() -> Server {
    // The child inherits this process's environment.
    std::env::set_var("MAGNETITE_BOOTSTRAP_ENCRYPT_KEY", BOOTSTRAP_KEY);
    platform::server_with_certs(&["--ui-host", UI_URL])
}

/// `node tests/sdk/run.cjs <args>` against `server`, its requests logged to `log`.
fn run_sdk(server: &Server, args: &[&str], log: &Path) -> Output {
    Command::new("node")
        .arg(sdk_dir().join("run.cjs"))
        .args(args)
        .current_dir(sdk_dir())
        .env("MAGNETITE_URL", format!("http://{}", server.http))
        .env("ADMIN_EMAIL", ADMIN_EMAIL)
        .env("ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("MAIL_DIR", server.data_dir.join("mail"))
        .env("UI_URL", UI_URL)
        .env("BOOTSTRAP_KEY", BOOTSTRAP_KEY)
        .env("SDK_REQUEST_LOG", log)
        .output()
        .expect("node is required (scripts/test.sh installs it)")
}

#[test]
fn the_official_sdk_drives_every_call_with_the_right_shapes() {
    require_node_and_sdk();
    let server = server();
    let log = server.data_dir.join("sdk-requests.log");
    let out = run_sdk(&server, &[], &log);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "SDK run failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    for module in [
        "health",
        "users",
        "domains",
        "clients",
        "channels",
        "groups",
        "certs",
        "bootstrap",
        "parity",
        "roles",
        "pats",
        "invitations",
    ] {
        assert!(
            stdout.contains(&format!("ok {module}:")),
            "{module}\n{stdout}"
        );
    }
    assert!(stdout.contains("every call of"), "{stdout}");
    every_served_request_is_documented(&server, &log);
}

/// Each `METHOD /path STATUS` the SDK logged that found a route (not 404/405) fits an
/// operation of the served `/openapi.json`.
fn every_served_request_is_documented(server: &Server, log: &Path) {
    let doc = Api::unauthenticated(&Api::admin(server)).expect("GET", "/openapi.json", None, 200);
    let ops = platform::openapi::operations(&doc);
    let requests = std::fs::read_to_string(log).expect("SDK request log");
    let mut served = 0;
    for line in requests.lines() {
        let mut parts = line.split(' ');
        let (Some(method), Some(path), Some(status)) = (parts.next(), parts.next(), parts.next())
        else {
            panic!("log line {line:?}");
        };
        if status == "404" || status == "405" {
            continue;
        }
        served += 1;
        assert!(
            platform::openapi::documented(&ops, method, path),
            "{method} {path} ({status}) is served but not in /openapi.json"
        );
    }
    assert!(served > 100, "{served} requests logged");
}
