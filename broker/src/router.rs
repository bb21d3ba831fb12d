//! The subscription index: who gets a message published to a topic.
//!
//! Exact filters (no `+`/`#`) live in a sharded hash map keyed by topic; wildcard filters
//! live in a trie. Publishing only takes read locks, and only on the shard of its topic
//! plus the trie, so publishers on different topics never wait on each other and
//! subscribe/unsubscribe (rare) are the only writers.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;

use crate::hooks::Presentation;
use crate::protocol::QoS;
use crate::session::Session;

const EXACT_SHARDS: usize = 64;

/// The options of one subscription that matter when delivering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubOptions {
    pub qos: QoS,
    pub no_local: bool,
    pub retain_as_published: bool,
    pub subscription_id: Option<u32>,
}

/// One subscription of one session. A session may hold one filter several times with
/// different presentations (a channel subscribed by id and by route): each is its own
/// entry, as each is shown its own topic.
pub struct Entry {
    pub session: Arc<Session>,
    pub options: SubOptions,
    pub presented: Option<Arc<Presentation>>,
}

impl Entry {
    fn is(&self, session_id: u64, presented: Option<&Presentation>) -> bool {
        self.session.id == session_id && self.presented.as_deref() == presented
    }
}

/// One `$share/<group>/<filter>` subscription: each message goes to one member.
struct SharedGroup {
    group: Box<str>,
    members: Vec<Entry>,
    next: AtomicUsize,
}

#[derive(Default)]
struct Subscribers {
    direct: Vec<Entry>,
    shared: Vec<SharedGroup>,
}

impl Subscribers {
    /// Adds or replaces the session's subscription; true when it already existed.
    fn add(&mut self, group: Option<&str>, entry: Entry) -> bool {
        let list = match group {
            None => &mut self.direct,
            Some(name) => match self.shared.iter().position(|g| &*g.group == name) {
                Some(i) => &mut self.shared[i].members,
                None => {
                    self.shared.push(SharedGroup {
                        group: name.into(),
                        members: Vec::new(),
                        next: AtomicUsize::new(0),
                    });
                    let last = self.shared.len() - 1;
                    &mut self.shared[last].members
                }
            },
        };
        let (id, presented) = (entry.session.id, entry.presented.clone());
        match list.iter_mut().find(|e| e.is(id, presented.as_deref())) {
            Some(existing) => {
                *existing = entry;
                true
            }
            None => {
                list.push(entry);
                false
            }
        }
    }

    fn remove(&mut self, group: Option<&str>, key: EntryKey<'_>) -> bool {
        let removed = match group {
            None => remove_entry(&mut self.direct, key),
            Some(name) => match self.shared.iter_mut().position(|g| &*g.group == name) {
                Some(i) => {
                    let removed = remove_entry(&mut self.shared[i].members, key);
                    if self.shared[i].members.is_empty() {
                        self.shared.swap_remove(i);
                    }
                    removed
                }
                None => false,
            },
        };
        removed
    }

    fn is_empty(&self) -> bool {
        self.direct.is_empty() && self.shared.is_empty()
    }

    fn visit(&self, reach: Reach, f: &mut impl FnMut(&Entry)) {
        self.direct.iter().for_each(&mut *f);
        if reach == Reach::All {
            self.shared.iter().filter_map(SharedGroup::pick).for_each(f);
        }
    }

    /// One member of the shared group `name`, if this filter has it.
    fn visit_group(&self, name: &str, f: impl FnOnce(&Entry)) {
        if let Some(pick) = self
            .shared
            .iter()
            .find(|g| &*g.group == name)
            .and_then(SharedGroup::pick)
        {
            f(pick);
        }
    }
}

impl SharedGroup {
    /// The next member in turn, preferring one that is online (an offline one queues
    /// for later).
    fn pick(&self) -> Option<&Entry> {
        let n = self.members.len();
        if n == 0 {
            return None;
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        let online = (0..n)
            .map(|k| &self.members[(start + k) % n])
            .find(|e| e.session.is_online());
        Some(online.unwrap_or(&self.members[start]))
    }
}

/// Which subscriptions a routing pass serves. In a cluster, shared groups are served
/// only through the bus (each message to one member cluster-wide), so the local pass
/// reaches the direct subscriptions alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    All,
    DirectOnly,
}

/// Which entry to remove: the session and the presentation it subscribed with.
#[derive(Clone, Copy)]
pub struct EntryKey<'a> {
    pub session_id: u64,
    pub presented: Option<&'a Presentation>,
}

fn remove_entry(list: &mut Vec<Entry>, key: EntryKey<'_>) -> bool {
    let before = list.len();
    list.retain(|e| !e.is(key.session_id, key.presented));
    before != list.len()
}

#[derive(Default)]
struct TrieNode {
    children: HashMap<Box<str>, TrieNode>,
    plus: Option<Box<TrieNode>>,
    /// Filters ending here (`a/b` or `a/+`).
    here: Subscribers,
    /// Filters ending with `#` below this node (`a/#`).
    hash: Subscribers,
}

impl TrieNode {
    fn is_empty(&self) -> bool {
        self.children.is_empty()
            && self.plus.is_none()
            && self.here.is_empty()
            && self.hash.is_empty()
    }

    fn subscribers_mut(&mut self, levels: &[&str]) -> &mut Subscribers {
        match levels.split_first() {
            None => &mut self.here,
            Some((&"#", _)) => &mut self.hash,
            Some((&"+", rest)) => self
                .plus
                .get_or_insert_with(Default::default)
                .subscribers_mut(rest),
            Some((level, rest)) => self
                .children
                .entry((*level).into())
                .or_default()
                .subscribers_mut(rest),
        }
    }

    /// Removes and prunes empty nodes on the way back up.
    fn remove(&mut self, levels: &[&str], group: Option<&str>, key: EntryKey<'_>) -> bool {
        match levels.split_first() {
            None => self.here.remove(group, key),
            Some((&"#", _)) => self.hash.remove(group, key),
            Some((&"+", rest)) => {
                let Some(child) = self.plus.as_mut() else {
                    return false;
                };
                let removed = child.remove(rest, group, key);
                if child.is_empty() {
                    self.plus = None;
                }
                removed
            }
            Some((level, rest)) => {
                let Some(child) = self.children.get_mut(*level) else {
                    return false;
                };
                let removed = child.remove(rest, group, key);
                if child.is_empty() {
                    self.children.remove(*level);
                }
                removed
            }
        }
    }

    fn visit(&self, levels: &[&str], dollar: bool, reach: Reach, f: &mut impl FnMut(&Entry)) {
        // A topic starting with `$` is not matched by a leading wildcard.
        if !dollar {
            self.hash.visit(reach, f);
        }
        match levels.split_first() {
            None => self.here.visit(reach, f),
            Some((level, rest)) => {
                if let Some(child) = self.children.get(*level) {
                    child.visit(rest, false, reach, f);
                }
                if !dollar {
                    if let Some(plus) = &self.plus {
                        plus.visit(rest, false, reach, f);
                    }
                }
            }
        }
    }

    /// The subscriptions of exactly this filter (given as levels), if any.
    fn find(&self, levels: &[&str]) -> Option<&Subscribers> {
        match levels.split_first() {
            None => Some(&self.here),
            Some((&"#", _)) => Some(&self.hash),
            Some((&"+", rest)) => self.plus.as_ref()?.find(rest),
            Some((level, rest)) => self.children.get(*level)?.find(rest),
        }
    }
}

/// One shard of exact-topic subscriptions. Hashed with ahash like the shard choice:
/// SipHash cost ~80 instructions of every routed message (callgrind, BENCHMARKS.md).
type ExactShard = RwLock<HashMap<Box<str>, Subscribers, ahash::RandomState>>;

pub struct Router {
    exact: Box<[ExactShard]>,
    hasher: ahash::RandomState,
    wild: RwLock<TrieNode>,
}

impl Default for Router {
    fn default() -> Self {
        Router {
            exact: (0..EXACT_SHARDS)
                .map(|_| RwLock::new(HashMap::default()))
                .collect(),
            hasher: ahash::RandomState::new(),
            wild: RwLock::new(TrieNode::default()),
        }
    }
}

fn is_wildcard(filter: &str) -> bool {
    filter.contains(['+', '#'])
}

impl Router {
    fn shard(&self, topic: &str) -> &ExactShard {
        let h = self.hasher.hash_one(topic) as usize;
        &self.exact[h % EXACT_SHARDS]
    }

    /// Adds (or replaces) a subscription; returns true when the session already had it
    /// (same filter, group and presentation).
    pub fn subscribe(&self, filter: &str, group: Option<&str>, entry: Entry) -> bool {
        if is_wildcard(filter) {
            let levels: Vec<&str> = filter.split('/').collect();
            self.wild.write().subscribers_mut(&levels).add(group, entry)
        } else {
            self.shard(filter)
                .write()
                .entry(filter.into())
                .or_default()
                .add(group, entry)
        }
    }

    pub fn unsubscribe(&self, filter: &str, group: Option<&str>, key: EntryKey<'_>) -> bool {
        if is_wildcard(filter) {
            let levels: Vec<&str> = filter.split('/').collect();
            self.wild.write().remove(&levels, group, key)
        } else {
            let mut shard = self.shard(filter).write();
            let Some(subs) = shard.get_mut(filter) else {
                return false;
            };
            let removed = subs.remove(group, key);
            if subs.is_empty() {
                shard.remove(filter);
            }
            removed
        }
    }

    /// Calls `f` for every subscription matching `topic` (one member per shared group).
    #[cfg(test)]
    pub fn route(&self, topic: &str, f: impl FnMut(&Entry)) {
        self.route_within(topic, Reach::All, f);
    }

    /// Calls `f` for every subscription matching `topic` that `reach` covers.
    pub fn route_within(&self, topic: &str, reach: Reach, mut f: impl FnMut(&Entry)) {
        if let Some(subs) = self.shard(topic).read().get(topic) {
            subs.visit(reach, &mut f);
        }
        let wild = self.wild.read();
        if !wild.is_empty() {
            let levels: smallvec_levels::Levels = smallvec_levels::split(topic);
            wild.visit(levels.as_slice(), topic.starts_with('$'), reach, &mut f);
        }
    }

    /// Calls `f` for one member of the shared group `group` of exactly `filter` (the
    /// bus already chose this instance for the message, see `Reach`).
    pub fn route_to_group(&self, filter: &str, group: &str, f: impl FnOnce(&Entry)) {
        if is_wildcard(filter) {
            let levels: Vec<&str> = filter.split('/').collect();
            if let Some(subs) = self.wild.read().find(&levels) {
                subs.visit_group(group, f);
            }
        } else if let Some(subs) = self.shard(filter).read().get(filter) {
            subs.visit_group(group, f);
        }
    }
}

/// Splitting a topic into levels without a heap allocation for the common short topic.
mod smallvec_levels {
    pub struct Levels<'a> {
        inline: [&'a str; 16],
        len: usize,
        spilled: Vec<&'a str>,
    }

    impl<'a> Levels<'a> {
        pub fn as_slice(&self) -> &[&'a str] {
            if self.spilled.is_empty() {
                &self.inline[..self.len]
            } else {
                &self.spilled
            }
        }
    }

    pub fn split(topic: &str) -> Levels<'_> {
        let mut levels = Levels {
            inline: [""; 16],
            len: 0,
            spilled: Vec::new(),
        };
        for level in topic.split('/') {
            if levels.len < 16 {
                levels.inline[levels.len] = level;
                levels.len += 1;
            } else {
                if levels.spilled.is_empty() {
                    levels.spilled.extend_from_slice(&levels.inline);
                }
                levels.spilled.push(level);
            }
        }
        levels
    }
}

#[cfg(test)]
#[path = "router_tests.rs"]
mod tests;
