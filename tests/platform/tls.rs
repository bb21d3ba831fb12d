//! MQTT over TLS through the binary: a platform server with TLS listeners on free
//! ports, and mosquitto_pub over TLS. Shared by the TLS test files.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::{free_port, run, spawn, Server};
use crate::platform::Api;
use serde_json::json;

pub struct TlsServer {
    pub server: Server,
    pub mqtts: SocketAddr,
}

pub fn wait_port(addr: SocketAddr) {
    let t = Instant::now();
    while TcpStream::connect(addr).is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "no TLS listener on {addr}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn tls_server(extra: &[&str]) -> TlsServer {
    let mqtts = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let wss = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let (m, w) = (mqtts.to_string(), wss.to_string());
    let mut args = vec!["--mqtts-addr", &m, "--wss-addr", &w];
    args.extend_from_slice(extra);
    let server = super::server(&args);
    wait_port(mqtts);
    TlsServer { server, mqtts }
}

/// mosquitto_pub over TLS; `auth` is either `-u/-P` or `--cert/--key` arguments.
pub fn tls_pub(s: &TlsServer, ca: &Path, auth: &[&str], topic: &str) -> std::process::Output {
    let rest = ["-V", "mqttv5", "-q", "1", "-t", topic, "-m", "1"];
    let (port, ca) = (s.mqtts.port().to_string(), ca.to_string_lossy());
    run("mosquitto_pub", &tls_args(&port, &ca, auth, &rest))
}

/// mosquitto_sub over TLS of `topic`, left running; `extra` adds flags (`-V`, `-C`, ...).
pub fn tls_sub(
    s: &TlsServer,
    ca: &Path,
    auth: &[&str],
    topic: &str,
    extra: &[&str],
) -> std::process::Child {
    let (port, ca) = (s.mqtts.port().to_string(), ca.to_string_lossy());
    let rest = [&["-t", topic][..], extra].concat();
    spawn("mosquitto_sub", &tls_args(&port, &ca, auth, &rest))
}

/// `-h localhost -p <port> --cafile <ca>`, then `auth`, then `rest`.
fn tls_args<'a>(port: &'a str, ca: &'a str, auth: &[&'a str], rest: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["-h", "localhost", "-p", port, "--cafile", ca];
    args.extend_from_slice(auth);
    args.extend_from_slice(rest);
    args
}

/// Two paths (a certificate and its key) as text, for [`cert_args`].
pub fn path_pair(crt: &Path, key: &Path) -> (String, String) {
    (
        crt.to_string_lossy().to_string(),
        key.to_string_lossy().to_string(),
    )
}

pub fn cert_args<'a>(crt: &'a str, key: &'a str) -> Vec<&'a str> {
    vec!["--cert", crt, "--key", key]
}

/// Issues a certificate through the API and writes `<name>.crt/.key` into `dir`.
pub fn issue(
    api: &Api,
    domain: &str,
    client: &str,
    ttl: &str,
    dir: &Path,
    name: &str,
) -> (PathBuf, PathBuf, String) {
    let c = api.expect(
        "POST",
        &format!("/{domain}/certs"),
        Some(json!({"client_id": client, "ttl": ttl})),
        201,
    );
    let (crt, key) = (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    );
    std::fs::write(&crt, c["certificate"].as_str().expect("certificate")).unwrap();
    std::fs::write(&key, c["key"].as_str().expect("key")).unwrap();
    (
        crt,
        key,
        c["serial_number"].as_str().expect("serial").to_string(),
    )
}
