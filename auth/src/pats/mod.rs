//! Personal access tokens, the parts with no I/O: the bearer format (`token`), scopes
//! and how they match a request (`scope`), THE table of routes a PAT may be used on
//! (`routes`), and the verified-PAT cache (`cache`). Store, service and HTTP live in
//! `store::pats`, `service::pats` and `http::pats`, like every other entity.

pub mod cache;
pub mod routes;
pub mod scope;
pub mod token;

pub use cache::{PatAuth, PatCache};
pub use scope::{EntityType, Scope, ScopeInput, Wanted};
