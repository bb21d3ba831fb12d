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
fn check(ev: Event, service: Service, op: &str, fields: &[&str]) {
    assert_eq!(ev.service, service, "{op}");
    assert_eq!(ev.operation(), op);
    let mut want: Vec<&str> = fields.to_vec();
    want.sort_unstable();
    assert_eq!(ev.field_names(), want, "{op}");
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

#[test]
fn user_operations_match_reference() {
    let usr_create = [
        "created_at",
        "id",
        "identity",
        "metadata",
        "name",
        "occurred_at",
        "operation",
        "status",
    ];
    check(
        u::user_create(&user()),
        Service::Users,
        "user.create",
        &usr_create,
    );
    let viewed = Record {
        owner: Some("o".into()),
        ..user()
    };
    let mut with_owner = usr_create.to_vec();
    with_owner.push("owner");
    check(
        u::user_view(&viewed),
        Service::Users,
        "user.view",
        &with_owner,
    );
    check(
        u::user_view_profile(&user()),
        Service::Users,
        "user.view_profile",
        &usr_create,
    );
    let usr_update = [
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
    check(
        u::user_update(&user()),
        Service::Users,
        "user.update",
        &usr_update,
    );
    check(
        u::user_update_identity(&user()),
        Service::Users,
        "user.update_identity",
        &usr_update,
    );
    check(
        u::user_update_secret(&user()),
        Service::Users,
        "user.update_secret",
        &usr_update,
    );
    let tagged = Record {
        tags: Some(vec!["patient-thunder".into()]),
        ..user()
    };
    let mut with_tags = usr_update.to_vec();
    with_tags.push("tags");
    check(
        u::user_update_tags(&tagged),
        Service::Users,
        "user.update_tags",
        &with_tags,
    );
    check(
        u::user_remove(&user()),
        Service::Users,
        "user.remove",
        REMOVE,
    );
    check(u::user_list(&page()), Service::Users, "user.list", LIST);
    let mut by_group = LIST.to_vec();
    by_group.push("group_id");
    check(
        u::user_list_by_group(&page(), "g"),
        Service::Users,
        "user.list_by_group",
        &by_group,
    );
    check(
        u::user_identify("x"),
        Service::Users,
        "user.identify",
        &["occurred_at", "operation", "user_id"],
    );
    check(
        u::user_generate_reset_token("e", "h"),
        Service::Users,
        "user.generate_reset_token",
        &["email", "host", "occurred_at", "operation"],
    );
    check(
        u::user_issue_token("i"),
        Service::Users,
        "user.issue_token",
        &["identity", "occurred_at", "operation"],
    );
    check(
        u::user_refresh_token(),
        Service::Users,
        "user.refresh_token",
        &["occurred_at", "operation"],
    );
    check(
        u::user_reset_secret(),
        Service::Users,
        "user.reset_secret",
        &["occurred_at", "operation"],
    );
    check(
        u::user_send_password_reset("h", "e", "n"),
        Service::Users,
        "user.send_password_reset",
        &["email", "host", "occurred_at", "operation", "user"],
    );
}

#[test]
fn group_and_policy_operations_match_reference() {
    let g = full();
    check(
        u::group_create(&g),
        Service::Users,
        "group.create",
        REC_VIEW,
    );
    check(
        u::group_update(&g),
        Service::Users,
        "group.update",
        REC_UPDATE,
    );
    check(u::group_view(&g), Service::Users, "group.view", REC_VIEW);
    check(u::group_list(&page()), Service::Users, "group.list", LIST);
    let mut by_user = LIST.to_vec();
    by_user.push("channel_id");
    check(
        u::group_list_by_user(&page(), "m"),
        Service::Users,
        "group.list_by_user",
        &by_user,
    );
    check(u::group_remove(&g), Service::Users, "group.remove", REMOVE);
    let p = Policy {
        owner_id: Some("o".into()),
        subject: "s".into(),
        object: "ob".into(),
        actions: vec!["g_add".into(), "c_list".into()],
        created_at: Some("t".into()),
        updated_at: Some("t2".into()),
    };
    check(
        u::policy_authorize(Service::Users, "client", "clients", "c_list"),
        Service::Users,
        "policies.authorize",
        &[
            "action",
            "entity_type",
            "object",
            "occurred_at",
            "operation",
        ],
    );
    let add = [
        "actions",
        "created_at",
        "object",
        "occurred_at",
        "operation",
        "owner_id",
        "subject",
    ];
    check(
        u::policy_add(Service::Users, &p),
        Service::Users,
        "policies.add",
        &add,
    );
    let mut upd = add.to_vec();
    upd.push("updated_at");
    check(
        u::policy_update(Service::Clients, &p),
        Service::Clients,
        "policies.update",
        &upd,
    );
    check(
        u::policy_delete(Service::Users, &p),
        Service::Users,
        "policies.delete",
        &["actions", "object", "occurred_at", "operation", "subject"],
    );
    check(
        u::policy_list(Service::Clients, 0, 0, 10),
        Service::Clients,
        "policies.list",
        &["limit", "occurred_at", "offset", "operation", "total"],
    );
}

#[test]
fn client_and_channel_operations_match_reference() {
    let r = full();
    check(
        c::client_create(&r),
        Service::Clients,
        "client.create",
        REC_VIEW,
    );
    check(
        c::client_update(&r),
        Service::Clients,
        "client.update",
        REC_UPDATE,
    );
    check(
        c::client_update_secret(&r),
        Service::Clients,
        "client.update_secret",
        REC_UPDATE,
    );
    let tagged = Record {
        tags: Some(vec!["morning-pine".into()]),
        ..full()
    };
    let mut with_tags = REC_UPDATE.to_vec();
    with_tags.push("tags");
    check(
        c::client_update_tags(&tagged),
        Service::Clients,
        "client.update_tags",
        &with_tags,
    );
    check(
        c::client_remove(&r),
        Service::Clients,
        "client.remove",
        REMOVE,
    );
    check(
        c::client_view(&r),
        Service::Clients,
        "client.view",
        REC_VIEW,
    );
    check(
        c::client_list(&page()),
        Service::Clients,
        "client.list",
        LIST,
    );
    let mut by_ch = LIST.to_vec();
    by_ch.push("channel_id");
    check(
        c::client_list_by_channel(&page(), "ch"),
        Service::Clients,
        "client.list_by_channel",
        &by_ch,
    );
    check(
        c::client_identify("x"),
        Service::Clients,
        "client.identify",
        &["client_id", "occurred_at", "operation"],
    );
    check(
        c::channel_create(&r),
        Service::Clients,
        "channel.create",
        REC_VIEW,
    );
    check(
        c::channel_update(&r),
        Service::Clients,
        "channel.update",
        REC_UPDATE,
    );
    check(
        c::channel_remove(&r),
        Service::Clients,
        "channel.remove",
        REMOVE,
    );
    check(
        c::channel_view(&r),
        Service::Clients,
        "channel.view",
        REC_VIEW,
    );
    check(
        c::channel_list(&page()),
        Service::Clients,
        "channel.list",
        LIST,
    );
    let mut by_cl = LIST.to_vec();
    by_cl.push("client_id");
    check(
        c::channel_list_by_client(&page(), "cl"),
        Service::Clients,
        "channel.list_by_client",
        &by_cl,
    );
    let ids = vec!["a".to_string()];
    let conn = [
        "channel_ids",
        "client_ids",
        "occurred_at",
        "operation",
        "types",
    ];
    check(
        c::channel_connect(&ids, &ids, &ids),
        Service::Clients,
        "channel.connect",
        &conn,
    );
    check(
        c::channel_disconnect(&ids, &ids, &ids),
        Service::Clients,
        "channel.disconnect",
        &conn,
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
