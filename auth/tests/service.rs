//! The service layer called directly, as bootstrap and certs call it: access is
//! checked for users and not for the system, a refused operation writes nothing, and a
//! prepared create is written only in the caller's transaction.

use magnetite_auth::access::{Actor, Caller};
use magnetite_auth::crypto::Keys;
use magnetite_auth::model::{ConnType, Domain, Kind, User};
use magnetite_auth::service::{ConnectRequest, NewDomainInput, NewEntityInput, NewUserInput};
use magnetite_auth::{AuthError, Platform, PlatformConfig, Store};
use magnetite_db::Db;
use magnetite_events::OutboxDb;
use serde_json::json;

struct World {
    platform: Platform,
    db: Db,
    owner: Caller,
    stranger: Caller,
    domain: Domain,
    _dir: tempfile::TempDir,
}

async fn user(platform: &Platform, name: &str) -> User {
    let input: NewUserInput = serde_json::from_value(json!({
        "email": format!("{name}@example.com"),
        "credentials": {"username": name, "secret": "a-long-password"},
    }))
    .unwrap();
    let system = Actor::System("test");
    platform.users().create(&system, input).await.unwrap()
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/auth.db", dir.path().display());
    let db = Db::open(&url).await.unwrap();
    let store = Store::open(db.clone()).await.unwrap();
    // The outbox every change writes its event to.
    magnetite_events::Events::start(db.clone(), Default::default())
        .await
        .unwrap();
    let platform = Platform::new(store, Keys::from_master(b"test"), PlatformConfig::default());
    let owner = Caller::new(user(&platform, "owner").await);
    let stranger = Caller::new(user(&platform, "stranger").await);
    let input = NewDomainInput {
        name: Some("plant".into()),
        route: Some("plant".into()),
        ..NewDomainInput::default()
    };
    let domain = platform
        .domains()
        .create(&Actor::User(&owner), input)
        .await
        .unwrap();
    World {
        platform,
        db,
        owner,
        stranger,
        domain,
        _dir: dir,
    }
}

fn named(name: &str) -> NewEntityInput {
    NewEntityInput {
        name: Some(name.into()),
        ..NewEntityInput::default()
    }
}

async fn outbox_len(db: &Db) -> usize {
    db.fetch_after(0, None, 100_000).await.unwrap().len()
}

#[tokio::test]
async fn a_stranger_is_refused_and_nothing_is_written() {
    let w = world().await;
    let before = outbox_len(&w.db).await;
    let err = w
        .platform
        .clients()
        .create(&Actor::User(&w.stranger), &w.domain.id, named("intruder"))
        .await
        .err();
    assert!(matches!(err, Some(AuthError::Forbidden(_))), "{err:?}");
    assert_eq!(outbox_len(&w.db).await, before, "no event for a refusal");
    let err = w
        .platform
        .domains()
        .update(&Actor::User(&w.stranger), &w.domain.id, Default::default())
        .await
        .err();
    assert!(matches!(err, Some(AuthError::Forbidden(_))), "{err:?}");

    let owner = Actor::User(&w.owner);
    let client = w
        .platform
        .clients()
        .create(&owner, "plant", named("sensor"))
        .await
        .unwrap();
    assert_eq!(client.entity.created_by, w.owner.user.id);
    assert_eq!(outbox_len(&w.db).await, before + 1, "one client.create");
    let channel = w
        .platform
        .channels()
        .create(&owner, "plant", named("telemetry"))
        .await
        .unwrap();
    let req = ConnectRequest::of(
        std::slice::from_ref(&channel.entity.id),
        std::slice::from_ref(&client.entity.id),
        &[ConnType::Publish],
    );
    let err = w
        .platform
        .connections()
        .disconnect(&Actor::User(&w.stranger), &w.domain.id, req.clone())
        .await
        .err();
    assert!(matches!(err, Some(AuthError::Forbidden(_))), "{err:?}");

    // The system passes the access check (its caller authorized the act).
    let system = Actor::System("bootstrap");
    w.platform
        .connections()
        .connect(&system, &w.domain.id, req)
        .await
        .unwrap();
    let access = w.platform.store.client_access(&client.entity.id).await;
    let access = access.unwrap().unwrap();
    assert_eq!(
        access.publish.resolve(&channel.entity.id),
        Some(channel.entity.id.as_str())
    );
}

#[tokio::test]
async fn a_prepared_create_exists_only_once_its_row_is_written() {
    let w = world().await;
    let before = outbox_len(&w.db).await;
    let clients = w.platform.clients();
    let prepared = clients
        .prepare_create(&Actor::User(&w.owner), &w.domain.id, named("device"))
        .await
        .unwrap();
    let id = prepared.entity().id.clone();
    let secret = prepared.secret().unwrap().to_string();
    let missing = clients.get(&w.domain.id, &id).await.err();
    assert!(
        matches!(missing, Some(AuthError::NotFound(_))),
        "{missing:?}"
    );
    assert_eq!(outbox_len(&w.db).await, before, "nothing written yet");

    w.platform
        .store
        .insert_entities(&[prepared.row()])
        .await
        .unwrap();
    let created = prepared.committed();
    assert_eq!(
        clients.get(&w.domain.id, &id).await.unwrap().kind,
        Kind::Client
    );
    assert!(clients.secret_matches(&id, &secret).await.unwrap());
    assert!(!clients.secret_matches(&id, "wrong-secret").await.unwrap());
    assert_eq!(created.entity.id, id);
    assert_eq!(outbox_len(&w.db).await, before + 1, "one client.create");
}
