//! Who is told and by which names: lookups on the platform as it is when a
//! notification is made (not as it was when the event happened). A domain's admins are
//! its members with the `admin` relation; platform admins who are not members of the
//! domain are not told (they see everything through the API anyway).

use magnetite_auth::model::Kind;
use magnetite_auth::{AuthError, Platform};

use crate::error::Result;
use crate::model::Ref;

/// The domain's name, empty when it is gone.
pub(crate) async fn domain_name(platform: &Platform, domain_id: &str) -> Result<String> {
    match platform.store.domain(domain_id).await {
        Ok(d) if d.id == domain_id => Ok(d.name),
        // A route equal to the id of another domain cannot be (routes are never
        // id-shaped), but a lookup by id must not answer with another domain.
        Ok(_) | Err(AuthError::NotFound(_)) => Ok(String::new()),
        Err(e) => Err(e.into()),
    }
}

/// The ids of the domain's admins now.
pub(crate) async fn domain_admins(platform: &Platform, domain_id: &str) -> Result<Vec<String>> {
    let members = platform.store.members(domain_id).await?;
    Ok(members
        .into_iter()
        .filter(|(_, relation)| relation == "admin")
        .map(|(user, _)| user)
        .collect())
}

/// The client's domain and name, `None` when it no longer exists.
pub(crate) async fn client(
    platform: &Platform,
    client_id: &str,
) -> Result<Option<(String, String)>> {
    let Some(access) = platform.store.client_access(client_id).await? else {
        return Ok(None);
    };
    match platform
        .store
        .entity(Kind::Client, &access.domain_id, client_id)
        .await
    {
        Ok(c) => Ok(Some((access.domain_id.to_string(), c.name))),
        Err(AuthError::NotFound(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// `name (id)`, or the id alone when there is no name.
pub(crate) fn label(name: &str, id: &str) -> String {
    if name.is_empty() {
        id.to_string()
    } else {
        format!("{name} ({id})")
    }
}

/// The ref of a domain.
pub(crate) fn domain_ref(name: &str, id: &str) -> Ref {
    Ref::new("domain", name, id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_show_the_id_always() {
        assert_eq!(label("Plant", "d1"), "Plant (d1)");
        assert_eq!(label("", "d1"), "d1");
    }
}
