//! Which channels' messages are stored (`--messages-store`).
//!
//! `all` stores every channel message. `opt-in` stores a channel's messages when the
//! channel's metadata, or its domain's, has `"store_messages": true`: an operator
//! running a shared platform expects storage (disk, retention, privacy) to be asked for,
//! not imposed. The answer is remembered per channel for [`OPT_IN_MAX_AGE`], so a
//! metadata change takes effect within that time; the writer task alone owns the table,
//! so it needs no lock.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use magnetite_auth::model::Kind;
use magnetite_auth::Platform;
use serde_json::Value;

/// How long an opt-in answer is trusted.
pub const OPT_IN_MAX_AGE: Duration = Duration::from_secs(30);
/// The metadata key that opts a channel (or every channel of a domain) in.
pub const OPT_IN_KEY: &str = "store_messages";
/// Channels remembered at once (bounded: emptied when full).
const MAX_REMEMBERED: usize = 100_000;

/// What `--messages-store` asks for, once the store is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreMode {
    All,
    OptIn,
}

pub struct StorePolicy {
    mode: StoreMode,
    platform: Option<Arc<Platform>>,
    remembered: HashMap<String, (bool, Instant)>,
}

impl StorePolicy {
    /// `platform` answers opt-in questions; without it (`--auth none`) there are no
    /// channels to opt in, so only `all` stores anything.
    pub fn new(mode: StoreMode, platform: Option<Arc<Platform>>) -> StorePolicy {
        StorePolicy {
            mode,
            platform,
            remembered: HashMap::new(),
        }
    }

    /// Whether messages of `channel_id` in `domain_id` are stored.
    pub async fn stores(&mut self, domain_id: &str, channel_id: &str) -> bool {
        if self.mode == StoreMode::All {
            return true;
        }
        if let Some((answer, at)) = self.remembered.get(channel_id) {
            if at.elapsed() < OPT_IN_MAX_AGE {
                return *answer;
            }
        }
        let answer = self.opted_in(domain_id, channel_id).await;
        if self.remembered.len() >= MAX_REMEMBERED {
            self.remembered.clear();
        }
        self.remembered
            .insert(channel_id.to_string(), (answer, Instant::now()));
        answer
    }

    async fn opted_in(&self, domain_id: &str, channel_id: &str) -> bool {
        let Some(platform) = &self.platform else {
            return false;
        };
        let store = &platform.store;
        if let Ok(channel) = store.entity(Kind::Channel, domain_id, channel_id).await {
            if opts_in(&channel.metadata) {
                return true;
            }
        }
        match store.domain(domain_id).await {
            Ok(domain) => opts_in(&domain.metadata),
            Err(_) => false,
        }
    }
}

/// `"store_messages": true` in `metadata`.
pub fn opts_in(metadata: &Value) -> bool {
    metadata.get(OPT_IN_KEY) == Some(&Value::Bool(true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_a_true_flag_opts_in() {
        assert!(opts_in(&json!({"store_messages": true, "x": 1})));
        for m in [
            json!({}),
            json!({"store_messages": "true"}),
            json!({"store_messages": false}),
            json!(null),
        ] {
            assert!(!opts_in(&m), "{m}");
        }
    }

    #[tokio::test]
    async fn all_stores_without_asking() {
        let mut policy = StorePolicy::new(StoreMode::All, None);
        assert!(policy.stores("d", "c").await);
        let mut policy = StorePolicy::new(StoreMode::OptIn, None);
        assert!(!policy.stores("d", "c").await);
    }
}
