//! Invitations to join a domain with one of its roles (`crate::service::invitations`):
//! one row per (domain, invitee). Each change commits with its event; what a send does
//! to an existing row is decided by the pure [`send_write`], inside the transaction that
//! writes it, so two racing sends cannot both pass the checks on SQLite (one writer)
//! and a racing accept or reject finds the row in the state it checks with its
//! conditional `UPDATE`.

use magnetite_events::Event;

use super::role_rows::{self as rows, RoleSql};
use super::{Cols, Outbox, Store};
use crate::error::{AuthError, Result};
use crate::roles::Role;

/// Where an invitation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvitationState {
    Pending,
    Accepted,
    Rejected,
}

impl InvitationState {
    pub fn as_str(self) -> &'static str {
        match self {
            InvitationState::Pending => "pending",
            InvitationState::Accepted => "accepted",
            InvitationState::Rejected => "rejected",
        }
    }

    /// `pending`, `accepted`, `rejected`; `all` (or nothing) is `None`.
    pub fn parse(s: &str) -> Result<Option<InvitationState>> {
        match s {
            "" | "all" => Ok(None),
            "pending" => Ok(Some(InvitationState::Pending)),
            "accepted" => Ok(Some(InvitationState::Accepted)),
            "rejected" => Ok(Some(InvitationState::Rejected)),
            other => Err(AuthError::bad_request(format!(
                "invalid state {other:?}: pending, accepted, rejected or all"
            ))),
        }
    }

    /// The SQL condition on the `invitations` row (alias `i`).
    fn condition(self) -> &'static str {
        match self {
            InvitationState::Pending => "i.confirmed_at IS NULL AND i.rejected_at IS NULL",
            InvitationState::Accepted => "i.confirmed_at IS NOT NULL",
            InvitationState::Rejected => "i.rejected_at IS NOT NULL",
        }
    }
}

/// The state as one text column, for [`RoleSql::strings`].
const STATE_SQL: &str = "CASE WHEN confirmed_at IS NOT NULL THEN 'accepted' \
     WHEN rejected_at IS NOT NULL THEN 'rejected' ELSE 'pending' END";

/// One invitation, with the names of its domain and role when they still exist.
#[derive(Debug, Clone, PartialEq)]
pub struct Invitation {
    pub invited_by: String,
    pub invitee_user_id: String,
    pub domain_id: String,
    pub domain_name: Option<String>,
    pub role_id: String,
    pub role_name: Option<String>,
    pub created_at: String,
    pub updated_at: Option<String>,
    pub confirmed_at: Option<String>,
    pub rejected_at: Option<String>,
}

impl Invitation {
    pub fn state(&self) -> InvitationState {
        match (&self.confirmed_at, &self.rejected_at) {
            (Some(_), _) => InvitationState::Accepted,
            (None, Some(_)) => InvitationState::Rejected,
            (None, None) => InvitationState::Pending,
        }
    }
}

fn invitation_from_row(r: &impl Cols) -> Result<Invitation> {
    Ok(Invitation {
        invited_by: r.text("invited_by")?,
        invitee_user_id: r.text("invitee_user_id")?,
        domain_id: r.text("domain_id")?,
        domain_name: r.opt_text("domain_name")?,
        role_id: r.text("role_id")?,
        role_name: r.opt_text("role_name")?,
        created_at: r.text("created_at")?,
        updated_at: r.opt_text("updated_at")?,
        confirmed_at: r.opt_text("confirmed_at")?,
        rejected_at: r.opt_text("rejected_at")?,
    })
}

/// Which invitations a list shows; empty strings match everything.
#[derive(Debug, Clone, Default)]
pub struct InvitationFilter {
    pub domain_id: String,
    pub invitee_user_id: String,
    pub invited_by: String,
    pub role_id: String,
    pub state: Option<InvitationState>,
}

/// `FROM ... WHERE` of a list, binding `$1` domain, `$2` invitee, `$3` inviter,
/// `$4` role.
fn list_from(f: &InvitationFilter) -> String {
    let mut sql = String::from(
        " FROM invitations i LEFT JOIN domains d ON d.id = i.domain_id \
         LEFT JOIN roles r ON r.id = i.role_id \
         WHERE ($1 = '' OR i.domain_id = $1) AND ($2 = '' OR i.invitee_user_id = $2) \
         AND ($3 = '' OR i.invited_by = $3) AND ($4 = '' OR i.role_id = $4)",
    );
    if let Some(state) = f.state {
        sql.push_str(" AND ");
        sql.push_str(state.condition());
    }
    sql
}

const COLUMNS: &str = "SELECT i.invited_by, i.invitee_user_id, i.domain_id, \
     d.name AS domain_name, i.role_id, r.name AS role_name, i.created_at, i.updated_at, \
     i.confirmed_at, i.rejected_at";

/// What a send does to the (domain, invitee) row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendWrite {
    /// No row yet: insert one.
    Insert,
    /// A pending or rejected invitation sent again (`resend`): new role and inviter,
    /// pending again.
    Renew,
    /// An accepted invitation of someone who is no longer a member: a fresh one.
    Replace,
}

/// The decision of a send, given the invitee's current row (if any), `resend`, and
/// whether one more pending invitation fits under the domain's cap. The invitee is
/// known not to be a member (the caller checked).
pub fn send_write(
    existing: Option<InvitationState>,
    resend: bool,
    pending: u64,
    cap: u64,
) -> Result<SendWrite> {
    let write = match (existing, resend) {
        (None, _) => SendWrite::Insert,
        (Some(InvitationState::Accepted), _) => SendWrite::Replace,
        (Some(InvitationState::Pending | InvitationState::Rejected), true) => SendWrite::Renew,
        (Some(InvitationState::Pending), false) => {
            return Err(AuthError::Conflict(
                "the user already has a pending invitation to this domain; \
                 send it with \"resend\": true to invite again"
                    .into(),
            ))
        }
        (Some(InvitationState::Rejected), false) => {
            return Err(AuthError::Conflict(
                "the user rejected an invitation to this domain; \
                 send it with \"resend\": true to invite again"
                    .into(),
            ))
        }
    };
    let adds_pending = existing != Some(InvitationState::Pending);
    if adds_pending && pending >= cap {
        return Err(AuthError::Conflict(format!(
            "the domain has {cap} pending invitations, the most it may have; \
             delete some before inviting more"
        )));
    }
    Ok(write)
}

impl Store {
    /// Writes `inv` (a new invitation, or one sent again: see [`send_write`]) with `ev`,
    /// after checking inside the transaction that the invitee is a user, the role is
    /// one of the domain's, the invitee is not a member yet (409), and the domain
    /// stays under `cap` pending invitations.
    pub async fn send_invitation(
        &self,
        inv: &Invitation,
        resend: bool,
        cap: u64,
        ev: &Event,
    ) -> Result<()> {
        magnetite_db::db_tx!(self.db(), tx => {
            write_invitation(&mut *tx, inv, resend, cap).await?;
            tx.append(ev).await?;
        });
        Ok(())
    }

    /// The invitation of `invitee` to `domain_id`.
    pub async fn invitation(&self, domain_id: &str, invitee: &str) -> Result<Invitation> {
        let f = InvitationFilter {
            domain_id: domain_id.to_string(),
            invitee_user_id: invitee.to_string(),
            ..Default::default()
        };
        let (_, mut found) = self.list_invitations(&f, 0, 1).await?;
        found.pop().ok_or(AuthError::NotFound("invitation"))
    }

    /// A page of the invitations `f` selects, newest first, and their total.
    pub async fn list_invitations(
        &self,
        f: &InvitationFilter,
        offset: u64,
        limit: u64,
    ) -> Result<(u64, Vec<Invitation>)> {
        let from = list_from(f);
        let page = format!(
            "{COLUMNS}{from} ORDER BY i.created_at DESC, i.invitee_user_id \
             LIMIT {limit} OFFSET {offset}"
        );
        let count = format!("SELECT COUNT(*){from}");
        let args = [&f.domain_id, &f.invitee_user_id, &f.invited_by, &f.role_id];
        magnetite_db::db_read!(self.db(), pool => {
            let mut q = sqlx::query_scalar::<_, i64>(&count);
            for a in args {
                q = q.bind(a);
            }
            let total = q.fetch_one(pool).await?;
            let mut q = sqlx::query(&page);
            for a in args {
                q = q.bind(a);
            }
            let found = q.fetch_all(pool).await?;
            let items = found.iter().map(invitation_from_row).collect::<Result<Vec<_>>>()?;
            Ok((total.max(0) as u64, items))
        })
    }

    /// Confirms `user`'s pending invitation to `role`'s domain and makes them a member
    /// of `role`, with `events`, in one transaction: 409 if the invitation is no longer
    /// pending or the role is gone (nothing written).
    pub async fn accept_invitation(
        &self,
        role: &Role,
        user: &str,
        at: &str,
        events: &[Event],
    ) -> Result<()> {
        magnetite_db::db_tx!(self.db(), tx => {
            settle(&mut *tx, &role.domain_id, user, "confirmed_at", at).await?;
            let live = (*tx)
                .strings(
                    "SELECT id FROM roles WHERE id = $1 AND entity_id = $2",
                    &[&role.id, &role.domain_id],
                )
                .await?;
            if live.is_empty() {
                return Err(role_gone());
            }
            rows::add_members(&mut *tx, role, &[user.to_string()]).await?;
            for ev in events {
                tx.append(ev).await?;
            }
        });
        Ok(())
    }

    /// Marks `user`'s pending invitation to `domain_id` rejected (409 if not pending).
    pub async fn reject_invitation(
        &self,
        domain_id: &str,
        user: &str,
        at: &str,
        ev: &Event,
    ) -> Result<()> {
        magnetite_db::db_tx!(self.db(), tx => {
            settle(&mut *tx, domain_id, user, "rejected_at", at).await?;
            tx.append(ev).await?;
        });
        Ok(())
    }

    /// Deletes the invitation of `invitee` to `domain_id` unless it was accepted (the
    /// membership is the roles' business then): 404 if there is none, 409 if accepted.
    pub async fn delete_invitation(
        &self,
        domain_id: &str,
        invitee: &str,
        ev: &Event,
    ) -> Result<()> {
        magnetite_db::db_tx!(self.db(), tx => {
            let gone = (*tx)
                .run(
                    "DELETE FROM invitations WHERE domain_id = $1 AND invitee_user_id = $2 \
                     AND confirmed_at IS NULL",
                    &[domain_id, invitee],
                )
                .await?;
            if gone == 0 {
                return Err(match state_of(&mut *tx, domain_id, invitee).await? {
                    Some(_) => AuthError::Conflict(
                        "an accepted invitation cannot be deleted; remove the member from \
                         the role instead"
                            .into(),
                    ),
                    None => AuthError::NotFound("invitation"),
                });
            }
            tx.append(ev).await?;
        });
        Ok(())
    }
}

/// A pending invitation (neither accepted nor rejected), as a condition.
const PENDING: &str = "confirmed_at IS NULL AND rejected_at IS NULL";

/// Deletes the pending invitations naming a role that is being deleted, in its
/// transaction: they could never be accepted (409), yet they would hold places under
/// the domain's cap. No event: SuperMQ emits none for invitations that go with what
/// they name (its `DeleteUsersInvitations` under a member removal is silent too).
pub(crate) async fn drop_for_role(c: &mut impl RoleSql, role_id: &str) -> Result<u64> {
    let sql = format!("DELETE FROM invitations WHERE role_id = $1 AND {PENDING}");
    c.run(&sql, &[role_id]).await
}

/// Deletes the pending invitations of a domain naming `user`, who is leaving it (their
/// last domain role is gone: removed, unassigned, or the role deleted), in that
/// transaction: one sent *to* them would let them back in on their own, one sent *by*
/// them carries an authority they no longer have. Silent, like [`drop_for_role`].
pub(crate) async fn drop_for_leaver(
    c: &mut impl RoleSql,
    domain_id: &str,
    user: &str,
) -> Result<u64> {
    let sql = format!(
        "DELETE FROM invitations WHERE domain_id = $1 \
         AND (invitee_user_id = $2 OR invited_by = $2) AND {PENDING}"
    );
    c.run(&sql, &[domain_id, user]).await
}

/// Deletes what names a user who is being deleted: every invitation to them (nobody
/// can answer it, and ids are never reused) and the pending ones they sent.
pub(crate) async fn drop_for_deleted_user(c: &mut impl RoleSql, user: &str) -> Result<u64> {
    let sql = format!(
        "DELETE FROM invitations WHERE invitee_user_id = $1 OR (invited_by = $1 AND {PENDING})"
    );
    c.run(&sql, &[user]).await
}

fn role_gone() -> AuthError {
    AuthError::Conflict("the invitation's role no longer exists; ask for a new invitation".into())
}

/// The state of the (domain, invitee) row, if there is one.
async fn state_of(
    c: &mut impl RoleSql,
    domain_id: &str,
    invitee: &str,
) -> Result<Option<InvitationState>> {
    let sql = format!(
        "SELECT {STATE_SQL} FROM invitations WHERE domain_id = $1 AND invitee_user_id = $2"
    );
    let found = c.strings(&sql, &[domain_id, invitee]).await?;
    Ok(found
        .first()
        .and_then(|s| InvitationState::parse(s).ok().flatten()))
}

/// Sets `column` (`confirmed_at` or `rejected_at`) of a pending invitation; 409 when
/// it is not pending (any more), 404 when there is none.
async fn settle(
    c: &mut impl RoleSql,
    domain_id: &str,
    user: &str,
    column: &str,
    at: &str,
) -> Result<()> {
    let sql = format!(
        "UPDATE invitations SET {column} = $3, updated_at = $3 WHERE domain_id = $1 \
         AND invitee_user_id = $2 AND confirmed_at IS NULL AND rejected_at IS NULL"
    );
    if c.run(&sql, &[domain_id, user, at]).await? > 0 {
        return Ok(());
    }
    Err(match state_of(c, domain_id, user).await? {
        Some(state) => {
            AuthError::Conflict(format!("the invitation was already {}", state.as_str()))
        }
        None => AuthError::NotFound("invitation"),
    })
}

/// The checks and the write of [`Store::send_invitation`], on its transaction.
async fn write_invitation(
    c: &mut impl RoleSql,
    inv: &Invitation,
    resend: bool,
    cap: u64,
) -> Result<()> {
    let (d, user) = (inv.domain_id.as_str(), inv.invitee_user_id.as_str());
    if c.strings("SELECT id FROM users WHERE id = $1", &[user])
        .await?
        .is_empty()
    {
        return Err(AuthError::NotFound("user"));
    }
    let role = "SELECT id FROM roles WHERE id = $1 AND entity_id = $2";
    if c.strings(role, &[&inv.role_id, d]).await?.is_empty() {
        return Err(AuthError::NotFound("role"));
    }
    let member = "SELECT user_id FROM domain_members WHERE domain_id = $1 AND user_id = $2";
    if !c.strings(member, &[d, user]).await?.is_empty() {
        return Err(AuthError::Conflict(
            "the user is already a member of this domain".into(),
        ));
    }
    let pending = c
        .strings(
            "SELECT CAST(COUNT(*) AS TEXT) FROM invitations WHERE domain_id = $1 \
             AND confirmed_at IS NULL AND rejected_at IS NULL",
            &[d],
        )
        .await?;
    let pending = pending.first().and_then(|n| n.parse().ok()).unwrap_or(0);
    let existing = state_of(c, d, user).await?;
    let args = [d, user, &inv.invited_by, &inv.role_id, &inv.created_at];
    match send_write(existing, resend, pending, cap)? {
        SendWrite::Renew => {
            c.run(
                "UPDATE invitations SET invited_by = $3, role_id = $4, updated_at = $5, \
                 rejected_at = NULL WHERE domain_id = $1 AND invitee_user_id = $2",
                &args,
            )
            .await?;
        }
        write => {
            if write == SendWrite::Replace {
                let sql = "DELETE FROM invitations WHERE domain_id = $1 AND invitee_user_id = $2";
                c.run(sql, &[d, user]).await?;
            }
            c.run(
                "INSERT INTO invitations (domain_id, invitee_user_id, invited_by, role_id, \
                 created_at) VALUES ($1, $2, $3, $4, $5)",
                &args,
            )
            .await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use InvitationState::{Accepted, Pending, Rejected};

    #[test]
    fn a_send_inserts_renews_replaces_or_refuses() {
        assert_eq!(send_write(None, false, 0, 10).ok(), Some(SendWrite::Insert));
        assert_eq!(send_write(None, true, 0, 10).ok(), Some(SendWrite::Insert));
        assert_eq!(
            send_write(Some(Accepted), false, 0, 10).ok(),
            Some(SendWrite::Replace)
        );
        for state in [Pending, Rejected] {
            assert_eq!(
                send_write(Some(state), true, 1, 10).ok(),
                Some(SendWrite::Renew)
            );
            let err = send_write(Some(state), false, 1, 10).unwrap_err();
            assert!(err.to_string().contains("resend"), "{err}");
        }
    }

    #[test]
    fn the_pending_cap_bounds_only_what_adds_a_pending_invitation() {
        assert!(matches!(
            send_write(None, false, 10, 10),
            Err(AuthError::Conflict(_))
        ));
        assert!(send_write(Some(Rejected), true, 10, 10).is_err());
        assert!(send_write(Some(Accepted), false, 10, 10).is_err());
        // Renewing a pending one does not add one.
        assert_eq!(
            send_write(Some(Pending), true, 10, 10).ok(),
            Some(SendWrite::Renew)
        );
        assert_eq!(send_write(None, false, 9, 10).ok(), Some(SendWrite::Insert));
    }
}
