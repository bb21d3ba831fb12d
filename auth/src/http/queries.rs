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

/// `GET /users`.
pub(crate) struct UserList;
impl Accepted for UserList {
    const KEYS: &'static [&'static str] =
        page_keys!("first_name", "last_name", "username", "email");
}

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

/// `GET /domains`.
pub(crate) struct DomainList;
impl Accepted for DomainList {
    const KEYS: &'static [&'static str] =
        page_keys!("name", "actions", "role_id", "role_name", "access_type");
}

/// `GET /{d}/clients`.
pub(crate) struct ClientList;
impl Accepted for ClientList {
    const KEYS: &'static [&'static str] = page_keys!(
        "name",
        "id",
        "actions",
        "role_id",
        "role_name",
        "access_type",
        "channel",
        "connection_type",
        "group",
        "user",
    );
}

/// `GET /{d}/channels`.
pub(crate) struct ChannelList;
impl Accepted for ChannelList {
    const KEYS: &'static [&'static str] = page_keys!(
        "name",
        "id",
        "actions",
        "role_id",
        "role_name",
        "access_type",
        "client",
        "group",
        "user",
    );
}

/// `GET /{d}/groups`.
pub(crate) struct GroupList;
impl Accepted for GroupList {
    const KEYS: &'static [&'static str] = page_keys!(
        "name",
        "id",
        "actions",
        "role_id",
        "role_name",
        "access_type",
        "level",
        "tree",
        "root_group",
    );
}

/// `GET /{d}/groups/{id}/children`.
pub(crate) struct ChildrenList;
impl Accepted for ChildrenList {
    const KEYS: &'static [&'static str] = page_keys!("name", "start_level", "end_level", "tree");
}

/// Magnetite's relation pages `GET /{d}/channels/{id}/clients` and
/// `GET /{d}/clients/{id}/channels`.
pub(crate) struct RelatedList;
impl Accepted for RelatedList {
    const KEYS: &'static [&'static str] = page_keys!("name");
}
