//! Personal access tokens through the binary (issue 17): SuperMQ's `/pats` routes, a
//! PAT as a bearer token only where its scopes allow, the secret shown once and never
//! in an event, reset / revoke / delete / expiry effective at once, other users'
//! PATs invisible, a flood of junk `pat_...` tokens costing no memory, and the
//! journals of clients, channels and groups each behind its own entity type's scope.

mod common;
mod platform;
#[path = "security/tenants.rs"]
mod tenants;

use platform::Api;
use serde_json::{json, Value};
use tenants::{two_tenants, Tenants};

/// A client of the same server using `token` (a PAT or an access token).
fn with_token(api: &Api, token: &str) -> Api {
    let mut other = Api::unauthenticated(api);
    other.token = token.to_string();
    other
}

/// `status` with a non-empty `{"message"}`.
fn refused(api: &Api, method: &str, path: &str, body: Option<Value>, status: u16) {
    let answer = api.expect(method, path, body, status);
    let message = answer["message"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "{method} {path}: {answer}");
}

/// A new PAT of `api`'s user; its JSON (with the secret).
fn create_pat(api: &Api, name: &str, duration: &str) -> Value {
    let body = json!({"name": name, "description": "automation", "duration": duration});
    api.expect("POST", "/pats", Some(body), 201)
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().expect("id").to_string()
}

fn secret_of(v: &Value) -> String {
    v["secret"].as_str().expect("secret").to_string()
}

fn add_scopes(api: &Api, pat: &str, scopes: Value) {
    let body = Some(json!({ "scopes": scopes }));
    api.expect("PATCH", &format!("/pats/{pat}/scope/add"), body, 200);
}

/// A PAT of tenant 1 allowed to view the tenant's device and list its clients.
fn device_reader(t: &Tenants) -> (String, Api) {
    let pat = create_pat(&t.d1.api, "reader", "24h");
    let scopes = json!([
        {"entity_type": "clients", "domain_id": t.d1.domain, "operation": "view", "entity_id": t.d1.device.id},
        {"entity_type": "clients", "domain_id": t.d1.domain, "operation": "list", "entity_id": "*"},
    ]);
    add_scopes(&t.d1.api, &id_of(&pat), scopes);
    (id_of(&pat), with_token(&t.d1.api, &secret_of(&pat)))
}

#[test]
fn a_pat_is_accepted_only_where_its_scopes_allow() {
    let t = two_tenants(&[]);
    let (d1, dev) = (&t.d1.domain, &t.d1.device.id);
    let (pat_id, pat) = device_reader(&t);
    // Allowed: the scoped client (by domain id and by domain route), the list.
    let viewed = pat.expect("GET", &format!("/{d1}/clients/{dev}"), None, 200);
    assert_eq!(viewed["id"], dev.as_str());
    pat.expect("GET", &format!("/{}/clients/{dev}", t.d1.route), None, 200);
    let listed = pat.expect("GET", &format!("/{d1}/clients"), None, 200);
    assert_eq!(listed["total"], 1);
    // Another operation, another entity type, another entity id, another domain.
    let rename = Some(json!({"name": "renamed"}));
    refused(&pat, "PATCH", &format!("/{d1}/clients/{dev}"), rename, 403);
    refused(
        &pat,
        "GET",
        &format!("/{d1}/channels/{}", t.d1.channel),
        None,
        403,
    );
    let other = t.d1.api.client(d1, "other-sensor");
    refused(
        &pat,
        "GET",
        &format!("/{d1}/clients/{}", other.id),
        None,
        403,
    );
    let d2_dev = format!("/{}/clients/{}", t.d2.domain, t.d2.device.id);
    refused(&pat, "GET", &d2_dev, None, 403);
    // A scope on any domain still never exceeds the user's own access.
    let any_domain = json!([{"entity_type": "clients", "operation": "view", "entity_id": "*"}]);
    add_scopes(&t.d1.api, &pat_id, any_domain);
    pat.expect("GET", &format!("/{d1}/clients/{}", other.id), None, 200);
    refused(&pat, "GET", &d2_dev, None, 403);
    // Routes without a row: PAT management, the password, the event log.
    refused(&pat, "GET", "/pats", None, 403);
    let new_pat = Some(json!({"name": "escalate", "duration": "1h"}));
    refused(&pat, "POST", "/pats", new_pat, 403);
    refused(&pat, "GET", &format!("/pats/{pat_id}"), None, 403);
    let secret = Some(json!({"old_secret": t.d1.password, "new_secret": "a-new-password-1"}));
    refused(&pat, "PATCH", "/users/secret", secret, 403);
    refused(&pat, "GET", "/events?stream=users", None, 403);
    // Removing every scope takes effect at once.
    t.d1.api
        .expect("DELETE", &format!("/pats/{pat_id}/scope"), None, 200);
    refused(&pat, "GET", &format!("/{d1}/clients/{dev}"), None, 403);
}

#[test]
fn scopes_are_listed_and_removed_one_by_one() {
    let t = two_tenants(&[]);
    let (pat_id, pat) = device_reader(&t);
    let scopes =
        t.d1.api
            .expect("GET", &format!("/pats/{pat_id}/scope"), None, 200);
    assert_eq!(scopes["total"], 2);
    let list = scopes["scopes"].as_array().expect("scopes").clone();
    let listing = list.iter().find(|s| s["operation"] == "list_clients");
    let listing = listing.expect("create/list take SuperMQ's long names");
    let body = Some(json!({"scopes_id": [listing["id"]]}));
    let path = format!("/pats/{pat_id}/scope/remove");
    t.d1.api.expect("PATCH", &path, body, 200);
    refused(&pat, "GET", &format!("/{}/clients", t.d1.domain), None, 403);
    let dev = format!("/{}/clients/{}", t.d1.domain, t.d1.device.id);
    pat.expect("GET", &dev, None, 200);
    // Invalid scopes and inputs are 400s with a message.
    let add = format!("/pats/{pat_id}/scope/add");
    for bad in [
        json!({"scopes": []}),
        json!({"scopes": [{"entity_type": "robots", "operation": "view", "entity_id": "*"}]}),
        json!({"scopes": [{"entity_type": "clients", "operation": "fly", "entity_id": "*"}]}),
        json!({"scopes": [{"entity_type": "clients", "operation": "view"}]}),
    ] {
        refused(&t.d1.api, "PATCH", &add, Some(bad), 400);
    }
    for bad in [
        json!({"name": "x"}),
        json!({"name": "x", "duration": "soon"}),
        json!({"name": "x", "duration": "9000h"}),
        json!({"duration": "1h"}),
    ] {
        refused(&t.d1.api, "POST", "/pats", Some(bad), 400);
    }
    refused(&t.d1.api, "GET", "/pats?status=odd", None, 400);
    refused(&t.d1.api, "GET", "/pats?colour=red", None, 400);
}

#[test]
fn the_secret_is_shown_once_and_never_in_events() {
    let t = two_tenants(&[]);
    let api = &t.d1.api;
    let created = create_pat(api, "ci", "720h");
    let (id, first) = (id_of(&created), secret_of(&created));
    assert!(first.starts_with("pat_"), "{first}");
    assert_eq!(created["status"], "active");
    let viewed = api.expect("GET", &format!("/pats/{id}"), None, 200);
    assert_eq!(viewed["name"], "ci");
    assert!(viewed.get("secret").is_none(), "{viewed}");
    let listed = api.expect("GET", "/pats", None, 200);
    assert_eq!(listed["total"], 1);
    assert!(listed["pats"][0].get("secret").is_none(), "{listed}");
    let renamed = api.expect(
        "PATCH",
        &format!("/pats/{id}/name"),
        Some(json!({"name": "ci-2"})),
        202,
    );
    assert_eq!(renamed["name"], "ci-2");
    let described = Some(json!({"description": "deploys"}));
    let described = api.expect("PATCH", &format!("/pats/{id}/description"), described, 202);
    assert_eq!(described["description"], "deploys");
    let reset = Some(json!({"duration": "24h"}));
    let reset = api.expect("PATCH", &format!("/pats/{id}/secret/reset"), reset, 200);
    let second = secret_of(&reset);
    assert_ne!(first, second);
    add_scopes(
        api,
        &id,
        json!([{"entity_type": "groups", "domain_id": t.d1.domain, "operation": "view", "entity_id": "*"}]),
    );
    api.expect("PATCH", &format!("/pats/{id}/secret/revoke"), None, 204);
    api.expect("DELETE", &format!("/pats/{id}"), None, 204);
    let events = t.admin.event_log("users");
    let ops: Vec<&str> = events
        .iter()
        .filter_map(|e| e["operation"].as_str())
        .collect();
    for op in [
        "pat.create",
        "pat.update_name",
        "pat.update_description",
        "pat.reset_secret",
        "pat.add_scope",
        "pat.revoke",
        "pat.remove",
    ] {
        assert!(ops.contains(&op), "{op} missing from {ops:?}");
    }
    let create = events
        .iter()
        .find(|e| e["operation"] == "pat.create")
        .expect("create");
    assert_eq!(create["id"], id.as_str());
    assert_eq!(create["user_id"], t.d1.user_id.as_str());
    let text = serde_json::to_string(&events).expect("json");
    for secret in [&first, &second] {
        let random = secret.rsplit('_').next().expect("random part");
        assert!(!text.contains(random), "a PAT secret reached the events");
    }
}

#[test]
fn reset_revoke_delete_and_expiry_take_effect_at_once() {
    lifecycle(&two_tenants(&[]));
}

/// The same on PostgreSQL: every statement of the PAT store runs on both engines.
#[test]
fn pats_work_on_postgresql() {
    let pg = magnetite_testkit::servers::scratch_postgres();
    let url = pg.url.clone();
    let t = two_tenants(&["--database-url", &url]);
    lifecycle(&t);
    let (id, _) = device_reader(&t);
    let page =
        t.d1.api
            .expect("GET", &format!("/pats/{id}/scope?limit=1"), None, 200);
    assert_eq!(
        (page["total"].as_u64(), page["limit"].as_u64()),
        (Some(2), Some(1))
    );
    let named =
        t.d1.api
            .expect("GET", "/pats?name=reader&status=active", None, 200);
    assert_eq!(named["total"], 1);
}

/// Reset, revoke, delete, delete all and expiry, each effective at the next request.
fn lifecycle(t: &Tenants) {
    let api = &t.d1.api;
    let dev = format!("/{}/clients/{}", t.d1.domain, t.d1.device.id);
    let (id, old) = device_reader(t);
    old.expect("GET", &dev, None, 200);
    // Reset: the old token is dead at once, the new one works.
    let reset = Some(json!({"duration": "1h"}));
    let reset = api.expect("PATCH", &format!("/pats/{id}/secret/reset"), reset, 200);
    refused(&old, "GET", &dev, None, 401);
    let new = with_token(api, &secret_of(&reset));
    new.expect("GET", &dev, None, 200);
    // Revoke: kept, listed as revoked, unusable.
    api.expect("PATCH", &format!("/pats/{id}/secret/revoke"), None, 204);
    refused(&new, "GET", &dev, None, 401);
    let viewed = api.expect("GET", &format!("/pats/{id}"), None, 200);
    assert_eq!(viewed["status"], "revoked");
    let revoked = api.expect("GET", "/pats?status=revoked", None, 200);
    assert_eq!(revoked["total"], 1);
    assert_eq!(
        api.expect("GET", "/pats?status=active", None, 200)["total"],
        0
    );
    // Delete: gone.
    let (second_id, second) = device_reader(t);
    second.expect("GET", &dev, None, 200);
    api.expect("DELETE", &format!("/pats/{second_id}"), None, 204);
    refused(&second, "GET", &dev, None, 401);
    refused(api, "GET", &format!("/pats/{second_id}"), None, 404);
    // Delete all: every token of the user is dead.
    let (_, third) = device_reader(t);
    third.expect("GET", &dev, None, 200);
    api.expect("DELETE", "/pats", None, 204);
    refused(&third, "GET", &dev, None, 401);
    assert_eq!(api.expect("GET", "/pats", None, 200)["total"], 0);
    // Expiry: a PAT of two seconds works, then fails.
    let short = create_pat(api, "short", "2s");
    let scope = json!([{"entity_type": "clients", "domain_id": t.d1.domain, "operation": "view", "entity_id": "*"}]);
    add_scopes(api, &id_of(&short), scope);
    let short_api = with_token(api, &secret_of(&short));
    short_api.expect("GET", &dev, None, 200);
    std::thread::sleep(std::time::Duration::from_millis(3100));
    refused(&short_api, "GET", &dev, None, 401);
    let expired = api.expect("GET", "/pats?status=expired", None, 200);
    assert_eq!(expired["total"], 1);
}

#[test]
fn other_users_cannot_see_or_touch_my_pats() {
    let t = two_tenants(&[]);
    let (id, pat) = device_reader(&t);
    let stranger = &t.d2.api;
    let scope = Some(
        json!({"scopes": [{"entity_type": "clients", "operation": "view", "entity_id": "*"}]}),
    );
    for (method, path, body) in [
        ("GET", format!("/pats/{id}"), None),
        (
            "PATCH",
            format!("/pats/{id}/name"),
            Some(json!({"name": "mine"})),
        ),
        (
            "PATCH",
            format!("/pats/{id}/description"),
            Some(json!({"description": "mine"})),
        ),
        (
            "PATCH",
            format!("/pats/{id}/secret/reset"),
            Some(json!({"duration": "1h"})),
        ),
        ("PATCH", format!("/pats/{id}/secret/revoke"), None),
        ("PATCH", format!("/pats/{id}/scope/add"), scope.clone()),
        (
            "PATCH",
            format!("/pats/{id}/scope/remove"),
            Some(json!({"scopes_id": ["x"]})),
        ),
        ("GET", format!("/pats/{id}/scope"), None),
        ("DELETE", format!("/pats/{id}/scope"), None),
        ("DELETE", format!("/pats/{id}"), None),
    ] {
        refused(stranger, method, &path, body.clone(), 404);
        let nobody = Api::unauthenticated(stranger);
        refused(&nobody, method, &path, body, 401);
    }
    assert_eq!(stranger.expect("GET", "/pats", None, 200)["total"], 0);
    stranger.expect("DELETE", "/pats", None, 204);
    // Untouched: still named, still working.
    let mine = t.d1.api.expect("GET", &format!("/pats/{id}"), None, 200);
    assert_eq!(mine["name"], "reader");
    pat.expect(
        "GET",
        &format!("/{}/clients/{}", t.d1.domain, t.d1.device.id),
        None,
        200,
    );
}

/// The `magnetite_pat_cache_entries` gauge of `api`'s server.
fn pat_cache_entries(api: &Api) -> u64 {
    let text = reqwest::blocking::get(format!("{}/metrics", api.base_url()))
        .expect("GET /metrics")
        .text()
        .expect("metrics text");
    text.lines()
        .find_map(|l| {
            l.strip_prefix("magnetite_pat_cache_entries ")?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no magnetite_pat_cache_entries in /metrics:\n{text}"))
}

/// `token` with its PAT id changed to one derived from `n` (still well-formed): the
/// base64 characters 26..32 encode PAT id bytes only.
fn unknown_id_token(token: &str, n: usize) -> String {
    const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bytes = token.as_bytes().to_vec();
    for k in 0..6 {
        bytes[4 + 26 + k] = B64[(n >> (6 * k)) % 64];
    }
    String::from_utf8(bytes).expect("ascii")
}

#[test]
fn junk_pat_tokens_cost_no_memory() {
    let t = two_tenants(&[]);
    let (_, pat) = device_reader(&t);
    let dev = format!("/{}/clients/{}", t.d1.domain, t.d1.device.id);
    pat.expect("GET", &dev, None, 200);
    assert_eq!(pat_cache_entries(&t.admin), 1);
    let (head, _) = pat.token.rsplit_once('_').expect("token");
    for n in 1..=400 {
        let junk = [
            unknown_id_token(&pat.token, n),
            format!("{head}_{n:0>100}"),
            format!("pat_{n}_garbage"),
        ];
        for token in junk {
            refused(&with_token(&pat, &token), "GET", &dev, None, 401);
        }
    }
    assert_eq!(pat_cache_entries(&t.admin), 1);
    pat.expect("GET", &dev, None, 200);
}

#[test]
fn messages_and_journal_take_a_pat_within_its_scope() {
    let t = two_tenants(&["--messages-store", "all"]);
    let (d1, dev, ch) = (&t.d1.domain, &t.d1.device.id, &t.d1.channel);
    let pat = create_pat(&t.d1.api, "reader", "24h");
    let scopes = json!([
        {"entity_type": "messages", "domain_id": d1, "operation": "subscribe", "entity_id": ch},
        {"entity_type": "clients", "domain_id": d1, "operation": "view", "entity_id": dev},
    ]);
    add_scopes(&t.d1.api, &id_of(&pat), scopes);
    let pat = with_token(&t.d1.api, &secret_of(&pat));
    let messages = pat.expect("GET", &format!("/{d1}/channels/{ch}/messages"), None, 200);
    assert!(messages["messages"].is_array(), "{messages}");
    let journal = format!("/{d1}/journal/client/{dev}");
    pat.expect("GET", &journal, None, 200);
    pat.expect("GET", &format!("{journal}/telemetry"), None, 200);
    // Outside the scopes: another channel, another client, the channel's journal
    // (no `channels` scope), another domain.
    let other = t.d1.api.channel(d1, "other-channel");
    let other_messages = format!("/{d1}/channels/{other}/messages");
    refused(&pat, "GET", &other_messages, None, 403);
    let sensor = t.d1.api.client(d1, "other-sensor").id;
    refused(
        &pat,
        "GET",
        &format!("/{d1}/journal/client/{sensor}"),
        None,
        403,
    );
    refused(
        &pat,
        "GET",
        &format!("/{d1}/journal/channel/{ch}"),
        None,
        403,
    );
    let d2 = format!("/{}/channels/{}/messages", t.d2.domain, t.d2.channel);
    refused(&pat, "GET", &d2, None, 403);
    let junk = with_token(&t.d1.api, "pat_junk");
    refused(
        &junk,
        "GET",
        &format!("/{d1}/channels/{ch}/messages"),
        None,
        401,
    );
}

#[test]
fn channel_and_group_journals_take_their_own_entity_types_scope() {
    let t = two_tenants(&[]);
    let (owner, d1, ch) = (&t.d1.api, &t.d1.domain, &t.d1.channel);
    let made = owner.expect(
        "POST",
        &format!("/{d1}/groups"),
        Some(json!({"name": "hall"})),
        201,
    );
    let group = made["id"].as_str().expect("group id").to_string();
    let pat = create_pat(owner, "journals", "24h");
    let scopes = json!([
        {"entity_type": "channels", "domain_id": d1, "operation": "view", "entity_id": ch},
        {"entity_type": "groups", "domain_id": d1, "operation": "view", "entity_id": group},
    ]);
    add_scopes(owner, &id_of(&pat), scopes);
    let pat = with_token(owner, &secret_of(&pat));
    let channel_journal = format!("/{d1}/journal/channel/{ch}");
    let group_journal = format!("/{d1}/journal/group/{group}");
    for path in [&channel_journal, &group_journal] {
        let page = pat.expect("GET", path, None, 200);
        assert!(page["journals"].is_array(), "{path}: {page}");
    }
    // Each type's scope opens only its own journal: the ids swapped, another channel,
    // a client, another domain's channel, an unknown entity type.
    let other = owner.channel(d1, "other-channel");
    let d2 = &t.d2.domain;
    for path in [
        format!("/{d1}/journal/group/{ch}"),
        format!("/{d1}/journal/channel/{group}"),
        format!("/{d1}/journal/channel/{other}"),
        format!("/{d1}/journal/client/{}", t.d1.device.id),
        format!("/{d2}/journal/channel/{}", t.d2.channel),
        format!("/{d1}/journal/domain/{d1}"),
    ] {
        refused(&pat, "GET", &path, None, 403);
    }
    // Scoped to a channel of another domain, a PAT still gets nothing there: the
    // user's own access decides after the scope.
    let foreign = create_pat(owner, "foreign", "24h");
    let scopes = json!([{"entity_type": "channels", "domain_id": d2, "operation": "view", "entity_id": "*"}]);
    add_scopes(owner, &id_of(&foreign), scopes);
    let foreign = with_token(owner, &secret_of(&foreign));
    let (status, reply) = foreign.call(
        "GET",
        &format!("/{d2}/journal/channel/{}", t.d2.channel),
        None,
    );
    assert!(
        status.is_client_error() && reply.get("journals").is_none(),
        "{status} {reply}"
    );
}
