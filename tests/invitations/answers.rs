//! An invitation answered: accepted (a member with the role at once, events and the
//! invitee's notification), rejected, resent after a rejection, deleted while pending.

use super::tenants::two_tenants;
use super::{answer, domain_role, events, invite, invitees, new_user, notification, refused};
use serde_json::json;

#[test]
fn an_accepted_invitation_makes_the_invitee_a_member_with_the_role() {
    let t = two_tenants(&[]);
    let (owner, d) = (&t.d1.api, &t.d1.domain);
    let (erin, erin_api) = new_user(&t.admin, "erin");
    let operators = domain_role(owner, d, "operators", &["read", "client_read"]);

    let sent = invite(owner, d, &erin, &operators, false, 201);
    assert_eq!(sent["invitee_user_id"], erin.as_str());
    assert_eq!(sent["invited_by"], t.d1.user_id.as_str());
    assert_eq!(sent["domain_id"], d.as_str());
    assert_eq!(sent["role_name"], "operators");
    assert_eq!(sent["domain_name"], "Domain a");
    assert!(sent.get("confirmed_at").is_none(), "{sent}");
    let again = Some(json!({"invitee_user_id": erin, "role_id": operators}));
    let message = refused(
        owner,
        "POST",
        &format!("/domains/{d}/invitations"),
        again,
        409,
    );
    assert!(message.contains("resend"), "{message}");
    invite(owner, d, &erin, &operators, true, 201);

    let listed = owner.expect("GET", &format!("/domains/{d}/invitations"), None, 200);
    assert_eq!(invitees(&listed), [erin.as_str()]);
    assert_eq!(
        (listed["total"].as_u64(), listed["limit"].as_u64()),
        (Some(1), Some(10))
    );
    let path = format!("/domains/{d}/invitations?state=accepted");
    assert_eq!(owner.expect("GET", &path, None, 200)["total"], 0);
    let path = format!("/domains/{d}/invitations?user_id={erin}&state=pending&role_id={operators}");
    assert_eq!(owner.expect("GET", &path, None, 200)["total"], 1);
    let viewed = owner.expect(
        "GET",
        &format!("/domains/{d}/invitations/{erin}"),
        None,
        200,
    );
    assert_eq!(viewed["role_id"], operators.as_str());

    // Before accepting, Erin is no member: the domain is closed, its list hidden.
    refused(&erin_api, "GET", &format!("/domains/{d}"), None, 403);
    refused(
        &erin_api,
        "GET",
        &format!("/domains/{d}/invitations"),
        None,
        404,
    );
    let mine = erin_api.expect("GET", "/invitations", None, 200);
    assert_eq!(invitees(&mine), [erin.as_str()]);
    assert_eq!(mine["invitations"][0]["domain_id"], d.as_str());
    let own = erin_api.expect(
        "GET",
        &format!("/domains/{d}/invitations/{erin}"),
        None,
        200,
    );
    assert_eq!(own["role_name"], "operators");

    // The invitee is told, by a personal notification made from `invitation.send`.
    let told = notification(&erin_api, "invitation_received");
    assert!(
        told["message"].as_str().unwrap_or("").contains("Domain a"),
        "{told}"
    );
    let refs = told["refs"].to_string();
    assert!(
        refs.contains(d.as_str()) && refs.contains(&t.d1.user_id),
        "{told}"
    );

    answer(&erin_api, "accept", d, 204);
    // A member with the role's actions at once, and nothing more.
    assert_eq!(
        erin_api.expect("GET", &format!("/domains/{d}"), None, 200)["id"],
        d.as_str()
    );
    let clients = erin_api.expect("GET", &format!("/{d}/clients"), None, 200);
    assert_eq!(clients["total"], 1);
    refused(
        &erin_api,
        "PATCH",
        &format!("/domains/{d}"),
        Some(json!({"name": "x"})),
        403,
    );
    let members = owner.expect(
        "GET",
        &format!("/domains/{d}/roles/{operators}/members"),
        None,
        200,
    );
    assert_eq!(members["members"], json!([erin]));

    // Accepted once: again, rejecting, re-inviting a member, deleting it are refused.
    let message = refused(
        &erin_api,
        "POST",
        "/invitations/accept",
        Some(json!({"domain_id": d})),
        409,
    );
    assert!(message.contains("accepted"), "{message}");
    answer(&erin_api, "reject", d, 409);
    let message = refused(
        owner,
        "POST",
        &format!("/domains/{d}/invitations"),
        Some(json!({"invitee_user_id": erin, "role_id": operators, "resend": true})),
        409,
    );
    assert!(message.contains("already a member"), "{message}");
    let delete = Some(json!({ "user_id": erin }));
    refused(
        owner,
        "DELETE",
        &format!("/domains/{d}/invitations"),
        delete,
        409,
    );
    let accepted = erin_api.expect("GET", "/invitations?state=accepted", None, 200);
    assert!(
        accepted["invitations"][0]["confirmed_at"].is_string(),
        "{accepted}"
    );

    // Out of the domain again (through roles), she may be invited afresh.
    let remove = Some(json!({ "members": [erin] }));
    owner.expect(
        "POST",
        &format!("/domains/{d}/roles/{operators}/members/delete"),
        remove,
        204,
    );
    refused(&erin_api, "GET", &format!("/domains/{d}"), None, 403);
    invite(owner, d, &erin, &operators, false, 201);
    let pending = erin_api.expect("GET", "/invitations?state=pending", None, 200);
    assert_eq!(invitees(&pending), [erin.as_str()]);

    // The events, SuperMQ's names and fields; never a secret.
    let accept = events(&t, "invitation.accept");
    assert_eq!(accept.len(), 1, "{accept:?}");
    for key in [
        "domain_id",
        "invitee_user_id",
        "invited_by",
        "role_id",
        "role_name",
        "domain_name",
    ] {
        assert!(accept[0][key].is_string(), "{key} in {}", accept[0]);
    }
    assert_eq!(accept[0]["invitee_user_id"], erin.as_str());
    assert_eq!(events(&t, "invitation.send").len(), 3);
    assert_eq!(events(&t, "invitation.list_domain").len(), 3);
    assert!(!events(&t, "invitation.list").is_empty());
    let joined = events(&t, "domain.role.members.add");
    assert!(
        joined
            .iter()
            .any(|e| e["members"].to_string().contains(&erin)),
        "{joined:?}"
    );
    for e in events(&t, "invitation.") {
        let text = e.to_string();
        assert!(
            !text.contains("password") && !text.contains("secret"),
            "{text}"
        );
    }
}
#[test]
fn a_rejected_invitation_can_be_resent_and_a_pending_one_deleted() {
    let t = two_tenants(&[]);
    let (owner, d) = (&t.d1.api, &t.d1.domain);
    let (frank, frank_api) = new_user(&t.admin, "frank");
    let viewers = domain_role(owner, d, "viewers", &["read"]);
    invite(owner, d, &frank, &viewers, false, 201);
    answer(&frank_api, "reject", d, 204);
    answer(&frank_api, "accept", d, 409);
    refused(&frank_api, "GET", &format!("/domains/{d}"), None, 403);
    let rejected = owner.expect(
        "GET",
        &format!("/domains/{d}/invitations?state=rejected"),
        None,
        200,
    );
    assert_eq!(invitees(&rejected), [frank.as_str()]);
    assert!(rejected["invitations"][0]["rejected_at"].is_string());

    let message = refused(
        owner,
        "POST",
        &format!("/domains/{d}/invitations"),
        Some(json!({"invitee_user_id": frank, "role_id": viewers})),
        409,
    );
    assert!(message.contains("rejected"), "{message}");
    let renewed = invite(owner, d, &frank, &viewers, true, 201);
    assert_eq!(renewed["invitee_user_id"], frank.as_str());
    assert!(renewed["updated_at"].is_string(), "{renewed}");
    assert!(
        renewed.get("rejected_at").is_none(),
        "pending again: {renewed}"
    );
    let pending = frank_api.expect("GET", "/invitations?state=pending", None, 200);
    assert_eq!(pending["total"], 1);

    let delete = || Some(json!({ "user_id": frank }));
    owner.expect(
        "DELETE",
        &format!("/domains/{d}/invitations"),
        delete(),
        204,
    );
    refused(
        owner,
        "DELETE",
        &format!("/domains/{d}/invitations"),
        delete(),
        404,
    );
    answer(&frank_api, "accept", d, 404);
    refused(&frank_api, "GET", &format!("/domains/{d}"), None, 403);
    assert_eq!(
        frank_api.expect("GET", "/invitations", None, 200)["total"],
        0
    );

    // A role deleted after the invitation: the pending invitation goes with it, so
    // accepting finds nothing and grants nothing.
    invite(owner, d, &frank, &viewers, false, 201);
    owner.expect(
        "DELETE",
        &format!("/domains/{d}/roles/{viewers}"),
        None,
        204,
    );
    refused(
        &frank_api,
        "POST",
        "/invitations/accept",
        Some(json!({"domain_id": d})),
        404,
    );
    refused(&frank_api, "GET", &format!("/domains/{d}"), None, 403);

    assert_eq!(events(&t, "invitation.reject").len(), 1);
    let deleted = events(&t, "invitation.delete");
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0]["invitee_user_id"], frank.as_str());
}
