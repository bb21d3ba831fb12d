//! `pat.*` events (stream `<prefix>.users`): personal access tokens and their scopes.
//!
//! SuperMQ's auth service emits no PAT events (its `auth` has no `events` package), so
//! the names are ours, in the reference's `<entity>.<operation>` style, with the
//! operation named as SuperMQ's PAT service method names it (`CreatePAT` ->
//! `pat.create`, `ResetPATSecret` -> `pat.reset_secret`, `RemovePATAllScope` ->
//! `pat.remove_all_scope`, ...). Fields name the PAT (`id`), its owner (`user_id`) and
//! what changed; a PAT's secret (or its hash) is never a field. Platform-level (no
//! domain): only platform admins read them from `GET /events`.

use serde_json::Value;

use super::{str_list, Event, Service};

/// The fields every PAT event shows of the token (never its secret).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PatFields {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub description: String,
    /// RFC 3339.
    pub issued_at: String,
    /// RFC 3339.
    pub expires_at: String,
}

fn pat(op: &str, user_id: &str) -> Event {
    Event::new(Service::Users, op).with("user_id", user_id)
}

fn with_pat(op: &str, p: &PatFields) -> Event {
    pat(op, &p.user_id)
        .with("id", p.id.as_str())
        .with("name", p.name.as_str())
        .with("description", p.description.as_str())
        .with("issued_at", p.issued_at.as_str())
        .with("expires_at", p.expires_at.as_str())
}

/// `pat.create`: id, user_id, name, description, issued_at, expires_at.
pub fn pat_create(p: &PatFields) -> Event {
    with_pat("pat.create", p)
}
/// `pat.update_name`: the PAT as renamed.
pub fn pat_update_name(p: &PatFields) -> Event {
    with_pat("pat.update_name", p)
}
/// `pat.update_description`: the PAT with its new description.
pub fn pat_update_description(p: &PatFields) -> Event {
    with_pat("pat.update_description", p)
}
/// `pat.reset_secret`: a new secret (not carried) and expiry; the old secret is dead.
pub fn pat_reset_secret(p: &PatFields) -> Event {
    with_pat("pat.reset_secret", p)
}
/// `pat.revoke`: id, user_id; the PAT stays listed, unusable.
pub fn pat_revoke(user_id: &str, id: &str) -> Event {
    pat("pat.revoke", user_id).with("id", id)
}
/// `pat.remove`: id, user_id.
pub fn pat_remove(user_id: &str, id: &str) -> Event {
    pat("pat.remove", user_id).with("id", id)
}
/// `pat.remove_all`: every PAT of `user_id` was deleted.
pub fn pat_remove_all(user_id: &str) -> Event {
    pat("pat.remove_all", user_id)
}
/// `pat.add_scope`: `scopes` (objects `{id, pat_id, domain_id, entity_type,
/// operation, entity_id}`) were added to PAT `pat_id`.
pub fn pat_add_scope(user_id: &str, pat_id: &str, scopes: Vec<Value>) -> Event {
    pat("pat.add_scope", user_id)
        .with("pat_id", pat_id)
        .with("scopes", Value::Array(scopes))
}
/// `pat.remove_scope`: the scopes `scope_ids` of PAT `pat_id` were removed.
pub fn pat_remove_scope(user_id: &str, pat_id: &str, scope_ids: &[String]) -> Event {
    pat("pat.remove_scope", user_id)
        .with("pat_id", pat_id)
        .with("scope_ids", str_list(scope_ids))
}
/// `pat.remove_all_scope`: every scope of PAT `pat_id` was removed.
pub fn pat_remove_all_scope(user_id: &str, pat_id: &str) -> Event {
    pat("pat.remove_all_scope", user_id).with("pat_id", pat_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pat_events_name_the_token_never_a_secret() {
        let p = PatFields {
            id: "p1".into(),
            user_id: "u1".into(),
            name: "ci".into(),
            description: "deploys".into(),
            issued_at: "2026-01-01T00:00:00Z".into(),
            expires_at: "2026-02-01T00:00:00Z".into(),
        };
        let ev = pat_create(&p);
        assert_eq!(ev.operation(), "pat.create");
        assert_eq!(ev.service, Service::Users);
        assert_eq!(ev.domain, None);
        assert_eq!(
            ev.field_names(),
            [
                "description",
                "expires_at",
                "id",
                "issued_at",
                "name",
                "occurred_at",
                "operation",
                "user_id"
            ]
        );
        let scopes = pat_remove_scope("u1", "p1", &["s1".into()]);
        assert_eq!(scopes.fields["scope_ids"], serde_json::json!(["s1"]));
        assert_eq!(pat_revoke("u1", "p1").fields["id"], "p1");
    }
}
