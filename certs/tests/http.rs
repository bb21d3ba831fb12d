//! The certificates API end to end, in-process: the auth router merged with ours on a
//! platform backed by a SQLite temp dir; then the CLI functions on the same service.

mod common;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use common::{der_of, has_common_name, ADMIN_EMAIL, ADMIN_PASSWORD};
use magnetite_certs::cli::{self, RevokeTarget};
use magnetite_certs::{CertsError, CertsService};
use rustls::pki_types::{CertificateDer, UnixTime};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

struct Api {
    app: Router,
}

impl Api {
    async fn call(
        &self,
        method: Method,
        uri: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> (StatusCode, Value) {
        let (status, _, text) = self.raw(method, uri, token, body).await;
        let v = serde_json::from_str(&text).unwrap_or(Value::Null);
        (status, v)
    }

    async fn raw(
        &self,
        method: Method,
        uri: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> (StatusCode, String, String) {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        if body.is_some() {
            req = req.header(header::CONTENT_TYPE, "application/json");
        }
        let req = req
            .body(Body::from(body.unwrap_or_default().to_string()))
            .unwrap();
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let ctype = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, ctype, String::from_utf8(bytes.to_vec()).unwrap())
    }

    async fn post(&self, uri: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, uri, token, Some(&body.to_string()))
            .await
    }

    async fn get(&self, uri: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, uri, Some(token), None).await
    }

    async fn delete(&self, uri: &str, token: &str) -> StatusCode {
        self.call(Method::DELETE, uri, Some(token), None).await.0
    }

    async fn token(&self, login: &str, password: &str) -> String {
        let body = json!({ "username": login, "password": password });
        let (status, v) = self.post("/users/tokens/issue", None, body).await;
        assert_eq!(status, StatusCode::CREATED, "{v}");
        v["access_token"].as_str().unwrap().to_string()
    }
}

struct World {
    api: Api,
    svc: Arc<CertsService>,
    admin: String,
    domain: String,
    client: String,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let db = common::sqlite(dir.path()).await;
    let svc = common::service_on(db, dir.path()).await;
    let app = magnetite_auth::http::router(svc.platform().clone())
        .merge(magnetite_certs::http::router(svc.clone()))
        .into_router();
    let api = Api { app };
    let admin = api.token(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let (s, d) = api
        .post(
            "/domains",
            Some(&admin),
            json!({"name": "Plant", "route": "plant"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{d}");
    let domain = d["id"].as_str().unwrap().to_string();
    let (s, c) = api
        .post(
            &format!("/{domain}/clients"),
            Some(&admin),
            json!({"name": "sensor"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    let client = c["id"].as_str().unwrap().to_string();
    World {
        api,
        svc,
        admin,
        domain,
        client,
        _dir: dir,
    }
}

fn verifies(ca_pem: &str, cert_pem: &str) -> bool {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(der_of(ca_pem))).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .unwrap();
    let ee = CertificateDer::from(der_of(cert_pem));
    verifier
        .verify_client_cert(&ee, &[], UnixTime::now())
        .is_ok()
}

fn days_from_now(rfc3339: &str) -> i64 {
    let t = chrono::DateTime::parse_from_rfc3339(rfc3339).unwrap();
    (t.timestamp() - chrono::Utc::now().timestamp() + 60) / 86_400
}

#[tokio::test]
async fn issue_list_view_revoke() {
    let w = world().await;
    let (api, admin, domain, client) = (&w.api, w.admin.as_str(), &w.domain, &w.client);
    let certs = format!("/{domain}/certs");

    let (s, issued) = api
        .post(
            &certs,
            Some(admin),
            json!({"client_id": client, "ttl": "30d"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{issued}");
    assert_eq!(issued["client_id"], client.as_str());
    let (cert, key, ca) = (
        issued["certificate"].as_str().unwrap(),
        issued["key"].as_str().unwrap(),
        issued["ca"].as_str().unwrap(),
    );
    assert!(key.contains("PRIVATE KEY"));
    assert_eq!(ca, w.svc.ca().certificate_pem());
    assert!(verifies(ca, cert));
    assert!(has_common_name(&der_of(cert), client));
    assert_eq!(days_from_now(issued["expires_at"].as_str().unwrap()), 30);
    let serial = issued["serial_number"].as_str().unwrap().to_string();

    // By domain route, numeric ttl, default ttl.
    let (s, v) = api
        .post(
            "/plant/certs",
            Some(admin),
            json!({"client_id": client, "ttl": 3600}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(days_from_now(v["expires_at"].as_str().unwrap()), 0);
    let (s, v) = api
        .post(&certs, Some(admin), json!({"client_id": client}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(days_from_now(v["expires_at"].as_str().unwrap()), 90);

    // List (no keys), paging, view.
    let (s, list) = api.get(&format!("{certs}?client_id={client}"), admin).await;
    assert_eq!(s, StatusCode::OK, "{list}");
    assert_eq!(list["total"], 3);
    assert_eq!(list["certs"].as_array().unwrap().len(), 3);
    assert!(!list.to_string().contains("PRIVATE KEY"));
    let (_, page) = api
        .get(
            &format!("{certs}?client_id={client}&offset=1&limit=1"),
            admin,
        )
        .await;
    assert_eq!(
        (
            page["total"].clone(),
            page["offset"].clone(),
            page["limit"].clone()
        ),
        (json!(3), json!(1), json!(1))
    );
    assert_eq!(page["certs"].as_array().unwrap().len(), 1);
    let (s, view) = api.get(&format!("{certs}/{serial}"), admin).await;
    assert_eq!(s, StatusCode::OK, "{view}");
    assert_eq!(view["certificate"], cert);
    assert_eq!(view["revoked"], false);
    assert!(view.get("key").is_none());

    // Revoke one: identify refuses it at once.
    let der = der_of(cert);
    assert_eq!(
        w.svc.identify_der(&der).await.as_deref(),
        Some(client.as_str())
    );
    assert_eq!(
        api.delete(&format!("{certs}/{serial}"), admin).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(w.svc.identify_der(&der).await, None);
    let (_, view) = api.get(&format!("{certs}/{serial}"), admin).await;
    assert_eq!(view["revoked"], true);
    assert!(view["revoked_at"].is_string());

    // Revoke all of the client's.
    let other = der_of(v["certificate"].as_str().unwrap());
    assert!(w.svc.identify_der(&other).await.is_some());
    let s = api
        .delete(&format!("{certs}?client_id={client}"), admin)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(w.svc.identify_der(&other).await, None);
    let (_, list) = api.get(&format!("{certs}?client_id={client}"), admin).await;
    assert!(list["certs"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["revoked"] == true));
}

#[tokio::test]
async fn errors() {
    let w = world().await;
    let (api, admin, domain, client) = (&w.api, w.admin.as_str(), &w.domain, &w.client);
    let certs = format!("/{domain}/certs");
    let message = |v: &Value| v["message"].as_str().unwrap_or_default().to_string();

    let (s, v) = api
        .post(&certs, Some(admin), json!({"client_id": "no-such-client"}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    assert!(!message(&v).is_empty());
    for ttl in [
        json!("3 weeks"),
        json!("3651d"),
        json!(-5),
        json!(1.5),
        json!(0),
        json!([1]),
    ] {
        let (s, v) = api
            .post(
                &certs,
                Some(admin),
                json!({"client_id": client, "ttl": ttl}),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "ttl {ttl}: {v}");
        assert!(message(&v).contains("ttl"), "{v}");
    }
    let (s, v) = api.post(&certs, Some(admin), json!({"ttl": "1d"})).await;
    assert_eq!(
        (s, message(&v)),
        (StatusCode::BAD_REQUEST, "missing client_id".into())
    );
    let (s, v) = api
        .call(Method::POST, &certs, Some(admin), Some("{not json"))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(!message(&v).is_empty());
    let (s, v) = api.post(&certs, Some(admin), json!({"client_id": 5})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");

    let (s, _) = api.get(&format!("{certs}/0123456789abcdef"), admin).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(
        api.delete(&format!("{certs}/0123456789abcdef"), admin)
            .await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(api.delete(&certs, admin).await, StatusCode::BAD_REQUEST);
    for q in ["limit=0", "limit=101", "limit=x", "offset=-1"] {
        let (s, v) = api.get(&format!("{certs}?{q}"), admin).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{q}: {v}");
    }
    let (s, _) = api.get("/no-such-domain/certs", admin).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Unauthenticated; a user who is not in the domain.
    let (s, _) = api.post(&certs, None, json!({"client_id": client})).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let body = json!({"email": "eve@example.com", "credentials": {"username": "eve", "secret": "eve-password-123"}});
    let (s, v) = api.post("/users", Some(admin), body).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let eve = api.token("eve@example.com", "eve-password-123").await;
    let (s, _) = api
        .post(&certs, Some(&eve), json!({"client_id": client}))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = api.get(&certs, &eve).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(
        api.delete(&format!("{certs}?client_id={client}"), &eve)
            .await,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn ca_is_public_pem() {
    let w = world().await;
    let (s, ctype, body) = w.api.raw(Method::GET, "/certs/ca", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(ctype, "application/x-pem-file");
    assert_eq!(body, w.svc.ca().certificate_pem());
}

#[tokio::test]
async fn cli_issue_and_revoke() {
    let w = world().await;
    let out = w._dir.path().join("out");
    let files = cli::issue_to_files(&w.svc, &w.client, Duration::from_secs(86_400), &out)
        .await
        .unwrap();
    assert_eq!(files.cert_path, out.join(format!("{}.crt", w.client)));
    let cert = std::fs::read_to_string(&files.cert_path).unwrap();
    let ca = std::fs::read_to_string(&files.ca_path).unwrap();
    assert!(std::fs::read_to_string(&files.key_path)
        .unwrap()
        .contains("PRIVATE KEY"));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&files.key_path)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(verifies(&ca, &cert));
    let der = der_of(&cert);
    assert_eq!(
        w.svc.identify_der(&der).await.as_deref(),
        Some(w.client.as_str())
    );
    let row = w.svc.get(&w.domain, &files.serial_number).await.unwrap();
    assert_eq!(row.domain_id, w.domain, "recorded in the client's domain");

    let missing = cli::issue_to_files(&w.svc, "nobody", Duration::from_secs(60), &out).await;
    assert!(matches!(missing, Err(CertsError::NotFound("client"))));
    let bad = cli::issue_to_files(&w.svc, "../etc", Duration::from_secs(60), &out).await;
    assert!(matches!(bad, Err(CertsError::BadRequest(_))));

    let serial = RevokeTarget::Serial(&files.serial_number);
    assert_eq!(cli::revoke(&w.svc, serial).await.unwrap(), 1);
    assert_eq!(w.svc.identify_der(&der).await, None);
    assert_eq!(cli::revoke(&w.svc, serial).await.unwrap(), 0);
    let unknown = cli::revoke(&w.svc, RevokeTarget::Serial("abcd")).await;
    assert!(matches!(unknown, Err(CertsError::NotFound(_))));

    cli::issue_to_files(&w.svc, &w.client, Duration::from_secs(60), &out)
        .await
        .unwrap();
    cli::issue_to_files(&w.svc, &w.client, Duration::from_secs(60), &out)
        .await
        .unwrap();
    let n = cli::revoke(&w.svc, RevokeTarget::Client(&w.client))
        .await
        .unwrap();
    assert_eq!(n, 2);
}
