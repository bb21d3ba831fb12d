//! Every operation's field set, compared with the examples of
//! `reference/magistrala-events.txt` (names copied from the reference, sorted).

use super::clients as c;
use super::users::{self as u, Policy};
use super::{Event, Page, Record, Service};
use serde_json::json;

fn full() -> Record {
    Record {
        id: "e1b982d8-a332-4bc2-aaff-4bbaa86880fc".into(),
        name: Some("-dry-sun".into()),
        identity: None,
        owner: Some("fe2e5de0-9900-4ac5-b364-eae0c35777fb".into()),
        metadata: Some(json!({})),
        tags: None,
        status: Some("enabled".into()),
        created_at: Some("2023-08-29T11:06:11.914074Z".into()),
        updated_at: Some("2023-08-29T11:06:12.294444Z".into()),
        updated_by: Some("e1b982d8-a332-4bc2-aaff-4bbaa86880fc".into()),
    }
}
fn user() -> Record {
    Record {
        identity: Some("-small-flower@email.com".into()),
        owner: None,
        ..full()
    }
}
fn page() -> Page {
    Page {
        total: 0,
        offset: 0,
        limit: 10,
        status: Some("enabled".into()),
    }
}
/// One operation's expected service, name and (unsorted) field names.
type Case = (Event, &'static str, Vec<&'static str>);

fn check(ev: Event, service: Service, op: &str, fields: &[&str]) {
    assert_eq!(ev.service, service, "{op}");
    assert_eq!(ev.operation(), op);
    let mut want: Vec<&str> = fields.to_vec();
    want.sort_unstable();
    assert_eq!(ev.field_names(), want, "{op}");
}

/// Checks every case of a table against one service.
fn check_all(service: Service, cases: Vec<Case>) {
    for (ev, op, fields) in cases {
        check(ev, service, op, &fields);
    }
}

/// A field set that is `base` plus one more field.
fn with(base: &[&'static str], extra: &'static str) -> Vec<&'static str> {
    let mut fields = base.to_vec();
    fields.push(extra);
    fields
}

const REC_VIEW: &[&str] = &[
    "created_at",
    "id",
    "metadata",
    "name",
    "occurred_at",
    "operation",
    "owner",
    "status",
];
const REC_UPDATE: &[&str] = &[
    "created_at",
    "id",
    "metadata",
    "name",
    "occurred_at",
    "operation",
    "owner",
    "status",
    "updated_at",
    "updated_by",
];
const REMOVE: &[&str] = &[
    "id",
    "occurred_at",
    "operation",
    "status",
    "updated_at",
    "updated_by",
];
const LIST: &[&str] = &[
    "limit",
    "occurred_at",
    "offset",
    "operation",
    "status",
    "total",
];
const USR_CREATE: &[&str] = &[
    "created_at",
    "id",
    "identity",
    "metadata",
    "name",
    "occurred_at",
    "operation",
    "status",
];
const USR_UPDATE: &[&str] = &[
    "created_at",
    "id",
    "identity",
    "metadata",
    "name",
    "occurred_at",
    "operation",
    "status",
    "updated_at",
    "updated_by",
];

#[test]
fn user_operations_match_reference() {
    let viewed = Record {
        owner: Some("o".into()),
        ..user()
    };
    let tagged = Record {
        tags: Some(vec!["patient-thunder".into()]),
        ..user()
    };
    check_all(
        Service::Users,
        vec![
            (u::user_create(&user()), "user.create", USR_CREATE.to_vec()),
            (
                u::user_view(&viewed),
                "user.view",
                with(USR_CREATE, "owner"),
            ),
            (
                u::user_view_profile(&user()),
                "user.view_profile",
                USR_CREATE.to_vec(),
            ),
            (u::user_update(&user()), "user.update", USR_UPDATE.to_vec()),
            (
                u::user_update_identity(&user()),
                "user.update_identity",
                USR_UPDATE.to_vec(),
            ),
            (
                u::user_update_secret(&user()),
                "user.update_secret",
                USR_UPDATE.to_vec(),
            ),
            (
                u::user_update_tags(&tagged),
                "user.update_tags",
                with(USR_UPDATE, "tags"),
            ),
            (u::user_remove(&user()), "user.remove", REMOVE.to_vec()),
            (u::user_list(&page()), "user.list", LIST.to_vec()),
            (
                u::user_list_by_group(&page(), "g"),
                "user.list_by_group",
                with(LIST, "group_id"),
            ),
            (
                u::user_identify("x"),
                "user.identify",
                vec!["occurred_at", "operation", "user_id"],
            ),
            (
                u::user_generate_reset_token("e", "h"),
                "user.generate_reset_token",
                vec!["email", "host", "occurred_at", "operation"],
            ),
            (
                u::user_issue_token("i"),
                "user.issue_token",
                vec!["identity", "occurred_at", "operation"],
            ),
            (
                u::user_refresh_token(),
                "user.refresh_token",
                vec!["occurred_at", "operation"],
            ),
            (
                u::user_reset_secret(),
                "user.reset_secret",
                vec!["occurred_at", "operation"],
            ),
            (
                u::user_send_password_reset("h", "e", "n"),
                "user.send_password_reset",
                vec!["email", "host", "occurred_at", "operation", "user"],
            ),
        ],
    );
}

#[test]
fn group_and_policy_operations_match_reference() {
    let g = full();
    let p = Policy {
        owner_id: Some("o".into()),
        subject: "s".into(),
        object: "ob".into(),
        actions: vec!["g_add".into(), "c_list".into()],
        created_at: Some("t".into()),
        updated_at: Some("t2".into()),
    };
    let add = vec![
        "actions",
        "created_at",
        "object",
        "occurred_at",
        "operation",
        "owner_id",
        "subject",
    ];
    check_all(
        Service::Users,
        vec![
            (u::group_create(&g), "group.create", REC_VIEW.to_vec()),
            (u::group_update(&g), "group.update", REC_UPDATE.to_vec()),
            (u::group_view(&g), "group.view", REC_VIEW.to_vec()),
            (u::group_list(&page()), "group.list", LIST.to_vec()),
            (
                u::group_list_by_user(&page(), "m"),
                "group.list_by_user",
                with(LIST, "channel_id"),
            ),
            (u::group_remove(&g), "group.remove", REMOVE.to_vec()),
            (
                u::policy_authorize(Service::Users, "client", "clients", "c_list"),
                "policies.authorize",
                vec![
                    "action",
                    "entity_type",
                    "object",
                    "occurred_at",
                    "operation",
                ],
            ),
            (
                u::policy_add(Service::Users, &p),
                "policies.add",
                add.clone(),
            ),
            (
                u::policy_delete(Service::Users, &p),
                "policies.delete",
                vec!["actions", "object", "occurred_at", "operation", "subject"],
            ),
        ],
    );
    check_all(
        Service::Clients,
        vec![
            (
                u::policy_update(Service::Clients, &p),
                "policies.update",
                with(&add, "updated_at"),
            ),
            (
                u::policy_list(Service::Clients, 0, 0, 10),
                "policies.list",
                vec!["limit", "occurred_at", "offset", "operation", "total"],
            ),
        ],
    );
}

#[test]
fn client_and_channel_operations_match_reference() {
    let r = full();
    let tagged = Record {
        tags: Some(vec!["morning-pine".into()]),
        ..full()
    };
    let ids = vec!["a".to_string()];
    let conn = vec![
        "channel_ids",
        "client_ids",
        "occurred_at",
        "operation",
        "types",
    ];
    check_all(
        Service::Clients,
        vec![
            (c::client_create(&r), "client.create", REC_VIEW.to_vec()),
            (c::client_update(&r), "client.update", REC_UPDATE.to_vec()),
            (
                c::client_update_secret(&r),
                "client.update_secret",
                REC_UPDATE.to_vec(),
            ),
            (
                c::client_update_tags(&tagged),
                "client.update_tags",
                with(REC_UPDATE, "tags"),
            ),
            (c::client_remove(&r), "client.remove", REMOVE.to_vec()),
            (c::client_view(&r), "client.view", REC_VIEW.to_vec()),
            (c::client_list(&page()), "client.list", LIST.to_vec()),
            (
                c::client_list_by_channel(&page(), "ch"),
                "client.list_by_channel",
                with(LIST, "channel_id"),
            ),
            (
                c::client_identify("x"),
                "client.identify",
                vec!["client_id", "occurred_at", "operation"],
            ),
            (c::channel_create(&r), "channel.create", REC_VIEW.to_vec()),
            (c::channel_update(&r), "channel.update", REC_UPDATE.to_vec()),
            (c::channel_remove(&r), "channel.remove", REMOVE.to_vec()),
            (c::channel_view(&r), "channel.view", REC_VIEW.to_vec()),
            (c::channel_list(&page()), "channel.list", LIST.to_vec()),
            (
                c::channel_list_by_client(&page(), "cl"),
                "channel.list_by_client",
                with(LIST, "client_id"),
            ),
            (
                c::channel_connect(&ids, &ids, &ids),
                "channel.connect",
                conn.clone(),
            ),
            (
                c::channel_disconnect(&ids, &ids, &ids),
                "channel.disconnect",
                conn,
            ),
        ],
    );
}

mod bootstrap_mqtt;

#[test]
fn domain_membership_operations_carry_the_domain_and_the_users() {
    let users = vec!["u1".to_string(), "u2".to_string()];
    let assign = u::domain_assign("d1", &users, "member");
    assert_eq!(assign.domain.as_deref(), Some("d1"));
    assert_eq!(assign.fields["user_ids"], json!(["u1", "u2"]));
    let fields = &[
        "domain_id",
        "occurred_at",
        "operation",
        "relation",
        "user_ids",
    ];
    check(assign, Service::Users, "domain.assign", fields);
    let update = u::domain_update_relation("d1", &users, "admin");
    assert_eq!(update.fields["relation"], json!("admin"));
    check(update, Service::Users, "domain.update_relation", fields);
    let unassign = u::domain_unassign("d1", &users);
    assert_eq!(unassign.domain.as_deref(), Some("d1"));
    check(
        unassign,
        Service::Users,
        "domain.unassign",
        &["domain_id", "occurred_at", "operation", "user_ids"],
    );
}

#[test]
fn supermq_user_and_domain_operations_have_their_fields() {
    let picture = u::user_update_profile_picture(&user(), "https://x.example/p.png");
    assert_eq!(
        picture.fields["profile_picture"],
        json!("https://x.example/p.png")
    );
    let verify = u::user_verify_email("u1", "e@x.example", "2026-01-01T00:00:00Z");
    check(
        verify,
        Service::Users,
        "user.verify_email",
        &[
            "email",
            "occurred_at",
            "operation",
            "user_id",
            "verified_at",
        ],
    );
    let send = u::user_send_verification("u1");
    check(
        send,
        Service::Users,
        "user.send_verification",
        &["occurred_at", "operation", "user_id"],
    );
    for (status, op) in [
        ("enabled", "domain.enable"),
        ("disabled", "domain.disable"),
        ("freezed", "domain.freeze"),
    ] {
        let ev = u::domain_status("d1", status, Some("admin"));
        assert_eq!(ev.domain.as_deref(), Some("d1"));
        let fields = &["id", "occurred_at", "operation", "status", "updated_by"];
        check(ev, Service::Users, op, fields);
    }
}
