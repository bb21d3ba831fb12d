//! `?roles=true` on `GET /domains/{id}` and `GET /{d}/groups|channels|clients/{id}`:
//! the view gains `roles`, the caller's roles reaching the entity, as SuperMQ renders
//! them (`[{role_id, role_name, actions, access_type, access_provider_id}]`, the field
//! left out when there are none, like its `omitempty`). See `crate::service::held_roles`.

use magnetite_httpkit::{Accepted, Params};
use serde_json::{json, Value};

use super::{AppState, Caller};
use crate::error::{AuthError, Result};
use crate::roles::reach::Access;
use crate::roles::EntityType;

/// A view's query: only `roles` (`true`/`false`).
pub(super) struct ViewQuery;
impl Accepted for ViewQuery {
    const KEYS: &'static [&'static str] = &["roles"];
}

/// Whether the query asks for the roles; anything but `true`/`false` is a 400.
fn wants_roles(params: &Params<ViewQuery>) -> Result<bool> {
    match params.values.get("roles").map(String::as_str) {
        None | Some("") | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(AuthError::bad_request(format!(
            "invalid roles: {other:?} (true or false)"
        ))),
    }
}

/// Adds `roles` to the rendered entity `out` when the query asks for them.
pub(super) async fn add_held_roles(
    state: &AppState,
    caller: &Caller,
    params: &Params<ViewQuery>,
    (kind, domain_id, entity_id): (EntityType, &str, &str),
    out: &mut Value,
) -> Result<()> {
    if !wants_roles(params)? {
        return Ok(());
    }
    let held = state
        .held_roles(&caller.user.id, kind, domain_id, entity_id)
        .await?;
    if held.is_empty() {
        return Ok(());
    }
    let roles: Vec<Value> = held
        .iter()
        .map(|h| {
            let mut role = json!({
                "role_id": h.role.id,
                "role_name": h.role.name,
                "actions": h.actions,
                "access_type": h.access.as_str(),
            });
            if h.access != Access::Direct {
                role["access_provider_id"] = json!(h.role.entity_id);
            }
            role
        })
        .collect();
    out["roles"] = Value::from(roles);
    Ok(())
}
