//! Settings come from flags, `MAGNETITE_*` variables and a TOML file, in that order of
//! precedence; a bad file is refused with a message naming the problem.

mod common;

use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::free_port;

fn listening(port: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn flag_beats_env_beats_file() {
    let dir = std::env::temp_dir().join(format!("magnetite-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (file_mqtt, file_http, env_http, flag_ws, file_ws) = (
        free_port(),
        free_port(),
        free_port(),
        free_port(),
        free_port(),
    );
    let config = dir.join("magnetite.toml");
    std::fs::write(
        &config,
        format!(
            "auth = \"none\"\nmqtt-addr = \"127.0.0.1:{file_mqtt}\"\nhttp-addr = \"127.0.0.1:{file_http}\"\nws-addr = \"127.0.0.1:{file_ws}\"\ndata-dir = \"{}\"\n",
            dir.join("data").display()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_magnetite"))
        .args([
            "serve",
            "--config",
            &config.to_string_lossy(),
            "--ws-addr",
            &format!("127.0.0.1:{flag_ws}"),
        ])
        .env("MAGNETITE_HTTP_ADDR", format!("127.0.0.1:{env_http}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn magnetite");
    let mqtt_from_file = listening(file_mqtt);
    let http_from_env = listening(env_http);
    let ws_from_flag = listening(flag_ws);
    let http_from_file = TcpStream::connect(("127.0.0.1", file_http)).is_ok();
    let ws_from_file = TcpStream::connect(("127.0.0.1", file_ws)).is_ok();
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        mqtt_from_file,
        "file setting used when nothing overrides it"
    );
    assert!(http_from_env && !http_from_file, "env beats file");
    assert!(ws_from_flag && !ws_from_file, "flag beats file");
}

#[test]
fn unknown_key_in_the_file_is_refused_by_name() {
    let dir = std::env::temp_dir().join(format!("magnetite-badconfig-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("bad.toml");
    std::fs::write(&config, "max-conections = 10\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_magnetite"))
        .args(["serve", "--config", &config.to_string_lossy()])
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("run magnetite");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("max-conections"), "{stderr}");
}
