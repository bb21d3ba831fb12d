//! The broker's `$SYS` tree under `--auth platform`: it tells every tenant's traffic
//! (connected clients, message and byte counts of the whole instance), so it is the
//! platform operators' view, not a tenant's. Only clients created by a platform admin
//! (who is still an enabled admin) may subscribe to it; every other device is refused
//! like any filter outside its channels. Publishing there is refused by the engine
//! itself, for everyone.

use super::routing::SubscribeRoute;
use crate::store::connections::ClientAccess;

/// Whether a SUBSCRIBE filter (without `$share/<group>/`) reaches into `$SYS`.
pub fn is_sys_filter(filter: &str) -> bool {
    filter.starts_with("$SYS")
}

/// May `access`'s client read `$SYS`? Subscribed as sent: the tree has one name.
pub fn sys_subscribe_route(access: &ClientAccess) -> SubscribeRoute {
    if access.enabled && access.platform_admin {
        SubscribeRoute::AsSent
    } else {
        SubscribeRoute::Refuse
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(enabled: bool, platform_admin: bool) -> ClientAccess {
        ClientAccess {
            client_id: "c".into(),
            domain_id: "d".into(),
            domain_route: "r".into(),
            secret: Default::default(),
            enabled,
            platform_admin,
            publish: Default::default(),
            subscribe: Default::default(),
        }
    }

    #[test]
    fn only_enabled_admin_clients_read_sys() {
        assert_eq!(
            sys_subscribe_route(&client(true, true)),
            SubscribeRoute::AsSent
        );
        assert_eq!(
            sys_subscribe_route(&client(true, false)),
            SubscribeRoute::Refuse
        );
        assert_eq!(
            sys_subscribe_route(&client(false, true)),
            SubscribeRoute::Refuse
        );
    }

    #[test]
    fn sys_filters_are_recognised() {
        assert!(is_sys_filter("$SYS/#"));
        assert!(is_sys_filter("$SYS/broker/clients/connected"));
        assert!(!is_sys_filter("m/d/c/ch"));
        assert!(!is_sys_filter("#"));
    }
}
