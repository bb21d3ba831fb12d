//! The QoS 2 packet ids a session received and the client has not released yet.

use std::collections::HashSet;

/// Allocated while any id is held: a `HashSet` is 48 B inline in every session's
/// state, and most devices never publish at QoS 2.
#[derive(Default)]
#[allow(clippy::box_collection)] // the point: 8 B inline, allocated only while used
pub struct IncomingQos2(Option<Box<HashSet<u16>>>);

impl IncomingQos2 {
    pub fn contains(&self, pkid: &u16) -> bool {
        self.0.as_ref().is_some_and(|ids| ids.contains(pkid))
    }

    pub fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |ids| ids.len())
    }

    /// True if `pkid` was not held yet.
    pub fn insert(&mut self, pkid: u16) -> bool {
        self.0.get_or_insert_with(Box::default).insert(pkid)
    }

    /// True if `pkid` was held; the set is freed when its last id goes.
    pub fn remove(&mut self, pkid: &u16) -> bool {
        let Some(ids) = self.0.as_mut() else {
            return false;
        };
        let removed = ids.remove(pkid);
        if ids.is_empty() {
            self.0 = None;
        }
        removed
    }

    pub fn iter(&self) -> impl Iterator<Item = &u16> {
        self.0.iter().flat_map(|ids| ids.iter())
    }
}

impl FromIterator<u16> for IncomingQos2 {
    fn from_iter<I: IntoIterator<Item = u16>>(ids: I) -> Self {
        let ids: HashSet<u16> = ids.into_iter().collect();
        IncomingQos2((!ids.is_empty()).then(|| Box::new(ids)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocated_only_while_an_id_is_held() {
        let mut ids = IncomingQos2::default();
        assert!(ids.0.is_none());
        assert!(ids.insert(7));
        assert!(!ids.insert(7), "held once");
        assert!(ids.contains(&7) && ids.len() == 1);
        assert!(!ids.remove(&8));
        assert!(ids.remove(&7));
        assert!(ids.0.is_none(), "freed with its last id");
        assert!(!ids.remove(&7));
        let restored: IncomingQos2 = [1, 2].into_iter().collect();
        let mut seen: Vec<u16> = restored.iter().copied().collect();
        seen.sort_unstable();
        assert_eq!(seen, vec![1, 2]);
        assert!(IncomingQos2::from_iter([]).0.is_none());
    }
}
