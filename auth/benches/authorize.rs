//! The HTTP authorization decision (`Platform::allowed`, the one `authorize` every
//! route goes through) for a client at the bottom of a depth-10 group tree, in a domain
//! of 10,000 entities, where the user's only grant is a role on the tree's root group
//! (`subgroup_client_read`, found after walking all ten levels): cold (the decision
//! cache emptied before every call: the grants query, the ancestry query, `decide`)
//! and cached (a map lookup). `cold_creator` is the same decision for the user who
//! created all 10,000 entities (a domain admin, and since creator roles the member of
//! 10,000 built-in admin roles): what it costs must not grow with what they made.
//!
//! `cargo bench -p magnetite-auth --bench authorize`

use criterion::{criterion_group, criterion_main, Criterion};
use magnetite_auth::access::{Actor, Caller};
use magnetite_auth::crypto::Keys;
use magnetite_auth::model::User;
use magnetite_auth::roles::EntityType;
use magnetite_auth::service::{NewDomainInput, NewEntityInput, NewRoleInput, NewUserInput};
use magnetite_auth::{Platform, PlatformConfig, Store};
use magnetite_db::Db;
use serde_json::json;
use tokio::runtime::Runtime;

/// Groups per level and levels: 100 groups, each level's groups under the one above.
const LEVELS: usize = 10;
const PER_LEVEL: usize = 10;
/// Clients, all under the deepest groups: 100 groups + 9,900 clients = 10,000.
const CLIENTS: usize = 9_900;

struct World {
    platform: Platform,
    domain_id: String,
    reader: String,
    owner: String,
    deep_client: String,
    _dir: tempfile::TempDir,
}

async fn user(platform: &Platform, name: &str) -> User {
    let input: NewUserInput = serde_json::from_value(json!({
        "email": format!("{name}@example.com"),
        "credentials": {"username": name, "secret": "a-long-password"},
    }))
    .expect("user input");
    platform
        .users()
        .create(&Actor::System("bench"), input)
        .await
        .expect("user")
}

fn entity(name: String, parent: Option<&str>) -> NewEntityInput {
    NewEntityInput {
        name: Some(name),
        parent_id: parent.map(str::to_string),
        ..NewEntityInput::default()
    }
}

async fn world() -> World {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}/auth.db", dir.path().display());
    let db = Db::open(&url).await.expect("db");
    let store = Store::open(db.clone()).await.expect("store");
    magnetite_events::Events::start(db, Default::default())
        .await
        .expect("outbox");
    let platform = Platform::new(
        store,
        Keys::from_master(b"bench"),
        PlatformConfig::default(),
    );
    let owner = Caller::new(user(&platform, "owner").await);
    let reader = user(&platform, "reader").await.id;
    let actor = Actor::User(&owner);
    let input = NewDomainInput {
        name: Some("tree".into()),
        ..NewDomainInput::default()
    };
    let domain_id = platform
        .domains()
        .create(&actor, input)
        .await
        .expect("domain")
        .id;
    let mut above: Vec<Option<String>> = vec![None];
    let mut root = String::new();
    for level in 0..LEVELS {
        let inputs = (0..PER_LEVEL)
            .map(|i| entity(format!("g{level}-{i}"), above[i % above.len()].as_deref()))
            .collect();
        let made = platform
            .groups()
            .create_many(&actor, &domain_id, inputs)
            .await
            .expect("groups");
        above = made.iter().map(|c| Some(c.entity.id.clone())).collect();
        if level == 0 {
            root = made[0].entity.id.clone();
        }
    }
    let mut deep_client = String::new();
    for batch in 0..CLIENTS / 900 {
        let inputs = (0..900)
            .map(|i| entity(format!("c{batch}-{i}"), above[i % above.len()].as_deref()))
            .collect();
        let made = platform
            .clients()
            .create_many(&actor, &domain_id, inputs)
            .await
            .expect("clients");
        deep_client = made[0].entity.id.clone();
    }
    let role = |name: &str, actions: &[&str], members: &[&str]| NewRoleInput {
        role_name: Some(name.into()),
        optional_actions: Some(actions.iter().map(|a| a.to_string()).collect()),
        optional_members: Some(members.iter().map(|m| m.to_string()).collect()),
        ..NewRoleInput::default()
    };
    let domains = platform.roles(EntityType::Domain);
    domains
        .create(
            &actor,
            &domain_id,
            &domain_id,
            role("everyone", &[], &[&reader]),
        )
        .await
        .expect("domain role");
    let groups = platform.roles(EntityType::Group);
    groups
        .create(
            &actor,
            &domain_id,
            &root,
            role("readers", &["subgroup_client_read"], &[&reader]),
        )
        .await
        .expect("group role");
    World {
        platform,
        domain_id,
        reader,
        owner: owner.id().to_string(),
        deep_client,
        _dir: dir,
    }
}

fn authorize(c: &mut Criterion) {
    let rt = Runtime::new().expect("runtime");
    let w = rt.block_on(world());
    let decide_for = |user: &str| {
        rt.block_on(w.platform.allowed(
            user,
            &w.domain_id,
            EntityType::Client,
            &w.deep_client,
            "read",
        ))
        .expect("decision")
    };
    let decide = || decide_for(&w.reader);
    assert!(decide(), "the root group's role reaches the deepest client");
    assert!(decide_for(&w.owner), "the creator may read what they made");
    let mut group = c.benchmark_group("authorize_depth10_10k");
    group.bench_function("cold", |b| {
        b.iter(|| {
            w.platform.decisions.clear();
            decide()
        })
    });
    group.bench_function("cold_creator", |b| {
        b.iter(|| {
            w.platform.decisions.clear();
            decide_for(&w.owner)
        })
    });
    decide();
    group.bench_function("cached", |b| b.iter(decide));
    group.finish();
}

criterion_group!(benches, authorize);
criterion_main!(benches);
