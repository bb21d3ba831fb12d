//! Group scope of the events that are about a client but are not written by auth's own
//! transactions, against the real binary: MQTT connect/disconnect (the batching writer
//! resolves the client's groups once per batch) and bootstrap config events (resolved by
//! auth's `EventAncestry` in bootstrap's transaction). A group consumer with
//! subresources sees those of a client in its subtree at the time of the event, and not
//! those of a client outside it.

mod common;
mod consumer_kit;
mod platform;

use serde_json::{json, Value};

use consumer_kit::*;
use platform::{Api, Device};

/// `(operation or MQTT event type, client id)` of each delivery.
fn about_clients(events: &[Value]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|e| {
            let ev = &e["event"];
            let first = |keys: [&str; 2]| {
                keys.iter()
                    .find_map(|k| ev[*k].as_str())
                    .unwrap_or_default()
                    .to_string()
            };
            (
                first(["operation", "event_type"]),
                first(["client_id", "id"]),
            )
        })
        .collect()
}

fn count(seen: &[(String, String)], op: &str, client: &str) -> usize {
    seen.iter().filter(|(o, c)| o == op && c == client).count()
}

fn mqtt_session(server: &common::Server, device: &Device, mqtt_id: &str) {
    let login = Some((device.id.as_str(), device.secret.as_str()));
    let code = magnetite_testkit::mqtt::connect_and_disconnect(server.mqtt, mqtt_id, login);
    assert_eq!(code, 0, "CONNACK accepted");
}

#[test]
fn mqtt_connects_reach_the_group_consumers_of_the_clients_subtree_at_the_time() {
    let server = platform::server(&[]);
    let api = Api::admin(&server);
    let d = api.domain("Site", "site");
    let site = entity(&api, &d, "groups", "site", None);
    let rack = entity(&api, &d, "groups", "rack", Some(&site));
    let inside = api.client_in(&d, "inside", &rack);
    let outside = api.client(&d, "outside");

    let new = json!("new");
    let whole = consumer(&api, "domain", &d, true, new.clone());
    let subtree = consumer(&api, "group", &site, true, new.clone());
    let rack_only = consumer(&api, "group", &rack, false, new);

    mqtt_session(&server, &inside, "in-1");
    mqtt_session(&server, &outside, "out-1");
    until_all(&api, &whole, about_clients, |s| {
        count(s, "disconnect", &inside.id) == 1 && count(s, "disconnect", &outside.id) == 1
    });
    let sub = about_clients(&batch(&api, &subtree, 1000));
    assert_eq!(count(&sub, "connect", &inside.id), 1, "{sub:?}");
    assert_eq!(count(&sub, "disconnect", &inside.id), 1, "{sub:?}");
    assert!(
        !sub.iter().any(|(_, c)| c == &outside.id),
        "a client outside the subtree: {sub:?}"
    );
    ack(&api, &replies(&batch(&api, &subtree, 1000)));
    // Not the rack's own event (indirect), so not without subresources.
    assert!(batch(&api, &rack_only, 1000).is_empty());

    // Out of the subtree: its next session is no longer the group's.
    let parent = format!("/{d}/clients/{}/parent", inside.id);
    api.expect("DELETE", &parent, None, 204);
    mqtt_session(&server, &inside, "in-2");
    until_all(&api, &whole, about_clients, |s| {
        count(s, "disconnect", &inside.id) == 1
    });
    let after = about_clients(&batch(&api, &subtree, 1000));
    assert!(
        !after
            .iter()
            .any(|(op, _)| op == "connect" || op == "disconnect"),
        "a session after the client left the group: {after:?}"
    );
}

#[test]
fn bootstrap_events_reach_the_group_consumers_of_the_clients_subtree() {
    let server = platform::server(&[]);
    let api = Api::admin(&server);
    let d = api.domain("Fleet", "fleet");
    let site = entity(&api, &d, "groups", "site", None);
    let rack = entity(&api, &d, "groups", "rack", Some(&site));
    let inside = api.client_in(&d, "inside", &rack);
    let outside = api.client(&d, "outside");

    let whole = consumer(&api, "domain", &d, true, json!("new"));
    let subtree = consumer(&api, "group", &site, true, json!("new"));
    for (device, ext) in [(&inside, "ext-inside"), (&outside, "ext-outside")] {
        let body = json!({
            "external_id": ext, "external_key": format!("{ext}-key-0123456789"),
            "client_id": device.id, "client_secret": device.secret, "name": ext,
        });
        api.expect("POST", &format!("/{d}/clients/configs"), Some(body), 201);
        let config = format!("/{d}/clients/configs/{}", device.id);
        api.expect(
            "PUT",
            &config,
            Some(json!({"name": format!("{ext}-1")})),
            200,
        );
        api.expect("GET", &config, None, 200);
    }
    until_all(&api, &whole, about_clients, |s| {
        count(s, "config.view", &outside.id) == 1
    });

    let sub = about_clients(&batch(&api, &subtree, 1000));
    for op in ["config.create", "config.update", "config.view"] {
        assert_eq!(count(&sub, op, &inside.id), 1, "{op}: {sub:?}");
    }
    assert!(
        !sub.iter().any(|(_, c)| c == &outside.id),
        "a config of a client outside the subtree: {sub:?}"
    );
}
