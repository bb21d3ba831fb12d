//! Invitations on both engines (a SQLite file and a real PostgreSQL server, started
//! here; the test fails if it cannot start): the pending cap, the list filters with the
//! domain and role names, two racing accepts of one invitation (one wins, the other is
//! a 409, one membership), and reject / resend / delete.

use magnetite_auth::access::{Actor, Caller};
use magnetite_auth::crypto::Keys;
use magnetite_auth::model::User;
use magnetite_auth::roles::Role;
use magnetite_auth::service::{NewDomainInput, NewUserInput, SendInvitationInput};
use magnetite_auth::store::domains::Relation;
use magnetite_auth::store::invitations::{Invitation, InvitationFilter, InvitationState};
use magnetite_auth::{AuthError, Platform, PlatformConfig, Store};
use magnetite_db::Db;
use magnetite_events::model::invitations::invitation_delete;
use serde_json::json;

async fn user(platform: &Platform, name: &str) -> Caller {
    let input: NewUserInput = serde_json::from_value(json!({
        "email": format!("{name}@example.com"),
        "credentials": {"username": name, "secret": "a-long-password"},
    }))
    .unwrap();
    let u: User = platform
        .users()
        .create(&Actor::System("test"), input)
        .await
        .unwrap();
    Caller::new(u)
}

fn invitation(domain: &str, invitee: &str, by: &str, role: &str) -> Invitation {
    Invitation {
        invited_by: by.into(),
        invitee_user_id: invitee.into(),
        domain_id: domain.into(),
        domain_name: None,
        role_id: role.into(),
        role_name: None,
        created_at: magnetite_auth::store::now_rfc3339(),
        updated_at: None,
        confirmed_at: None,
        rejected_at: None,
    }
}

async fn scenario(db: Db) {
    let store = Store::open(db.clone()).await.unwrap();
    magnetite_events::Events::start(db.clone(), Default::default())
        .await
        .unwrap();
    let platform = Platform::new(
        store.clone(),
        Keys::from_master(b"test"),
        PlatformConfig::default(),
    );
    let owner = user(&platform, "owner").await;
    let [ann, ben, cat] = [
        user(&platform, "ann").await,
        user(&platform, "ben").await,
        user(&platform, "cat").await,
    ];
    let input = NewDomainInput {
        name: Some("Plant".into()),
        route: Some("plant".into()),
        ..NewDomainInput::default()
    };
    let d = platform
        .domains()
        .create(&Actor::User(&owner), input)
        .await
        .unwrap();
    let member = Role::built_in_id(&d.id, "member");
    let ev = invitation_delete("x", &d.id);

    // At most two pending: the third is refused, nothing written.
    for u in [&ann, &ben] {
        let inv = invitation(&d.id, u.id(), owner.id(), &member);
        store.send_invitation(&inv, false, 2, &ev).await.unwrap();
    }
    let third = invitation(&d.id, cat.id(), owner.id(), &member);
    let err = store
        .send_invitation(&third, false, 2, &ev)
        .await
        .unwrap_err();
    assert!(
        matches!(err, AuthError::Conflict(ref m) if m.contains("pending")),
        "{err}"
    );
    let pending = InvitationFilter {
        domain_id: d.id.clone(),
        state: Some(InvitationState::Pending),
        ..Default::default()
    };
    let (total, page) = store.list_invitations(&pending, 0, 10).await.unwrap();
    assert_eq!(total, 2);
    assert_eq!(page[0].domain_name.as_deref(), Some("Plant"));
    assert_eq!(page[0].role_name.as_deref(), Some("member"));
    let only_ben = InvitationFilter {
        invitee_user_id: ben.id().to_string(),
        ..pending.clone()
    };
    assert_eq!(store.list_invitations(&only_ben, 0, 10).await.unwrap().0, 1);
    let (_, second_page) = store.list_invitations(&pending, 1, 10).await.unwrap();
    assert_eq!(second_page.len(), 1);

    // Two accepts of one invitation at once: one membership, one 409.
    let invitations = platform.invitations();
    let (a, b) = tokio::join!(
        invitations.accept(&ann, Some(d.id.clone())),
        invitations.accept(&ann, Some(d.id.clone())),
    );
    let outcomes = [a.is_ok(), b.is_ok()];
    assert_eq!(outcomes.iter().filter(|ok| **ok).count(), 1, "{a:?} {b:?}");
    let lost = if a.is_ok() { b } else { a };
    assert!(matches!(lost, Err(AuthError::Conflict(_))), "{lost:?}");
    assert_eq!(
        store.relation(&d.id, ann.id()).await.unwrap(),
        Some(Relation::Member)
    );
    let (n, members) = store.role_members(&member, 0, 10).await.unwrap();
    assert_eq!((n, members), (1, vec![ann.id().to_string()]));

    // Ben rejects: Cat fits under the cap now; a resend makes Ben's pending again.
    invitations.reject(&ben, Some(d.id.clone())).await.unwrap();
    assert_eq!(store.relation(&d.id, ben.id()).await.unwrap(), None);
    store.send_invitation(&third, false, 2, &ev).await.unwrap();
    let resend = SendInvitationInput {
        invitee_user_id: Some(ben.id().to_string()),
        role_id: Some(member.clone()),
        resend: Some(true),
    };
    let renewed = invitations
        .send(&Actor::User(&owner), &d.id, resend)
        .await
        .unwrap();
    assert_eq!(renewed.role_name.as_deref(), Some("member"));
    let ben_inv = store.invitation(&d.id, ben.id()).await.unwrap();
    assert_eq!(ben_inv.state(), InvitationState::Pending);
    let cat_inv = store.invitation(&d.id, cat.id()).await.unwrap();
    assert_eq!(cat_inv.state(), InvitationState::Pending);

    // Delete: the pending one goes, an accepted one stays (409), a missing one 404.
    store.delete_invitation(&d.id, cat.id(), &ev).await.unwrap();
    let gone = store.invitation(&d.id, cat.id()).await.unwrap_err();
    assert!(matches!(gone, AuthError::NotFound(_)), "{gone}");
    let err = store
        .delete_invitation(&d.id, ann.id(), &ev)
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::Conflict(_)), "{err}");
    let err = store
        .delete_invitation(&d.id, cat.id(), &ev)
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::NotFound(_)), "{err}");
}

#[tokio::test]
async fn sqlite_invitations() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/auth.db", dir.path().display());
    scenario(Db::open(&url).await.unwrap()).await;
}

#[tokio::test]
async fn postgres_invitations() {
    let dir = tempfile::tempdir().unwrap();
    let pg = magnetite_testkit::servers::postgres(dir.path());
    let url = magnetite_testkit::servers::postgres_url(&pg);
    scenario(Db::open(&url).await.unwrap()).await;
}
