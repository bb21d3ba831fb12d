//! What MQTT logins leave in memory per connected client: the access cache's entry,
//! the identity, the throttle's trusted address and the live session all share one
//! copy of the client id, and the clients of one domain and channel one copy of its
//! names. Login and authorization decisions are those of the store.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use magnetite_auth::access::{Actor, Caller};
use magnetite_auth::crypto::Keys;
use magnetite_auth::model::{ConnType, Entity, Status, User};
use magnetite_auth::mqtt::{LoginRefusal, MqttLogin, PublishRoute, SubscribeRoute};
use magnetite_auth::service::{ConnectRequest, NewDomainInput, NewEntityInput, NewUserInput};
use magnetite_auth::{MqttGate, MqttIdentity, Platform, PlatformConfig, Store};
use magnetite_db::Db;
use serde_json::json;

struct World {
    platform: Arc<Platform>,
    gate: MqttGate,
    domain_id: String,
    channel: Entity,
    /// (client, secret)
    clients: Vec<(Entity, String)>,
    _dir: tempfile::TempDir,
}

async fn owner(platform: &Platform) -> User {
    let input: NewUserInput = serde_json::from_value(json!({
        "email": "owner@example.com",
        "credentials": {"username": "owner", "secret": "a-long-password"},
    }))
    .unwrap();
    platform
        .users()
        .create(&Actor::System("test"), input)
        .await
        .unwrap()
}

/// A domain with one channel and `n` clients connected to it for subscribe.
async fn world(n: usize) -> World {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&format!("sqlite://{}/auth.db", dir.path().display()))
        .await
        .unwrap();
    let store = Store::open(db.clone()).await.unwrap();
    magnetite_events::Events::start(db, Default::default())
        .await
        .unwrap();
    let keys = Keys::from_master(b"test");
    let platform = Arc::new(Platform::new(store, keys, PlatformConfig::default()));
    let caller = Caller::new(owner(&platform).await);
    let actor = Actor::User(&caller);
    let input = NewDomainInput {
        name: Some("plant".into()),
        route: Some("plant".into()),
        ..NewDomainInput::default()
    };
    let domain = platform.domains().create(&actor, input).await.unwrap();
    let named = |name: &str| NewEntityInput {
        name: Some(name.to_string()),
        ..NewEntityInput::default()
    };
    let channels = platform.channels();
    let channel = channels.create(&actor, "plant", named("telemetry")).await;
    let channel = channel.unwrap().entity;
    let mut clients = Vec::new();
    for i in 0..n {
        let input = named(&format!("device-{i}"));
        let created = platform.clients().create(&actor, "plant", input).await;
        let created = created.unwrap();
        clients.push((created.entity, created.secret.unwrap()));
    }
    let client_ids: Vec<String> = clients.iter().map(|(c, _)| c.id.clone()).collect();
    let req = ConnectRequest::of(
        std::slice::from_ref(&channel.id),
        &client_ids,
        &[ConnType::Subscribe],
    );
    let connections = platform.connections();
    connections.connect(&actor, &domain.id, req).await.unwrap();
    World {
        gate: MqttGate::new(Arc::clone(&platform)),
        platform,
        domain_id: domain.id,
        channel,
        clients,
        _dir: dir,
    }
}

fn login<'a>(username: &'a str, password: &'a str) -> MqttLogin<'a> {
    MqttLogin {
        username: Some(username),
        password: Some(password.as_bytes()),
        peer_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        peer_certificate: None,
    }
}

async fn connect(w: &World, i: usize) -> MqttIdentity {
    let (client, secret) = &w.clients[i];
    let identity = w.gate.login(login(&client.id, secret)).await.unwrap();
    w.gate.session_started(&identity, &client.id);
    identity
}

#[tokio::test]
async fn connected_clients_share_their_id_and_their_domain_and_channel_names() {
    let w = world(2).await;
    let (a, b) = (connect(&w, 0).await, connect(&w, 1).await);
    assert_eq!(&*a.client_id, w.clients[0].0.id);
    assert_eq!(&*a.domain_id, w.domain_id);
    assert!(Arc::ptr_eq(&a.domain_id, &b.domain_id), "one domain id");

    let cache = &w.platform.cache;
    let store = &w.platform.store;
    let cached = cache.get(store, &a.client_id).await.unwrap().unwrap();
    let other = cache.get(store, &b.client_id).await.unwrap().unwrap();
    assert!(Arc::ptr_eq(&cached.client_id, &a.client_id));
    assert!(Arc::ptr_eq(&cached.domain_id, &other.domain_id));
    assert!(Arc::ptr_eq(&cached.domain_route, &other.domain_route));
    let channel = cached.subscribe.resolve(&w.channel.id).unwrap();
    let others = other.subscribe.resolve(&w.channel.id).unwrap();
    assert!(std::ptr::eq(channel, others), "one channel id");
    // The cache entry (key and value), the identity, the trusted address and the live
    // session: one allocation.
    assert_eq!(Arc::strong_count(&a.client_id), 5);
}

#[tokio::test]
async fn decisions_are_unchanged_by_the_compact_entries() {
    let w = world(1).await;
    let (client, secret) = &w.clients[0];
    let refused = w.gate.login(login(&client.id, "wrong")).await.err();
    assert_eq!(refused, Some(LoginRefusal::BadCredentials));
    let identity = connect(&w, 0).await;
    let (d, ch) = (&w.domain_id, &w.channel.id);
    let canonical = format!("m/{d}/c/{ch}/room");
    assert_eq!(
        w.gate.route_subscribe(&identity, &canonical).await,
        SubscribeRoute::AsSent
    );
    let by_route = format!("m/plant/c/{ch}/room");
    assert!(matches!(
        w.gate.route_subscribe(&identity, &by_route).await,
        SubscribeRoute::Canonical { filter, .. } if filter == canonical
    ));
    assert_eq!(
        w.gate.route_publish(&identity, &canonical).await,
        PublishRoute::Refuse,
        "subscribe only"
    );
    // A disabled client is refused at once after the change invalidated its entry.
    let system = Actor::System("test");
    let clients = w.platform.clients();
    let disabled = clients.set_status(&system, d, &client.id, Status::Disabled);
    disabled.await.unwrap();
    let refused = w.gate.login(login(&client.id, secret)).await.err();
    assert_eq!(refused, Some(LoginRefusal::NotAuthorized));
    assert_eq!(
        w.gate.route_subscribe(&identity, &canonical).await,
        SubscribeRoute::Refuse
    );
}
