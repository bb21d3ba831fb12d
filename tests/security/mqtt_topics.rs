//! Topics name channels only inside the connecting client's own domain, and routing is
//! by channel identity: the same route in two domains never crosses, another tenant's
//! ids (or routes shaped like them) reach nothing of theirs, and one channel's forms
//! (ids, routes, legacy) reach each other's subscribers under each subscriber's form.

use serde_json::json;

use crate::mqtt::{payloads, Mqtt, Received, V311, V5};
use crate::tenants::{force_route, two_tenants, Tenant};

/// v5 PUBACK / SUBACK "not authorized".
const NOT_AUTHORIZED: u8 = 0x87;

fn id_form(t: &Tenant) -> String {
    format!("m/{}/c/{}", t.domain, t.channel)
}

fn route_form(t: &Tenant) -> String {
    format!("m/{}/c/{}", t.route, t.channel_route)
}

fn legacy_form(t: &Tenant) -> String {
    format!("channels/{}/messages", t.channel_route)
}

/// Asserts `got` holds exactly `want` payloads (in order) and nothing else.
fn assert_only(got: &[Received], want: &[&str]) {
    assert_eq!(payloads(got), want, "deliveries: {got:?}");
}

#[test]
fn the_same_route_in_two_domains_never_crosses() {
    let t = two_tenants(&[]);
    let addr = t.server.mqtt;
    let mut d2_sub = Mqtt::online(addr, V5, &t.d2.device);
    for filter in [
        format!("{}/#", legacy_form(&t.d2)),
        format!("{}/#", route_form(&t.d2)),
    ] {
        assert_eq!(d2_sub.subscribe(&filter), vec![1], "{filter}");
    }
    let mut d1_sub = Mqtt::online(addr, V5, &t.d1.device);
    assert_eq!(
        d1_sub.subscribe(&format!("{}/#", legacy_form(&t.d1))),
        vec![1]
    );

    let mut d1 = Mqtt::online(addr, V311, &t.d1.device);
    d1.publish_ok(&format!("{}/x", legacy_form(&t.d1)), "d1-legacy");
    d1.publish_ok(&format!("{}/x", route_form(&t.d1)), "d1-route");
    d1.publish_ok(&format!("{}/x", id_form(&t.d1)), "d1-id");
    d1.publish_ok(&legacy_form(&t.d1), "d1-end");
    let mut d2 = Mqtt::online(addr, V311, &t.d2.device);
    d2.publish_ok(&legacy_form(&t.d2), "d2-end");

    // D1 gets its own three, each under the legacy topic it subscribed with.
    let got = d1_sub.until("d1-end");
    assert_only(&got, &["d1-legacy", "d1-route", "d1-id", "d1-end"]);
    assert_eq!(got[0].topic, format!("{}/x", legacy_form(&t.d1)));
    assert_eq!(got[2].topic, format!("{}/x", legacy_form(&t.d1)));
    // D2, subscribed to the same texts in its own domain, gets nothing of D1's.
    let got = d2_sub.until("d2-end");
    assert_only(&got, &["d2-end"]);
}

/// D2's device uses D1's ids and routes in every form and position; each is refused
/// (v5 PUBACK / SUBACK 0x87; 3.1.1 closes), and D1's subscriber sees none of it.
#[test]
fn another_tenants_topics_are_refused_and_the_victim_sees_nothing() {
    let t = two_tenants(&[]);
    let addr = t.server.mqtt;
    let mut victim = Mqtt::online(addr, V5, &t.d1.device);
    assert_eq!(victim.subscribe(&format!("{}/#", id_form(&t.d1))), vec![1]);

    let (d1, ch1) = (&t.d1.domain, &t.d1.channel);
    let mut attacker = Mqtt::online(addr, V5, &t.d2.device);
    let topics = [
        id_form(&t.d1),
        format!("{}/x", route_form(&t.d1)),
        format!("m/{d1}/c/{}", t.d1.channel_route),
        format!("m/{}/c/{ch1}", t.d1.route),
        format!("channels/{ch1}/messages"),
        format!("channels/{ch1}/messages/x/"),
        format!("m/{d1}/c/{ch1}/a%2Fb"),
        format!("m/{}/c/{ch1}", t.d2.domain),
        format!("m/{}/c/{}", t.d2.route, ch1),
        format!("m/{}/c/{}", t.d1.domain, t.d2.channel),
        format!("m/{d1}%2Fc/{ch1}"),
    ];
    for topic in &topics {
        assert_eq!(
            attacker.publish(topic, "attack", false),
            Some(NOT_AUTHORIZED),
            "publish {topic}"
        );
    }
    let filters = [
        format!("{}/#", id_form(&t.d1)),
        format!("{}/#", route_form(&t.d1)),
        format!("channels/{ch1}/messages/#"),
        "m/+/c/telemetry/#".to_string(),
        format!("m/{d1}/c/+/#"),
        "channels/+/messages/#".to_string(),
        "#".to_string(),
        "+/+/+/+".to_string(),
        format!("$share/g/{}/#", id_form(&t.d1)),
        format!("m/{d1}/c/{ch1}/%23"),
    ];
    for filter in &filters {
        assert_eq!(attacker.subscribe(filter), vec![NOT_AUTHORIZED], "{filter}");
    }
    assert!(attacker.alive(), "v5 refusals keep the connection");

    // 3.1.1: SUBACK 0x80, and an unauthorized PUBLISH closes the connection.
    let mut old = Mqtt::online(addr, V311, &t.d2.device);
    assert_eq!(old.subscribe(&format!("{}/#", id_form(&t.d1))), vec![0x80]);
    assert_eq!(old.publish(&id_form(&t.d1), "attack", false), None);
    assert!(old.closed());

    let mut owner = Mqtt::online(addr, V311, &t.d1.device);
    owner.publish_ok(&id_form(&t.d1), "d1-end");
    assert_only(&victim.until("d1-end"), &["d1-end"]);
}

/// Routes shaped like ids are refused at create and update; rows written before that
/// rule (forced into the database) still never let D2 reach D1.
#[test]
fn id_shaped_routes_are_refused_and_old_ones_never_cross() {
    let t = two_tenants(&[]);
    let (d1, ch1) = (t.d1.domain.clone(), t.d1.channel.clone());
    let d2 = &t.d2;
    let body = json!({"name": "spoof", "route": ch1});
    let refused = d2
        .api
        .expect("POST", &format!("/{}/channels", d2.domain), Some(body), 400);
    assert!(refused["message"].as_str().is_some(), "{refused}");
    let body = json!({"route": ch1.replace('-', "")});
    let path = format!("/{}/channels/{}", d2.domain, d2.channel);
    d2.api.expect("PATCH", &path, Some(body), 400);
    let body = json!({"name": "spoof", "route": d1});
    d2.api.expect("POST", "/domains", Some(body), 400);
    let channel = d2.api.expect("GET", &path, None, 200);
    assert_eq!(
        channel["route"], "telemetry",
        "the refused update changed nothing"
    );

    // As if created before the rule: D2's domain route = D1's id, channel route = D1's
    // channel id. D2's device has not connected yet, so nothing of it is cached.
    force_route(&t.server, "domains", &d2.domain, &d1);
    force_route(&t.server, "channels", &d2.channel, &ch1);
    let addr = t.server.mqtt;
    let mut victim = Mqtt::online(addr, V5, &t.d1.device);
    assert_eq!(victim.subscribe(&format!("{}/#", id_form(&t.d1))), vec![1]);
    let mut attacker_sub = Mqtt::online(addr, V5, &d2.device);
    let spoofed = format!("m/{d1}/c/{ch1}");
    assert_eq!(attacker_sub.subscribe(&format!("{spoofed}/#")), vec![1]);

    // The spoofed text resolves in D2's own domain: it reaches D2's channel only.
    let mut attacker = Mqtt::online(addr, V5, &d2.device);
    attacker.publish_ok(&spoofed, "d2-spoof");
    attacker.publish_ok(&format!("channels/{ch1}/messages"), "d2-legacy");
    let mut owner = Mqtt::online(addr, V5, &t.d1.device);
    owner.publish_ok(&id_form(&t.d1), "d1-own");
    owner.publish_ok(&id_form(&t.d1), "d1-end");
    assert_only(&victim.until("d1-end"), &["d1-own", "d1-end"]);
    attacker.publish_ok(&id_form(d2), "d2-end");
    let got = attacker_sub.until("d2-end");
    assert_only(&got, &["d2-spoof", "d2-legacy", "d2-end"]);
    assert!(got.iter().all(|r| r.topic == spoofed), "{got:?}");
}

/// Within one domain, the id, route and legacy forms of a channel are one channel: a
/// message published on any form reaches subscribers of every form, each under its own
/// topic; retained messages too; UNSUBSCRIBE finds a subscription by its own text.
#[test]
fn every_form_of_a_channel_reaches_every_subscriber_under_its_own_topic() {
    let t = two_tenants(&[]);
    let addr = t.server.mqtt;
    let d1 = &t.d1;
    let by_id_legacy = format!("channels/{}/messages", d1.channel);
    let forms = [id_form(d1), route_form(d1), legacy_form(d1), by_id_legacy];
    let mut subs: Vec<Mqtt> = forms
        .iter()
        .map(|form| {
            let mut sub = Mqtt::online(addr, V5, &d1.device);
            assert_eq!(sub.subscribe(&format!("{form}/#")), vec![1]);
            sub
        })
        .collect();
    let mut publisher = Mqtt::online(addr, V311, &d1.device);
    publisher.publish_ok(&format!("{}/room/1", id_form(d1)), "by-id");
    publisher.publish_ok(&format!("{}/room/2/", route_form(d1)), "by-route");
    publisher.publish_ok(&format!("{}/end", legacy_form(d1)), "end");
    for (form, sub) in forms.iter().zip(subs.iter_mut()) {
        let got = sub.until("end");
        assert_only(&got, &["by-id", "by-route", "end"]);
        let topics: Vec<&str> = got.iter().map(|r| r.topic.as_str()).collect();
        let want = [
            format!("{form}/room/1"),
            format!("{form}/room/2"),
            format!("{form}/end"),
        ];
        assert_eq!(topics, want, "subscriber of {form}");
    }

    // Retained on the id form, replayed to a new subscriber of the route form.
    assert_eq!(
        publisher.publish(&format!("{}/state", id_form(d1)), "kept", true),
        Some(0)
    );
    let mut late = Mqtt::online(addr, V5, &d1.device);
    assert_eq!(late.subscribe(&format!("{}/#", route_form(d1))), vec![1]);
    publisher.publish_ok(&route_form(d1), "late-end");
    let got = late.until("late-end");
    assert_only(&got, &["kept", "late-end"]);
    assert_eq!(got[0].topic, format!("{}/state", route_form(d1)));
    assert!(got[0].retain, "a replayed retained message has RETAIN set");

    // One session, two forms: two deliveries, one per form; unsubscribing one form
    // (by its own text) leaves the other.
    let mut both = Mqtt::online(addr, V5, &d1.device);
    let (by_id, by_route) = (
        format!("{}/#", id_form(d1)),
        format!("{}/#", legacy_form(d1)),
    );
    assert_eq!(both.subscribe(&by_id), vec![1]);
    assert_eq!(both.subscribe(&by_route), vec![1]);
    publisher.publish_ok(&id_form(d1), "twice");
    let first = both.until("twice");
    let second = both.until("twice");
    let mut topics = vec![
        first[first.len() - 1].topic.clone(),
        second[second.len() - 1].topic.clone(),
    ];
    topics.sort();
    assert_eq!(topics, vec![legacy_form(d1), id_form(d1)]);
    assert_eq!(both.unsubscribe(&by_route), vec![0]);
    publisher.publish_ok(&id_form(d1), "once");
    publisher.publish_ok(&legacy_form(d1), "both-end");
    let got = both.until("both-end");
    assert_only(&got, &["once", "both-end"]);
    assert!(got.iter().all(|r| r.topic == id_form(d1)), "{got:?}");
}

/// Shared subscriptions with the same group name and the same channel route in both
/// tenants are two groups: each tenant's members get only their own messages.
#[test]
fn shared_groups_of_the_same_name_do_not_mix_tenants() {
    let t = two_tenants(&[]);
    let addr = t.server.mqtt;
    let group = |tenant: &Tenant| format!("$share/workers/{}/#", legacy_form(tenant));
    let mut d1_worker = Mqtt::online(addr, V5, &t.d1.device);
    let mut d2_worker = Mqtt::online(addr, V5, &t.d2.device);
    assert_eq!(d1_worker.subscribe(&group(&t.d1)), vec![1]);
    assert_eq!(d2_worker.subscribe(&group(&t.d2)), vec![1]);
    let mut d1 = Mqtt::online(addr, V311, &t.d1.device);
    let mut d2 = Mqtt::online(addr, V311, &t.d2.device);
    for i in 0..5 {
        d1.publish_ok(&legacy_form(&t.d1), &format!("d1-{i}"));
        d2.publish_ok(&legacy_form(&t.d2), &format!("d2-{i}"));
    }
    d1.publish_ok(&legacy_form(&t.d1), "d1-end");
    d2.publish_ok(&legacy_form(&t.d2), "d2-end");
    assert_only(
        &d1_worker.until("d1-end"),
        &["d1-0", "d1-1", "d1-2", "d1-3", "d1-4", "d1-end"],
    );
    assert_only(
        &d2_worker.until("d2-end"),
        &["d2-0", "d2-1", "d2-2", "d2-3", "d2-4", "d2-end"],
    );
}
