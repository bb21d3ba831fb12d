//! The entities and their JSON form (Magistrala / SuperMQ field names).

use magnetite_events::Record;
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Enabled,
    Disabled,
    /// A domain frozen by a platform admin (`POST /domains/{id}/freeze`; SuperMQ's
    /// word): like disabled for its clients, and its users cannot act in it.
    Freezed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Enabled => "enabled",
            Status::Disabled => "disabled",
            Status::Freezed => "freezed",
        }
    }

    /// A status a request may set (`enabled`, `disabled`): freezing has its own route.
    pub fn parse(s: &str) -> Option<Status> {
        match s {
            "enabled" => Some(Status::Enabled),
            "disabled" => Some(Status::Disabled),
            _ => None,
        }
    }

    /// A stored status; an unknown one reads as disabled (never as access).
    pub fn from_column(s: &str) -> Status {
        match s {
            "freezed" => Status::Freezed,
            other => Status::parse(other).unwrap_or(Status::Disabled),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Admin,
    User,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::User => "user",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "user" => Some(Role::User),
            _ => None,
        }
    }
}

/// Fields every stored entity has, for the events' `Record`.
#[derive(Debug, Clone)]
pub struct Audit {
    pub created_at: String,
    pub updated_at: Option<String>,
    pub updated_by: Option<String>,
}

impl Audit {
    /// The event record of an audited thing: the fields users and entities fill the
    /// same way (no tags when there are none), without name, identity or owner.
    fn record(&self, id: &str, tags: &[String], metadata: &Value, status: Status) -> Record {
        Record {
            id: id.to_string(),
            metadata: Some(metadata.clone()),
            tags: (!tags.is_empty()).then(|| tags.to_vec()),
            status: Some(status.as_str().into()),
            created_at: Some(self.created_at.clone()),
            updated_at: self.updated_at.clone(),
            updated_by: self.updated_by.clone(),
            ..Record::default()
        }
    }

    /// A record created now, never updated.
    pub fn created_now() -> Audit {
        Audit {
            created_at: crate::store::now_rfc3339(),
            updated_at: None,
            updated_by: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub username: String,
    pub role: Role,
    pub tags: Vec<String>,
    pub metadata: Value,
    pub status: Status,
    pub audit: Audit,
    /// Tokens are valid only while they carry this number; a password reset bumps it,
    /// which ends every access, refresh and reset token issued before (checked where a
    /// bearer token is resolved to its user, with no extra query). Never written by
    /// ordinary updates, only by [`crate::store::Store::reset_password`].
    pub token_epoch: i64,
    /// An http(s) URL (`PATCH /users/{id}/picture`), SuperMQ's `profile_picture`.
    pub profile_picture: Option<String>,
    /// When the user proved they read mail at `email` (RFC 3339); cleared when the
    /// e-mail changes. Written only by the verification and the e-mail update.
    pub verified_at: Option<String>,
}

impl User {
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "tags": self.tags,
            "email": self.email,
            "credentials": { "username": self.username },
            "metadata": self.metadata,
            "status": self.status.as_str(),
            "role": self.role.as_str(),
            "created_at": self.audit.created_at,
            "updated_at": self.audit.updated_at,
            "updated_by": self.audit.updated_by,
            "profile_picture": self.profile_picture,
            "verified_at": self.verified_at,
        })
    }

    /// What any user may see of another (`GET /users/search`): names, no e-mail,
    /// metadata or role.
    pub fn to_search_json(&self) -> Value {
        json!({
            "id": self.id,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "credentials": { "username": self.username },
        })
    }

    pub fn record(&self) -> Record {
        Record {
            name: Some(self.username.clone()),
            identity: Some(self.email.clone()),
            ..self
                .audit
                .record(&self.id, &self.tags, &self.metadata, self.status)
        }
    }
}

#[derive(Debug, Clone)]
pub struct Domain {
    pub id: String,
    pub name: String,
    pub route: String,
    pub tags: Vec<String>,
    pub metadata: Value,
    pub status: Status,
    pub created_by: String,
    pub audit: Audit,
}

impl Domain {
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "route": self.route,
            "tags": self.tags,
            "metadata": self.metadata,
            "status": self.status.as_str(),
            "created_by": self.created_by,
            "created_at": self.audit.created_at,
            "updated_at": self.audit.updated_at,
            "updated_by": self.audit.updated_by,
        })
    }
}

/// The three domain-scoped kinds share one table shape (and one code path).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Client,
    Channel,
    Group,
}

impl Kind {
    pub fn table(self) -> &'static str {
        match self {
            Kind::Client => "clients",
            Kind::Channel => "channels",
            Kind::Group => "groups",
        }
    }

    /// Singular name, used in messages ("client not found").
    pub fn name(self) -> &'static str {
        match self {
            Kind::Client => "client",
            Kind::Channel => "channel",
            Kind::Group => "group",
        }
    }
}

/// A client, channel or group.
#[derive(Debug, Clone)]
pub struct Entity {
    pub kind: Kind,
    pub id: String,
    pub domain_id: String,
    pub name: String,
    /// Channels: optional route usable in topics instead of the id.
    pub route: Option<String>,
    /// Groups: free text.
    pub description: Option<String>,
    pub tags: Vec<String>,
    pub metadata: Value,
    pub status: Status,
    /// Parent group.
    pub parent_id: Option<String>,
    pub created_by: String,
    pub audit: Audit,
}

impl Entity {
    /// The API form; `secret` only right after it was generated or changed (it is
    /// stored hashed and cannot be shown again).
    pub fn to_json(&self, secret: Option<&str>) -> Value {
        let mut v = json!({
            "id": self.id,
            "name": self.name,
            "tags": self.tags,
            "domain_id": self.domain_id,
            "metadata": self.metadata,
            "status": self.status.as_str(),
            "created_by": self.created_by,
            "created_at": self.audit.created_at,
            "updated_at": self.audit.updated_at,
            "updated_by": self.audit.updated_by,
        });
        let parent_key = match self.kind {
            Kind::Group => "parent_id",
            _ => "parent_group_id",
        };
        v[parent_key] = json!(self.parent_id);
        match self.kind {
            Kind::Client => {
                let mut creds = json!({ "identity": self.id });
                if let Some(s) = secret {
                    creds["secret"] = json!(s);
                }
                v["credentials"] = creds;
            }
            Kind::Channel => v["route"] = json!(self.route),
            Kind::Group => v["description"] = json!(self.description),
        }
        v
    }

    pub fn record(&self) -> Record {
        Record {
            name: Some(self.name.clone()),
            owner: Some(self.created_by.clone()),
            ..self
                .audit
                .record(&self.id, &self.tags, &self.metadata, self.status)
        }
    }
}

/// Connection types: what a client may do on a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnType {
    Publish,
    Subscribe,
}

impl ConnType {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnType::Publish => "publish",
            ConnType::Subscribe => "subscribe",
        }
    }

    pub fn parse(s: &str) -> Option<ConnType> {
        match s {
            "publish" => Some(ConnType::Publish),
            "subscribe" => Some(ConnType::Subscribe),
            _ => None,
        }
    }
}
