//! `invitation.*` events (stream `<prefix>.users`, where domain events go), named and
//! shaped as SuperMQ's domains service emits them (`domains/events/events.go`):
//! `invitation.send`, `invitation.accept`, `invitation.reject`, `invitation.delete`,
//! and the reads `invitation.list` (the caller's own) and `invitation.list_domain`.
//! Fields are SuperMQ's (`invitee_user_id`, `domain_id`, `invited_by`, `role_id`,
//! `domain_name`, `role_name`); its session fields (`token_type`, `super_admin`,
//! `request_id`) are left out, as in every other event here. An invitation holds no
//! secret, so neither does any of these events. All but `invitation.list` are scoped to
//! their domain (`GET /events` shows them to its members).

use super::{Event, Service};

/// An invitation as the send / accept / reject events carry it.
#[derive(Debug, Clone, Copy)]
pub struct InvitationFields<'a> {
    pub invitee_user_id: &'a str,
    pub domain_id: &'a str,
    pub invited_by: &'a str,
    pub role_id: &'a str,
    pub domain_name: Option<&'a str>,
    pub role_name: Option<&'a str>,
}

fn invitation(op: &str, i: &InvitationFields<'_>) -> Event {
    Event::new(Service::Users, op)
        .with("invitee_user_id", i.invitee_user_id)
        .with("domain_id", i.domain_id)
        .with("invited_by", i.invited_by)
        .with("role_id", i.role_id)
        .with_opt("domain_name", i.domain_name.filter(|n| !n.is_empty()))
        .with_opt("role_name", i.role_name.filter(|n| !n.is_empty()))
        .in_domain(i.domain_id)
}

/// `invitation.send`: a user was invited (or invited again with `resend`).
pub fn invitation_send(i: &InvitationFields<'_>) -> Event {
    invitation("invitation.send", i)
}

/// `invitation.accept`: the invitee joined the domain with the role.
pub fn invitation_accept(i: &InvitationFields<'_>) -> Event {
    invitation("invitation.accept", i)
}

/// `invitation.reject`: the invitee declined.
pub fn invitation_reject(i: &InvitationFields<'_>) -> Event {
    invitation("invitation.reject", i)
}

/// `invitation.delete`: the domain withdrew the invitation of `invitee_user_id`.
pub fn invitation_delete(invitee_user_id: &str, domain_id: &str) -> Event {
    Event::new(Service::Users, "invitation.delete")
        .with("invitee_user_id", invitee_user_id)
        .with("domain_id", domain_id)
        .in_domain(domain_id)
}

/// The filters of an invitation list, as its event reports them.
#[derive(Debug, Clone, Copy, Default)]
pub struct InvitationQuery<'a> {
    pub offset: u64,
    pub limit: u64,
    pub invited_by: Option<&'a str>,
    pub invitee_user_id: Option<&'a str>,
    pub domain_id: Option<&'a str>,
    pub role_id: Option<&'a str>,
    /// `pending`, `accepted`, `rejected`; `None` for all.
    pub state: Option<&'a str>,
}

fn list(op: &str, q: &InvitationQuery<'_>) -> Event {
    Event::new(Service::Users, op)
        .with("offset", q.offset)
        .with("limit", q.limit)
        .with_opt("invited_by", q.invited_by)
        .with_opt("invitee_user_id", q.invitee_user_id)
        .with_opt("role_id", q.role_id)
        .with_opt("state", q.state)
}

/// `invitation.list`: `user_id` listed their own invitations (platform-level).
pub fn invitation_list(user_id: &str, q: &InvitationQuery<'_>) -> Event {
    list("invitation.list", q)
        .with("user_id", user_id)
        .with_opt("domain_id", q.domain_id)
}

/// `invitation.list_domain`: a page of `domain_id`'s invitations was read.
pub fn invitation_list_domain(domain_id: &str, q: &InvitationQuery<'_>) -> Event {
    list("invitation.list_domain", q)
        .with("domain_id", domain_id)
        .in_domain(domain_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields<'a>() -> InvitationFields<'a> {
        InvitationFields {
            invitee_user_id: "u",
            domain_id: "d",
            invited_by: "a",
            role_id: "r",
            domain_name: Some("Plant"),
            role_name: None,
        }
    }

    #[test]
    fn invitation_events_have_supermq_names_and_fields() {
        let send = invitation_send(&fields());
        assert_eq!(send.operation(), "invitation.send");
        assert_eq!(send.service, Service::Users);
        assert_eq!(send.domain.as_deref(), Some("d"));
        assert_eq!(
            send.field_names(),
            [
                "domain_id",
                "domain_name",
                "invited_by",
                "invitee_user_id",
                "occurred_at",
                "operation",
                "role_id"
            ]
        );
        assert_eq!(
            invitation_accept(&fields()).operation(),
            "invitation.accept"
        );
        assert_eq!(
            invitation_reject(&fields()).operation(),
            "invitation.reject"
        );
        let delete = invitation_delete("u", "d");
        assert_eq!(
            delete.field_names(),
            ["domain_id", "invitee_user_id", "occurred_at", "operation"]
        );
        let q = InvitationQuery {
            limit: 10,
            state: Some("pending"),
            ..Default::default()
        };
        let own = invitation_list("u", &q);
        assert_eq!(own.domain, None, "a user's own list is platform-level");
        assert_eq!(own.fields["state"], "pending");
        assert_eq!(invitation_list_domain("d", &q).domain.as_deref(), Some("d"));
        // Not a role change: other instances keep their decision caches.
        assert!(!super::super::roles::changes_roles(send.operation()));
    }
}
