//! A platform-mode server and an HTTP client for it: the operator's journey in code
//! (token, domain, clients, channels, connections), shared by the platform tests.

#![allow(dead_code)]

use reqwest::blocking::Client as Http;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{self, run, Server, ADMIN_EMAIL, ADMIN_PASSWORD};
use std::time::{Duration, Instant};

pub mod gateway;
pub mod mail;
pub mod openapi;
pub mod tls;

pub struct Api {
    http: Http,
    base: String,
    pub token: String,
}

pub struct Device {
    pub id: String,
    pub secret: String,
}

impl Device {
    /// `-u <id> -P <secret>` and then `args`: a mosquitto client's arguments as this
    /// device.
    pub fn mosquitto_args<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        let mut all = vec!["-u", self.id.as_str(), "-P", self.secret.as_str()];
        all.extend_from_slice(args);
        all
    }
}

impl Api {
    /// Logs in as the platform admin of `server`.
    pub fn admin(server: &Server) -> Api {
        let mut api = Api {
            http: Http::new(),
            base: format!("http://{}", server.http),
            token: String::new(),
        };
        api.token = api.login(ADMIN_EMAIL, ADMIN_PASSWORD);
        api
    }

    /// Another client of `other`'s server, not logged in (set `token`, e.g. from
    /// [`Api::login`]).
    pub fn unauthenticated(other: &Api) -> Api {
        Api {
            http: Http::new(),
            base: other.base.clone(),
            token: String::new(),
        }
    }

    /// `http://host:port` of the API.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    pub fn login(&self, username: &str, password: &str) -> String {
        let (status, body) = self.call(
            "POST",
            "/users/tokens/issue",
            Some(json!({"username": username, "password": password})),
        );
        assert_eq!(status, StatusCode::CREATED, "login: {body}");
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_string()
    }

    /// Any request with the current token; returns the status and the JSON body
    /// (`null` when empty).
    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if !self.token.is_empty() {
            req = req.bearer_auth(&self.token);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().expect("HTTP request");
        let status = resp.status();
        let text = resp.text().unwrap_or_default();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        (status, json)
    }

    /// Calls and asserts the status; returns the body.
    pub fn expect(&self, method: &str, path: &str, body: Option<Value>, want: u16) -> Value {
        let (status, json) = self.call(method, path, body);
        assert_eq!(status.as_u16(), want, "{method} {path}: {json}");
        json
    }

    pub fn domain(&self, name: &str, route: &str) -> String {
        let d = self.expect(
            "POST",
            "/domains",
            Some(json!({"name": name, "route": route})),
            201,
        );
        d["id"].as_str().expect("domain id").to_string()
    }

    /// `POST /{domain}/{kind}` of an entity named `name` (asserting 201); its JSON.
    fn create_named(&self, domain: &str, kind: &str, name: &str) -> Value {
        let body = Some(json!({"name": name}));
        self.expect("POST", &format!("/{domain}/{kind}"), body, 201)
    }

    pub fn client(&self, domain: &str, name: &str) -> Device {
        Self::device(&self.create_named(domain, "clients", name))
    }

    /// A client with `metadata` (e.g. `{"gateway": true}`).
    pub fn client_with(&self, domain: &str, name: &str, metadata: Value) -> Device {
        let body = Some(json!({"name": name, "metadata": metadata}));
        Self::device(&self.expect("POST", &format!("/{domain}/clients"), body, 201))
    }

    /// A client created in the group `parent`.
    pub fn client_in(&self, domain: &str, name: &str, parent: &str) -> Device {
        let body = Some(json!({"name": name, "parent_id": parent}));
        Self::device(&self.expect("POST", &format!("/{domain}/clients"), body, 201))
    }

    fn device(c: &Value) -> Device {
        Device {
            id: c["id"].as_str().expect("client id").to_string(),
            secret: c["credentials"]["secret"]
                .as_str()
                .expect("secret")
                .to_string(),
        }
    }

    pub fn channel(&self, domain: &str, name: &str) -> String {
        let c = self.create_named(domain, "channels", name);
        c["id"].as_str().expect("channel id").to_string()
    }

    pub fn connect(&self, domain: &str, channel: &str, client: &str, types: &[&str]) {
        let body = json!({"channel_ids": [channel], "client_ids": [client], "types": types});
        self.expect(
            "POST",
            &format!("/{domain}/channels/connect"),
            Some(body),
            201,
        );
    }

    /// Every event of `stream` in the embedded log (`GET /events`), in outbox order:
    /// the `event` objects, paged through with `after`.
    pub fn event_log(&self, stream: &str) -> Vec<Value> {
        let (mut out, mut after) = (Vec::new(), 0);
        loop {
            let path = format!("/events?stream={stream}&after={after}&limit=1000");
            let page = self.expect("GET", &path, None, 200);
            let events = page["events"].as_array().cloned().unwrap_or_default();
            if events.is_empty() {
                return out;
            }
            out.extend(events.into_iter().map(|e| e["event"].clone()));
            after = page["next"].as_i64().expect("next");
        }
    }

    pub fn disconnect(&self, domain: &str, channel: &str, client: &str, types: &[&str]) {
        let body = json!({"channel_ids": [channel], "client_ids": [client], "types": types});
        self.expect(
            "POST",
            &format!("/{domain}/channels/disconnect"),
            Some(body),
            204,
        );
    }
}

/// `mosquitto_pub` of `msg` on `topic`, logged in as `dev`, against the local `port`;
/// `extra` adds flags (`-V`, `-q`, `-i`, ...).
pub fn device_pub(
    port: &str,
    dev: &Device,
    topic: &str,
    msg: &str,
    extra: &[&str],
) -> std::process::Output {
    let mut args = dev.mosquitto_args(&["-t", topic, "-m", msg]);
    args.extend_from_slice(extra);
    common::mosquitto("mosquitto_pub", port, &args)
}

/// `mosquitto_sub` of `filter`, logged in as `dev`, against the local `port`, left
/// running; `extra` adds flags (`-C`, `-W`, `-v`, ...).
pub fn device_sub(port: &str, dev: &Device, filter: &str, extra: &[&str]) -> std::process::Child {
    let mut args = dev.mosquitto_args(&["-t", filter]);
    args.extend_from_slice(extra);
    common::spawn_mosquitto("mosquitto_sub", port, &args)
}

/// A platform server (default `--auth platform`) plus `extra` flags.
pub fn server(extra: &[&str]) -> Server {
    common::start_platform(extra)
}

/// [`server`] with the certs service on (`--tls-self-signed`; testkit picks free TLS
/// ports).
pub fn server_with_certs(extra: &[&str]) -> Server {
    let mut args = vec!["--tls-self-signed"];
    args.extend_from_slice(extra);
    common::start_platform(&args)
}

/// One domain, one device connected to `ch` for publish and subscribe, and a second
/// channel `other` it is not connected to.
pub struct Fleet {
    pub domain: String,
    pub device: Device,
    pub ch: String,
    pub other: String,
}

/// A platform server with no extra flags, its admin, and a [`fleet`] in domain `route`.
pub fn fleet_server(route: &str) -> (Server, Api, Fleet) {
    let server = server(&[]);
    let api = Api::admin(&server);
    let f = fleet(&api, route);
    (server, api, f)
}

pub fn fleet(api: &Api, route: &str) -> Fleet {
    let domain = api.domain("Factory", route);
    let device = api.client(&domain, "sensor-1");
    let ch = api.channel(&domain, "temperature");
    let other = api.channel(&domain, "humidity");
    api.connect(&domain, &ch, &device.id, &["publish", "subscribe"]);
    Fleet {
        domain,
        device,
        ch,
        other,
    }
}

/// The MQTT 5 codes paho-mqtt sees for `ops` (`sub:FILTER`, `pub:TOPIC`).
pub fn mqtt5_codes(server: &Server, user: &str, password: &str, ops: &[String]) -> Value {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/platform_codes.py"
    );
    let port = server.port();
    let mut args = vec![script, "127.0.0.1", &port, user, password];
    args.extend(ops.iter().map(String::as_str));
    let out = run("python3", &args);
    assert!(
        out.status.success(),
        "paho-mqtt script failed (scripts/test.sh installs paho-mqtt): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON from the script")
}

/// Waits for `child` to exit; returns how long it took after `since`.
pub fn exits_within(mut child: std::process::Child, since: Instant, limit: Duration) -> Duration {
    while since.elapsed() < limit {
        if let Ok(Some(_)) = child.try_wait() {
            return since.elapsed();
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    panic!("the session was still alive {limit:?} after the revocation");
}
