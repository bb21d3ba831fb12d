//! Pending invitations go, silently, with the role, the user or the membership (of
//! invitee or inviter) they name, and so leave the domain's cap.

use super::platform::Api;
use super::tenants::two_tenants;
use super::{answer, domain_role, events, invite, invitees, new_user, refused};
use serde_json::json;

/// The total of domain `d`'s pending invitations (what its cap counts).
fn pending_in(owner: &Api, d: &str) -> u64 {
    let url = format!("/domains/{d}/invitations?state=pending&limit=100");
    owner.expect("GET", &url, None, 200)["total"]
        .as_u64()
        .expect("total")
}

#[test]
fn pending_invitations_go_with_the_role_user_or_membership_they_name() {
    let t = two_tenants(&[]);
    let (owner, d) = (&t.d1.api, &t.d1.domain);
    let (amy, amy_api) = new_user(&t.admin, "amy");
    let (bob, bob_api) = new_user(&t.admin, "bob");
    let (cat, _) = new_user(&t.admin, "cat");
    let (dan, dan_api) = new_user(&t.admin, "dan");
    let (eve, eve_api) = new_user(&t.admin, "eve");
    let (ivy, ivy_api) = new_user(&t.admin, "ivy");
    let temps = domain_role(owner, d, "temps", &["read"]);
    let viewers = domain_role(owner, d, "viewers", &["read"]);
    // Ivy may invite: a domain role with `manage_role`.
    let recruiters = domain_role(owner, d, "recruiters", &["read", "manage_role"]);
    let members = Some(json!({ "members": [ivy] }));
    owner.expect(
        "POST",
        &format!("/domains/{d}/roles/{recruiters}/members"),
        members,
        200,
    );
    invite(owner, d, &amy, &temps, false, 201);
    invite(owner, d, &eve, &temps, false, 201);
    invite(owner, d, &bob, &viewers, false, 201);
    invite(owner, d, &cat, &viewers, false, 201);
    invite(&ivy_api, d, &dan, &viewers, false, 201);
    answer(&eve_api, "reject", d, 204);
    // Another domain's pending invitation, which nothing here may touch.
    invite(
        &t.d2.api,
        &t.d2.domain,
        &amy,
        &format!("{}_member", t.d2.domain),
        false,
        201,
    );
    assert_eq!(pending_in(owner, d), 4);

    // The role deleted: Amy's pending invitation goes; Eve's rejected one is history.
    owner.expect("DELETE", &format!("/domains/{d}/roles/{temps}"), None, 204);
    assert_eq!(pending_in(owner, d), 3);
    answer(&amy_api, "accept", d, 404);
    let rejected = owner.expect(
        "GET",
        &format!("/domains/{d}/invitations?state=rejected"),
        None,
        200,
    );
    assert_eq!(invitees(&rejected), [eve.as_str()]);

    // The invitee deleted: Cat's goes.
    t.admin
        .expect("DELETE", &format!("/users/{cat}"), None, 204);
    assert_eq!(pending_in(owner, d), 2);

    // The inviter out of the domain: what Ivy sent goes with her membership.
    let out = Some(json!({ "member_ids": [ivy] }));
    owner.expect("DELETE", &format!("/domains/{d}/roles"), out, 204);
    assert_eq!(pending_in(owner, d), 1);
    answer(&dan_api, "accept", d, 404);
    refused(&dan_api, "GET", &format!("/domains/{d}"), None, 403);

    // An invitee made a member some other way, then unassigned: no way back in alone.
    let assign = Some(json!({"user_ids": [bob], "relation": "member"}));
    owner.expect("POST", &format!("/domains/{d}/users/assign"), assign, 201);
    let unassign = Some(json!({ "user_ids": [bob] }));
    owner.expect(
        "POST",
        &format!("/domains/{d}/users/unassign"),
        unassign,
        204,
    );
    assert_eq!(pending_in(owner, d), 0);
    answer(&bob_api, "accept", d, 404);
    refused(&bob_api, "GET", &format!("/domains/{d}"), None, 403);

    // The cap counts what is pending: the places are free again.
    invite(owner, d, &amy, &viewers, false, 201);
    assert_eq!(pending_in(owner, d), 1);
    assert_eq!(pending_in(&t.d2.api, &t.d2.domain), 1);
    // Silent, as SuperMQ: no `invitation.delete` for what went with its subject.
    assert_eq!(events(&t, "invitation.delete").len(), 0);
}
