//! The platform on PostgreSQL through the binary, and the first-start admin.

mod common;
mod platform;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{assert_success, run, Server};
use platform::{device_pub, fleet, Api};

#[test]
fn platform_on_postgresql_survives_a_restart() {
    let pg = magnetite_testkit::servers::scratch_postgres();
    let url = pg.url.clone();
    let server = platform::server(&["--database-url", &url]);
    let api = Api::admin(&server);
    let f = fleet(&api, "pg");
    // The rows are in PostgreSQL, with their events, in the same database.
    let psql = |sql: &str| {
        let out = run("psql", &[&url, "-tAc", sql]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(
        psql(&format!(
            "SELECT name FROM clients WHERE id = '{}'",
            f.device.id
        )),
        "sensor-1"
    );
    assert!(
        psql("SELECT payload FROM events_outbox WHERE stream = 'clients'")
            .contains("client.create")
    );
    assert!(
        !psql("SELECT secret_hash FROM clients").contains(&f.device.secret),
        "only the keyed hash is stored"
    );
    // A second instance on the same database (and the same data dir key) serves the device.
    let data_dir = server.kill9();
    let restarted = Server::start(
        env!("CARGO_BIN_EXE_magnetite"),
        data_dir,
        &["--database-url", &url],
    );
    let port = restarted.port();
    let topic = format!("m/{}/c/{}", f.domain, f.ch);
    let out = device_pub(&port, &f.device, &topic, "1", &["-q", "1"]);
    assert_success(&out);
}

#[test]
fn first_start_prints_a_generated_admin_password_once_and_never_logs_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let http = common::free_port();
    let start = || {
        Command::new(env!("CARGO_BIN_EXE_magnetite"))
            .args(["serve", "--data-dir", &dir.path().to_string_lossy()])
            .args(["--mqtt-addr", &format!("127.0.0.1:{}", common::free_port())])
            .args(["--ws-addr", &format!("127.0.0.1:{}", common::free_port())])
            .args(["--http-addr", &format!("127.0.0.1:{http}")])
            .args(["--log-format", "json"])
            .env_remove("MAGNETITE_ADMIN_EMAIL")
            .env_remove("MAGNETITE_ADMIN_PASSWORD")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn")
    };
    let wait_http = || {
        let t = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", http)).is_err() {
            assert!(t.elapsed() < Duration::from_secs(20), "no HTTP");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let mut first = start();
    wait_http();
    let _ = first.kill();
    let out = first.wait_with_output().expect("output");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let password = stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("Password:"))
        .map(|p| p.trim().to_string())
        .expect("the generated password is printed");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let log_lines: Vec<&str> = stdout
        .lines()
        .chain(stderr.lines())
        .filter(|l| l.starts_with('{'))
        .collect();
    assert!(!log_lines.is_empty(), "JSON log lines");
    assert!(
        log_lines.iter().all(|l| !l.contains(&password)),
        "never in a log line"
    );

    let mut second = start();
    wait_http();
    let api = reqwest::blocking::Client::new();
    let resp = api
        .post(format!("http://127.0.0.1:{http}/users/tokens/issue"))
        .json(&serde_json::json!({"username": "admin@example.com", "password": password}))
        .send()
        .expect("login");
    assert_eq!(resp.status().as_u16(), 201);
    let _ = second.kill();
    let out = second.wait_with_output().expect("output");
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("Password:"),
        "printed only on the first start"
    );
}
