//! Role events: every change to a role, its actions or its members, in the stream of the
//! entity that has the role (domains and groups: `users`; channels and clients:
//! `clients`), named as SuperMQ's role manager names them
//! (`pkg/roles/rolemanager/events`): `<entity>.role.add`, `<entity>.role.update`,
//! `<entity>.role.remove`, `<entity>.role.actions.add`, `<entity>.role.actions.remove`,
//! `<entity>.role.actions.remove_all`, `<entity>.role.members.add`,
//! `<entity>.role.members.remove`, `<entity>.role.members.remove_all` and
//! `<entity>.members.remove` (a user out of every role of the entity). Fields are
//! SuperMQ's (`entity_id`, `role_id`, `actions`, `members`, ...); a role holds no
//! secret, so neither does any of these events.

use super::{str_list, Event, Service};

/// The stream of the entity type's events.
fn service_of(entity_type: &str) -> Service {
    match entity_type {
        "client" | "channel" => Service::Clients,
        _ => Service::Users,
    }
}

/// A role as the `role.add` / `role.update` events carry it.
#[derive(Debug, Clone, Copy)]
pub struct RoleFields<'a> {
    /// `domain`, `group`, `channel` or `client`.
    pub entity_type: &'a str,
    pub domain_id: &'a str,
    pub entity_id: &'a str,
    pub id: &'a str,
    pub name: &'a str,
    pub created_by: &'a str,
    pub created_at: &'a str,
    pub updated_by: Option<&'a str>,
    pub updated_at: Option<&'a str>,
}

fn role_fields(op: &str, r: &RoleFields<'_>) -> Event {
    Event::new(
        service_of(r.entity_type),
        &format!("{}.{op}", r.entity_type),
    )
    .with("id", r.id)
    .with("name", r.name)
    .with("entity_id", r.entity_id)
    .with("created_by", r.created_by)
    .with("created_at", r.created_at)
    .with_opt("updated_by", r.updated_by)
    .with_opt("updated_at", r.updated_at)
    .in_domain(r.domain_id)
}

/// `<entity>.role.add`: the new role with its `optional_actions` and `optional_members`.
pub fn role_add(r: &RoleFields<'_>, actions: &[String], members: &[String]) -> Event {
    role_fields("role.add", r)
        .with("optional_actions", str_list(actions))
        .with("optional_members", str_list(members))
}

/// `<entity>.create` with SuperMQ's `roles_provisioned`: the built-in roles the new
/// entity came with, each with `optional_actions` and `optional_members` (SuperMQ's
/// `RoleProvision`). Magistrala's reference has no such field, so only the SuperMQ
/// naming ships it (`super::naming`); the outbox keeps it for both.
pub fn with_roles_provisioned(
    create: Event,
    roles: &[(RoleFields<'_>, &[String], &[String])],
) -> Event {
    let provisioned: Vec<serde_json::Value> = roles
        .iter()
        .map(|(r, actions, members)| {
            serde_json::json!({
                "id": r.id,
                "name": r.name,
                "entity_id": r.entity_id,
                "created_by": r.created_by,
                "created_at": r.created_at,
                "optional_actions": str_list(actions),
                "optional_members": str_list(members),
            })
        })
        .collect();
    create.with(ROLES_PROVISIONED, provisioned)
}

/// The `<entity>.create` field SuperMQ lists the new entity's built-in roles in.
pub const ROLES_PROVISIONED: &str = "roles_provisioned";

/// `<entity>.role.update`: the renamed role.
pub fn role_update(r: &RoleFields<'_>) -> Event {
    role_fields("role.update", r)
}

/// Where a role change happened: the entity (and its domain) and the role.
#[derive(Debug, Clone, Copy)]
pub struct RoleOf<'a> {
    pub entity_type: &'a str,
    pub domain_id: &'a str,
    pub entity_id: &'a str,
    pub role_id: &'a str,
}

fn role_event(op: &str, at: &RoleOf<'_>) -> Event {
    Event::new(
        service_of(at.entity_type),
        &format!("{}.{op}", at.entity_type),
    )
    .with("entity_id", at.entity_id)
    .with("role_id", at.role_id)
    .in_domain(at.domain_id)
}

/// `<entity>.role.remove`.
pub fn role_remove(at: &RoleOf<'_>) -> Event {
    role_event("role.remove", at)
}

/// `<entity>.role.actions.add`.
pub fn role_actions_add(at: &RoleOf<'_>, actions: &[String]) -> Event {
    role_event("role.actions.add", at).with("actions", str_list(actions))
}

/// `<entity>.role.actions.remove`.
pub fn role_actions_remove(at: &RoleOf<'_>, actions: &[String]) -> Event {
    role_event("role.actions.remove", at).with("actions", str_list(actions))
}

/// `<entity>.role.actions.remove_all`.
pub fn role_actions_remove_all(at: &RoleOf<'_>) -> Event {
    role_event("role.actions.remove_all", at)
}

/// `<entity>.role.members.add`.
pub fn role_members_add(at: &RoleOf<'_>, members: &[String]) -> Event {
    role_event("role.members.add", at).with("members", str_list(members))
}

/// `<entity>.role.members.remove`.
pub fn role_members_remove(at: &RoleOf<'_>, members: &[String]) -> Event {
    role_event("role.members.remove", at).with("members", str_list(members))
}

/// `<entity>.role.members.remove_all`.
pub fn role_members_remove_all(at: &RoleOf<'_>) -> Event {
    role_event("role.members.remove_all", at)
}

/// `<entity>.members.remove` (SuperMQ's `RemoveEntityMembers`): `members` taken out of
/// every role of the entity.
pub fn entity_members_remove(
    entity_type: &str,
    domain_id: &str,
    entity_id: &str,
    members: &[String],
) -> Event {
    Event::new(
        service_of(entity_type),
        &format!("{entity_type}.members.remove"),
    )
    .with("entity_id", entity_id)
    .with("members", str_list(members))
    .in_domain(domain_id)
}

/// Whether an operation changes roles (and so cached authorization decisions):
/// what another instance reading the outbox clears its decision cache on.
pub fn changes_roles(operation: &str) -> bool {
    operation.contains(".role.")
        || operation.ends_with(".members.remove")
        || matches!(
            operation,
            "domain.assign" | "domain.unassign" | "domain.update_relation"
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_events_go_to_the_entity_stream_with_supermq_names() {
        let at = RoleOf {
            entity_type: "client",
            domain_id: "d",
            entity_id: "c",
            role_id: "r",
        };
        let ev = role_members_add(&at, &["u".to_string()]);
        assert_eq!(ev.operation(), "client.role.members.add");
        assert_eq!(ev.service, Service::Clients);
        assert_eq!(ev.fields["members"], serde_json::json!(["u"]));
        let r = RoleFields {
            entity_type: "group",
            domain_id: "d",
            entity_id: "g",
            id: "r",
            name: "ops",
            created_by: "u",
            created_at: "t",
            updated_by: None,
            updated_at: None,
        };
        let add = role_add(&r, &["read".to_string()], &[]);
        assert_eq!(add.operation(), "group.role.add");
        assert_eq!(add.service, Service::Users);
        assert!(changes_roles(add.operation()));
        assert!(changes_roles("domain.members.remove"));
        assert!(!changes_roles("client.update"));
        let gone = entity_members_remove("channel", "d", "ch", &["u".to_string()]);
        assert_eq!(gone.operation(), "channel.members.remove");
        assert!(changes_roles(gone.operation()));
        let created = with_roles_provisioned(
            Event::new(Service::Users, "group.create"),
            &[(r, &["read".to_string()], &[])],
        );
        assert_eq!(
            created.fields[ROLES_PROVISIONED][0]["optional_actions"],
            serde_json::json!(["read"])
        );
        assert_eq!(created.fields[ROLES_PROVISIONED][0]["name"], "ops");
    }
}
