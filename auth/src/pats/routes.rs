//! THE table of which routes a PAT may be used on: each row maps a route (method and
//! axum path, as `MatchedPath` reports it) to the scope it needs — entity type,
//! operation, and which path parameters name the domain and the entity. A route
//! without a row refuses every PAT (403): PAT management (`/pats/...`), password and
//! e-mail changes, domain membership (assign; accepting or rejecting an invitation),
//! tokens, and every route of other crates (bootstrap, certs, events, consumers) until
//! a row is added here; messages and the journals have theirs. A route shared by
//! several entity types (the journal's `/:domain/journal/:entity_type/:id`) has one
//! row per type, each naming the value of the type's path parameter ([`RouteScope::when`]).

use super::scope::{EntityType, Wanted};
use EntityType::{Channels, Clients, Domains, Groups, Messages, Users};

/// One route a PAT may be used on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteScope {
    pub method: &'static str,
    pub path: &'static str,
    pub entity_type: EntityType,
    pub operation: &'static str,
    /// The path parameter naming the domain (id or route), if any.
    pub domain_param: Option<&'static str>,
    /// The path parameter naming the entity, if any (else only `*` scopes match).
    pub id_param: Option<&'static str>,
    /// A path parameter and the value it must have for this row to apply (`None`:
    /// every request of the route).
    pub when: Option<(&'static str, &'static str)>,
}

const fn row(
    method: &'static str,
    path: &'static str,
    entity_type: EntityType,
    operation: &'static str,
    domain_param: Option<&'static str>,
    id_param: Option<&'static str>,
) -> RouteScope {
    RouteScope {
        method,
        path,
        entity_type,
        operation,
        domain_param,
        id_param,
        when: None,
    }
}

const D: Option<&str> = Some("domain");
const ID: Option<&str> = Some("id");
const NONE: Option<&str> = None;

/// Rows of one entity kind (clients, channels, groups) on `/:domain/<kind>`.
macro_rules! entity_rows {
    ($t:expr, $base:literal, $create:literal, $list:literal, $user_list:literal) => {
        [
            row("POST", concat!("/:domain/", $base), $t, $create, D, NONE),
            row("GET", concat!("/:domain/", $base), $t, $list, D, NONE),
            row(
                "GET",
                concat!("/:domain/", $base, "/:id"),
                $t,
                "view",
                D,
                ID,
            ),
            row(
                "PATCH",
                concat!("/:domain/", $base, "/:id"),
                $t,
                "update",
                D,
                ID,
            ),
            row(
                "DELETE",
                concat!("/:domain/", $base, "/:id"),
                $t,
                "delete",
                D,
                ID,
            ),
            row(
                "PATCH",
                concat!("/:domain/", $base, "/:id/tags"),
                $t,
                "update_tags",
                D,
                ID,
            ),
            row(
                "PATCH",
                concat!("/:domain/", $base, "/:id/metadata"),
                $t,
                "update",
                D,
                ID,
            ),
            row(
                "POST",
                concat!("/:domain/", $base, "/:id/enable"),
                $t,
                "enable",
                D,
                ID,
            ),
            row(
                "POST",
                concat!("/:domain/", $base, "/:id/disable"),
                $t,
                "disable",
                D,
                ID,
            ),
            row(
                "GET",
                concat!("/:domain/users/:user/", $base),
                $t,
                $user_list,
                D,
                NONE,
            ),
        ]
    };
}

const CLIENTS: [RouteScope; 10] = entity_rows!(
    Clients,
    "clients",
    "create_clients",
    "list_clients",
    "list_user_clients"
);
const CHANNELS: [RouteScope; 10] = entity_rows!(
    Channels,
    "channels",
    "create_channels",
    "list_channels",
    "list_user_channels"
);
const GROUPS: [RouteScope; 10] = entity_rows!(
    Groups,
    "groups",
    "create_groups",
    "list_groups",
    "list_user_groups"
);

/// Every other route a PAT may be used on.
const OTHERS: &[RouteScope] = &[
    row(
        "POST",
        "/:domain/clients/bulk",
        Clients,
        "create_clients",
        D,
        NONE,
    ),
    row(
        "PATCH",
        "/:domain/clients/:id/secret",
        Clients,
        "update_secret",
        D,
        ID,
    ),
    row(
        "GET",
        "/:domain/clients/:id/channels",
        Clients,
        "view",
        D,
        ID,
    ),
    row(
        "POST",
        "/:domain/clients/:id/parent",
        Clients,
        "set_parent_group",
        D,
        ID,
    ),
    row(
        "DELETE",
        "/:domain/clients/:id/parent",
        Clients,
        "remove_parent_group",
        D,
        ID,
    ),
    row(
        "POST",
        "/:domain/channels/bulk",
        Channels,
        "create_channels",
        D,
        NONE,
    ),
    row(
        "GET",
        "/:domain/channels/:id/clients",
        Channels,
        "view",
        D,
        ID,
    ),
    row(
        "POST",
        "/:domain/channels/:id/parent",
        Channels,
        "set_parent_group",
        D,
        ID,
    ),
    row(
        "DELETE",
        "/:domain/channels/:id/parent",
        Channels,
        "remove_parent_group",
        D,
        ID,
    ),
    row(
        "POST",
        "/:domain/channels/connect",
        Channels,
        "connect_client",
        D,
        NONE,
    ),
    row(
        "POST",
        "/:domain/channels/disconnect",
        Channels,
        "disconnect_client",
        D,
        NONE,
    ),
    row(
        "POST",
        "/:domain/channels/:id/connect",
        Channels,
        "connect_client",
        D,
        ID,
    ),
    row(
        "POST",
        "/:domain/channels/:id/disconnect",
        Channels,
        "disconnect_client",
        D,
        ID,
    ),
    row(
        "POST",
        "/:domain/groups/:id/parent",
        Groups,
        "add_parent_group",
        D,
        ID,
    ),
    row(
        "DELETE",
        "/:domain/groups/:id/parent",
        Groups,
        "remove_parent_group",
        D,
        ID,
    ),
    row(
        "GET",
        "/:domain/groups/:id/children",
        Groups,
        "list_children_groups",
        D,
        ID,
    ),
    row(
        "POST",
        "/:domain/groups/:id/children",
        Groups,
        "add_children_groups",
        D,
        ID,
    ),
    row(
        "DELETE",
        "/:domain/groups/:id/children",
        Groups,
        "remove_children_groups",
        D,
        ID,
    ),
    row(
        "DELETE",
        "/:domain/groups/:id/children/all",
        Groups,
        "remove_all_children_groups",
        D,
        ID,
    ),
    row(
        "GET",
        "/:domain/groups/:id/hierarchy",
        Groups,
        "retrieve_group_hierarchy",
        D,
        ID,
    ),
    row("POST", "/domains", Domains, "create", NONE, NONE),
    row("GET", "/domains", Domains, "list", NONE, NONE),
    row("GET", "/domains/:id", Domains, "read", ID, ID),
    row("PATCH", "/domains/:id", Domains, "update", ID, ID),
    row("POST", "/domains/:id/enable", Domains, "enable", ID, ID),
    row("POST", "/domains/:id/disable", Domains, "disable", ID, ID),
    row("POST", "/domains/:id/freeze", Domains, "freeze", ID, ID),
    row("GET", "/domains/:id/users", Domains, "read", ID, ID),
    row(
        "POST",
        "/domains/:id/invitations",
        Domains,
        "send_invitation",
        ID,
        ID,
    ),
    row(
        "GET",
        "/domains/:id/invitations",
        Domains,
        "list_domain_invitation",
        ID,
        ID,
    ),
    row(
        "DELETE",
        "/domains/:id/invitations",
        Domains,
        "delete_invitation",
        ID,
        ID,
    ),
    row(
        "GET",
        "/domains/:id/invitations/:user",
        Domains,
        "view_invitation",
        ID,
        ID,
    ),
    // The caller's own invitations, of any domain: only a `*` scope of any domain.
    // Accepting and rejecting change membership: no row, no PAT.
    row(
        "GET",
        "/invitations",
        Domains,
        "list_invitation",
        NONE,
        NONE,
    ),
    row("GET", "/users", Users, "list", NONE, NONE),
    row("GET", "/users/search", Users, "list", NONE, NONE),
    row("GET", "/users/profile", Users, "view", NONE, NONE),
    row("GET", "/users/:id", Users, "view", NONE, ID),
    row("PATCH", "/users/:id", Users, "update", NONE, ID),
    row("PATCH", "/users/:id/tags", Users, "update_tags", NONE, ID),
    // Stored messages of a channel: SuperMQ's `messages` scope, `subscribe` (reading
    // what was published there), the entity being the channel.
    row(
        "GET",
        "/:domain/channels/:channel/messages",
        Messages,
        "message_subscribe",
        D,
        Some("channel"),
    ),
    // A client's journal and telemetry are views of the client; a channel's and a
    // group's journal views of the channel and the group (one route for both, whose
    // `:entity_type` segment picks the row; any other type has none).
    row("GET", "/:domain/journal/client/:id", Clients, "view", D, ID),
    row(
        "GET",
        "/:domain/journal/:entity_type/:id",
        Channels,
        "view",
        D,
        ID,
    )
    .when("entity_type", "channel"),
    row(
        "GET",
        "/:domain/journal/:entity_type/:id",
        Groups,
        "view",
        D,
        ID,
    )
    .when("entity_type", "group"),
    row(
        "GET",
        "/:domain/journal/client/:id/telemetry",
        Clients,
        "view",
        D,
        ID,
    ),
];

/// Every row, in one iterator.
pub fn table() -> impl Iterator<Item = &'static RouteScope> {
    CLIENTS.iter().chain(&CHANNELS).chain(&GROUPS).chain(OTHERS)
}

/// The row of `method` on the matched route `path` for the request's path `actual`,
/// if PATs may use it.
pub fn lookup(method: &str, path: &str, actual: &str) -> Option<&'static RouteScope> {
    table().find(|r| {
        let applies = r
            .when
            .is_none_or(|(name, value)| path_param(r.path, actual, name) == Some(value));
        r.method == method && r.path == path && applies
    })
}

impl RouteScope {
    /// This row only for requests whose path parameter `param` is `value`.
    const fn when(self, param: &'static str, value: &'static str) -> RouteScope {
        RouteScope {
            when: Some((param, value)),
            ..self
        }
    }

    /// What a request on this route asks of a PAT's scopes; `actual` is the request's
    /// path, aligned segment by segment with the route's. `domain_id` is the domain
    /// the path names, already resolved to its id by the caller (routes are accepted
    /// in paths) — `None` = take the segment as it is.
    pub fn wanted<'a>(&self, actual: &'a str, domain_id: Option<&'a str>) -> Wanted<'a> {
        let param = |name: Option<&str>| name.and_then(|n| path_param(self.path, actual, n));
        Wanted {
            entity_type: self.entity_type,
            domain_id: domain_id.or_else(|| param(self.domain_param)).unwrap_or(""),
            operation: self.operation,
            entity_id: param(self.id_param).unwrap_or(""),
        }
    }

    /// The raw domain segment of `actual`, if the route names a domain.
    pub fn domain_segment<'a>(&self, actual: &'a str) -> Option<&'a str> {
        self.domain_param
            .and_then(|n| path_param(self.path, actual, n))
    }
}

/// The segment of `actual` at the position of `:name` in `pattern`.
fn path_param<'a>(pattern: &str, actual: &'a str, name: &str) -> Option<&'a str> {
    let position = pattern
        .split('/')
        .position(|seg| seg.strip_prefix(':') == Some(name))?;
    actual.split('/').nth(position).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_names_a_valid_operation_once() {
        let mut seen = std::collections::HashSet::new();
        for r in table() {
            assert!(
                r.entity_type.allows(r.operation),
                "{} {}: {}",
                r.method,
                r.path,
                r.operation
            );
            assert!(
                seen.insert((r.method, r.path, r.when)),
                "duplicate {} {}",
                r.method,
                r.path
            );
            let when = r.when.map(|(param, _)| param);
            for p in [r.domain_param, r.id_param, when].into_iter().flatten() {
                assert!(r.path.contains(&format!(":{p}")), "{} lacks :{p}", r.path);
            }
        }
    }

    #[test]
    fn pat_management_and_secrets_have_no_row() {
        for (m, p) in [
            ("POST", "/pats"),
            ("GET", "/pats/:id"),
            ("PATCH", "/users/secret"),
            ("PATCH", "/users/:id/email"),
            ("POST", "/users/tokens/issue"),
            ("POST", "/domains/:id/users/assign"),
            ("POST", "/invitations/accept"),
            ("POST", "/invitations/reject"),
        ] {
            assert_eq!(lookup(m, p, p), None, "{m} {p}");
        }
    }

    #[test]
    fn a_shared_route_picks_its_row_by_the_entity_type_in_the_path() {
        let shared = "/:domain/journal/:entity_type/:id";
        let kind = |actual: &str| lookup("GET", shared, actual).map(|r| r.entity_type);
        assert_eq!(kind("/d1/journal/channel/x"), Some(Channels));
        assert_eq!(kind("/d1/journal/group/x"), Some(Groups));
        for other in [
            "/d1/journal/user/x",
            "/d1/journal/domain/x",
            "/d1/journal/Channel/x",
        ] {
            assert_eq!(kind(other), None, "{other}");
        }
        let w = lookup("GET", shared, "/d1/journal/group/g1")
            .unwrap()
            .wanted("/d1/journal/group/g1", None);
        assert_eq!(
            (w.entity_type, w.domain_id, w.operation, w.entity_id),
            (Groups, "d1", "view", "g1")
        );
    }

    #[test]
    fn a_request_names_its_domain_and_entity() {
        let r = lookup("GET", "/:domain/clients/:id", "/d1/clients/c1").unwrap();
        let w = r.wanted("/d1/clients/c1", None);
        assert_eq!(
            (w.domain_id, w.operation, w.entity_id),
            ("d1", "view", "c1")
        );
        assert_eq!(r.wanted("/plant/clients/c1", Some("d9")).domain_id, "d9");
        let list = lookup("GET", "/:domain/clients", "/d1/clients").unwrap();
        assert_eq!(list.wanted("/d1/clients", None).entity_id, "");
        let domain = lookup("GET", "/domains/:id", "/domains/d1").unwrap();
        let w = domain.wanted("/domains/d1", None);
        assert_eq!((w.domain_id, w.entity_id), ("d1", "d1"));
    }
}
