//! Magistrala SDK parity (issue 16, first slice), against SuperMQ's OpenAPI
//! (`apidocs/openapi/*.yaml`): the list filters narrow as documented and never reach
//! another tenant's rows, unknown query parameters and routes answer `{"message"}`,
//! `/health` has SuperMQ's fields.

mod common;
mod platform;
#[path = "security/tenants.rs"]
mod tenants;

use serde_json::{json, Value};

use platform::Api;
use tenants::Tenant;

/// The `total` of a page and the ids of its `key` items.
fn listed(api: &Api, path: &str, key: &str) -> (u64, Vec<String>) {
    let page = api.expect("GET", path, None, 200);
    let ids = page[key]
        .as_array()
        .unwrap_or_else(|| panic!("{path}: {page}"))
        .iter()
        .map(|e| e["id"].as_str().expect("id").to_string())
        .collect();
    (page["total"].as_u64().expect("total"), ids)
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().expect("id").to_string()
}

/// `POST /{d}/groups` named `name`; its id.
fn new_group(api: &Api, d: &str, name: &str) -> String {
    let body = Some(json!({ "name": name }));
    id_of(&api.expect("POST", &format!("/{d}/groups"), body, 201))
}

/// A 400 whose body is `{"message": <non-empty>}`.
fn assert_bad_request(api: &Api, path: &str) -> String {
    let body = api.expect("GET", path, None, 400);
    let message = body["message"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "{path}: {body}");
    message.to_string()
}

#[test]
fn user_filters_narrow_the_list() {
    check_user_filters(&tenants::two_tenants(&[]));
}

fn check_user_filters(t: &tenants::Tenants) {
    let body = json!({"first_name": "Ada", "last_name": "Lovelace", "email": "ada@engines.example.com",
        "credentials": {"username": "countess", "secret": "analytical-engine-1843"}});
    let ada = id_of(&t.admin.expect("POST", "/users", Some(body), 201));
    let (all, _) = listed(&t.admin, "/users", "users");
    assert!(all >= 4, "admin, a, b, ada: {all}");
    for query in [
        "username=COUNT",
        "email=ada@engines",
        "first_name=ada",
        "last_name=lovelace",
        "first_name=Ada&last_name=Love",
    ] {
        let (total, ids) = listed(&t.admin, &format!("/users?{query}"), "users");
        assert_eq!((total, ids), (1, vec![ada.clone()]), "{query}");
    }
    let (total, ids) = listed(&t.admin, "/users?username=a-plant-one", "users");
    assert_eq!((total, ids), (1, vec![t.d1.user_id.clone()]));
    let (total, _) = listed(&t.admin, "/users?first_name=Ada&last_name=Babbage", "users");
    assert_eq!(total, 0);
    // only_total: the count, no rows.
    let page = t.admin.expect("GET", "/users?only_total=true", None, 200);
    assert_eq!(page["total"].as_u64(), Some(all));
    assert_eq!(page["users"], json!([]));
    // Creation time bounds (inclusive, RFC 3339).
    let (total, _) = listed(
        &t.admin,
        "/users?created_from=2999-01-01T00:00:00Z",
        "users",
    );
    assert_eq!(total, 0);
    let (total, _) = listed(
        &t.admin,
        "/users?created_to=2999-01-01T00:00:00%2B02:00",
        "users",
    );
    assert_eq!(total, all);
    assert_bad_request(&t.admin, "/users?created_from=yesterday");
}

#[test]
fn client_filters_narrow_within_the_domain_only() {
    let t = tenants::two_tenants(&[]);
    check_client_filters(&t.d1, &t.d2);
}

/// `mine`'s clients filtered; `other`'s ids never reach them.
fn check_client_filters(mine: &Tenant, other: &Tenant) {
    let (api, d) = (&mine.api, &mine.domain);
    let listener = api.client(d, "listener");
    api.connect(d, &mine.channel, &listener.id, &["subscribe"]);
    let spare = api.client(d, "spare");
    let group = new_group(api, d, "hall");
    let parent = Some(json!({"parent_id": group}));
    api.expect(
        "POST",
        &format!("/{d}/clients/{}/parent", spare.id),
        parent,
        200,
    );

    let clients = |query: &str| listed(api, &format!("/{d}/clients?{query}"), "clients");
    let mut on_channel = vec![mine.device.id.clone(), listener.id.clone()];
    on_channel.sort();
    let (total, mut ids) = clients(&format!("channel={}", mine.channel));
    ids.sort();
    assert_eq!((total, ids), (2, on_channel));
    let publishers = clients(&format!("channel={}&connection_type=Publish", mine.channel));
    assert_eq!(publishers, (1, vec![mine.device.id.clone()]));
    let subscribers = clients(&format!(
        "channel={}&connection_type=Subscribe",
        mine.channel
    ));
    assert_eq!(subscribers.0, 2);
    assert_eq!(
        clients(&format!("group={group}")),
        (1, vec![spare.id.clone()])
    );
    assert_eq!(
        clients(&format!("id={}", listener.id)),
        (1, vec![listener.id.clone()])
    );
    assert_eq!(clients(&format!("user={}", mine.user_id)).0, 3);
    assert_eq!(clients("name=spa"), (1, vec![spare.id.clone()]));

    // Another tenant's ids filter to nothing, exactly like ids that do not exist.
    for foreign in [
        format!("channel={}", other.channel),
        format!("channel={}&connection_type=Publish", other.channel),
        format!("id={}", other.device.id),
        format!("user={}", other.user_id),
        "channel=00000000-0000-4000-8000-000000000000".to_string(),
    ] {
        assert_eq!(clients(&foreign), (0, vec![]), "{foreign}");
    }
    // d2 cannot list d1's clients at all, with or without filters.
    let path = format!("/{d}/clients?channel={}", mine.channel);
    let (status, _) = other.api.call("GET", &path, None);
    assert!(status.is_client_error(), "{status}");
    assert_bad_request(api, &format!("/{d}/clients?connection_type=Publish"));
    assert_bad_request(api, &format!("/{d}/clients?channel=x&connection_type=Both"));
}

#[test]
fn channel_and_group_filters_narrow_within_the_domain_only() {
    let t = tenants::two_tenants(&[]);
    check_channel_and_group_filters(&t.d1, &t.d2);
}

/// `mine`'s channels and groups filtered; `other`'s ids never reach them.
fn check_channel_and_group_filters(mine: &Tenant, other: &Tenant) {
    let (api, d) = (&mine.api, &mine.domain);
    let quiet = api.channel(d, "quiet");
    let hall = new_group(api, d, "hall");
    let room = new_group(api, d, "room");
    let to_hall = Some(json!({"parent_id": hall}));
    api.expect(
        "POST",
        &format!("/{d}/channels/{quiet}/parent"),
        to_hall.clone(),
        200,
    );
    api.expect("POST", &format!("/{d}/groups/{room}/parent"), to_hall, 200);

    let channels = |query: &str| listed(api, &format!("/{d}/channels?{query}"), "channels");
    assert_eq!(channels("").0, 2);
    let by_client = channels(&format!("client={}", mine.device.id));
    assert_eq!(by_client, (1, vec![mine.channel.clone()]));
    assert_eq!(channels(&format!("group={hall}")), (1, vec![quiet.clone()]));
    assert_eq!(channels(&format!("user={}", mine.user_id)).0, 2);
    assert_eq!(
        channels(&format!("client={}", other.device.id)),
        (0, vec![])
    );
    assert_eq!(channels(&format!("group={}", other.domain)), (0, vec![]));

    let groups = |query: &str| listed(api, &format!("/{d}/groups?{query}"), "groups");
    assert_eq!(groups("").0, 2);
    assert_eq!(groups("root_group=true"), (1, vec![hall.clone()]));
    assert_eq!(groups(&format!("id={room}")), (1, vec![room.clone()]));
    assert_eq!(groups("name=roo&root_group=false"), (1, vec![room.clone()]));
    let children = listed(
        api,
        &format!("/{d}/groups/{hall}/children?name=ro"),
        "groups",
    );
    assert_eq!(children, (1, vec![room]));
    // Shapes and role filters not supported yet are refused, not ignored.
    for query in [
        "tree=true",
        "level=3",
        "access_type=direct",
        "role_name=admin",
    ] {
        assert_bad_request(api, &format!("/{d}/groups?{query}"));
    }
}

/// The same filters on PostgreSQL (the SQL is shared; the types and collations are
/// not): d1 lists clients, d2 channels and groups, each the other's foreigner.
#[test]
fn filters_hold_on_postgresql() {
    let pg = magnetite_testkit::servers::scratch_postgres();
    let url = pg.url.clone();
    let t = tenants::two_tenants(&["--database-url", &url]);
    check_user_filters(&t);
    check_client_filters(&t.d1, &t.d2);
    check_channel_and_group_filters(&t.d2, &t.d1);
}

#[test]
fn unknown_query_parameters_are_refused_on_every_list() {
    let t = tenants::two_tenants(&[]);
    let d = &t.d1.domain;
    let g = new_group(&t.d1.api, d, "g");
    let message = assert_bad_request(&t.admin, "/users?usrname=bob");
    assert!(message.contains("usrname"), "{message}");
    for path in [
        "/domains?chanel=x".to_string(),
        format!("/{d}/clients?chanel={}", t.d1.channel),
        format!("/{d}/clients?client=x"),
        format!("/{d}/channels?channel=x"),
        format!("/{d}/groups?group=x"),
        format!("/{d}/groups/{g}/children?root_group=true"),
        format!("/{d}/channels/{}/clients?bogus=1", t.d1.channel),
    ] {
        assert_bad_request(&t.d1.api, &path);
    }
}

#[test]
fn unknown_routes_and_methods_answer_json_and_health_has_supermq_fields() {
    let server = platform::server(&[]);
    let api = Api::admin(&server);
    let body = api.expect("GET", "/no/such/route", None, 404);
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    let body = api.expect("DELETE", "/users/profile", None, 405);
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );

    let health = Api::unauthenticated(&api).expect("GET", "/health", None, 200);
    assert_eq!(health["status"], "pass");
    for key in [
        "version",
        "commit",
        "description",
        "build_time",
        "instance_id",
    ] {
        let value = health[key].as_str().unwrap_or_default();
        assert!(!value.is_empty(), "{key}: {health}");
    }
    let commit = health["commit"].as_str().unwrap_or_default();
    assert!(
        commit == "unknown"
            || (commit.len() == 40 && commit.chars().all(|c| c.is_ascii_hexdigit())),
        "{commit}"
    );
}

/// `POST /password/reset-request` for `email` with `Referer: referer`.
fn reset_request_from(api: &Api, email: &str, referer: &str) -> (u16, Value) {
    let response = reqwest::blocking::Client::new()
        .post(format!("{}/password/reset-request", api.base_url()))
        .header("Referer", referer)
        .json(&json!({ "email": email }))
        .send()
        .expect("HTTP request");
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

#[test]
fn password_reset_takes_the_ui_from_referer_and_the_token_as_bearer() {
    let server = platform::server(&[
        "--public-url",
        "https://portal.example.com",
        "--ui-host",
        "http://ui.example.com:3000",
    ]);
    let admin = Api::admin(&server);
    let user = json!({"email": "erin@example.com", "credentials": {"username": "erin", "secret": "erin-password-1"}});
    admin.expect("POST", "/users", Some(user), 201);
    let anonymous = Api::unauthenticated(&admin);

    // A page outside the configured UIs is refused, and no mail is written for it.
    let (status, body) =
        reset_request_from(&anonymous, "erin@example.com", "https://evil.example/");
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("Referer")),
        "{body}"
    );
    let mail_dir = server.data_dir.join("mail");
    assert!(std::fs::read_dir(&mail_dir).map_or(true, |mut d| d.next().is_none()));

    let (status, body) = reset_request_from(
        &anonymous,
        "erin@example.com",
        "http://ui.example.com:3000/login",
    );
    assert_eq!(status, 201, "{body}");
    let mails = platform::mail::wait_for_files(&mail_dir, 1);
    let link = "http://ui.example.com:3000/password/reset?token=";
    assert!(
        platform::mail::unfold(&mails[0]).contains(link),
        "{}",
        mails[0]
    );
    let token = platform::mail::token_in(&mails[0]);

    let mut bearer = Api::unauthenticated(&admin);
    bearer.token = token;
    let mismatch = json!({"password": "erin-new-pass-2", "confirm_password": "erin-new-pass-3"});
    let body = bearer.expect("PUT", "/password/reset", Some(mismatch), 400);
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("confirm")),
        "{body}"
    );
    let reset = json!({"password": "erin-new-pass-2", "confirm_password": "erin-new-pass-2"});
    bearer.expect("PUT", "/password/reset", Some(reset.clone()), 201);
    anonymous.login("erin@example.com", "erin-new-pass-2");
    // The token worked once.
    bearer.expect("PUT", "/password/reset", Some(reset), 401);
}

#[test]
fn serials_list_a_clients_certificates_with_magistrala_names() {
    // `--tls-self-signed` runs the certs service, on free TLS ports.
    let mqtts = format!("127.0.0.1:{}", common::free_port());
    let wss = format!("127.0.0.1:{}", common::free_port());
    let t = tenants::two_tenants(&[
        "--tls-self-signed",
        "--mqtts-addr",
        &mqtts,
        "--wss-addr",
        &wss,
    ]);
    let (api, d) = (&t.d1.api, &t.d1.domain);
    let other = api.client(d, "other");
    let body = json!({"client_id": t.d1.device.id, "ttl": "24h"});
    let issued = api.expect("POST", &format!("/{d}/certs"), Some(body), 201);
    let serial = issued["serial_number"]
        .as_str()
        .expect("serial")
        .to_string();
    assert!(issued["expiry_time"].is_string(), "{issued}");
    assert_eq!(
        issued["expiry_time"], issued["expires_at"],
        "the alias agrees"
    );
    let body = json!({"client_id": other.id});
    api.expect("POST", &format!("/{d}/certs"), Some(body), 201);

    let page = api.expect(
        "GET",
        &format!("/{d}/serials/{}", t.d1.device.id),
        None,
        200,
    );
    assert_eq!(page["total"], 1, "{page}");
    assert_eq!(page["certs"][0]["serial_number"], serial.as_str());
    assert_eq!(page["certs"][0]["client_id"], t.d1.device.id.as_str());
    assert_eq!(page["certs"][0]["expiry_time"], issued["expiry_time"]);
    assert!(
        page["certs"][0]["key"].is_null(),
        "a listing never shows a key"
    );

    // Another tenant's client, or a missing one, is a 404 with a message; so is
    // asking for d1's client through d2's own domain.
    for path in [
        format!("/{d}/serials/{}", t.d2.device.id),
        format!("/{d}/serials/00000000-0000-4000-8000-000000000000"),
        format!("/{}/serials/{}", t.d2.domain, t.d1.device.id),
    ] {
        let api = if path.starts_with(&format!("/{d}")) {
            api
        } else {
            &t.d2.api
        };
        let body = api.expect("GET", &path, None, 404);
        assert!(body["message"].is_string(), "{path}: {body}");
    }
    // d2 cannot read d1's serials at all.
    let (status, _) =
        t.d2.api
            .call("GET", &format!("/{d}/serials/{}", t.d1.device.id), None);
    assert!(status.is_client_error(), "{status}");
    assert_bad_request(api, &format!("/{d}/serials/{}?client_id=x", t.d1.device.id));
    assert_bad_request(api, &format!("/{d}/certs?clientid=x"));
}

#[test]
fn user_search_shows_public_fields_and_needs_a_criterion() {
    let t = tenants::two_tenants(&[]);
    // Any user may search, and sees names only.
    let page =
        t.d1.api
            .expect("GET", "/users/search?username=b-plant", None, 200);
    assert_eq!(page["total"], 1, "{page}");
    let found = &page["users"][0];
    assert_eq!(found["id"], t.d2.user_id.as_str());
    assert_eq!(found["credentials"]["username"], "b-plant-two");
    for private in ["email", "metadata", "role", "tags"] {
        assert!(found[private].is_null(), "{private}: {found}");
    }
    // E-mail matches whole only: no substring oracle for addresses.
    let path = format!("/users/search?email={}", t.d2.email.to_uppercase());
    assert_eq!(t.d1.api.expect("GET", &path, None, 200)["total"], 1);
    let path = "/users/search?email=b@plant-two";
    assert_eq!(t.d1.api.expect("GET", path, None, 200)["total"], 0);
    let path = format!("/users/search?id={}", t.d2.user_id);
    assert_eq!(t.d1.api.expect("GET", &path, None, 200)["total"], 1);
    // Not a list of everyone, not for strangers, no stray parameters.
    assert_bad_request(&t.d1.api, "/users/search");
    assert_bad_request(&t.d1.api, "/users/search?limit=5");
    assert_bad_request(&t.d1.api, "/users/search?username=a&status=all");
    let anonymous = Api::unauthenticated(&t.admin);
    let (status, _) = anonymous.call("GET", "/users/search?username=a", None);
    assert_eq!(status.as_u16(), 401);
}

#[test]
fn remove_all_children_detaches_every_child_group_of_the_domain_only() {
    let t = tenants::two_tenants(&[]);
    let (api, d) = (&t.d1.api, &t.d1.domain);
    let group = |name: &str| new_group(api, d, name);
    let (hall, room, desk) = (group("hall"), group("room"), group("desk"));
    let children = json!({ "children_ids": [room, desk] });
    api.expect(
        "POST",
        &format!("/{d}/groups/{hall}/children"),
        Some(children),
        201,
    );
    let (total, _) = listed(api, &format!("/{d}/groups/{hall}/children"), "groups");
    assert_eq!(total, 2);

    // Another tenant, through its own domain or d1's, cannot.
    let d2 = &t.d2.domain;
    t.d2.api.expect(
        "DELETE",
        &format!("/{d2}/groups/{hall}/children/all"),
        None,
        404,
    );
    let (status, _) =
        t.d2.api
            .call("DELETE", &format!("/{d}/groups/{hall}/children/all"), None);
    assert!(status.is_client_error(), "{status}");
    assert_eq!(
        listed(api, &format!("/{d}/groups/{hall}/children"), "groups").0,
        2
    );

    api.expect(
        "DELETE",
        &format!("/{d}/groups/{hall}/children/all"),
        None,
        204,
    );
    assert_eq!(
        listed(api, &format!("/{d}/groups/{hall}/children"), "groups").0,
        0
    );
    assert_eq!(
        listed(api, &format!("/{d}/groups?root_group=true"), "groups").0,
        3
    );
    // Again, with no children left: still 204.
    api.expect(
        "DELETE",
        &format!("/{d}/groups/{hall}/children/all"),
        None,
        204,
    );
}

#[test]
fn a_users_entities_in_a_domain_are_the_ones_they_created() {
    let t = tenants::two_tenants(&[]);
    let (api, d) = (&t.d1.api, &t.d1.domain);
    let admins = t.admin.client(d, "admins-own");
    let mine = |kind: &str, user: &str| listed(api, &format!("/{d}/users/{user}/{kind}"), kind);
    assert_eq!(
        mine("clients", &t.d1.user_id),
        (1, vec![t.d1.device.id.clone()])
    );
    assert_eq!(
        mine("channels", &t.d1.user_id),
        (1, vec![t.d1.channel.clone()])
    );
    assert_eq!(mine("groups", &t.d1.user_id).0, 0);
    let admin_id = id_of(&t.admin.expect("GET", "/users/profile", None, 200));
    assert_eq!(mine("clients", &admin_id), (1, vec![admins.id]));
    // Another tenant's user has nothing here; d2 cannot ask about d1 at all.
    assert_eq!(mine("clients", &t.d2.user_id), (0, vec![]));
    let path = format!("/{d}/users/{}/clients", t.d1.user_id);
    let (status, _) = t.d2.api.call("GET", &path, None);
    assert!(status.is_client_error(), "{status}");
    assert_bad_request(api, &format!("{path}?chanel=x"));
}

#[test]
fn a_users_domains_are_listed_for_that_user_or_a_platform_admin_only() {
    let t = tenants::two_tenants(&[]);
    let mine = format!("/users/{}/domains", t.d1.user_id);
    let (total, ids) = listed(&t.d1.api, &mine, "domains");
    assert_eq!((total, ids), (1, vec![t.d1.domain.clone()]));
    assert_eq!(listed(&t.admin, &mine, "domains").0, 1);
    // Another user learns nothing about d1's memberships; a missing user is a 404.
    let (status, body) = t.d2.api.call("GET", &mine, None);
    assert_eq!(status.as_u16(), 403, "{body}");
    let missing = "/users/00000000-0000-4000-8000-000000000000/domains";
    t.admin.expect("GET", missing, None, 404);
    assert_bad_request(&t.d1.api, &format!("{mine}?chanel=x"));
}
