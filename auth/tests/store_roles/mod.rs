//! The roles part of `store.rs`'s scenario, run on both engines by its tests.

use super::fixtures::{audit, entity, user};
use magnetite_auth::model::{Domain, Kind, Status};
use magnetite_auth::store::entities::NewEntity;
use magnetite_auth::{AuthError, Store};
use magnetite_db::Db;
use magnetite_events::model::users as uev;
use magnetite_events::Event;
use serde_json::json;

/// Roles on both engines: the built-in admin role made with a domain, the old
/// relations over roles, grants through the group tree, the last admin member kept,
/// roles deleted with their entity, the start-up migration idempotent.
pub async fn roles(db: Db) {
    use magnetite_auth::roles::decide::{decide, Target};
    use magnetite_auth::roles::{EntityType, Role as RoleRow};
    use magnetite_auth::store::domains::Relation;
    let store = Store::open(db.clone()).await.unwrap();
    let (owner, other) = (user("role-owner"), user("role-other"));
    for u in [&owner, &other] {
        store
            .insert_user(u, "h", &uev::user_create(&u.record()))
            .await
            .unwrap();
    }
    let domain = Domain {
        id: magnetite_auth::store::new_id(),
        name: "Roles".into(),
        route: "roles-domain".into(),
        tags: vec![],
        metadata: json!({}),
        status: Status::Enabled,
        created_by: owner.id.clone(),
        audit: audit(),
    };
    store.insert_domain(&domain).await.unwrap();
    let admin_id = RoleRow::built_in_id(&domain.id, "admin");
    let admin = store.role(&domain.id, &admin_id).await.unwrap();
    assert!(admin.is_built_in_admin());
    let (n, members) = store.role_members(&admin.id, 0, 10).await.unwrap();
    assert_eq!((n, members), (1, vec![owner.id.clone()]));
    assert_eq!(
        store.relation(&domain.id, &owner.id).await.unwrap(),
        Some(Relation::Admin)
    );
    store
        .set_members(
            &domain.id,
            std::slice::from_ref(&other.id),
            Some(Relation::Member),
        )
        .await
        .unwrap();
    assert_eq!(
        store.relation(&domain.id, &other.id).await.unwrap(),
        Some(Relation::Member)
    );

    let g1 = entity(Kind::Group, &domain.id, "top", &owner.id);
    let mut g2 = entity(Kind::Group, &domain.id, "mid", &owner.id);
    g2.parent_id = Some(g1.id.clone());
    let mut c = entity(Kind::Client, &domain.id, "leaf", &owner.id);
    c.parent_id = Some(g2.id.clone());
    let evs: Vec<Event> = [&g1, &g2, &c]
        .iter()
        .map(|e| uev::group_create(&e.record()))
        .collect();
    let rows: Vec<NewEntity<'_>> = [&g1, &g2, &c]
        .iter()
        .zip(&evs)
        .map(|(e, ev)| NewEntity {
            entity: e,
            secret_hash: Some("x"),
            event: ev,
            kaa: &[],
            admin_role: None,
        })
        .collect();
    store.insert_entities(&rows).await.unwrap();
    let role = RoleRow {
        id: magnetite_auth::store::new_id(),
        name: "readers".into(),
        entity_id: g1.id.clone(),
        entity_type: EntityType::Group,
        domain_id: domain.id.clone(),
        built_in: None,
        created_by: owner.id.clone(),
        created_at: magnetite_auth::store::now_rfc3339(),
        updated_by: None,
        updated_at: None,
    };
    let actions = vec!["subgroup_client_read".to_string()];
    let ev = uev::group_view(&g1.record());
    store
        .create_role(&role, &actions, std::slice::from_ref(&other.id), &ev)
        .await
        .unwrap();
    let ancestors = store.ancestors_nearest_first(&c.id).await.unwrap();
    assert_eq!(ancestors, vec![g2.id.clone(), g1.id.clone()]);
    let grants = store.grants(&other.id, &domain.id).await.unwrap();
    let target = Target {
        kind: EntityType::Client,
        id: &c.id,
        domain_id: &domain.id,
        ancestors: &ancestors,
    };
    assert!(decide(&grants, &target, "read"));
    assert!(!decide(&grants, &target, "update"));

    let err = store
        .remove_role_members(&admin, None, &ev)
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::Conflict(_)), "{err}");
    assert_eq!(
        store.role_members(&admin.id, 0, 10).await.unwrap().0,
        1,
        "rolled back"
    );

    // Opening again runs the migration again: nothing changes.
    let before = store.list_roles(&domain.id, 0, 100).await.unwrap().0;
    let store = Store::open(db).await.unwrap();
    assert_eq!(
        store.list_roles(&domain.id, 0, 100).await.unwrap().0,
        before
    );

    store
        .delete_entity(Kind::Group, &domain.id, &g1.id, &ev, &[])
        .await
        .unwrap();
    let gone = store.role(&g1.id, &role.id).await.unwrap_err();
    assert!(matches!(gone, AuthError::NotFound("role")), "{gone}");
}
