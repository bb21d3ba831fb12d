//! Password reset, files and HTTP error hygiene (issue 11): reset links under
//! `--public-url` only, single-use reset tokens that end the user's earlier tokens,
//! throttled reset requests that reveal nothing, a private data dir, and a JSON
//! `{"message"}` for every bad request (paging, routes, methods, URIs, bodies).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use magnetite_auth::reset_throttle::{PER_ACCOUNT, PER_ADDRESS};
use reqwest::blocking::Client as Http;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{self, Server};
use crate::platform::{self, Api};
use crate::tenants;

/// A request with headers, for what `Api` does not show (`Retry-After`, raw bodies).
struct Raw {
    status: StatusCode,
    retry_after: Option<String>,
    text: String,
}

impl Raw {
    fn message(&self) -> String {
        let v: Value = serde_json::from_str(&self.text)
            .unwrap_or_else(|_| panic!("{} is not JSON: {:?}", self.status, self.text));
        v["message"]
            .as_str()
            .unwrap_or_else(|| panic!("no message in {}", self.text))
            .to_string()
    }
}

fn raw(server: &Server, method: &str, path: &str, token: &str, body: Option<&str>) -> Raw {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut req = Http::new().request(method, format!("http://{}{path}", server.http));
    if !token.is_empty() {
        req = req.bearer_auth(token);
    }
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    let resp = req.send().expect("HTTP request");
    Raw {
        status: resp.status(),
        retry_after: resp
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap_or("").to_string()),
        text: resp.text().unwrap_or_default(),
    }
}

/// `GET path` over a plain socket (no client-side URI limits): status and body.
fn raw_get(server: &Server, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut socket = std::net::TcpStream::connect(server.http).expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    // The server may answer (and close) before it has read everything.
    let _ = socket.write_all(request.as_bytes());
    let mut answer = Vec::new();
    let _ = socket.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer).to_string();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {answer:.200}"));
    let body = answer
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

fn reset_request(server: &Server, email: &str) -> Raw {
    let body = json!({"email": email, "host": "http://evil.example"}).to_string();
    raw(server, "POST", "/password/reset-request", "", Some(&body))
}

fn mails(server: &Server) -> Vec<String> {
    let dir = server.data_dir.join("mail");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    paths.sort();
    paths
        .iter()
        .map(|p| std::fs::read_to_string(p).expect("mail"))
        .collect()
}

fn token_in(mail: &str) -> String {
    mail.split("/password/reset?token=")
        .nth(1)
        .expect("a reset link")
        .split_whitespace()
        .next()
        .expect("token")
        .to_string()
}

/// Access and refresh token of a login.
fn tokens(api: &Api, email: &str, password: &str) -> (String, String) {
    let body = json!({"username": email, "password": password});
    let t = api.expect("POST", "/users/tokens/issue", Some(body), 201);
    let get = |k: &str| t[k].as_str().expect(k).to_string();
    (get("access_token"), get("refresh_token"))
}

fn anonymous(server: &Server) -> Api {
    let mut api = Api::admin(server);
    api.token.clear();
    api
}

#[test]
fn reset_links_use_the_public_url_never_the_requested_host() {
    let t = tenants::two_tenants(&["--public-url", "https://iot.example.com/"]);
    let answer = reset_request(&t.server, &t.d1.email);
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
    let mail = mails(&t.server);
    assert_eq!(mail.len(), 1);
    assert!(
        mail[0].contains("https://iot.example.com/password/reset?token="),
        "{}",
        mail[0]
    );
    assert!(!mail[0].contains("evil.example"), "{}", mail[0]);
    // The victim's account is untouched by the request itself.
    t.d1.api.login(&t.d1.email, &t.d1.password);
}

#[test]
fn a_reset_token_works_once_and_ends_every_earlier_token() {
    let t = tenants::two_tenants(&[]);
    let anon = anonymous(&t.server);
    let (old_access, old_refresh) = tokens(&anon, &t.d1.email, &t.d1.password);
    assert_eq!(reset_request(&t.server, &t.d1.email).status, 201);
    let token = token_in(&mails(&t.server)[0]);

    let reset = |password: &str| {
        json!({"token": token, "password": password, "confirm_password": password}).to_string()
    };
    let put_reset = |password: &str| {
        let body = reset(password);
        raw(&t.server, "PUT", "/password/reset", "", Some(&body))
    };
    let first = put_reset("new-pass-one");
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    let again = put_reset("new-pass-two");
    assert_eq!(again.status, StatusCode::UNAUTHORIZED, "{}", again.text);
    again.message();

    let (status, _) = anon.call(
        "POST",
        "/users/tokens/issue",
        Some(json!({"username": t.d1.email, "password": "new-pass-two"})),
    );
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the second use set nothing"
    );
    let profile = raw(&t.server, "GET", "/users/profile", &old_access, None);
    assert_eq!(profile.status, StatusCode::UNAUTHORIZED, "old access token");
    let refresh = raw(
        &t.server,
        "POST",
        "/users/tokens/refresh",
        &old_refresh,
        None,
    );
    assert_eq!(
        refresh.status,
        StatusCode::UNAUTHORIZED,
        "old refresh token"
    );
    // So is the token the tenant's own session held.
    let domain = format!("/{}/clients", t.d1.domain);
    let old_session = raw(&t.server, "GET", &domain, &t.d1.api.token, None);
    assert_eq!(old_session.status, StatusCode::UNAUTHORIZED);

    let (access, refresh) = tokens(&anon, &t.d1.email, "new-pass-one");
    assert_eq!(
        raw(&t.server, "GET", "/users/profile", &access, None).status,
        200
    );
    assert_eq!(
        raw(&t.server, "POST", "/users/tokens/refresh", &refresh, None).status,
        201
    );
    // The other tenant's session never noticed.
    t.d2.api
        .expect("GET", &format!("/{}/clients", t.d2.domain), None, 200);
}

#[test]
fn reset_requests_are_throttled_per_account_and_per_address_alike_for_unknown_emails() {
    let t = tenants::two_tenants(&[]);
    let flood = |email: &str| -> Vec<Raw> {
        (0..=PER_ACCOUNT)
            .map(|_| reset_request(&t.server, email))
            .collect()
    };
    let known = flood(&t.d1.email);
    let unknown = flood("nobody@nowhere.example.com");
    for answers in [&known, &unknown] {
        let (last, first) = answers.split_last().expect("answers");
        assert!(first.iter().all(|a| a.status == StatusCode::CREATED));
        assert_eq!(last.status, StatusCode::TOO_MANY_REQUESTS, "{}", last.text);
        assert!(last
            .retry_after
            .as_deref()
            .is_some_and(|s| s.parse::<u64>().is_ok_and(|n| n > 0)));
    }
    let shape = |a: &Raw| (a.status, a.retry_after.clone(), a.text.clone());
    assert_eq!(
        known.iter().map(shape).collect::<Vec<_>>(),
        unknown.iter().map(shape).collect::<Vec<_>>(),
        "known and unknown e-mails get the same answers"
    );
    assert_eq!(
        mails(&t.server).len(),
        PER_ACCOUNT as usize,
        "mail is bounded"
    );

    // The address budget: fresh e-mails from the same address run out too.
    let used = 2 * (PER_ACCOUNT + 1);
    for i in used..PER_ADDRESS {
        let a = reset_request(&t.server, &format!("fresh-{i}@example.com"));
        assert_eq!(a.status, StatusCode::CREATED, "request {i}: {}", a.text);
    }
    let over = reset_request(&t.server, &t.d2.email);
    assert_eq!(over.status, StatusCode::TOO_MANY_REQUESTS, "{}", over.text);
    over.message();
    assert_eq!(
        mails(&t.server).len(),
        PER_ACCOUNT as usize,
        "no mail for D2's admin"
    );
    // Both victims still log in with their own passwords.
    t.d1.api.login(&t.d1.email, &t.d1.password);
    t.d2.api.login(&t.d2.email, &t.d2.password);
}

/// Every entry under `dir` (and `dir` itself) with a mode other than 0700 (dirs) or
/// 0600 (files); symbolic links are skipped.
fn open_entries(dir: &Path) -> Vec<String> {
    let meta = std::fs::symlink_metadata(dir).expect("stat");
    let mode = meta.permissions().mode() & 0o7777;
    let mut bad = Vec::new();
    if meta.is_dir() {
        if mode != 0o700 {
            bad.push(format!("{} {mode:o}", dir.display()));
        }
        for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
            bad.extend(open_entries(&entry.path()));
        }
    } else if meta.is_file() && mode != 0o600 {
        bad.push(format!("{} {mode:o}", dir.display()));
    }
    bad
}

fn count_entries(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| {
                    1 + if e.path().is_dir() {
                        count_entries(&e.path())
                    } else {
                        0
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

/// Makes everything under `dir` what a careless `cp -r` or an old version leaves.
fn open_up(dir: &Path) {
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        let mode = if path.is_dir() { 0o755 } else { 0o644 };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
        if path.is_dir() {
            open_up(&path);
        }
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

#[test]
fn the_data_dir_is_private_after_a_start_and_after_a_start_over_an_open_one() {
    let server = platform::server(&["--tls-self-signed"]);
    let admin = Api::admin(&server);
    let user = json!({"email": "erin@example.com", "credentials": {"username": "erin", "secret": "erin-password"}});
    admin.expect("POST", "/users", Some(user), 201);
    assert_eq!(reset_request(&server, "erin@example.com").status, 201);
    let data = server.data_dir.clone();
    for expected in [
        "magnetite.db",
        "magnetite.db-wal",
        "auth.key",
        "instance_id",
        "ca.passphrase",
        "ca",
        "mail",
    ] {
        assert!(
            data.join(expected).exists(),
            "{expected} in {}",
            data.display()
        );
    }
    assert_eq!(open_entries(&data), Vec::<String>::new());

    let data = server.kill9();
    open_up(&data);
    let entries = count_entries(&data);
    assert!(!open_entries(&data).is_empty());
    let server = common::start_in_platform(data.clone(), &["--tls-self-signed"]);
    assert_eq!(open_entries(&data), Vec::<String>::new());
    assert!(server.log().contains("made private"), "{}", server.log());
    assert!(count_entries(&data) >= entries, "nothing was removed");
    // Still the same platform: the user and the CA are there.
    anonymous(&server).login("erin@example.com", "erin-password");
}

#[test]
fn out_of_range_paging_is_a_400_with_a_message() {
    let t = tenants::two_tenants(&["--tls-self-signed"]);
    let d = &t.d1.domain;
    let too_far = "9223372036854775808";
    let paths = [
        format!("/users?offset={too_far}"),
        "/users?offset=18446744073709551616".to_string(),
        "/users?limit=-1".to_string(),
        "/users?limit=100000000000000000000000".to_string(),
        format!("/{d}/clients?offset={too_far}"),
        format!("/{d}/channels?limit=-5"),
        format!("/{d}/groups?offset=-1"),
        format!("/domains?offset={too_far}"),
        format!("/{d}/clients/configs?offset={too_far}"),
        format!("/{d}/clients/configs?limit=-1"),
        format!("/{d}/certs?offset={too_far}"),
        "/events?limit=-1".to_string(),
        format!("/events?after={too_far}"),
    ];
    for path in &paths {
        let r = raw(&t.server, "GET", path, &t.admin.token, None);
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}: {}", r.text);
        assert!(!r.message().is_empty(), "{path}");
    }
    // Unknown and large query parameters are no 500 either.
    let long = "x".repeat(20_000);
    for path in [
        format!("/users?zzz=1&{long}={long}"),
        format!("/{d}/clients?name={long}"),
    ] {
        let r = raw(&t.server, "GET", &path, &t.admin.token, None);
        assert!(
            r.status.is_success() || r.status.is_client_error(),
            "{}",
            r.status
        );
    }
    // The tenant's own listing still works.
    let page = t.d1.api.expect("GET", &format!("/{d}/clients"), None, 200);
    assert_eq!(page["total"], 1);
}

#[test]
fn unknown_routes_wrong_methods_and_huge_uris_answer_a_json_message() {
    let t = tenants::two_tenants(&[]);
    let token = &t.d1.api.token;
    let cases = [
        ("GET", "/no/such/route".to_string(), StatusCode::NOT_FOUND),
        (
            "DELETE",
            "/health".to_string(),
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            "PATCH",
            "/users/tokens/issue".to_string(),
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        ("GET", "/users/%FF%FE".to_string(), StatusCode::BAD_REQUEST),
        (
            "GET",
            format!("/{}/clients/{}", t.d1.domain, "a".repeat(60_000)),
            StatusCode::NOT_FOUND,
        ),
    ];
    for (method, path, want) in &cases {
        let r = raw(&t.server, method, path, token, None);
        assert_eq!(r.status, *want, "{method} {:.60}: {}", path, r.text);
        assert!(!r.message().is_empty());
    }
    // Past what an HTTP client library will even send: a raw request line of 100 kB.
    let (status, body) = raw_get(&t.server, &format!("/users?q={}", "a".repeat(100_000)));
    assert!([414, 431, 400].contains(&status), "{status}: {body:.200}");
    let v: Value = serde_json::from_str(&body).unwrap_or_else(|_| panic!("{body:.200}"));
    assert!(
        v["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body:.200}"
    );
    t.d1.api.expect("GET", "/users/profile", None, 200);
}

#[test]
fn json_with_trailing_data_is_refused_and_creates_nothing() {
    let t = tenants::two_tenants(&["--tls-self-signed"]);
    let d = &t.d1.domain;
    let device = &t.d1.device.id;
    let cases = [
        (
            "/users".to_string(),
            json!({"email": "x@example.com", "credentials": {"username": "x", "secret": "x-password-1"}}),
        ),
        (format!("/{d}/clients"), json!({"name": "intruder"})),
        (format!("/{d}/channels"), json!({"name": "intruder"})),
        (
            format!("/{d}/clients/configs"),
            json!({"external_id": "ext-1", "external_key": "key-1", "client_id": device}),
        ),
        (
            format!("/{d}/certs"),
            json!({"client_id": device, "ttl": "1h"}),
        ),
    ];
    for (path, body) in &cases {
        for tail in [" xyz", " {}", "\n1"] {
            let text = format!("{body}{tail}");
            let r = raw(&t.server, "POST", path, &t.admin.token, Some(&text));
            assert_eq!(
                r.status,
                StatusCode::BAD_REQUEST,
                "{path} {tail:?}: {}",
                r.text
            );
            assert!(r.message().contains("trailing"), "{}", r.text);
        }
    }
    let total = |path: String| t.admin.expect("GET", &path, None, 200)["total"].clone();
    assert_eq!(total(format!("/{d}/clients")), 1);
    assert_eq!(total(format!("/{d}/channels")), 1);
    assert_eq!(total(format!("/{d}/clients/configs")), 0);
    assert_eq!(total(format!("/{d}/certs?client_id={device}")), 0);
    // The same bodies without the tail are fine (the refusal is about the tail).
    t.d1.api.expect(
        "POST",
        &format!("/{d}/channels"),
        Some(cases[2].1.clone()),
        201,
    );
}
