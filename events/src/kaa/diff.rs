//! The metadata diff of RFC 15/EME: which top-level keys were added, removed or
//! changed between two versions of an endpoint's metadata. A pure function, so the
//! rules (JSON text values, JSON null as Avro null, nothing for an unchanged map) are
//! tested here and the writers only call it.
//!
//! Whether keys can be *removed* is the caller's: a full replace passes the new map
//! (keys missing from it are removed); a partial update passes the old map with the
//! changed keys merged in, so nothing is ever removed by it.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// One changed key: its former and new value (JSON text, `None` for JSON null).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyUpdate {
    /// `oldValue`.
    pub old: Option<String>,
    /// `newValue`.
    pub new: Option<String>,
}

/// The `added`, `removed` and `updated` maps of a `MetadataUpdatedEvent`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataDiff {
    /// Keys only in the new map, with their value.
    pub added: BTreeMap<String, Option<String>>,
    /// Keys only in the old map, with their former value.
    pub removed: BTreeMap<String, Option<String>>,
    /// Keys in both whose value differs.
    pub updated: BTreeMap<String, KeyUpdate>,
}

impl MetadataDiff {
    /// Nothing changed: no event is published.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.updated.is_empty()
    }
}

/// The value of a key as the record carries it: JSON null is Avro null, anything else
/// its JSON text (a string keeps its quotes, an object is its compact JSON).
pub fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// The diff between `old` and `new` metadata over their top-level keys. A value that is
/// not a JSON object counts as an empty map.
pub fn metadata_diff(old: &Value, new: &Value) -> MetadataDiff {
    let empty = Map::new();
    let old = old.as_object().unwrap_or(&empty);
    let new = new.as_object().unwrap_or(&empty);
    let mut diff = MetadataDiff::default();
    for (key, value) in new {
        match old.get(key) {
            None => {
                diff.added.insert(key.clone(), value_text(value));
            }
            Some(before) if before != value => {
                let update = KeyUpdate {
                    old: value_text(before),
                    new: value_text(value),
                };
                diff.updated.insert(key.clone(), update);
            }
            Some(_) => {}
        }
    }
    for (key, value) in old {
        if !new.contains_key(key) {
            diff.removed.insert(key.clone(), value_text(value));
        }
    }
    diff
}

/// `old` with the top-level keys of `patch` set (a partial update: no key goes away).
pub fn merged(old: &Value, patch: &Map<String, Value>) -> Value {
    let mut out = old.as_object().cloned().unwrap_or_default();
    for (key, value) in patch {
        out.insert(key.clone(), value.clone());
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn some(s: &str) -> Option<String> {
        Some(s.to_string())
    }

    #[test]
    fn added_removed_and_updated_keys_with_json_text_values() {
        let old = json!({"keep": 1, "gone": "x", "change": {"a": 1}, "nulled": 5});
        let new = json!({"keep": 1, "change": {"a": 2}, "new": [1, "b"], "nulled": null, "fresh_null": null});
        let d = metadata_diff(&old, &new);
        assert_eq!(
            d.added,
            BTreeMap::from([
                ("new".into(), some(r#"[1,"b"]"#)),
                ("fresh_null".into(), None)
            ])
        );
        assert_eq!(d.removed, BTreeMap::from([("gone".into(), some(r#""x""#))]));
        assert_eq!(
            d.updated,
            BTreeMap::from([
                (
                    "change".into(),
                    KeyUpdate {
                        old: some(r#"{"a":1}"#),
                        new: some(r#"{"a":2}"#)
                    }
                ),
                (
                    "nulled".into(),
                    KeyUpdate {
                        old: some("5"),
                        new: None
                    }
                ),
            ])
        );
    }

    #[test]
    fn an_unchanged_map_is_an_empty_diff() {
        let md = json!({"a": 1, "b": {"c": [1, 2]}});
        assert!(metadata_diff(&md, &md.clone()).is_empty());
        assert!(metadata_diff(&json!({}), &json!(null)).is_empty());
    }

    #[test]
    fn a_partial_update_never_removes_keys() {
        let old = json!({"a": 1, "b": 2});
        let patch = json!({"b": 3, "c": null});
        let new = merged(&old, patch.as_object().expect("object"));
        assert_eq!(new, json!({"a": 1, "b": 3, "c": null}));
        let d = metadata_diff(&old, &new);
        assert!(d.removed.is_empty());
        assert_eq!(d.added, BTreeMap::from([("c".into(), None)]));
        assert_eq!(d.updated.len(), 1);
    }

    #[test]
    fn a_full_replace_removes_what_it_leaves_out() {
        let d = metadata_diff(&json!({"a": 1, "b": 2}), &json!({"a": 1}));
        assert_eq!(d.removed, BTreeMap::from([("b".into(), some("2"))]));
        assert!(d.added.is_empty() && d.updated.is_empty());
    }
}
