//! The channels a client may use for one action, in the compact form the MQTT access
//! cache keeps for every connected client.

use std::sync::Arc;

/// The channels a client may use for one action, by the names a topic may give them:
/// their id or their route, both of the client's own domain only. An id always wins
/// over a route, so a route shaped like an id (refused by the API, but possibly in an
/// old row) can never take another channel's place.
///
/// Sorted boxed slices of shared names, searched by bisection: a device connected to
/// one channel costs one 16-byte allocation here (hash sets cost ~170 B for one id,
/// with its own copy of the id), and the names themselves are shared with every other
/// cached client of the channel ([`ChannelNames::share_names`]). Gateways with
/// thousands of channels still resolve in O(log n).
#[derive(Debug, Clone, Default)]
pub struct ChannelNames {
    ids: Box<[Arc<str>]>,
    /// (route, channel id), by route.
    routes: Box<[(Arc<str>, Arc<str>)]>,
}

impl ChannelNames {
    /// The id of the channel `name` (an id or a route) names, if the client may use it.
    pub fn resolve(&self, name: &str) -> Option<&str> {
        if let Ok(i) = self.ids.binary_search_by(|id| (**id).cmp(name)) {
            return Some(&self.ids[i]);
        }
        let i = self
            .routes
            .binary_search_by(|(route, _)| (**route).cmp(name))
            .ok()?;
        Some(&self.routes[i].1)
    }

    /// Every channel id in the set.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.ids.iter().map(|id| &**id)
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Replaces each name by the copy `share` returns (the cache's shared one).
    pub fn share_names(&mut self, share: &mut impl FnMut(&Arc<str>) -> Arc<str>) {
        for id in self.ids.iter_mut() {
            *id = share(id);
        }
        for (route, id) in self.routes.iter_mut() {
            *route = share(route);
            *id = share(id);
        }
    }
}

/// From (channel id, route) pairs: an empty route is none; a route given twice names
/// the channel it was given last (as inserting into a map would).
impl FromIterator<(String, Option<String>)> for ChannelNames {
    fn from_iter<I: IntoIterator<Item = (String, Option<String>)>>(pairs: I) -> Self {
        let mut ids: Vec<Arc<str>> = Vec::new();
        let mut routes: Vec<(Arc<str>, Arc<str>)> = Vec::new();
        for (id, route) in pairs {
            let id: Arc<str> = Arc::from(id);
            if let Some(route) = route.filter(|r| !r.is_empty()) {
                routes.push((Arc::from(route), Arc::clone(&id)));
            }
            ids.push(id);
        }
        ids.sort_unstable();
        ids.dedup();
        // Latest first among equal routes (a stable sort keeps that order), then keep
        // the first of each run.
        routes.reverse();
        routes.sort_by(|a, b| a.0.cmp(&b.0));
        routes.dedup_by(|later, first| later.0 == first.0);
        ChannelNames {
            ids: ids.into_boxed_slice(),
            routes: routes.into_boxed_slice(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(pairs: &[(&str, Option<&str>)]) -> ChannelNames {
        pairs
            .iter()
            .map(|(id, route)| (id.to_string(), route.map(String::from)))
            .collect()
    }

    #[test]
    fn ids_and_routes_resolve_to_ids_and_an_id_wins_over_a_route() {
        let set = names(&[
            ("ch-b", Some("ch-a")),
            ("ch-a", Some("temps")),
            ("ch-c", None),
            ("ch-d", Some("")),
        ]);
        assert_eq!(
            set.resolve("ch-a"),
            Some("ch-a"),
            "the id, not ch-b's route"
        );
        assert_eq!(set.resolve("ch-b"), Some("ch-b"));
        assert_eq!(set.resolve("temps"), Some("ch-a"));
        assert_eq!(set.resolve("ch-c"), Some("ch-c"));
        assert_eq!(set.resolve(""), None, "an empty route is none");
        assert_eq!(set.resolve("ch-e"), None);
        assert_eq!(set.resolve("tem"), None);
        let mut ids: Vec<&str> = set.ids().collect();
        ids.sort();
        assert_eq!(ids, ["ch-a", "ch-b", "ch-c", "ch-d"]);
        assert!(!set.is_empty());
        assert!(ChannelNames::default().is_empty());
        assert_eq!(ChannelNames::default().resolve("ch-a"), None);
    }

    #[test]
    fn a_route_given_twice_names_its_last_channel_and_ids_are_kept_once() {
        let set = names(&[("ch-1", Some("r")), ("ch-2", Some("r")), ("ch-1", None)]);
        assert_eq!(set.resolve("r"), Some("ch-2"));
        assert_eq!(set.ids().count(), 2);
    }

    #[test]
    fn many_channels_resolve_by_id_and_route() {
        let set: ChannelNames = (0..2000)
            .rev()
            .map(|i| (format!("id-{i:04}"), Some(format!("route-{i}"))))
            .collect();
        for i in [0, 1, 999, 1999] {
            let id = format!("id-{i:04}");
            assert_eq!(set.resolve(&id), Some(id.as_str()));
            assert_eq!(set.resolve(&format!("route-{i}")), Some(id.as_str()));
        }
        assert_eq!(set.resolve("id-2000"), None);
    }

    #[test]
    fn shared_names_replace_the_loaded_copies() {
        let shared: Arc<str> = Arc::from("ch-1");
        let mut set = names(&[("ch-1", Some("temps"))]);
        set.share_names(&mut |name| {
            if **name == *shared {
                Arc::clone(&shared)
            } else {
                Arc::clone(name)
            }
        });
        // The map's copy, the id slot and the route's target.
        assert_eq!(Arc::strong_count(&shared), 3);
        assert_eq!(set.resolve("temps"), Some("ch-1"));
    }
}
