//! One ordered list of schema steps, valid SQL on both SQLite and PostgreSQL, applied at
//! start; `auth_migrations` remembers which ran. Append new steps; never edit old ones.

use super::Store;
use crate::error::Result;
use sqlx::Row;

const STEPS: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS users (id TEXT PRIMARY KEY, first_name TEXT NOT NULL, \
     last_name TEXT NOT NULL, email TEXT NOT NULL UNIQUE, username TEXT NOT NULL UNIQUE, \
     secret_hash TEXT NOT NULL, role TEXT NOT NULL, tags TEXT NOT NULL, metadata TEXT NOT NULL, \
     status TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT, updated_by TEXT)",
    "CREATE TABLE IF NOT EXISTS domains (id TEXT PRIMARY KEY, name TEXT NOT NULL, \
     route TEXT NOT NULL UNIQUE, tags TEXT NOT NULL, metadata TEXT NOT NULL, status TEXT NOT NULL, \
     created_by TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT, updated_by TEXT)",
    "CREATE TABLE IF NOT EXISTS domain_members (domain_id TEXT NOT NULL, user_id TEXT NOT NULL, \
     relation TEXT NOT NULL, PRIMARY KEY (domain_id, user_id))",
    "CREATE TABLE IF NOT EXISTS clients (id TEXT PRIMARY KEY, domain_id TEXT NOT NULL, \
     name TEXT NOT NULL, route TEXT, description TEXT, secret_hash TEXT NOT NULL, \
     tags TEXT NOT NULL, metadata TEXT NOT NULL, status TEXT NOT NULL, parent_id TEXT, \
     created_by TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT, updated_by TEXT, \
     UNIQUE (domain_id, secret_hash))",
    "CREATE TABLE IF NOT EXISTS channels (id TEXT PRIMARY KEY, domain_id TEXT NOT NULL, \
     name TEXT NOT NULL, route TEXT, description TEXT, secret_hash TEXT NOT NULL, \
     tags TEXT NOT NULL, metadata TEXT NOT NULL, status TEXT NOT NULL, parent_id TEXT, \
     created_by TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT, updated_by TEXT, \
     UNIQUE (domain_id, route))",
    "CREATE TABLE IF NOT EXISTS groups (id TEXT PRIMARY KEY, domain_id TEXT NOT NULL, \
     name TEXT NOT NULL, route TEXT, description TEXT, secret_hash TEXT NOT NULL, \
     tags TEXT NOT NULL, metadata TEXT NOT NULL, status TEXT NOT NULL, parent_id TEXT, \
     created_by TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT, updated_by TEXT)",
    "CREATE TABLE IF NOT EXISTS connections (channel_id TEXT NOT NULL, client_id TEXT NOT NULL, \
     domain_id TEXT NOT NULL, type TEXT NOT NULL, created_at TEXT NOT NULL, \
     PRIMARY KEY (channel_id, client_id, type))",
    "CREATE INDEX IF NOT EXISTS connections_by_client ON connections (client_id)",
    "CREATE INDEX IF NOT EXISTS clients_by_domain ON clients (domain_id)",
    "CREATE INDEX IF NOT EXISTS channels_by_domain ON channels (domain_id)",
    "CREATE INDEX IF NOT EXISTS groups_by_domain ON groups (domain_id)",
    "CREATE INDEX IF NOT EXISTS members_by_user ON domain_members (user_id)",
    // Bumped by a password reset: tokens carry the epoch they were issued in.
    "ALTER TABLE users ADD COLUMN token_epoch BIGINT NOT NULL DEFAULT 0",
    // The `group=` list filter and children listings look entities up by parent.
    "CREATE INDEX IF NOT EXISTS clients_by_parent ON clients (parent_id)",
    "CREATE INDEX IF NOT EXISTS channels_by_parent ON channels (parent_id)",
    "CREATE INDEX IF NOT EXISTS groups_by_parent ON groups (parent_id)",
    // SuperMQ's user fields: a picture URL, and when the e-mail was verified.
    "ALTER TABLE users ADD COLUMN profile_picture TEXT",
    "ALTER TABLE users ADD COLUMN verified_at TEXT",
    // Pending e-mail verifications: the token's keyed hash (never the token), the
    // e-mail it was sent to, its expiry (Unix seconds).
    "CREATE TABLE IF NOT EXISTS email_verifications (token_hash TEXT PRIMARY KEY, \
     user_id TEXT NOT NULL, email TEXT NOT NULL, expires_at BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS verifications_by_user ON email_verifications (user_id)",
    // Roles (`crate::roles`): on a domain, group, channel or client; `built_in` names a
    // built-in role (`admin`), NULL for the others.
    "CREATE TABLE IF NOT EXISTS roles (id TEXT PRIMARY KEY, name TEXT NOT NULL, \
     entity_type TEXT NOT NULL, entity_id TEXT NOT NULL, domain_id TEXT NOT NULL, \
     built_in TEXT, created_by TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT, \
     updated_by TEXT, UNIQUE (entity_id, name))",
    "CREATE TABLE IF NOT EXISTS role_actions (role_id TEXT NOT NULL, action TEXT NOT NULL, \
     PRIMARY KEY (role_id, action))",
    "CREATE TABLE IF NOT EXISTS role_members (role_id TEXT NOT NULL, member_id TEXT NOT NULL, \
     PRIMARY KEY (role_id, member_id))",
    "CREATE INDEX IF NOT EXISTS role_members_by_member ON role_members (member_id)",
    "CREATE INDEX IF NOT EXISTS roles_by_domain ON roles (domain_id)",
    // Personal access tokens: the keyed hash of the token (never the token), expiry in
    // Unix seconds, revoked kept as a row; and their scopes.
    "CREATE TABLE IF NOT EXISTS pats (id TEXT PRIMARY KEY, user_id TEXT NOT NULL, \
     name TEXT NOT NULL, description TEXT NOT NULL, secret_hash TEXT NOT NULL, \
     issued_at TEXT NOT NULL, expires_at BIGINT NOT NULL, updated_at TEXT, \
     revoked BIGINT NOT NULL DEFAULT 0, revoked_at TEXT)",
    "CREATE INDEX IF NOT EXISTS pats_by_user ON pats (user_id)",
    "CREATE TABLE IF NOT EXISTS pat_scopes (id TEXT PRIMARY KEY, pat_id TEXT NOT NULL, \
     domain_id TEXT NOT NULL, entity_type TEXT NOT NULL, operation TEXT NOT NULL, \
     entity_id TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS pat_scopes_by_pat ON pat_scopes (pat_id)",
    // Invitations to join a domain with one of its roles (`crate::service::invitations`):
    // one per invitee and domain; the times are RFC 3339, NULL until they happen.
    "CREATE TABLE IF NOT EXISTS invitations (domain_id TEXT NOT NULL, \
     invitee_user_id TEXT NOT NULL, invited_by TEXT NOT NULL, role_id TEXT NOT NULL, \
     created_at TEXT NOT NULL, updated_at TEXT, confirmed_at TEXT, rejected_at TEXT, \
     PRIMARY KEY (domain_id, invitee_user_id))",
    "CREATE INDEX IF NOT EXISTS invitations_by_invitee ON invitations (invitee_user_id)",
];

pub(crate) async fn apply(store: &Store) -> Result<()> {
    magnetite_db::db_tx!(store.db(), tx => {
        sqlx::query("CREATE TABLE IF NOT EXISTS auth_migrations (version BIGINT PRIMARY KEY)")
            .execute(&mut *tx)
            .await?;
        let row = sqlx::query("SELECT COUNT(*) AS n FROM auth_migrations")
            .fetch_one(&mut *tx)
            .await?;
        let done: i64 = row.try_get("n")?;
        for (i, step) in STEPS.iter().enumerate().skip(done.max(0) as usize) {
            sqlx::query(step).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO auth_migrations (version) VALUES ($1)")
                .bind(i as i64 + 1)
                .execute(&mut *tx)
                .await?;
        }
    });
    Ok(())
}
