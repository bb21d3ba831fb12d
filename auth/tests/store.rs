//! The store on both engines: the same scenario against a SQLite file and a real
//! PostgreSQL server (started here; the test fails if it cannot start).

use magnetite_auth::crypto::Keys;
use magnetite_auth::model::{ConnType, Domain, Entity, Kind, Status, User};
use magnetite_auth::store::entities::{NewEntity, Scope};
use magnetite_auth::store::list::ListQuery;
use magnetite_auth::store::verifications::{NewVerification, VerificationUse};
use magnetite_auth::{AuthError, Store};
use magnetite_db::Db;
use magnetite_events::model::{clients as cev, users as uev};
use magnetite_events::{Event, OutboxDb};
use serde_json::json;
use std::collections::HashMap;

mod fixtures;
use fixtures::{audit, entity, user};

/// The roles scenario (its own file: this one ran past 600 lines).
mod store_roles;
use store_roles::roles;

/// One domain's clients and the event their (dis)connections write: the store calls the
/// scenario makes again and again, with only the channel and the type changing.
struct Links<'a> {
    store: &'a Store,
    domain: &'a str,
    clients: &'a [String],
    event: &'a Event,
}

impl Links<'_> {
    async fn connect(&self, channel: &str, ty: ConnType) -> Result<(), AuthError> {
        let channels = [channel.to_string()];
        (self.store)
            .connect(self.domain, &channels, self.clients, &[ty], self.event)
            .await
    }

    async fn disconnect(&self, channel: &str, ty: ConnType) -> Result<(), AuthError> {
        let channels = [channel.to_string()];
        (self.store)
            .disconnect(self.domain, &channels, self.clients, &[ty], self.event)
            .await
    }
}

async fn outbox_count(db: &Db) -> usize {
    db.fetch_after(0, None, 100_000).await.unwrap().len()
}

async fn scenario(db: Db) {
    let store = Store::open(db.clone()).await.unwrap();
    // Migrations are idempotent: a second start applies nothing and fails nothing.
    let store2 = Store::open(db.clone()).await.unwrap();
    assert_eq!(store2.user_count().await.unwrap(), 0);
    magnetite_events::Events::start(db.clone(), Default::default())
        .await
        .unwrap();
    let keys = Keys::from_master(b"0123456789abcdef0123456789abcdef");

    let alice = user("alice");
    store
        .insert_user(&alice, "hash", &uev::user_create(&alice.record()))
        .await
        .unwrap();
    assert_eq!(
        outbox_count(&db).await,
        1,
        "the event is written with the user"
    );
    let (found, hash) = store
        .user_by_login("alice@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (found.id.as_str(), hash.as_str()),
        (alice.id.as_str(), "hash")
    );
    assert!(
        store.user_by_login("alice").await.unwrap().is_some(),
        "by username"
    );
    assert_eq!(found.metadata, json!({"team": "ops"}));

    // A duplicate is a conflict, and its transaction leaves no event behind.
    let mut dup = user("alice");
    dup.username = "alice2".into();
    let err = store
        .insert_user(&dup, "h", &uev::user_create(&dup.record()))
        .await
        .unwrap_err();
    assert_eq!(err.status(), axum::http::StatusCode::CONFLICT, "{err}");
    assert_eq!(
        outbox_count(&db).await,
        1,
        "rolled back with the failed insert"
    );

    let domain = Domain {
        id: magnetite_auth::store::new_id(),
        name: "Factory".into(),
        route: "factory".into(),
        tags: vec![],
        metadata: json!({}),
        status: Status::Enabled,
        created_by: alice.id.clone(),
        audit: audit(),
    };
    store.insert_domain(&domain).await.unwrap();
    assert_eq!(
        store.domain("factory").await.unwrap().id,
        domain.id,
        "by route"
    );

    let mut clients = Vec::new();
    for i in 0..15 {
        clients.push(entity(
            Kind::Client,
            &domain.id,
            &format!("sensor-{i:02}"),
            &alice.id,
        ));
    }
    let secrets: Vec<String> = (0..15)
        .map(|i| keys.hash_secret(&format!("secret-{i}")))
        .collect();
    let events: Vec<_> = clients
        .iter()
        .map(|c| cev::client_create(&c.record()))
        .collect();
    let rows: Vec<NewEntity<'_>> = (0..15)
        .map(|i| NewEntity {
            entity: &clients[i],
            secret_hash: Some(&secrets[i]),
            event: &events[i],
            kaa: &[],
            admin_role: None,
        })
        .collect();
    store.insert_entities(&rows).await.unwrap();
    assert_eq!(outbox_count(&db).await, 16);

    // A duplicate secret in the domain is refused, all or nothing.
    let extra = entity(Kind::Client, &domain.id, "dup", &alice.id);
    let bad = [NewEntity {
        entity: &extra,
        secret_hash: Some(&secrets[0]),
        event: &events[0],
        kaa: &[],
        admin_role: None,
    }];
    assert!(store.insert_entities(&bad).await.is_err());
    assert_eq!(outbox_count(&db).await, 16);

    // Paging and filters.
    let mut params = HashMap::new();
    params.insert("limit".to_string(), "10".to_string());
    params.insert("offset".to_string(), "10".to_string());
    params.insert("order".to_string(), "name".to_string());
    let q = ListQuery::parse(&params).unwrap();
    let (total, page) = store
        .list_entities(Kind::Client, &domain.id, &q, Scope::All)
        .await
        .unwrap();
    assert_eq!(total, 15);
    assert_eq!(
        page.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
        [
            "sensor-10",
            "sensor-11",
            "sensor-12",
            "sensor-13",
            "sensor-14"
        ]
    );
    params.clear();
    params.insert("name".to_string(), "SENSOR-0".to_string());
    params.insert("metadata".to_string(), r#"{"floor":3}"#.to_string());
    let q = ListQuery::parse(&params).unwrap();
    let (total, _) = store
        .list_entities(Kind::Client, &domain.id, &q, Scope::All)
        .await
        .unwrap();
    assert_eq!(total, 10, "name filter is a case-insensitive substring");

    // Connections drive what MQTT may do.
    let mut channel = entity(Kind::Channel, &domain.id, "temps", &alice.id);
    channel.route = Some("temps".into());
    let ev = cev::channel_create(&channel.record());
    store
        .insert_entities(&[NewEntity {
            entity: &channel,
            secret_hash: None,
            event: &ev,
            kaa: &[],
            admin_role: None,
        }])
        .await
        .unwrap();
    let c0 = &clients[0];
    let c0_ids = vec![c0.id.clone()];
    let connect = cev::channel_connect(&[channel.id.clone()], &c0_ids, &["publish".into()]);
    let links = Links {
        store: &store,
        domain: &domain.id,
        clients: &c0_ids,
        event: &connect,
    };
    links.connect(&channel.id, ConnType::Publish).await.unwrap();
    // Connecting again is not an error (the connection is kept once).
    links.connect(&channel.id, ConnType::Publish).await.unwrap();
    let access = store.client_access(&c0.id).await.unwrap().unwrap();
    assert!(access.enabled);
    assert_eq!(
        access.publish.resolve(&channel.id),
        Some(channel.id.as_str())
    );
    assert_eq!(access.publish.resolve("temps"), Some(channel.id.as_str()));
    assert!(access.subscribe.is_empty());
    assert!(keys.verify_secret_mac(b"secret-0", &access.secret));
    assert!(store.client_access("unknown").await.unwrap().is_none());
    let err = links.connect("nope", ConnType::Publish).await.unwrap_err();
    assert!(matches!(err, AuthError::NotFound("channel")), "{err}");

    links
        .disconnect(&channel.id, ConnType::Publish)
        .await
        .unwrap();
    assert!(store
        .client_access(&c0.id)
        .await
        .unwrap()
        .unwrap()
        .publish
        .is_empty());

    // A disabled domain disables its clients' access.
    let mut d = store.domain(&domain.id).await.unwrap();
    d.status = Status::Disabled;
    store.update_domain(&d, None).await.unwrap();
    assert!(!store.client_access(&c0.id).await.unwrap().unwrap().enabled);

    // Deleting a channel removes its connections.
    links
        .connect(&channel.id, ConnType::Subscribe)
        .await
        .unwrap();
    assert_eq!(
        store.channel_client_ids(&channel.id).await.unwrap(),
        vec![c0.id.clone()]
    );
    store
        .delete_entity(Kind::Channel, &domain.id, &channel.id, &ev, &[])
        .await
        .unwrap();
    assert!(store
        .channel_client_ids(&channel.id)
        .await
        .unwrap()
        .is_empty());

    verifications(&store).await;
    hierarchy_and_freeze(&store, &domain.id, &alice.id).await;
}

/// A pending verification for `u` whose token hash is `hash`, expiring at `expires_at`.
async fn pending(store: &Store, u: &User, hash: &str, expires_at: i64) {
    let v = NewVerification {
        token_hash: hash,
        user_id: &u.id,
        email: &u.email,
        expires_at,
    };
    let ev = uev::user_send_verification(&u.id);
    store.add_verification(&v, &ev).await.unwrap();
}

/// Uses the link `hash` now; the user id or the error.
async fn use_link(store: &Store, hash: &str) -> Result<String, AuthError> {
    let make_event =
        |id: &str, email: &str| uev::user_verify_email(id, email, "2026-01-01T00:00:00Z");
    let used = VerificationUse {
        token_hash: hash,
        now_secs: chrono_now(),
        verified_at: "2026-01-01T00:00:00Z",
        make_event: &make_event,
    };
    store.use_verification(&used).await
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// E-mail verification links: single use, expiring, replaced by a newer one, bound to
/// the address they were sent to; `verified_at` survives other updates, not a new e-mail.
async fn verifications(store: &Store) {
    let vera = user("vera");
    store
        .insert_user(&vera, "h", &uev::user_create(&vera.record()))
        .await
        .unwrap();
    let later = chrono_now() + 3600;
    pending(store, &vera, "expired", chrono_now() - 1).await;
    assert!(matches!(
        use_link(store, "expired").await,
        Err(AuthError::Unauthorized(_))
    ));
    pending(store, &vera, "older", later).await;
    pending(store, &vera, "newer", later).await;
    assert!(
        use_link(store, "older").await.is_err(),
        "replaced by the newer link"
    );
    assert_eq!(use_link(store, "newer").await.unwrap(), vera.id);
    assert!(use_link(store, "newer").await.is_err(), "single use");
    let mut stored = store.user(&vera.id).await.unwrap();
    assert_eq!(stored.verified_at.as_deref(), Some("2026-01-01T00:00:00Z"));

    stored.first_name = "Vera".into();
    stored.profile_picture = Some("https://x.example/v.png".into());
    let ev = uev::user_update(&stored.record());
    store.update_user(&stored, None, &ev).await.unwrap();
    let kept = store.user(&vera.id).await.unwrap();
    assert!(kept.verified_at.is_some(), "same e-mail: still verified");
    assert_eq!(
        kept.profile_picture.as_deref(),
        Some("https://x.example/v.png")
    );

    pending(store, &kept, "for-old-address", later).await;
    let mut moved = kept.clone();
    moved.email = "vera-new@example.com".into();
    store.update_user(&moved, None, &ev).await.unwrap();
    assert_eq!(store.user(&vera.id).await.unwrap().verified_at, None);
    assert!(
        use_link(store, "for-old-address").await.is_err(),
        "sent to the old address"
    );
    assert_eq!(store.user(&vera.id).await.unwrap().verified_at, None);
}

/// Groups read up a chain and down level by level, bounded; a frozen domain's clients
/// have no access.
async fn hierarchy_and_freeze(store: &Store, domain_id: &str, owner: &str) {
    let root = entity(Kind::Group, domain_id, "root", owner);
    let mut a = entity(Kind::Group, domain_id, "a", owner);
    a.parent_id = Some(root.id.clone());
    let mut b = entity(Kind::Group, domain_id, "b", owner);
    b.parent_id = Some(root.id.clone());
    let mut a1 = entity(Kind::Group, domain_id, "a1", owner);
    a1.parent_id = Some(a.id.clone());
    let groups = [&root, &a, &b, &a1];
    let events: Vec<Event> = groups
        .iter()
        .map(|g| uev::group_create(&g.record()))
        .collect();
    let rows: Vec<NewEntity> = groups
        .iter()
        .zip(&events)
        .map(|(g, event)| NewEntity {
            entity: g,
            secret_hash: None,
            event,
            kaa: &[],
            admin_role: None,
        })
        .collect();
    store.insert_entities(&rows).await.unwrap();
    let ids = |v: Vec<Entity>| v.into_iter().map(|e| e.id).collect::<Vec<_>>();
    let up = store.group_chain_up(domain_id, &a1.id, 10).await.unwrap();
    assert_eq!(ids(up), [a1.id.clone(), a.id.clone(), root.id.clone()]);
    let one_up = store.group_chain_up(domain_id, &a1.id, 1).await.unwrap();
    assert_eq!(ids(one_up), [a1.id.clone(), a.id.clone()]);
    assert!(store
        .group_chain_up("other", &a1.id, 10)
        .await
        .unwrap()
        .is_empty());
    let parents = [root.id.clone()];
    let down = store
        .child_groups_of(domain_id, &parents, 10)
        .await
        .unwrap();
    assert_eq!(ids(down).len(), 2);
    assert_eq!(
        store
            .child_groups_of(domain_id, &parents, 1)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(store
        .child_groups_of("other", &parents, 10)
        .await
        .unwrap()
        .is_empty());

    let client = entity(Kind::Client, domain_id, "frozen-device", owner);
    let ev = cev::client_create(&client.record());
    let row = [NewEntity {
        entity: &client,
        secret_hash: Some("frozen-secret"),
        event: &ev,
        kaa: &[],
        admin_role: None,
    }];
    store.insert_entities(&row).await.unwrap();
    let mut d = store.domain(domain_id).await.unwrap();
    d.status = Status::Enabled;
    store.update_domain(&d, None).await.unwrap();
    assert!(
        store
            .client_access(&client.id)
            .await
            .unwrap()
            .unwrap()
            .enabled
    );
    d.status = Status::Freezed;
    store.update_domain(&d, None).await.unwrap();
    assert_eq!(
        store.domain(domain_id).await.unwrap().status,
        Status::Freezed
    );
    assert!(
        !store
            .client_access(&client.id)
            .await
            .unwrap()
            .unwrap()
            .enabled
    );
}

#[tokio::test]
async fn sqlite_store() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/auth.db", dir.path().display());
    let db = Db::open(&url).await.unwrap();
    scenario(db.clone()).await;
    roles(db).await;
}

#[tokio::test]
async fn postgres_store() {
    let dir = tempfile::tempdir().unwrap();
    let pg = magnetite_testkit::servers::postgres(dir.path());
    let url = magnetite_testkit::servers::postgres_url(&pg);
    let db = Db::open(&url).await.unwrap();
    scenario(db.clone()).await;
    roles(db).await;
}
