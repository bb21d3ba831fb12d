//! Users: accounts, their profile, roles and status (credentials and tokens:
//! `credentials.rs`). Each change is written with its `user.*` event in one
//! transaction; users hold no MQTT access, so no cache is touched.

use magnetite_events::model::users as ev;
use magnetite_events::Event;
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;

use super::{metadata_of, name_of, page_of, tags_of};
use crate::access::{Actor, Caller};
use crate::error::{is_unique_violation, AuthError, Result};
use crate::model::{Audit, Role, Status, User};
use crate::platform::Platform;
use crate::store::list::ListQuery;
use crate::store::{new_id, now_rfc3339};

/// `credentials` of a create request.
#[derive(Deserialize, Default)]
pub struct NewUserCredentials {
    pub username: Option<String>,
    /// Magistrala's name for the e-mail.
    pub identity: Option<String>,
    pub secret: Option<String>,
}

/// `POST /users` body. No `Debug`: it holds a password.
#[derive(Deserialize, Default)]
pub struct NewUserInput {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
    pub credentials: Option<NewUserCredentials>,
    pub tags: Option<Vec<String>>,
    pub metadata: Option<Value>,
    /// `enabled` / `disabled`, or SuperMQ's codes 0 / 1 (its README sends `"status": 0`).
    #[serde(default, deserialize_with = "status_code")]
    pub status: Option<String>,
    /// `user` / `admin`, or SuperMQ's codes 0 / 1 (its README sends `"role": 0`).
    #[serde(default, deserialize_with = "role_code")]
    pub role: Option<String>,
}

/// A name, or the number SuperMQ's Go enums marshal it as.
#[derive(Deserialize)]
#[serde(untagged)]
enum NameOrCode {
    Name(String),
    Code(u64),
}

/// `NameOrCode` as the name `names[code]`; an unknown code stays a (refused) name.
fn named<'de, D: serde::Deserializer<'de>>(
    d: D,
    names: &[&str],
) -> std::result::Result<Option<String>, D::Error> {
    Ok(match Option::<NameOrCode>::deserialize(d)? {
        None => None,
        Some(NameOrCode::Name(name)) => Some(name),
        Some(NameOrCode::Code(code)) => Some(
            usize::try_from(code)
                .ok()
                .and_then(|i| names.get(i))
                .map_or_else(|| code.to_string(), |n| n.to_string()),
        ),
    })
}

fn role_code<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<String>, D::Error> {
    named(d, &["user", "admin"])
}

fn status_code<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<String>, D::Error> {
    named(d, &["enabled", "disabled"])
}

/// One field of `PATCH /users/{id}/<field>`, each validated and evented its own way.
pub enum UserField {
    Email(Option<String>),
    Username(Option<String>),
    Tags(Option<Vec<String>>),
    Role(Option<String>),
    /// `PATCH /users/{id}/picture` (`profile_picture`).
    ProfilePicture(Option<String>),
}

/// The longest profile picture URL kept: a link, not a place to store an image.
pub const MAX_PICTURE_URL_LEN: usize = 2048;

/// A profile picture is an absolute http(s) URL with a host, of bounded length; the
/// normalised form is kept. Anything else (`javascript:`, `data:`, a relative path)
/// is a 400: a UI puts this string in an `<img src>`.
pub(crate) fn check_picture_url(raw: &str) -> Result<String> {
    let refused = || {
        AuthError::bad_request(format!(
            "profile_picture must be an http(s) URL of at most {MAX_PICTURE_URL_LEN} bytes"
        ))
    };
    if raw.len() > MAX_PICTURE_URL_LEN {
        return Err(refused());
    }
    let url = url::Url::parse(raw).map_err(|_| refused())?;
    let web = matches!(url.scheme(), "http" | "https");
    let has_host = url.host_str().is_some_and(|h| !h.is_empty());
    if !web || !has_host || url.as_str().len() > MAX_PICTURE_URL_LEN {
        return Err(refused());
    }
    Ok(url.into())
}

/// `PATCH /users/{id}` body: absent fields stay.
#[derive(Deserialize, Default)]
pub struct UserChange {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub metadata: Option<Value>,
}

pub(crate) fn check_email(email: &str) -> Result<()> {
    let ok = email.len() <= 254
        && !email.contains(char::is_whitespace)
        && email
            .split_once('@')
            .is_some_and(|(a, b)| !a.is_empty() && b.contains('.'));
    if ok {
        Ok(())
    } else {
        Err(AuthError::bad_request("invalid email"))
    }
}

pub(crate) fn check_password(pw: &str) -> Result<()> {
    if pw.chars().count() < 8 {
        return Err(AuthError::bad_request(
            "password must be at least 8 characters",
        ));
    }
    if pw.len() > crate::passwords::MAX_PASSWORD_LEN {
        return Err(AuthError::bad_request(format!(
            "password must be at most {} bytes",
            crate::passwords::MAX_PASSWORD_LEN
        )));
    }
    Ok(())
}

/// Logins accept an e-mail or a username, so the two must never be confusable: a
/// username has no `@` (every e-mail has one), hence no username can equal or shadow
/// anyone's e-mail, and usernames are unique among themselves (database constraint).
fn check_username(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 254 || name.contains(char::is_whitespace) {
        return Err(AuthError::bad_request(
            "username must be 1 to 254 characters without spaces",
        ));
    }
    if name.contains('@') {
        return Err(AuthError::bad_request(
            "username must not contain '@': logins accept an e-mail or a username, so a username may not look like an e-mail",
        ));
    }
    Ok(())
}

/// Creates a user (used by the API and by the first-start admin bootstrap).
pub(crate) async fn create_user(
    state: &Platform,
    email: String,
    username: String,
    password: &str,
    role: Role,
    extra: (String, String, Vec<String>, Value, Status),
) -> Result<User> {
    check_email(&email)?;
    check_username(&username)?;
    check_password(password)?;
    let (first_name, last_name, tags, metadata, status) = extra;
    let user = User {
        id: new_id(),
        first_name,
        last_name,
        email,
        username,
        role,
        tags,
        metadata,
        status,
        audit: Audit::created_now(),
        token_epoch: 0,
        profile_picture: None,
        verified_at: None,
    };
    let hash = crate::passwords::hash(password).await?;
    let event = ev::user_create(&user.record());
    state
        .store
        .insert_user(&user, &hash, &event)
        .await
        .map_err(taken)?;
    Ok(user)
}

/// A unique index refused the row: the e-mail or username is taken.
fn taken(e: AuthError) -> AuthError {
    match e {
        AuthError::Database(ref db) if is_unique_violation(db) => {
            AuthError::Conflict("a user with this email or username already exists".into())
        }
        other => other,
    }
}

/// The user operations (`platform.users()`).
#[derive(Clone, Copy)]
pub struct Users<'a> {
    platform: &'a Platform,
}

impl<'a> Users<'a> {
    pub(super) fn new(platform: &'a Platform) -> Users<'a> {
        Users { platform }
    }

    /// Creates a user (platform admins only).
    pub async fn create(&self, actor: &Actor<'_>, input: NewUserInput) -> Result<User> {
        actor.require_admin()?;
        self.create_unchecked(input).await
    }

    /// Self-registration without a token (`--allow-self-register`, SuperMQ's
    /// `MG_USERS_ALLOW_SELF_REGISTER`): an enabled plain user and nothing more; a body
    /// asking for another role or status is refused. Off, it is the missing token's 401.
    pub async fn register(&self, input: NewUserInput) -> Result<User> {
        if !self.platform.config.allow_self_register {
            return Err(AuthError::Unauthorized("missing bearer token".into()));
        }
        let plain = input.role.as_deref().is_none_or(|r| r == "user")
            && input.status.as_deref().is_none_or(|s| s == "enabled");
        if !plain {
            return Err(AuthError::forbidden());
        }
        self.create_unchecked(input).await
    }

    async fn create_unchecked(&self, input: NewUserInput) -> Result<User> {
        let creds = input.credentials.unwrap_or_default();
        let email = input
            .email
            .or(creds.identity)
            .ok_or_else(|| AuthError::bad_request("missing email"))?;
        let username = creds
            .username
            .or(input.name)
            .unwrap_or_else(|| email.clone());
        let password = creds
            .secret
            .ok_or_else(|| AuthError::bad_request("missing credentials.secret"))?;
        let role = match input.role.as_deref() {
            None => Role::User,
            Some(r) => Role::parse(r)
                .ok_or_else(|| AuthError::bad_request("role must be admin or user"))?,
        };
        let status = match input.status.as_deref() {
            None => Status::Enabled,
            Some(s) => Status::parse(s).ok_or_else(|| AuthError::bad_request("invalid status"))?,
        };
        let extra = (
            input.first_name.unwrap_or_default(),
            input.last_name.unwrap_or_default(),
            tags_of(input.tags)?,
            metadata_of(input.metadata)?,
            status,
        );
        create_user(self.platform, email, username, &password, role, extra).await
    }

    /// A page of every user (platform admins only; `user.list`).
    pub async fn list(
        &self,
        actor: &Actor<'_>,
        params: &HashMap<String, String>,
    ) -> Result<(u64, ListQuery, Vec<User>)> {
        actor.require_admin()?;
        let q = ListQuery::parse(params)?;
        let store = &self.platform.store;
        let (total, users) = store.list_users(&q).await?;
        let p = page_of(total, &q);
        store.record_event(&ev::user_list(&p)).await?;
        Ok((total, q, users))
    }

    /// `GET /users/search`, open to every user (SuperMQ's UI finds members to add this
    /// way): enabled users matching at least one of `username`, `first_name`,
    /// `last_name` (substrings), `email` (whole), `id`. No filter is a 400, so the
    /// search is not a list of everyone; the caller renders only public fields.
    pub async fn search(
        &self,
        _caller: &Caller,
        params: &HashMap<String, String>,
    ) -> Result<(u64, ListQuery, Vec<User>)> {
        let mut q = ListQuery::parse(params)?;
        let f = &mut q.filters;
        let criteria = [&f.username, &f.first_name, &f.last_name, &f.email, &f.id];
        if criteria.iter().all(|c| c.is_none()) {
            return Err(AuthError::bad_request(
                "search needs username, first_name, last_name, email or id",
            ));
        }
        f.exact_email = true;
        let (total, users) = self.platform.store.list_users(&q).await?;
        Ok((total, q, users))
    }

    /// The caller's own account (`user.view_profile`).
    pub async fn profile(&self, caller: &Caller) -> Result<User> {
        let event = ev::user_view_profile(&caller.user.record());
        self.platform.store.record_event(&event).await?;
        Ok(caller.user.clone())
    }

    /// One user: themselves or a platform admin (`user.view`).
    pub async fn view(&self, actor: &Actor<'_>, id: &str) -> Result<User> {
        actor.require_self_or_admin(id)?;
        let user = self.platform.store.user(id).await?;
        let event = ev::user_view(&user.record());
        self.platform.store.record_event(&event).await?;
        Ok(user)
    }

    /// Names and metadata (`user.update`).
    pub async fn update(&self, actor: &Actor<'_>, id: &str, change: UserChange) -> Result<User> {
        actor.require_self_or_admin(id)?;
        let metadata = change.metadata.map(|m| metadata_of(Some(m))).transpose()?;
        let apply = |u: &mut User| {
            if let Some(f) = change.first_name {
                u.first_name = f;
            }
            if let Some(l) = change.last_name {
                u.last_name = l;
            }
            if let Some(m) = metadata {
                u.metadata = m;
            }
            Ok(())
        };
        self.modify(actor, id, apply, |u| ev::user_update(&u.record()))
            .await
    }

    /// One field, by the operation of that field.
    pub async fn update_field(
        &self,
        actor: &Actor<'_>,
        id: &str,
        field: UserField,
    ) -> Result<User> {
        match field {
            UserField::Email(email) => self.update_email(actor, id, email).await,
            UserField::Username(name) => self.update_username(actor, id, name).await,
            UserField::Tags(tags) => self.update_tags(actor, id, tags).await,
            UserField::Role(role) => self.update_role(actor, id, role.as_deref()).await,
            UserField::ProfilePicture(url) => self.update_picture(actor, id, url).await,
        }
    }

    /// The profile picture URL (`user.update_profile_picture`).
    pub async fn update_picture(
        &self,
        actor: &Actor<'_>,
        id: &str,
        url: Option<String>,
    ) -> Result<User> {
        actor.require_self_or_admin(id)?;
        let url = url.ok_or_else(|| AuthError::bad_request("missing profile_picture"))?;
        let url = check_picture_url(&url)?;
        let event = |u: &User| ev::user_update_profile_picture(&u.record(), &url);
        let apply = |u: &mut User| {
            u.profile_picture = Some(url.clone());
            Ok(())
        };
        self.modify(actor, id, apply, event).await
    }

    /// The e-mail (`user.update_identity`); a new one is not verified yet.
    pub async fn update_email(
        &self,
        actor: &Actor<'_>,
        id: &str,
        email: Option<String>,
    ) -> Result<User> {
        actor.require_self_or_admin(id)?;
        let email = email.ok_or_else(|| AuthError::bad_request("missing email"))?;
        check_email(&email)?;
        let apply = |u: &mut User| {
            if u.email != email {
                u.verified_at = None;
            }
            u.email = email;
            Ok(())
        };
        self.modify(actor, id, apply, |u| ev::user_update_identity(&u.record()))
            .await
    }

    /// The username (`user.update`).
    pub async fn update_username(
        &self,
        actor: &Actor<'_>,
        id: &str,
        username: Option<String>,
    ) -> Result<User> {
        actor.require_self_or_admin(id)?;
        let username = name_of(username, "username")?;
        check_username(&username)?;
        let apply = |u: &mut User| {
            u.username = username;
            Ok(())
        };
        self.modify(actor, id, apply, |u| ev::user_update(&u.record()))
            .await
    }

    /// The tags (`user.update_tags`).
    pub async fn update_tags(
        &self,
        actor: &Actor<'_>,
        id: &str,
        tags: Option<Vec<String>>,
    ) -> Result<User> {
        actor.require_self_or_admin(id)?;
        let tags = tags_of(tags)?;
        let apply = |u: &mut User| {
            u.tags = tags;
            Ok(())
        };
        self.modify(actor, id, apply, |u| ev::user_update_tags(&u.record()))
            .await
    }

    /// The platform role (platform admins only; `user.update_role`).
    pub async fn update_role(
        &self,
        actor: &Actor<'_>,
        id: &str,
        role: Option<&str>,
    ) -> Result<User> {
        actor.require_admin()?;
        let role = role
            .and_then(Role::parse)
            .ok_or_else(|| AuthError::bad_request("role must be admin or user"))?;
        let apply = |u: &mut User| {
            u.role = role;
            Ok(())
        };
        let event = |u: &User| ev::user_update_role(&u.record(), u.role.as_str());
        let user = self.modify(actor, id, apply, event).await?;
        self.forget_sys_readers();
        Ok(user)
    }

    /// Whether a device may read `$SYS` follows its creator's admin role and status
    /// (`crate::mqtt::sys`): after a change the whole MQTT access cache is reloaded
    /// (role and status changes are rare; other instances' entries age out).
    fn forget_sys_readers(&self) {
        self.platform.cache.clear();
    }

    /// Enables or disables another user (platform admins only; `user.remove` with the
    /// new status, as Magistrala does).
    pub async fn set_status(&self, actor: &Actor<'_>, id: &str, status: Status) -> Result<User> {
        actor.require_admin()?;
        if id == actor.id() {
            return Err(AuthError::bad_request("cannot change your own status"));
        }
        let apply = |u: &mut User| {
            u.status = status;
            Ok(())
        };
        let user = self
            .modify(actor, id, apply, |u| ev::user_remove(&u.record()))
            .await?;
        self.forget_sys_readers();
        Ok(user)
    }

    /// Deletes another user (platform admins only; `user.remove`, status `deleted`).
    pub async fn delete(&self, actor: &Actor<'_>, id: &str) -> Result<()> {
        actor.require_admin()?;
        if id == actor.id() {
            return Err(AuthError::bad_request("cannot delete yourself"));
        }
        let store = &self.platform.store;
        let mut record = store.user(id).await?.record();
        record.status = Some("deleted".into());
        record.updated_at = Some(now_rfc3339());
        record.updated_by = Some(actor.id().to_string());
        store.delete_user(id, &ev::user_remove(&record)).await
    }

    /// Loads `id`, applies `change`, stamps the update, stores it with its event.
    async fn modify(
        &self,
        actor: &Actor<'_>,
        id: &str,
        change: impl FnOnce(&mut User) -> Result<()>,
        make_event: impl FnOnce(&User) -> Event,
    ) -> Result<User> {
        let store = &self.platform.store;
        let mut user = store.user(id).await?;
        change(&mut user)?;
        user.audit.updated_at = Some(now_rfc3339());
        user.audit.updated_by = Some(actor.id().to_string());
        let event = make_event(&user);
        store
            .update_user(&user, None, &event)
            .await
            .map_err(taken)?;
        Ok(user)
    }
}

#[cfg(test)]
mod picture_tests {
    use super::*;

    #[test]
    fn only_bounded_http_urls_are_pictures() {
        let ok = check_picture_url("https://cdn.example.com/u/1.png").ok();
        assert_eq!(ok.as_deref(), Some("https://cdn.example.com/u/1.png"));
        assert!(check_picture_url("http://cdn.example.com/a.jpg").is_ok());
        let long = format!("https://x.example/{}", "a".repeat(MAX_PICTURE_URL_LEN));
        for bad in [
            "javascript:alert(1)",
            "data:image/png;base64,AAAA",
            "/relative.png",
            "ftp://example.com/a.png",
            "https://",
            "not a url",
            long.as_str(),
        ] {
            assert!(check_picture_url(bad).is_err(), "{bad}");
        }
    }
}
