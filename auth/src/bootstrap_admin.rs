//! First start: an empty store gets its platform admin (DESIGN §2).

use crate::error::Result;
use crate::model::{Role, Status};
use crate::platform::Platform;

/// What happened at start, so the binary can print a generated password once.
#[derive(Debug)]
pub enum AdminBootstrap {
    /// Users already exist: nothing done.
    Existing,
    /// Created from `MAGNETITE_ADMIN_EMAIL` / `MAGNETITE_ADMIN_PASSWORD`.
    Created { email: String },
    /// Created with a generated password, to be shown to the operator once.
    Generated { email: String, password: String },
}

/// Creates the admin when the store has no user yet.
pub async fn ensure_admin(
    platform: &Platform,
    email: Option<String>,
    password: Option<String>,
) -> Result<AdminBootstrap> {
    if platform.store.user_count().await? > 0 {
        return Ok(AdminBootstrap::Existing);
    }
    let email = email.unwrap_or_else(|| "admin@example.com".to_string());
    let (password, generated) = match password {
        Some(p) => (p, false),
        None => (crate::crypto::generate_secret(), true),
    };
    let extra = (
        String::new(),
        String::new(),
        Vec::new(),
        serde_json::json!({}),
        Status::Enabled,
    );
    crate::http::create_admin(
        platform,
        email.clone(),
        "admin".into(),
        &password,
        Role::Admin,
        extra,
    )
    .await?;
    Ok(if generated {
        AdminBootstrap::Generated { email, password }
    } else {
        AdminBootstrap::Created { email }
    })
}
