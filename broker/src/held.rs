//! The subscriptions a session holds, by the filter text the client sent.
//!
//! Most devices hold one subscription or a few, and an idle connection should cost
//! little: a `HashMap` allocates at least 4 buckets (~370 B for one subscription),
//! where a vector sized exactly holds one in ~90 B and finds it by a short scan with no
//! hashing. Past [`SMALL`] entries the set becomes a hash map, so a client with
//! thousands of filters does not make each SUBSCRIBE a linear scan.

use std::collections::HashMap;

use bytestring::ByteString;

use crate::session::StoredSubscription;

/// Entries kept in a scanned vector before switching to a hash map.
const SMALL: usize = 8;

pub enum HeldSubscriptions {
    Small(Vec<(ByteString, StoredSubscription)>),
    Large(HashMap<ByteString, StoredSubscription>),
}

impl Default for HeldSubscriptions {
    fn default() -> Self {
        HeldSubscriptions::Small(Vec::new())
    }
}

impl HeldSubscriptions {
    /// Inserts or replaces the subscription of `filter`, returning the replaced one.
    pub fn insert(
        &mut self,
        filter: ByteString,
        subscription: StoredSubscription,
    ) -> Option<StoredSubscription> {
        match self {
            HeldSubscriptions::Small(entries) => {
                if let Some(slot) = entries.iter_mut().find(|(f, _)| *f == filter) {
                    return Some(std::mem::replace(&mut slot.1, subscription));
                }
                if entries.len() < SMALL {
                    // One more slot, not the vector's default growth to 4.
                    entries.reserve_exact(1);
                    entries.push((filter, subscription));
                    return None;
                }
                let mut map: HashMap<_, _> = entries.drain(..).collect();
                map.insert(filter, subscription);
                *self = HeldSubscriptions::Large(map);
                None
            }
            HeldSubscriptions::Large(map) => map.insert(filter, subscription),
        }
    }

    pub fn remove(&mut self, filter: &str) -> Option<StoredSubscription> {
        match self {
            HeldSubscriptions::Small(entries) => {
                let at = entries.iter().position(|(f, _)| &**f == filter)?;
                let (_, removed) = entries.swap_remove(at);
                if entries.is_empty() {
                    *entries = Vec::new();
                }
                Some(removed)
            }
            HeldSubscriptions::Large(map) => map.remove(filter),
        }
    }

    pub fn get(&self, filter: &str) -> Option<&StoredSubscription> {
        match self {
            HeldSubscriptions::Small(entries) => {
                entries.iter().find(|(f, _)| &**f == filter).map(|(_, s)| s)
            }
            HeldSubscriptions::Large(map) => map.get(filter),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            HeldSubscriptions::Small(entries) => entries.len(),
            HeldSubscriptions::Large(map) => map.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn iter(&self) -> Box<dyn Iterator<Item = (&ByteString, &StoredSubscription)> + '_> {
        match self {
            HeldSubscriptions::Small(entries) => Box::new(entries.iter().map(|(f, s)| (f, s))),
            HeldSubscriptions::Large(map) => Box::new(map.iter()),
        }
    }

    pub fn values(&self) -> impl Iterator<Item = &StoredSubscription> + '_ {
        self.iter().map(|(_, s)| s)
    }
}

impl<'a> IntoIterator for &'a HeldSubscriptions {
    type Item = (&'a ByteString, &'a StoredSubscription);
    type IntoIter = Box<dyn Iterator<Item = Self::Item> + 'a>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::QoS;
    use crate::router::SubOptions;

    fn sub(filter: &str) -> StoredSubscription {
        StoredSubscription {
            group: None,
            filter: ByteString::from(filter),
            presented: None,
            options: SubOptions {
                qos: QoS::AtLeastOnce,
                no_local: false,
                retain_as_published: false,
                subscription_id: None,
            },
        }
    }

    #[test]
    fn behaves_as_a_map_below_and_above_the_switch() {
        let mut held = HeldSubscriptions::default();
        for n in 0..20 {
            let filter = format!("f/{n}");
            assert!(held
                .insert(ByteString::from(filter.as_str()), sub(&filter))
                .is_none());
            assert_eq!(held.len(), n + 1);
            // Replacing keeps one entry per filter.
            assert!(held
                .insert(ByteString::from(filter.as_str()), sub(&filter))
                .is_some());
            assert_eq!(held.len(), n + 1);
        }
        assert!(matches!(held, HeldSubscriptions::Large(_)));
        assert_eq!(held.get("f/7").map(|s| &*s.filter), Some("f/7"));
        assert!(held.remove("f/7").is_some());
        assert!(held.remove("f/7").is_none());
        assert_eq!(held.values().count(), 19);
    }

    #[test]
    fn one_subscription_is_one_exact_allocation() {
        let mut held = HeldSubscriptions::default();
        held.insert(ByteString::from("a"), sub("a"));
        let HeldSubscriptions::Small(entries) = &held else {
            panic!("small")
        };
        assert_eq!(entries.capacity(), 1);
        assert!(held.remove("a").is_some());
        assert!(held.is_empty());
    }
}
