//! Which outbox events concern someone personally: pure functions from an event's
//! canonical payload to an [`Intent`], tested without a database. Who exactly is told,
//! and with which names, is resolved by the reader (`crate::reader`) against the
//! platform as it is when the event is read.

use serde_json::Value;

use crate::model::Variant;

/// What an event asks the notifications to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent {
    /// `users` changed access to `domain_id` (`relation` is the new one, if any): each
    /// of them is told.
    Membership {
        variant: Variant,
        domain_id: String,
        users: Vec<String>,
        relation: Option<String>,
    },
    /// `client_id` was disabled: the admins of its domain are told.
    ClientDisabled { client_id: String },
    /// `invitee` was invited to `domain_id` by `inviter` (`invitation.send`): the
    /// invitee is told.
    Invitation {
        domain_id: String,
        invitee: String,
        inviter: String,
    },
}

/// Most users one membership event notifies (an assign call names at most what its
/// body held; this bounds the work a single row can cause).
pub const MAX_USERS_PER_EVENT: usize = 1000;

/// The only outbox streams a notification comes from: the reader asks for their rows
/// alone (`crate::reader`), the others' are read as ids.
pub const STREAMS: [&str; 2] = ["users", "clients"];

/// The intent of one outbox row of `stream`, if it concerns someone.
pub fn intent(stream: &str, payload: &str) -> Option<Intent> {
    if !STREAMS.contains(&stream) {
        return None;
    }
    let ev: Value = serde_json::from_str(payload).ok()?;
    let field = |k: &str| ev.get(k).and_then(Value::as_str);
    let variant = match (stream, field("operation")?) {
        ("users", "domain.assign") => Variant::PermissionGranted,
        ("users", "domain.update_relation") => Variant::PermissionUpdated,
        ("users", "domain.unassign") => Variant::PermissionRevoked,
        ("users", "invitation.send") => {
            return Some(Intent::Invitation {
                domain_id: field("domain_id")?.to_string(),
                invitee: field("invitee_user_id")?.to_string(),
                inviter: field("invited_by")?.to_string(),
            });
        }
        ("clients", "client.remove") if field("status") == Some("disabled") => {
            return Some(Intent::ClientDisabled {
                client_id: field("id")?.to_string(),
            });
        }
        _ => return None,
    };
    let users: Vec<String> = ev
        .get("user_ids")?
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .take(MAX_USERS_PER_EVENT)
        .map(str::to_string)
        .collect();
    Some(Intent::Membership {
        variant,
        domain_id: field("domain_id")?.to_string(),
        users,
        relation: field("relation").map(str::to_string),
    })
}

/// The message of a membership change on the domain named `domain`.
pub fn membership_message(variant: Variant, domain: &str, relation: Option<&str>) -> String {
    let relation = relation.unwrap_or("member");
    match variant {
        Variant::PermissionGranted => {
            format!("You were given {relation} access to domain {domain}")
        }
        Variant::PermissionUpdated => format!("Your access to domain {domain} is now {relation}"),
        _ => format!("Your access to domain {domain} was removed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn membership(stream: &str, ev: Value) -> Option<Intent> {
        intent(stream, &ev.to_string())
    }

    #[test]
    fn domain_membership_events_name_the_users() {
        let got = membership(
            "users",
            json!({"operation": "domain.assign", "domain_id": "d1", "user_ids": ["u1", "u2"], "relation": "member"}),
        );
        assert_eq!(
            got,
            Some(Intent::Membership {
                variant: Variant::PermissionGranted,
                domain_id: "d1".into(),
                users: vec!["u1".into(), "u2".into()],
                relation: Some("member".into()),
            })
        );
        let revoked = membership(
            "users",
            json!({"operation": "domain.unassign", "domain_id": "d1", "user_ids": ["u1"]}),
        );
        assert!(matches!(
            revoked,
            Some(Intent::Membership {
                variant: Variant::PermissionRevoked,
                relation: None,
                ..
            })
        ));
        let updated = membership(
            "users",
            json!({"operation": "domain.update_relation", "domain_id": "d1", "user_ids": ["u1"], "relation": "admin"}),
        );
        assert!(matches!(
            updated,
            Some(Intent::Membership {
                variant: Variant::PermissionUpdated,
                ..
            })
        ));
    }

    #[test]
    fn an_invitation_tells_the_invitee() {
        let send = json!({"operation": "invitation.send", "domain_id": "d1",
            "invitee_user_id": "u1", "invited_by": "a1", "role_id": "r1"});
        assert_eq!(
            intent("users", &send.to_string()),
            Some(Intent::Invitation {
                domain_id: "d1".into(),
                invitee: "u1".into(),
                inviter: "a1".into(),
            })
        );
        let accept = json!({"operation": "invitation.accept", "domain_id": "d1",
            "invitee_user_id": "u1", "invited_by": "a1"});
        assert_eq!(intent("users", &accept.to_string()), None);
        let no_invitee = json!({"operation": "invitation.send", "domain_id": "d1"});
        assert_eq!(intent("users", &no_invitee.to_string()), None);
    }

    #[test]
    fn only_a_disable_of_a_client_is_a_client_notice() {
        let disabled = json!({"operation": "client.remove", "id": "c1", "status": "disabled"});
        assert_eq!(
            membership("clients", disabled),
            Some(Intent::ClientDisabled {
                client_id: "c1".into()
            })
        );
        for status in ["enabled", "deleted"] {
            let ev = json!({"operation": "client.remove", "id": "c1", "status": status});
            assert_eq!(membership("clients", ev), None, "{status}");
        }
        let channel = json!({"operation": "channel.remove", "id": "ch", "status": "disabled"});
        assert_eq!(membership("clients", channel), None);
    }

    #[test]
    fn other_streams_junk_and_missing_fields_are_ignored() {
        let assign = json!({"operation": "domain.assign", "domain_id": "d1", "user_ids": ["u1"]});
        assert_eq!(membership("mqtt", assign.clone()), None);
        assert_eq!(membership("clients", assign), None);
        assert_eq!(intent("users", "not json"), None);
        let no_users = json!({"operation": "domain.assign", "domain_id": "d1"});
        assert_eq!(membership("users", no_users), None);
        let no_domain = json!({"operation": "domain.assign", "user_ids": ["u1"]});
        assert_eq!(membership("users", no_domain), None);
    }

    #[test]
    fn a_huge_user_list_is_capped() {
        let users: Vec<String> = (0..MAX_USERS_PER_EVENT + 5)
            .map(|i| format!("u{i}"))
            .collect();
        let ev = json!({"operation": "domain.unassign", "domain_id": "d", "user_ids": users});
        let Some(Intent::Membership { users, .. }) = membership("users", ev) else {
            panic!("membership intent");
        };
        assert_eq!(users.len(), MAX_USERS_PER_EVENT);
    }

    #[test]
    fn messages_name_the_domain_and_relation() {
        let granted = membership_message(Variant::PermissionGranted, "Plant", Some("admin"));
        assert_eq!(granted, "You were given admin access to domain Plant");
        let revoked = membership_message(Variant::PermissionRevoked, "Plant", None);
        assert_eq!(revoked, "Your access to domain Plant was removed");
    }
}
