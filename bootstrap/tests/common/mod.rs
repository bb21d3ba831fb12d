//! An in-process platform (SQLite in a temp dir, auth + bootstrap routers on a real
//! loopback listener) and small HTTP helpers.
#![allow(dead_code)]

use aes::Aes256;
use cfb_mode::cipher::{AsyncStreamCipher, KeyIvInit};
use magnetite_auth::crypto::Keys;
use magnetite_auth::{Platform, PlatformConfig, Store};
use magnetite_bootstrap::{BootstrapService, CertIssuer, StorageKey};
use magnetite_db::Db;
use magnetite_events::Events;
use magnetite_events::OutboxDb;
use rand::RngCore;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The secure-bootstrap key of every test app.
pub const ENCRYPT_KEY: [u8; 32] = *b"v7aT0HGxJxt2gULzr3RHwf4WIf6DusPp";

pub struct App {
    pub base: String,
    pub http: reqwest::Client,
    pub db: Db,
    pub platform: Arc<Platform>,
    pub service: Arc<BootstrapService>,
    pub token: String,
    pub domain: String,
    _events: Events,
    _pg: Option<magnetite_testkit::servers::Server>,
    _dir: tempfile::TempDir,
}

pub async fn app() -> App {
    app_with(None).await
}

pub async fn app_with(issuer: Option<Arc<dyn CertIssuer>>) -> App {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/t.db", dir.path().display());
    build(dir, url, None, issuer).await
}

/// The same app on a PostgreSQL server started for the test.
pub async fn app_on_postgres() -> App {
    let dir = tempfile::tempdir().unwrap();
    let pg = magnetite_testkit::servers::postgres(dir.path());
    let url = format!("postgres://postgres@127.0.0.1:{}/postgres", pg.port);
    build(dir, url, Some(pg), None).await
}

async fn build(
    dir: tempfile::TempDir,
    url: String,
    pg: Option<magnetite_testkit::servers::Server>,
    issuer: Option<Arc<dyn CertIssuer>>,
) -> App {
    let db = Db::open(&url).await.unwrap();
    let events = Events::start(db.clone(), Default::default()).await.unwrap();
    let store = Store::open(db.clone()).await.unwrap();
    let keys = Keys::from_master(b"0123456789abcdef0123456789abcdef");
    let config = PlatformConfig {
        mailer: magnetite_auth::mail::Mailer::files(dir.path().join("mail")),
        ..Default::default()
    };
    let platform = Arc::new(Platform::new(store, keys, config));
    magnetite_auth::bootstrap_admin::ensure_admin(
        &platform,
        Some("admin@example.com".into()),
        Some("admin-password-1".into()),
    )
    .await
    .unwrap();
    let storage = StorageKey::load_or_create(&dir.path().join("bootstrap.key")).unwrap();
    let service = BootstrapService::start(
        db.clone(),
        platform.clone(),
        Some(ENCRYPT_KEY),
        issuer,
        storage,
    )
    .await
    .unwrap();
    let router = magnetite_auth::http::router(platform.clone())
        .merge(magnetite_bootstrap::router(service.clone()))
        .into_router();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let mut app = App {
        base,
        http: reqwest::Client::new(),
        db,
        platform,
        service,
        token: String::new(),
        domain: String::new(),
        _events: events,
        _pg: pg,
        _dir: dir,
    };
    app.login().await;
    let (s, d) = app
        .call(
            Method::POST,
            "/domains",
            Some(json!({"name": "Factory", "route": "factory"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{d}");
    app.domain = d["id"].as_str().unwrap().to_string();
    app
}

impl App {
    async fn login(&mut self) {
        let body = json!({"username": "admin@example.com", "password": "admin-password-1"});
        let (s, v) = self
            .call(Method::POST, "/users/tokens/issue", Some(body))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        self.token = v["access_token"].as_str().unwrap().to_string();
    }

    /// An authenticated JSON request; the body comes back as JSON (`null` if empty).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Domain-relative path: `/{domain}{rest}`.
    pub fn d(&self, rest: &str) -> String {
        format!("/{}{rest}", self.domain)
    }

    /// [`App::call`] on the domain-relative path `rest` (see [`App::d`]).
    pub async fn call_d(
        &self,
        method: Method,
        rest: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.call(method, &self.d(rest), body).await
    }

    pub async fn channel(&self, name: &str) -> String {
        let (s, v) = self
            .call(
                Method::POST,
                &self.d("/channels"),
                Some(json!({"name": name, "metadata": {"kind": name}})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        v["id"].as_str().unwrap().to_string()
    }

    pub async fn client(&self, name: &str, secret: &str) -> String {
        let body = json!({"name": name, "credentials": {"secret": secret}});
        let (s, v) = self
            .call(Method::POST, &self.d("/clients"), Some(body))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        v["id"].as_str().unwrap().to_string()
    }

    /// Creates a config and returns its JSON (asserting 201).
    pub async fn config(&self, body: Value) -> Value {
        let (s, v) = self
            .call(Method::POST, &self.d("/clients/configs"), Some(body))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        v
    }

    /// Creates a config (asserting 201) and returns its client id.
    pub async fn config_id(&self, body: Value) -> String {
        let v = self.config(body).await;
        v["client_id"].as_str().expect("client_id").to_string()
    }

    /// `GET /clients/bootstrap[/secure]/{id}` with `Authorization: <auth>` (raw).
    pub async fn device(&self, path: &str, auth: Option<&str>) -> reqwest::Response {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        req.send().await.unwrap()
    }

    /// Every bootstrap event in the outbox, parsed.
    pub async fn bootstrap_events(&self) -> Vec<Value> {
        let rows = self
            .db
            .fetch_after(0, Some("bootstrap"), 1000)
            .await
            .unwrap();
        rows.iter()
            .map(|r| serde_json::from_str(&r.payload).unwrap())
            .collect()
    }

    /// The raw text of every outbox row (all streams).
    pub async fn outbox_text(&self) -> String {
        let rows = self.db.fetch_after(0, None, 100_000).await.unwrap();
        rows.iter()
            .map(|r| r.payload.clone())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Publish and subscribe channel sets of a client, as the MQTT hooks see them.
    pub async fn access(&self, client_id: &str) -> (Vec<String>, Vec<String>) {
        let a = self
            .platform
            .store
            .client_access(client_id)
            .await
            .unwrap()
            .unwrap();
        let mut p: Vec<String> = a.publish.ids().map(String::from).collect();
        let mut s: Vec<String> = a.subscribe.ids().map(String::from).collect();
        p.sort();
        s.sort();
        (p, s)
    }
}

/// Encrypts as firmware does: `IV || AES-256-CFB(key, IV, plain)`, written here from
/// the documented scheme rather than with the crate's own function.
pub fn firmware_encrypt(plain: &[u8]) -> Vec<u8> {
    firmware_encrypt_with(&ENCRYPT_KEY, plain)
}

/// [`firmware_encrypt`] under any key.
pub fn firmware_encrypt_with(key: &[u8; 32], plain: &[u8]) -> Vec<u8> {
    let mut iv = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut iv);
    let mut buf = plain.to_vec();
    cfb_mode::Encryptor::<Aes256>::new(key.into(), (&iv).into()).encrypt(&mut buf);
    [iv.as_slice(), &buf].concat()
}

/// Decrypts a secure bootstrap response body.
pub fn firmware_decrypt(data: &[u8]) -> Vec<u8> {
    assert!(data.len() > 16, "body shorter than an IV");
    let iv: [u8; 16] = data[..16].try_into().unwrap();
    let mut buf = data[16..].to_vec();
    cfb_mode::Decryptor::<Aes256>::new((&ENCRYPT_KEY).into(), (&iv).into()).decrypt(&mut buf);
    buf
}

/// Polls `check` until it holds or `within` passes.
pub async fn eventually<F, Fut>(within: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return true;
        }
        if start.elapsed() > within {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The `operation` of every event.
pub fn operations(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["operation"].as_str().unwrap_or("").to_string())
        .collect()
}
