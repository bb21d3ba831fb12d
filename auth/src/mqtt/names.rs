//! One shared copy of each name the access cache repeats across clients: domain ids
//! and routes, channel ids and routes. 10,000 devices of one domain connected to one
//! channel hold one copy of each name, not 10,000 (~100 B per connected client).

use std::collections::HashSet;
use std::sync::Arc;

use parking_lot::Mutex;

/// Below this many names the table is never pruned.
const MIN_PRUNE_AT: usize = 1024;

/// The shared names, pruned of those no cached client uses any more whenever the table
/// has doubled since the last pruning: it holds at most about twice the names in use,
/// whatever was deleted or renamed meanwhile, at an amortised O(1) per insertion.
#[derive(Debug)]
pub struct SharedNames {
    table: Mutex<Table>,
}

#[derive(Debug)]
struct Table {
    names: HashSet<Arc<str>>,
    prune_at: usize,
}

impl Default for SharedNames {
    fn default() -> Self {
        SharedNames {
            table: Mutex::new(Table {
                names: HashSet::new(),
                prune_at: MIN_PRUNE_AT,
            }),
        }
    }
}

impl SharedNames {
    /// The shared copy of `name` (`name` itself when it is the first).
    pub fn share(&self, name: &Arc<str>) -> Arc<str> {
        let mut table = self.table.lock();
        if let Some(shared) = table.names.get(&**name) {
            return Arc::clone(shared);
        }
        if table.names.len() >= table.prune_at {
            // Only the table holds these.
            table.names.retain(|n| Arc::strong_count(n) > 1);
            table.prune_at = MIN_PRUNE_AT.max(2 * table.names.len());
        }
        table.names.insert(Arc::clone(name));
        Arc::clone(name)
    }

    pub fn len(&self) -> usize {
        self.table.lock().names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_names_share_one_copy() {
        let names = SharedNames::default();
        let first = names.share(&Arc::from("domain-1"));
        let second = names.share(&Arc::from("domain-1"));
        assert!(Arc::ptr_eq(&first, &second));
        let other = names.share(&Arc::from("domain-2"));
        assert!(!Arc::ptr_eq(&first, &other));
        assert_eq!(names.len(), 2);
    }

    #[test]
    fn names_nobody_holds_are_pruned_as_the_table_doubles() {
        let names = SharedNames::default();
        let kept: Vec<Arc<str>> = (0..10)
            .map(|i| names.share(&Arc::from(format!("kept-{i}"))))
            .collect();
        for i in 0..10 * MIN_PRUNE_AT {
            // Dropped at once: only the table holds it.
            names.share(&Arc::from(format!("gone-{i}")));
            assert!(names.len() <= MIN_PRUNE_AT + 1, "bounded: {}", names.len());
        }
        for name in &kept {
            let again = names.share(&Arc::from(&**name));
            assert!(Arc::ptr_eq(name, &again), "{name} was pruned while held");
        }
    }
}
