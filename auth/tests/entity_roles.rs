//! Creator roles in the store, on both engines (a real PostgreSQL server, started here;
//! the test fails if it cannot start): entities written without their built-in admin
//! role get it at the next start (every action of their type, no member, once); a
//! decision reads only the grants on the entity, its groups and its domain; a list
//! narrowed to what a user may read.

use magnetite_auth::model::{Domain, Entity, Kind, Status};
use magnetite_auth::roles::decide::{decide, Target};
use magnetite_auth::roles::{EntityType, Role as RoleRow};
use magnetite_auth::store::domains::Relation;
use magnetite_auth::store::entities::{NewEntity, Scope};
use magnetite_auth::store::list::ListQuery;
use magnetite_auth::store::{new_id, now_rfc3339};
use magnetite_auth::Store;
use magnetite_db::Db;
use magnetite_events::model::users as uev;
use serde_json::json;

mod fixtures;
use fixtures::{audit, entity, user};

/// An entity of `kind` under `parent`.
fn under(kind: Kind, domain: &str, name: &str, parent: Option<&str>) -> Entity {
    let mut e = entity(kind, domain, name, "someone");
    e.parent_id = parent.map(str::to_string);
    e
}

fn role_on(e: &Entity, kind: EntityType, name: &str) -> RoleRow {
    RoleRow {
        id: new_id(),
        name: name.into(),
        entity_id: e.id.clone(),
        entity_type: kind,
        domain_id: e.domain_id.clone(),
        built_in: None,
        created_by: "someone".into(),
        created_at: now_rfc3339(),
        updated_by: None,
        updated_at: None,
    }
}

async fn scenario(db: Db) {
    let store = Store::open(db.clone()).await.unwrap();
    magnetite_events::Events::start(db.clone(), Default::default())
        .await
        .unwrap();
    let (owner, reader) = (user("owner"), user("reader"));
    for u in [&owner, &reader] {
        let ev = uev::user_create(&u.record());
        store.insert_user(u, "h", &ev).await.unwrap();
    }
    let domain = Domain {
        id: new_id(),
        name: "Old".into(),
        route: "old".into(),
        tags: vec![],
        metadata: json!({}),
        status: Status::Enabled,
        created_by: owner.id.clone(),
        audit: audit(),
    };
    store.insert_domain(&domain).await.unwrap();
    let d = domain.id.as_str();
    let reader_id = std::slice::from_ref(&reader.id);
    let member = Some(Relation::Member);
    store.set_members(d, reader_id, member).await.unwrap();
    // Written as before creator roles: no admin role.
    let top = under(Kind::Group, d, "top", None);
    let mid = under(Kind::Group, d, "mid", Some(&top.id));
    let client = under(Kind::Client, d, "leaf", Some(&mid.id));
    let channel = under(Kind::Channel, d, "loose", None);
    let all = [&top, &mid, &client, &channel];
    let evs: Vec<_> = all.iter().map(|e| uev::group_create(&e.record())).collect();
    let hashes: Vec<String> = all.iter().map(|e| format!("h-{}", e.id)).collect();
    let rows: Vec<NewEntity<'_>> = (0..all.len())
        .map(|i| NewEntity {
            entity: all[i],
            secret_hash: Some(&hashes[i]),
            event: &evs[i],
            kaa: &[],
            admin_role: None,
        })
        .collect();
    store.insert_entities(&rows).await.unwrap();
    assert_eq!(store.list_roles(&client.id, 0, 10).await.unwrap().0, 0);

    // The next start gives each its built-in admin role, once.
    let store = Store::open(db.clone()).await.unwrap();
    for (e, kind) in [
        (&top, EntityType::Group),
        (&client, EntityType::Client),
        (&channel, EntityType::Channel),
    ] {
        let role = store
            .role(&e.id, &RoleRow::built_in_id(&e.id, "admin"))
            .await
            .unwrap();
        assert!(role.is_built_in_admin() && !role.is_domain_admin());
        let mut want = kind.actions();
        want.sort();
        assert_eq!(store.role_actions(&role.id).await.unwrap(), want);
        assert_eq!(store.role_members(&role.id, 0, 10).await.unwrap().0, 0);
    }
    let store = Store::open(db).await.unwrap();
    assert_eq!(store.list_roles(&client.id, 0, 10).await.unwrap().0, 1);

    // `subgroup_client_read` on the top group: the client two levels down.
    let ev = uev::group_view(&top.record());
    let tree = role_on(&top, EntityType::Group, "tree");
    let acts = ["subgroup_client_read".to_string()];
    store
        .create_role(&tree, &acts, reader_id, &ev)
        .await
        .unwrap();
    let ancestors = store.ancestors_nearest_first(&client.id).await.unwrap();
    let mut on = vec![client.id.as_str(), d];
    on.extend(ancestors.iter().map(String::as_str));
    let grants = store.grants_on(&reader.id, d, &on).await.unwrap();
    let target = Target {
        kind: EntityType::Client,
        id: &client.id,
        domain_id: d,
        ancestors: &ancestors,
    };
    assert!(decide(&grants, &target, "read"));
    let only_itself = store
        .grants_on(&reader.id, d, &[client.id.as_str()])
        .await
        .unwrap();
    assert!(!decide(&only_itself, &target, "read"), "no group loaded");

    // Lists narrowed to what the reader may read.
    let q = ListQuery::default();
    let listed =
        |kind: Kind| store.list_entities_readable(kind, d, &q, Scope::All, Some(&reader.id));
    let (total, items) = listed(Kind::Client).await.unwrap();
    assert_eq!((total, items.len()), (1, 1));
    assert_eq!(items[0].id, client.id);
    assert_eq!(listed(Kind::Channel).await.unwrap().0, 0);
    assert_eq!(listed(Kind::Group).await.unwrap().0, 0);
    let sub = role_on(&top, EntityType::Group, "subgroups");
    let acts = ["subgroup_read".to_string()];
    store
        .create_role(&sub, &acts, reader_id, &ev)
        .await
        .unwrap();
    let (total, groups) = listed(Kind::Group).await.unwrap();
    assert_eq!((total, groups[0].id.as_str()), (1, mid.id.as_str()));
    let direct = role_on(&channel, EntityType::Channel, "direct");
    let acts = ["read".to_string()];
    store
        .create_role(&direct, &acts, reader_id, &ev)
        .await
        .unwrap();
    assert_eq!(listed(Kind::Channel).await.unwrap().0, 1);
    let everyone = store
        .list_entities_readable(Kind::Channel, d, &q, Scope::All, None)
        .await
        .unwrap();
    assert_eq!(everyone.0, 1);
}

#[tokio::test]
async fn sqlite_entity_roles() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/auth.db", dir.path().display());
    scenario(Db::open(&url).await.unwrap()).await;
}

#[tokio::test]
async fn postgres_entity_roles() {
    let dir = tempfile::tempdir().unwrap();
    let pg = magnetite_testkit::servers::postgres(dir.path());
    let url = magnetite_testkit::servers::postgres_url(&pg);
    scenario(Db::open(&url).await.unwrap()).await;
}
