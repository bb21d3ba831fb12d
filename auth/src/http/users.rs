//! `/users`: accounts, their profile, roles and status (credentials: `credentials.rs`);
//! thin handlers over `crate::service::Users`.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use magnetite_httpkit::routes::{get, patch, post, Routes};
use magnetite_httpkit::{Params, Path};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use super::{page, AppState, Body, Caller, Disable, Enable, Switch};
use crate::access::Actor;
use crate::error::Result;
use crate::model::User;
use crate::service::{NewUserInput, UserChange, UserField};

pub(crate) use crate::service::users::create_user;

pub(super) fn routes() -> Routes<AppState> {
    Routes::new()
        .route("/users", post(create).get(list))
        .route("/users/profile", get(profile))
        .route("/users/search", get(search))
        .route("/users/:id", get(view).patch(update).delete(delete))
        .route("/users/:id/email", patch(update_field::<EmailBody>))
        .route("/users/:id/username", patch(update_field::<UsernameBody>))
        .route("/users/:id/tags", patch(update_field::<TagsBody>))
        .route("/users/:id/role", patch(update_field::<RoleBody>))
        .route("/users/:id/picture", patch(update_field::<PictureBody>))
        .route("/users/:id/enable", post(set_status::<Enable>))
        .route("/users/:id/disable", post(set_status::<Disable>))
}

/// `POST /users`: by a platform admin (bearer token), or without a token by anyone
/// when self-registration is on. A token that is there but bad is a 401, never a
/// fall back to registration.
async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    Body(body): Body<NewUserInput>,
) -> Result<(StatusCode, Json<Value>)> {
    let user = if super::bearer_token(&headers).is_some() {
        let caller = Caller::from_headers(&state, &headers).await?;
        state.users().create(&Actor::User(&caller), body).await?
    } else {
        state.users().register(body).await?
    };
    Ok((StatusCode::CREATED, Json(user.to_json())))
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    params: Params<super::queries::UserList>,
) -> Result<Json<Value>> {
    let (total, q, users) = state
        .users()
        .list(&Actor::User(&caller), &params.values)
        .await?;
    let items = users.iter().map(User::to_json).collect();
    Ok(Json(page("users", total, &q, items)))
}

/// `GET /users/search`: public fields of the matching users.
async fn search(
    State(state): State<AppState>,
    caller: Caller,
    params: Params<super::queries::UserSearch>,
) -> Result<Json<Value>> {
    let (total, q, users) = state.users().search(&caller, &params.values).await?;
    let items = users.iter().map(User::to_search_json).collect();
    Ok(Json(page("users", total, &q, items)))
}

async fn profile(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>> {
    Ok(Json(state.users().profile(&caller).await?.to_json()))
}

async fn view(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let user = state.users().view(&Actor::User(&caller), &id).await?;
    Ok(Json(user.to_json()))
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body<UserChange>,
) -> Result<Json<Value>> {
    let user = state
        .users()
        .update(&Actor::User(&caller), &id, body)
        .await?;
    Ok(Json(user.to_json()))
}

/// A one-field body of `PATCH /users/{id}/<field>`: one handler serves them all.
trait FieldBody: DeserializeOwned + Send + 'static {
    fn field(self) -> UserField;
}

#[derive(Deserialize)]
struct EmailBody {
    email: Option<String>,
}
impl FieldBody for EmailBody {
    fn field(self) -> UserField {
        UserField::Email(self.email)
    }
}

#[derive(Deserialize)]
struct UsernameBody {
    username: Option<String>,
}
impl FieldBody for UsernameBody {
    fn field(self) -> UserField {
        UserField::Username(self.username)
    }
}

#[derive(Deserialize)]
struct TagsBody {
    tags: Option<Vec<String>>,
}
impl FieldBody for TagsBody {
    fn field(self) -> UserField {
        UserField::Tags(self.tags)
    }
}

#[derive(Deserialize)]
struct RoleBody {
    role: Option<String>,
}
impl FieldBody for RoleBody {
    fn field(self) -> UserField {
        UserField::Role(self.role)
    }
}

#[derive(Deserialize)]
struct PictureBody {
    profile_picture: Option<String>,
}
impl FieldBody for PictureBody {
    fn field(self) -> UserField {
        UserField::ProfilePicture(self.profile_picture)
    }
}

async fn update_field<F: FieldBody>(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body<F>,
) -> Result<Json<Value>> {
    let user = state
        .users()
        .update_field(&Actor::User(&caller), &id, body.field())
        .await?;
    Ok(Json(user.to_json()))
}

/// `POST /users/{id}/enable|disable`.
async fn set_status<S: Switch>(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let user = state
        .users()
        .set_status(&Actor::User(&caller), &id, S::STATUS)
        .await?;
    Ok(Json(user.to_json()))
}

async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    state.users().delete(&Actor::User(&caller), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
