//! The query parameters each list route accepts (SuperMQ's OpenAPI,
//! `apidocs/openapi/{users,domains,clients,channels,groups}.yaml`): the one
//! declaration `magnetite_httpkit::Params` checks, so an unknown name is a 400.
//! The role filters (`actions`, `role_id`, `role_name`, `access_type`) are accepted
//! names that answer 400 until roles exist (`store::list::Filters::parse`).

use magnetite_httpkit::Accepted;

/// Paging, ordering and the filters every list has.
macro_rules! page_keys {
    ($($extra:literal),* $(,)?) => {
        &[
            "offset", "limit", "order", "dir", "metadata", "status", "tags", "tag",
            "only_total", "created_from", "created_to", $($extra),*
        ]
    };
}

/// A list route's query declaration: a unit struct accepting the page keys and
/// `extra`.
macro_rules! list_route {
    ($(#[$doc:meta])* $name:ident: $($extra:literal),* $(,)?) => {
        $(#[$doc])*
        pub(crate) struct $name;
        impl Accepted for $name {
            const KEYS: &'static [&'static str] = page_keys!($($extra),*);
        }
    };
}

list_route!(
    /// `GET /users`.
    UserList: "first_name", "last_name", "username", "email"
);

/// `GET /users/search` (paging and the user fields only).
pub(crate) struct UserSearch;
impl Accepted for UserSearch {
    const KEYS: &'static [&'static str] = &[
        "offset",
        "limit",
        "username",
        "first_name",
        "last_name",
        "email",
        "id",
    ];
}

list_route!(
    /// `GET /domains`.
    DomainList: "name", "actions", "role_id", "role_name", "access_type"
);

list_route!(
    /// `GET /{d}/clients` and `GET /{d}/users/{user}/clients`.
    ClientList: "name", "id", "actions", "role_id", "role_name", "access_type", "channel",
    "connection_type", "group", "user"
);

list_route!(
    /// `GET /{d}/channels` and `GET /{d}/users/{user}/channels`.
    ChannelList: "name", "id", "actions", "role_id", "role_name", "access_type", "client",
    "group", "user"
);

list_route!(
    /// `GET /{d}/groups` and `GET /{d}/users/{user}/groups`.
    GroupList: "name", "id", "actions", "role_id", "role_name", "access_type", "level",
    "tree", "root_group"
);

list_route!(
    /// `GET /{d}/groups/{id}/children`.
    ChildrenList: "name", "start_level", "end_level", "tree"
);

list_route!(
    /// Magnetite's relation pages `GET /{d}/channels/{id}/clients` and
    /// `GET /{d}/clients/{id}/channels`.
    RelatedList: "name"
);

/// `GET /{d}/groups/{id}/hierarchy` (SuperMQ's `Level`, `Direction`, `Tree`).
pub(crate) struct Hierarchy;
impl Accepted for Hierarchy {
    const KEYS: &'static [&'static str] = &["level", "direction", "tree"];
}
