//! Bootstrap configs and certificates are their client's: the lists show the records of
//! the clients the caller may read (totals to match), a config's channels need the
//! channel's `connect_to_client`, and taking a role away takes the access away at once.
//! Each single-record route's allow/deny is a row of the matrix (`rows/client.rs`).

use super::{grant, new_user, platform, tenant, tenant_with_erin};
use platform::{Api, Device};
use serde_json::{json, Value};

/// A bootstrap config for `device` (made by `api`, who may update it).
fn config_for(api: &Api, d: &str, device: &Device, channels: &[&str]) -> Value {
    let body = json!({"external_id": format!("ext-{}", device.id), "external_key": "key",
        "client_id": device.id, "client_secret": device.secret, "channels": channels});
    api.expect("POST", &format!("/{d}/clients/configs"), Some(body), 201)
}

/// The `client_id`s of a list page, sorted, and its total.
fn listed(api: &Api, path: &str, key: &str) -> (Vec<String>, u64) {
    let page = api.expect("GET", path, None, 200);
    let mut ids: Vec<String> = page[key]
        .as_array()
        .expect("list")
        .iter()
        .map(|r| r["client_id"].as_str().expect("client_id").to_string())
        .collect();
    ids.sort();
    (ids, page["total"].as_u64().expect("total"))
}

fn sorted(ids: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

#[test]
fn configs_and_certificates_list_only_the_clients_a_user_may_read() {
    let server = platform::server_with_certs(&[]);
    let admin = Api::admin(&server);
    let t = tenant(&admin, "owner@example.com", "farm");
    let (d, owner) = (&t.d, &t.owner);
    let g = owner.expect(
        "POST",
        &format!("/{d}/groups"),
        Some(json!({"name": "g"})),
        201,
    );
    let g = g["id"].as_str().expect("group id").to_string();
    let mine = owner.client(d, "mine");
    let grouped = owner.client_in(d, "grouped", &g);
    let other = owner.client(d, "other");
    for device in [&mine, &grouped, &other] {
        config_for(owner, d, device, &[]);
        let body = json!({"client_id": device.id});
        owner.expect("POST", &format!("/{d}/certs"), Some(body), 201);
    }
    let (direct, direct_api) = new_user(&admin, "direct@example.com");
    let (inherited, inherited_api) = new_user(&admin, "inherited@example.com");
    let (domain_wide, domain_api) = new_user(&admin, "domain@example.com");
    let (without, without_api) = new_user(&admin, "without@example.com");
    let everyone = [&direct, &inherited, &domain_wide, &without].map(String::as_str);
    grant(owner, &format!("/domains/{d}"), "everyone", &[], &everyone);
    grant(
        owner,
        &format!("/{d}/clients/{}", mine.id),
        "r",
        &["read"],
        &[&direct],
    );
    grant(
        owner,
        &format!("/{d}/groups/{g}"),
        "r",
        &["client_read"],
        &[&inherited],
    );
    let on_domain = format!("/domains/{d}");
    grant(owner, &on_domain, "r", &["client_read"], &[&domain_wide]);

    let all = [mine.id.as_str(), grouped.id.as_str(), other.id.as_str()];
    let cases: [(&Api, Vec<String>); 4] = [
        (&direct_api, sorted(&[&mine.id])),
        (&inherited_api, sorted(&[&grouped.id])),
        (&domain_api, sorted(&all)),
        (&without_api, vec![]),
    ];
    for (api, want) in &cases {
        for (path, key) in [("clients/configs", "configs"), ("certs", "certs")] {
            let (ids, total) = listed(api, &format!("/{d}/{path}?limit=100"), key);
            assert_eq!(&ids, want, "{path}");
            assert_eq!(
                total,
                want.len() as u64,
                "{path}: the total counts what is shown"
            );
        }
    }
    // Naming a client does not widen the list.
    let (ids, total) = listed(
        &direct_api,
        &format!("/{d}/certs?client_id={}", other.id),
        "certs",
    );
    assert_eq!((ids.len(), total), (0, 0));
    // Outside the domain: refused, as on the domain's client list.
    let (_, outsider) = new_user(&admin, "outsider@example.com");
    for path in ["clients/configs", "certs", "clients"] {
        let (status, reply) = outsider.call("GET", &format!("/{d}/{path}"), None);
        assert_eq!(status.as_u16(), 403, "{path}: {reply}");
    }
}

#[test]
fn a_configs_channels_need_the_channels_connect_action() {
    let server = platform::server_with_certs(&[]);
    let admin = Api::admin(&server);
    let (t, erin, erin_api) = tenant_with_erin(&admin);
    let (d, owner) = (&t.d, &t.owner);
    let (kept, other) = (owner.client(d, "kept"), owner.client(d, "other"));
    for device in [&kept, &other] {
        let on = format!("/{d}/clients/{}", device.id);
        grant(owner, &on, "ops", &["read", "update"], &[&erin]);
    }
    let ch = owner.channel(d, "telemetry");
    config_for(owner, d, &kept, &[]);
    let connections = format!("/{d}/clients/configs/connections/{}", kept.id);
    let to_ch = Some(json!({"channels": [ch]}));
    let (status, reply) = erin_api.call("PUT", &connections, to_ch.clone());
    assert_eq!(
        status.as_u16(),
        403,
        "no connect_to_client on the channel: {reply}"
    );
    let body = json!({"external_id": "other", "external_key": "k", "client_id": other.id,
        "client_secret": other.secret, "channels": [ch]});
    let configs = format!("/{d}/clients/configs");
    let (status, reply) = erin_api.call("POST", &configs, Some(body.clone()));
    assert_eq!(status.as_u16(), 403, "a new config's channel too: {reply}");

    let on_channel = format!("/{d}/channels/{ch}");
    grant(owner, &on_channel, "link", &["connect_to_client"], &[&erin]);
    let config = erin_api.expect("PUT", &connections, to_ch, 200);
    assert_eq!(config["channels"][0]["id"], ch.as_str(), "{config}");
    erin_api.expect("POST", &configs, Some(body), 201);
    erin_api.expect("PUT", &connections, Some(json!({"channels": []})), 200);
}

#[test]
fn a_role_change_takes_config_and_certificate_access_away_at_once() {
    let server = platform::server_with_certs(&[]);
    let admin = Api::admin(&server);
    let (t, erin, erin_api) = tenant_with_erin(&admin);
    let (d, owner) = (&t.d, &t.owner);
    let device = owner.client(d, "device");
    config_for(owner, d, &device, &[]);
    let on = format!("/{d}/clients/{}", device.id);
    let role = grant(owner, &on, "ops", &["read", "update"], &[&erin]);
    let config = format!("/{d}/clients/configs/{}", device.id);
    let issue = (format!("/{d}/certs"), json!({"client_id": device.id}));
    // Allowed, and the decisions cached.
    erin_api.expect("GET", &config, None, 200);
    erin_api.expect("POST", &issue.0, Some(issue.1.clone()), 201);
    let (_, total) = listed(&erin_api, &format!("/{d}/certs"), "certs");
    assert_eq!(total, 1);

    owner.expect("DELETE", &format!("{on}/roles/{role}"), None, 204);
    let (status, reply) = erin_api.call("GET", &config, None);
    assert_eq!(status.as_u16(), 403, "{reply}");
    let (status, reply) = erin_api.call("POST", &issue.0, Some(issue.1));
    assert_eq!(status.as_u16(), 403, "{reply}");
    for (path, key) in [("clients/configs", "configs"), ("certs", "certs")] {
        let (ids, total) = listed(&erin_api, &format!("/{d}/{path}"), key);
        assert_eq!((ids.len(), total), (0, 0), "{path}");
    }
}
