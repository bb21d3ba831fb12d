//! What a personal notification is: Aruna's `{id, variant, message, refs}` plus
//! `created_at`. Messages are built from fixed text, ids and entity names only, never
//! from a secret; refs name each entity by type, name and id.

use serde::{Deserialize, Serialize};

/// What happened to the user (Aruna's variants where they fit, ours for the rest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Variant {
    /// The user was given access to a domain.
    PermissionGranted,
    /// The user's access to a domain was removed.
    PermissionRevoked,
    /// The user's relation to a domain changed (member <-> admin).
    PermissionUpdated,
    /// The user was invited into a domain (issue 17's invitations).
    InvitationReceived,
    /// A client of a domain the user administers was disabled.
    ClientDisabled,
    /// A client certificate of a domain the user administers is about to expire.
    CertificateExpiring,
}

impl Variant {
    /// The stored and rendered name.
    pub fn as_str(self) -> &'static str {
        match self {
            Variant::PermissionGranted => "permission_granted",
            Variant::PermissionRevoked => "permission_revoked",
            Variant::PermissionUpdated => "permission_updated",
            Variant::InvitationReceived => "invitation_received",
            Variant::ClientDisabled => "client_disabled",
            Variant::CertificateExpiring => "certificate_expiring",
        }
    }
}

/// An entity a notification is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ref {
    /// `domain`, `client`, `certificate`, `user`.
    pub ref_type: String,
    /// Its display name when it has one (the serial for a certificate), else empty.
    pub ref_name: String,
    /// Its id.
    pub ref_value: String,
}

impl Ref {
    /// A ref of `ref_type` to `id` named `name`.
    pub fn new(ref_type: &str, name: &str, id: &str) -> Ref {
        Ref {
            ref_type: ref_type.to_string(),
            ref_name: name.to_string(),
            ref_value: id.to_string(),
        }
    }
}

/// A stored notification as its owner reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notification {
    pub id: String,
    pub variant: String,
    pub message: String,
    pub refs: Vec<Ref>,
    /// RFC 3339.
    pub created_at: String,
}

/// A notification to be stored for `user_id`. `source` names what caused it
/// (`outbox:<row id>`, `cert:<serial>`, `invitation:<id>`): a user gets at most one
/// notification per source, so a source handled twice (an outbox window re-read after
/// a crash) notifies once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    pub user_id: String,
    pub source: String,
    pub variant: Variant,
    pub message: String,
    pub refs: Vec<Ref>,
}
