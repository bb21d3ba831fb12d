//! Prefix-dependent naming. The outbox always holds Magistrala names; SuperMQ
//! (`--event-prefix supermq`) renames clients to things at ship time, as
//! `reference/supermq-events.md` shows: stream `supermq.things`, operations
//! `thing.*` and `channel.list_by_thing`, fields `thing_id` (`thing_key` in
//! `cert.update`), policy `entity_type` `thing`.

use serde_json::{Map, Value};

/// Which naming scheme the prefix selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    /// Magistrala names (any prefix other than `supermq`).
    Magistrala,
    /// SuperMQ names.
    SuperMq,
}

impl Naming {
    /// `supermq` selects SuperMQ naming; anything else keeps Magistrala's.
    pub fn for_prefix(prefix: &str) -> Naming {
        if prefix.eq_ignore_ascii_case("supermq") {
            Naming::SuperMq
        } else {
            Naming::Magistrala
        }
    }

    /// The service part of the stream name (`clients` becomes `things` for SuperMQ).
    pub fn service(self, canonical: &str) -> &str {
        match (self, canonical) {
            (Naming::SuperMq, "clients") => "things",
            _ => canonical,
        }
    }

    /// Renames the fields of one event in place.
    pub fn apply(self, fields: &mut Map<String, Value>) {
        if self == Naming::Magistrala {
            // SuperMQ's addition to `<entity>.create`; not in Magistrala's events.
            fields.remove(super::roles::ROLES_PROVISIONED);
            return;
        }
        let op = fields
            .get("operation")
            .and_then(Value::as_str)
            .map(rename_operation);
        if let Some(op) = &op {
            fields.insert("operation".into(), Value::from(op.as_str()));
        }
        let id_name = if op.as_deref() == Some("cert.update") {
            "thing_key"
        } else {
            "thing_id"
        };
        if let Some(v) = fields.remove("client_id") {
            fields.insert(id_name.into(), v);
        }
        if let Some(v) = fields.remove("client_ids") {
            fields.insert("thing_ids".into(), v);
        }
        if fields.get("entity_type").and_then(Value::as_str) == Some("client") {
            fields.insert("entity_type".into(), Value::from("thing"));
        }
    }
}

fn rename_operation(op: &str) -> String {
    if let Some(rest) = op.strip_prefix("client.") {
        return format!("thing.{rest}");
    }
    op.replace("list_by_client", "list_by_thing")
}
