//! MQTT over TLS through the binary: server TLS with client id + secret, mutual TLS
//! with certificates issued by the certs service (mosquitto clients, paho-mqtt, rumqttc),
//! every refusal (wrong CA, expired, revoked - with its live session ended -, disabled
//! client), and a hot reload of the server certificate that a live session survives.

mod common;
mod platform;

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::run;
use magnetite_testkit::openssl::{openssl, self_signed_ca};
use platform::tls::{cert_args, issue, path_pair, tls_pub, tls_server, tls_sub};
use platform::{fleet, Api, Device};

#[test]
fn tls_logins_and_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let s = tls_server(&["--tls-self-signed"]);
    let ca = s.server.data_dir.join("ca").join("ca.crt");
    assert!(ca.exists(), "--tls-self-signed writes the CA for clients");
    let api = Api::admin(&s.server);
    let f = fleet(&api, "tls");
    let topic = format!("m/{}/c/{}", f.domain, f.ch);

    // Server TLS with client id + secret.
    let out = tls_pub(&s, &ca, &f.device.mosquitto_args(&[]), &topic);
    assert!(
        out.status.success(),
        "id + secret over TLS: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The CA is downloadable and is the one clients trust.
    let mut anonymous = Api::admin(&s.server);
    anonymous.token.clear();
    let (status, _) = anonymous.call("GET", "/certs/ca", None);
    assert_eq!(status.as_u16(), 200);

    // Mutual TLS: an issued certificate is the identity, no password.
    let (crt, key, serial) = issue(&api, &f.domain, &f.device.id, "1h", dir.path(), "dev");
    let (crt_s, key_s) = path_pair(&crt, &key);
    let out = tls_pub(&s, &ca, &cert_args(&crt_s, &key_s), &topic);
    assert!(
        out.status.success(),
        "mTLS login: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = api.expect(
        "GET",
        &format!("/{}/certs?client_id={}", f.domain, f.device.id),
        None,
        200,
    );
    assert_eq!(listed["total"], 1);
    assert!(
        listed["certs"][0].get("key").is_none(),
        "keys are never listed"
    );

    // Wrong CA: the server's certificate does not verify.
    let other = dir.path().join("other-ca.crt");
    self_signed_ca(dir.path(), "Other CA", "other-ca.key", "other-ca.crt");
    assert!(
        !tls_pub(&s, &other, &f.device.mosquitto_args(&[]), &topic)
            .status
            .success(),
        "wrong CA must fail"
    );

    // Expired certificate: refused at the handshake.
    let (old_crt, old_key, _) = issue(&api, &f.domain, &f.device.id, "1s", dir.path(), "short");
    std::thread::sleep(Duration::from_secs(2));
    let (oc, ok) = path_pair(&old_crt, &old_key);
    assert!(
        !tls_pub(&s, &ca, &cert_args(&oc, &ok), &topic)
            .status
            .success(),
        "expired certificate must fail"
    );

    // Revoked certificate: its live session ends within a second, then it is refused.
    let auth = cert_args(&crt_s, &key_s);
    let sub = tls_sub(&s, &ca, &auth, &topic, &["-V", "mqttv5"]);
    std::thread::sleep(Duration::from_millis(800));
    let t = Instant::now();
    api.expect(
        "DELETE",
        &format!("/{}/certs/{serial}", f.domain),
        None,
        204,
    );
    wait_exit(sub, t, Duration::from_secs(1));
    assert!(
        !tls_pub(&s, &ca, &cert_args(&crt_s, &key_s), &topic)
            .status
            .success(),
        "revoked certificate must fail"
    );

    // A certificate of a disabled client is refused.
    let second: Device = api.client(&f.domain, "second");
    api.connect(&f.domain, &f.ch, &second.id, &["publish"]);
    let (c2, k2, _) = issue(&api, &f.domain, &second.id, "1h", dir.path(), "second");
    let (c2, k2) = path_pair(&c2, &k2);
    assert!(tls_pub(&s, &ca, &cert_args(&c2, &k2), &topic)
        .status
        .success());
    api.expect(
        "POST",
        &format!("/{}/clients/{}/disable", f.domain, second.id),
        None,
        200,
    );
    assert!(
        !tls_pub(&s, &ca, &cert_args(&c2, &k2), &topic)
            .status
            .success(),
        "disabled client's certificate must fail"
    );

    // paho-mqtt (Python) with the issued certificate of an enabled client.
    let (c3, k3, _) = issue(&api, &f.domain, &f.device.id, "1h", dir.path(), "paho");
    let script = format!(
        "import paho.mqtt.client as m, sys\nc = m.Client(m.CallbackAPIVersion.VERSION2, protocol=m.MQTTv311)\nc.tls_set(ca_certs='{}', certfile='{}', keyfile='{}')\nc.connect('localhost', {})\nc.loop_start()\nimport time\nt = time.time()\nwhile not c.is_connected() and time.time() - t < 5: time.sleep(0.05)\ninfo = c.publish('{topic}', b'x', qos=1)\ninfo.wait_for_publish(5)\nprint('published' if info.is_published() else 'not published')\nc.disconnect()\n",
        ca.display(), c3.display(), k3.display(), s.mqtts.port()
    );
    let out = run("python3", &["-c", &script]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "published",
        "paho-mqtt over mTLS: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // rumqttc (rustls) with the same certificate.
    let (ca_pem, crt_pem, key_pem) = (
        std::fs::read(&ca).unwrap(),
        std::fs::read(&c3).unwrap(),
        std::fs::read(&k3).unwrap(),
    );
    let mqtts_port = s.mqtts.port();
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(async move {
            let mut options = rumqttc::MqttOptions::new("rumqttc-tls", "localhost", mqtts_port);
            options.set_transport(rumqttc::Transport::tls_with_config(
                rumqttc::TlsConfiguration::Simple {
                    ca: ca_pem,
                    alpn: None,
                    client_auth: Some((crt_pem, key_pem)),
                },
            ));
            let (client, mut eventloop) = rumqttc::AsyncClient::new(options, 10);
            client
                .publish(
                    topic.clone(),
                    rumqttc::QoS::AtLeastOnce,
                    false,
                    b"r".to_vec(),
                )
                .await
                .unwrap();
            let acked = tokio::time::timeout(Duration::from_secs(10), async {
                loop {
                    match eventloop.poll().await {
                        Ok(rumqttc::Event::Incoming(rumqttc::Packet::PubAck(_))) => return true,
                        Ok(_) => {}
                        Err(e) => panic!("rumqttc over mTLS: {e}"),
                    }
                }
            })
            .await;
            assert_eq!(acked, Ok(true));
        });
}

fn wait_exit(mut child: std::process::Child, since: Instant, limit: Duration) {
    while since.elapsed() < limit {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    panic!("the session using the revoked certificate was still alive after {limit:?}");
}

/// `openssl` in `dir`, asserting success.
/// A server certificate for localhost signed by `ca.crt`/`ca.key` in `dir`.
fn server_cert(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
        ],
    );
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "san.ext",
            "-out",
            &format!("{name}.crt"),
        ],
    );
}

/// The serial of the certificate the server presents now.
fn served_serial(addr: SocketAddr, ca: &Path) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("openssl s_client -connect {addr} -CAfile {} </dev/null 2>/dev/null | openssl x509 -noout -serial", ca.display()))
        .output()
        .expect("openssl s_client");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn server_certificate_hot_reload_keeps_live_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    self_signed_ca(d, "Test CA", "ca.key", "ca.crt");
    server_cert(d, "one");
    std::fs::copy(d.join("one.crt"), d.join("server.crt")).unwrap();
    std::fs::copy(d.join("one.key"), d.join("server.key")).unwrap();
    let (crt, key) = path_pair(&d.join("server.crt"), &d.join("server.key"));
    let s = tls_server(&["--tls-cert", &crt, "--tls-key", &key]);
    let ca = d.join("ca.crt");
    let before = served_serial(s.mqtts, &ca);
    assert!(before.starts_with("serial="), "{before}");
    let api = Api::admin(&s.server);
    let f = fleet(&api, "reload");
    let topic = format!("m/{}/c/{}", f.domain, f.ch);
    let auth = f.device.mosquitto_args(&[]);
    let sub = tls_sub(&s, &ca, &auth, &topic, &["-C", "1", "-W", "20"]);
    std::thread::sleep(Duration::from_millis(800));

    // Renew: new key and certificate written in place, as an ACME client would.
    server_cert(d, "two");
    std::fs::copy(d.join("two.key"), d.join("server.key")).unwrap();
    std::fs::copy(d.join("two.crt"), d.join("server.crt")).unwrap();
    let t = Instant::now();
    let mut after = before.clone();
    while after == before && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(300));
        after = served_serial(s.mqtts, &ca);
    }
    assert_ne!(after, before, "new handshakes get the renewed certificate");
    // The session opened before the renewal still receives.
    let out = tls_pub(&s, &ca, &f.device.mosquitto_args(&[]), &topic);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = common::finish(sub, Duration::from_secs(10));
    assert_eq!(
        String::from_utf8_lossy(&got.stdout).trim(),
        "1",
        "the live session survived the reload"
    );
}

#[test]
fn a_silent_tls_client_is_dropped_after_the_connect_timeout() {
    use std::io::Read;
    let s = tls_server(&["--tls-self-signed", "--connect-timeout", "1"]);
    let mut silent = TcpStream::connect(s.mqtts).expect("connect");
    silent
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    // Meanwhile others get through: the handshake is not on the accept loop.
    let ca = s.server.data_dir.join("ca").join("ca.crt");
    let api = Api::admin(&s.server);
    let f = fleet(&api, "silent");
    let topic = format!("m/{}/c/{}", f.domain, f.ch);
    assert!(tls_pub(&s, &ca, &f.device.mosquitto_args(&[]), &topic)
        .status
        .success());
    let t = Instant::now();
    let mut buf = [0u8; 16];
    let n = silent.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "closed without a handshake");
    assert!(
        t.elapsed() < Duration::from_secs(4),
        "closed by the timeout, not by the read timeout"
    );
}
