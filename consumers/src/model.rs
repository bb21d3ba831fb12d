//! What a consumer is: its target, where it starts, and the signed reply that comes with
//! every delivered event.

use magnetite_auth::crypto::Keys;
use serde::Deserialize;

use crate::error::ConsumerError;

/// What a consumer follows (`target` in `POST /consumers`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    Domain,
    Group,
    Channel,
    Client,
    /// Platform-level events naming a user (the caller, unless a platform admin).
    User,
}

impl TargetKind {
    /// As stored in `consumers.target`.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::Domain => "domain",
            TargetKind::Group => "group",
            TargetKind::Channel => "channel",
            TargetKind::Client => "client",
            TargetKind::User => "user",
        }
    }

    /// From the stored form.
    pub fn parse(s: &str) -> Option<TargetKind> {
        match s {
            "domain" => Some(TargetKind::Domain),
            "group" => Some(TargetKind::Group),
            "channel" => Some(TargetKind::Channel),
            "client" => Some(TargetKind::Client),
            "user" => Some(TargetKind::User),
            _ => None,
        }
    }
}

/// Where a new consumer begins (`start`): `"all"`, `"new"`, `{"time": RFC 3339}` or
/// `{"sequence": N}` (the first position delivered is N).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum StartAt {
    Named(NamedStart),
    Time { time: String },
    Sequence { sequence: i64 },
}

/// The named starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NamedStart {
    All,
    New,
}

/// A stored consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consumer {
    pub id: String,
    pub owner_id: String,
    pub target: TargetKind,
    pub target_id: String,
    pub subresources: bool,
    /// Every position up to here has been considered (delivered or out of scope).
    pub cursor: i64,
}

/// The reply that acknowledges one delivery: `<consumer>.<position>.<salt>.<hmac>`,
/// the HMAC-SHA256 (auth's consumer-reply key) of consumer, position, salt *and* the
/// owner's user id. A new salt is drawn at each (re)delivery and only the latest is
/// pending, so a reply from an earlier delivery no longer acknowledges anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub consumer: String,
    pub position: i64,
    pub salt: String,
}

/// Longest reply accepted (a UUID, a 19-digit position, 32 + 64 hex digits, dots).
pub const MAX_REPLY_LEN: usize = 160;

impl Reply {
    /// A fresh reply for a delivery (random 128-bit salt).
    pub fn fresh(consumer: &str, position: i64) -> Reply {
        Reply {
            consumer: consumer.to_string(),
            position,
            salt: hex::encode(rand::random::<[u8; 16]>()),
        }
    }

    fn message(&self, owner: &str) -> String {
        format!("{}|{}|{}|{owner}", self.consumer, self.position, self.salt)
    }

    /// The reply string handed out with the delivery.
    pub fn sign(&self, keys: &Keys, owner: &str) -> String {
        let tag = keys.sign_reply(self.message(owner).as_bytes());
        format!("{}.{}.{}.{tag}", self.consumer, self.position, self.salt)
    }

    /// Parses a reply and checks its HMAC for `caller` in constant time: a forged reply,
    /// or one signed for another user, is refused here.
    pub fn verify(text: &str, keys: &Keys, caller: &str) -> Result<Reply, ConsumerError> {
        let refused = || ConsumerError::BadRequest("malformed reply".into());
        if text.len() > MAX_REPLY_LEN {
            return Err(refused());
        }
        let mut parts = text.split('.');
        let (Some(consumer), Some(position), Some(salt), Some(tag), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(refused());
        };
        let position: i64 = position.parse().map_err(|_| refused())?;
        let reply = Reply {
            consumer: consumer.to_string(),
            position,
            salt: salt.to_string(),
        };
        if keys.verify_reply(reply.message(caller).as_bytes(), tag) {
            Ok(reply)
        } else {
            Err(ConsumerError::Forbidden)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Keys {
        Keys::from_master(&[9u8; 32])
    }

    #[test]
    fn a_signed_reply_verifies_for_its_owner_only() {
        let r = Reply::fresh("c1", 42);
        let text = r.sign(&keys(), "alice");
        assert_eq!(Reply::verify(&text, &keys(), "alice").ok(), Some(r));
        assert!(Reply::verify(&text, &keys(), "bob").is_err());
    }

    #[test]
    fn tampered_replies_are_refused() {
        let text = Reply::fresh("c1", 42).sign(&keys(), "alice");
        let moved = text.replacen(".42.", ".43.", 1);
        assert!(Reply::verify(&moved, &keys(), "alice").is_err());
        let other = text.replacen("c1.", "c2.", 1);
        assert!(Reply::verify(&other, &keys(), "alice").is_err());
        assert!(Reply::verify("c1.42.00.zz", &keys(), "alice").is_err());
        assert!(Reply::verify("nonsense", &keys(), "alice").is_err());
        assert!(Reply::verify(&"x".repeat(500), &keys(), "alice").is_err());
    }

    #[test]
    fn starts_parse_from_the_api_forms() {
        let p = |s: &str| serde_json::from_str::<StartAt>(s).ok();
        assert_eq!(p(r#""all""#), Some(StartAt::Named(NamedStart::All)));
        assert_eq!(p(r#""new""#), Some(StartAt::Named(NamedStart::New)));
        assert_eq!(
            p(r#"{"sequence": 7}"#),
            Some(StartAt::Sequence { sequence: 7 })
        );
        assert!(matches!(
            p(r#"{"time": "2024-01-01T00:00:00Z"}"#),
            Some(StartAt::Time { .. })
        ));
        assert_eq!(p(r#""later""#), None);
    }
}
