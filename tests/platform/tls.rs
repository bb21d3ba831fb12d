//! MQTT over TLS through the binary: a platform server with TLS listeners on free
//! ports, and mosquitto_pub over TLS. Shared by the TLS test files.

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::{free_port, run, Server};

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
    let port = s.mqtts.port().to_string();
    let ca = ca.to_string_lossy();
    let mut args = vec![
        "-h",
        "localhost",
        "-p",
        &port,
        "--cafile",
        &ca,
        "-V",
        "mqttv5",
        "-q",
        "1",
        "-t",
        topic,
        "-m",
        "1",
    ];
    args.extend_from_slice(auth);
    run("mosquitto_pub", &args)
}

pub fn cert_args<'a>(crt: &'a str, key: &'a str) -> Vec<&'a str> {
    vec!["--cert", crt, "--key", key]
}
