//! The list filter of a user who reads a domain's entities only through roles on some
//! of them (`crate::service::entity_roles::Visibility::ReadableBy`): the entities the
//! one decision (`crate::roles::decide`) would let them `read`, as SQL, so the count
//! and the page come from the same condition and nothing unbounded is loaded.
//!
//! A client (channel likewise) is readable through a role holding `read` on itself,
//! `client_read` on its parent group, or `subgroup_client_read` on a group further up,
//! i.e. its parent is strictly below such a group. A group is readable through `read`
//! on itself or `subgroup_read` on any group above it. The domain's own roles are not
//! here: `client_read` on the domain shows the whole list, unfiltered.

use super::list::Filter;
use crate::model::Kind;

/// The entities on which the user (`?`) holds the action (`?`) through a role of the
/// domain (`?`).
const HELD: &str = "SELECT r.entity_id FROM role_members m JOIN roles r ON r.id = m.role_id \
                    JOIN role_actions a ON a.role_id = r.id \
                    WHERE m.member_id = ? AND r.domain_id = ? AND a.action = ?";

/// Narrows `filter` (on `kind`'s table of `domain_id`) to what `user` may read.
pub(super) fn add_readable(filter: &mut Filter, kind: Kind, user: &str, domain_id: &str) {
    // Cycle-safe: `UNION` drops a group already found, which ends the recursion.
    let below = |seed: &str| {
        format!(
            "WITH RECURSIVE below(id) AS ({seed} UNION \
             SELECT g.id FROM groups g JOIN below b ON g.parent_id = b.id) SELECT id FROM below"
        )
    };
    match kind {
        Kind::Group => {
            let sql = format!("(id IN ({HELD}) OR parent_id IN ({}))", below(HELD));
            filter.add_many(
                &sql,
                &[user, domain_id, "read", user, domain_id, "subgroup_read"],
            );
        }
        Kind::Client | Kind::Channel => {
            let k = kind.name();
            let strictly_below = below(&format!(
                "SELECT id FROM groups WHERE parent_id IN ({HELD})"
            ));
            let sql = format!(
                "(id IN ({HELD}) OR parent_id IN ({HELD}) OR parent_id IN ({strictly_below}))"
            );
            let (parent, above) = (format!("{k}_read"), format!("subgroup_{k}_read"));
            filter.add_many(
                &sql,
                &[
                    user, domain_id, "read", user, domain_id, &parent, user, domain_id, &above,
                ],
            );
        }
    }
}
