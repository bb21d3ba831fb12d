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

/// `column IN (...)`: the clients of `domain_id` that `user` may read, as a condition
/// for another crate's table of per-client records in the same database (bootstrap
/// configs, certificates), so its page and total come from one condition too. Its
/// parameters are numbered after `$taken`; the values to bind follow, in order.
pub(crate) fn readable_clients_sql(
    column: &str,
    user: &str,
    domain_id: &str,
    taken: usize,
) -> (String, Vec<String>) {
    let mut filter = Filter::numbered_after(taken);
    filter.add("domain_id = ?", domain_id);
    add_readable(&mut filter, Kind::Client, user, domain_id);
    let sql = format!(
        "{column} IN (SELECT id FROM {}{})",
        Kind::Client.table(),
        filter.where_sql()
    );
    (sql, filter.binds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clients_condition_numbers_its_parameters_after_the_statements() {
        let (sql, binds) = readable_clients_sql("client_id", "u", "d", 3);
        assert!(sql.starts_with("client_id IN (SELECT id FROM clients WHERE domain_id = $4 AND"));
        assert!(
            sql.contains("$13") && !sql.contains("$14") && !sql.contains("$3 "),
            "{sql}"
        );
        assert_eq!(binds.len(), 10);
        assert_eq!(binds[0], "d");
        assert_eq!(&binds[1..4], ["u", "d", "read"]);
    }
}
