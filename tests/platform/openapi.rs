//! Reading the served `/openapi.json`: its operations and which template a concrete
//! request path falls under.

use serde_json::Value;

/// `(METHOD, template)` of every operation the document lists.
pub fn operations(doc: &Value) -> Vec<(String, String)> {
    let paths = doc["paths"].as_object().expect("paths object");
    let mut ops = Vec::new();
    for (template, item) in paths {
        let methods = item.as_object().expect("path item");
        for method in ["get", "post", "put", "patch", "delete"] {
            if methods.contains_key(method) {
                ops.push((method.to_uppercase(), template.clone()));
            }
        }
    }
    ops
}

/// Whether the concrete `path` fits `template` (`{name}` takes one segment).
pub fn fits(template: &str, path: &str) -> bool {
    let (t, p): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(t, p)| (t.starts_with('{') && t.ends_with('}') && !p.is_empty()) || t == p)
}

/// Whether `METHOD path` is one of `ops`.
pub fn documented(ops: &[(String, String)], method: &str, path: &str) -> bool {
    ops.iter().any(|(m, t)| m == method && fits(t, path))
}
