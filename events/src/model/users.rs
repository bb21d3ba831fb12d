//! `users` service events: `user.*`, `group.*`, `policies.*` (stream `<prefix>.users`).
//!
//! One constructor per operation of the reference. Field sets follow its examples; the
//! unit tests in `tests.rs` pin every one.

use super::record::Shape;
use super::{str_list, Event, Page, Record, Service};

fn user(op: &str) -> Event {
    Event::new(Service::Users, op)
}

/// `user.create`: id, name, identity, metadata, status, created_at (+ tags when set).
pub fn user_create(u: &Record) -> Event {
    u.apply(user("user.create"), Shape::Create)
}
/// `user.view`: the user as viewed, with `owner`.
pub fn user_view(u: &Record) -> Event {
    u.apply(user("user.view"), Shape::View)
}
/// `user.view_profile`: the caller's own profile.
pub fn user_view_profile(u: &Record) -> Event {
    u.apply(user("user.view_profile"), Shape::View)
}
/// `user.update`: the updated user with updated_at / updated_by.
pub fn user_update(u: &Record) -> Event {
    u.apply(user("user.update"), Shape::Update)
}
/// `user.update_identity`: identity (e-mail) changed.
pub fn user_update_identity(u: &Record) -> Event {
    u.apply(user("user.update_identity"), Shape::Update)
}
/// `user.update_tags`: tags changed (carries `tags`).
pub fn user_update_tags(u: &Record) -> Event {
    u.apply(user("user.update_tags"), Shape::Update)
}
/// `user.update_secret`: password changed (the reference's "reset secret" example).
/// The secret itself is never part of the event.
pub fn user_update_secret(u: &Record) -> Event {
    u.apply(user("user.update_secret"), Shape::Update)
}
/// `user.update_role`: role changed (Magistrala's role endpoint); carries `role`.
pub fn user_update_role(u: &Record, role: &str) -> Event {
    u.apply(user("user.update_role"), Shape::Update)
        .with("role", role)
}
/// `user.remove`: change of state (enable/disable/delete): id, status, updated_at, updated_by.
pub fn user_remove(u: &Record) -> Event {
    u.apply(user("user.remove"), Shape::Remove)
}
/// `user.list`: total, offset, limit, status.
pub fn user_list(p: &Page) -> Event {
    p.apply(user("user.list"))
}
/// `user.list_by_group`: as `user.list` plus `group_id`.
pub fn user_list_by_group(p: &Page, group_id: &str) -> Event {
    p.apply(user("user.list_by_group"))
        .with("group_id", group_id)
}
/// `user.identify`: a token was resolved to `user_id`.
pub fn user_identify(user_id: &str) -> Event {
    user("user.identify").with("user_id", user_id)
}
/// `user.generate_reset_token`: a password-reset token was generated for `email`.
pub fn user_generate_reset_token(email: &str, host: &str) -> Event {
    user("user.generate_reset_token")
        .with("email", email)
        .with("host", host)
}
/// `user.issue_token`: a login; carries the `identity` used, never the password.
pub fn user_issue_token(identity: &str) -> Event {
    user("user.issue_token").with("identity", identity)
}
/// `user.refresh_token`: a token refresh (no other fields).
pub fn user_refresh_token() -> Event {
    user("user.refresh_token")
}
/// `user.reset_secret`: the password was reset through the reset token (no other fields).
pub fn user_reset_secret() -> Event {
    user("user.reset_secret")
}
/// `user.send_password_reset`: the reset e-mail was sent to `email` for `user` (name).
pub fn user_send_password_reset(host: &str, email: &str, user_name: &str) -> Event {
    user("user.send_password_reset")
        .with("host", host)
        .with("email", email)
        .with("user", user_name)
}

/// `user.update_profile_picture` (SuperMQ): the user with its new `profile_picture`.
pub fn user_update_profile_picture(u: &Record, picture: &str) -> Event {
    u.apply(user("user.update_profile_picture"), Shape::Update)
        .with("profile_picture", picture)
}
/// `user.send_verification` (SuperMQ): a verification mail went to `user_id`'s e-mail.
pub fn user_send_verification(user_id: &str) -> Event {
    user("user.send_verification").with("user_id", user_id)
}
/// `user.verify_email` (SuperMQ): `user_id` proved they read `email` at `verified_at`.
pub fn user_verify_email(user_id: &str, email: &str, verified_at: &str) -> Event {
    user("user.verify_email")
        .with("user_id", user_id)
        .with("email", email)
        .with("verified_at", verified_at)
}

/// `group.create`: id, name, owner, metadata, status, created_at.
pub fn group_create(g: &Record) -> Event {
    g.apply(user("group.create"), Shape::Create)
}
/// `group.update`: the updated group with updated_at / updated_by.
pub fn group_update(g: &Record) -> Event {
    g.apply(user("group.update"), Shape::Update)
}
/// `group.view`: the group as viewed.
pub fn group_view(g: &Record) -> Event {
    g.apply(user("group.view"), Shape::View)
}
/// `group.list`: total, offset, limit, status.
pub fn group_list(p: &Page) -> Event {
    p.apply(user("group.list"))
}
/// `group.list_by_user`: as `group.list` plus the member id. The reference's example
/// names that field `channel_id`; we keep the reference's name so consumers match.
pub fn group_list_by_user(p: &Page, member_id: &str) -> Event {
    p.apply(user("group.list_by_user"))
        .with("channel_id", member_id)
}
/// `group.remove`: change of state: id, status, updated_at, updated_by.
pub fn group_remove(g: &Record) -> Event {
    g.apply(user("group.remove"), Shape::Remove)
}

/// A policy (who may do what on what), as the `policies.*` events carry it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Policy {
    /// Who created it (omitted when `None`).
    pub owner_id: Option<String>,
    /// Subject id (user or client).
    pub subject: String,
    /// Object id (group, channel, ...).
    pub object: String,
    /// Actions, e.g. `m_read`, `m_write`, `g_add`.
    pub actions: Vec<String>,
    /// Creation time (omitted when `None`).
    pub created_at: Option<String>,
    /// Update time (`policies.update` only; omitted when `None`).
    pub updated_at: Option<String>,
}

/// `policies.authorize` on `service`: entity_type, object, action.
pub fn policy_authorize(service: Service, entity_type: &str, object: &str, action: &str) -> Event {
    Event::new(service, "policies.authorize")
        .with("entity_type", entity_type)
        .with("object", object)
        .with("action", action)
}

fn policy_event(service: Service, op: &str, p: &Policy) -> Event {
    Event::new(service, op)
        .with_opt("owner_id", p.owner_id.clone())
        .with("subject", p.subject.as_str())
        .with("object", p.object.as_str())
        .with("actions", str_list(&p.actions))
        .with_opt("created_at", p.created_at.clone())
}

/// `policies.add`: owner_id, subject, object, actions, created_at.
pub fn policy_add(service: Service, p: &Policy) -> Event {
    policy_event(service, "policies.add", p)
}
/// `policies.update`: as add plus updated_at.
pub fn policy_update(service: Service, p: &Policy) -> Event {
    policy_event(service, "policies.update", p).with_opt("updated_at", p.updated_at.clone())
}
/// `policies.delete`: subject, object, actions.
pub fn policy_delete(service: Service, p: &Policy) -> Event {
    Event::new(service, "policies.delete")
        .with("subject", p.subject.as_str())
        .with("object", p.object.as_str())
        .with("actions", str_list(&p.actions))
}
/// `policies.list`: total, offset, limit.
pub fn policy_list(service: Service, total: u64, offset: u64, limit: u64) -> Event {
    Event::new(service, "policies.list")
        .with("total", total)
        .with("offset", offset)
        .with("limit", limit)
}

/// `domain.assign`: `user_ids` were given `relation` (`admin` | `member`) on
/// `domain_id`, having had no access to it before. Magistrala's domain events name the
/// same operation; the reference predates domains, so the fields are ours.
pub fn domain_assign(domain_id: &str, user_ids: &[String], relation: &str) -> Event {
    domain_members("domain.assign", domain_id, user_ids).with("relation", relation)
}
/// `domain.update_relation`: members of `domain_id` whose relation changed to
/// `relation` (from the other one).
pub fn domain_update_relation(domain_id: &str, user_ids: &[String], relation: &str) -> Event {
    domain_members("domain.update_relation", domain_id, user_ids).with("relation", relation)
}
/// `domain.unassign`: `user_ids` lost their access to `domain_id`.
pub fn domain_unassign(domain_id: &str, user_ids: &[String]) -> Event {
    domain_members("domain.unassign", domain_id, user_ids)
}

/// `domain.enable` / `domain.disable` / `domain.freeze` (status `freezed`, SuperMQ's
/// word): the domain's `status` changed, and with it the MQTT access of every client
/// in it (other instances revoke on it). Magistrala's domains service names these
/// operations; the reference predates domains, so the fields are ours: `id`, `status`,
/// `updated_by`.
pub fn domain_status(domain_id: &str, status: &str, updated_by: Option<&str>) -> Event {
    let op = match status {
        "enabled" => "domain.enable",
        "freezed" => "domain.freeze",
        _ => "domain.disable",
    };
    user(op)
        .with("id", domain_id)
        .with("status", status)
        .with_opt("updated_by", updated_by)
        .in_domain(domain_id)
}

fn domain_members(op: &str, domain_id: &str, user_ids: &[String]) -> Event {
    user(op)
        .with("domain_id", domain_id)
        .with("user_ids", str_list(user_ids))
        .in_domain(domain_id)
}
