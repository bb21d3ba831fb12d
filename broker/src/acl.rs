//! Access control lists in mosquitto's `acl_file` syntax, for `--auth none`.
//!
//! ```text
//! # lines before any `user` line apply to anonymous clients
//! topic read sensors/#
//! topic deny test/nosubscribe
//! user alice
//! topic readwrite alice/#
//! # patterns apply to everyone; %c = client id, %u = username
//! pattern write devices/%c/up
//! ```
//! Access is `read`, `write`, `readwrite` (the default when omitted) or `deny`. A
//! client gets the union of its entries; a matching `deny` wins; no match means no access.

use std::path::Path;

use crate::hooks::{
    AuthDecision, ConnectInfo, FilterVerdict, Hooks, TopicVerdict, V3PublishRefusal,
};
use crate::protocol::topic;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Read,
    Write,
    ReadWrite,
    Deny,
}

#[derive(Debug, Clone)]
struct Rule {
    access: Access,
    topic: String,
}

#[derive(Debug, Default, Clone)]
pub struct Acl {
    anonymous: Vec<Rule>,
    users: std::collections::HashMap<String, Vec<Rule>>,
    patterns: Vec<Rule>,
}

#[derive(Debug, thiserror::Error)]
pub enum AclError {
    #[error("cannot read ACL file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("ACL file line {line}: {message}")]
    Syntax { line: usize, message: String },
}

fn parse_rule(words: &[&str], line: usize) -> Result<Rule, AclError> {
    let syntax = |message: &str| AclError::Syntax {
        line,
        message: message.to_string(),
    };
    let (access, topic) = match words {
        [topic] => (Access::ReadWrite, *topic),
        [access, topic] => {
            let access = match *access {
                "read" => Access::Read,
                "write" => Access::Write,
                "readwrite" => Access::ReadWrite,
                "deny" => Access::Deny,
                _ => return Err(syntax("access must be read, write, readwrite or deny")),
            };
            (access, *topic)
        }
        _ => {
            return Err(syntax(
                "expected: topic|pattern [read|write|readwrite|deny] <topic>",
            ))
        }
    };
    if !topic::valid_topic_filter(topic) {
        return Err(syntax("invalid topic filter"));
    }
    Ok(Rule {
        access,
        topic: topic.to_string(),
    })
}

impl Acl {
    pub fn load(path: &Path) -> Result<Acl, AclError> {
        let text = std::fs::read_to_string(path).map_err(|source| AclError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Acl::parse(&text)
    }

    pub fn parse(text: &str) -> Result<Acl, AclError> {
        let mut acl = Acl::default();
        let mut current_user: Option<String> = None;
        for (index, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                ["user", name] => current_user = Some((*name).to_string()),
                ["topic", rest @ ..] => {
                    let rule = parse_rule(rest, index + 1)?;
                    match &current_user {
                        Some(user) => acl.users.entry(user.clone()).or_default().push(rule),
                        None => acl.anonymous.push(rule),
                    }
                }
                ["pattern", rest @ ..] => acl.patterns.push(parse_rule(rest, index + 1)?),
                _ => {
                    return Err(AclError::Syntax {
                        line: index + 1,
                        message: format!("unknown directive: {line}"),
                    })
                }
            }
        }
        Ok(acl)
    }

    /// May `username` / `client_id` publish to `topic` (`write`) or subscribe to the
    /// filter `topic` (`!write`)?
    pub fn allows(
        &self,
        username: Option<&str>,
        client_id: &str,
        topic: &str,
        write: bool,
    ) -> bool {
        let own = match username {
            Some(user) => self.users.get(user).map(Vec::as_slice).unwrap_or(&[]),
            None => &self.anonymous,
        };
        let substituted: Vec<Rule> = self
            .patterns
            .iter()
            .map(|r| Rule {
                access: r.access,
                topic: r
                    .topic
                    .replace("%c", client_id)
                    .replace("%u", username.unwrap_or("")),
            })
            .collect();
        let rules = own.iter().chain(substituted.iter());
        let mut allowed = false;
        for rule in rules {
            if !covers(&rule.topic, topic) {
                continue;
            }
            match (rule.access, write) {
                (Access::Deny, _) => return false,
                (Access::ReadWrite, _) | (Access::Write, true) | (Access::Read, false) => {
                    allowed = true
                }
                _ => {}
            }
        }
        allowed
    }
}

/// Whether an ACL topic covers a topic name or a subscription filter, level by level
/// (a `+` or `#` in a filter needs the same or a wider wildcard in the ACL). Unlike
/// subscriptions, ACL wildcards also cover `$` topics: `topic readwrite #` means all.
fn covers(acl_topic: &str, topic_or_filter: &str) -> bool {
    let mut acl = acl_topic.split('/');
    for level in topic_or_filter.split('/') {
        match acl.next() {
            Some("#") => return true,
            Some("+") if level != "#" => continue,
            Some(a) if a == level => continue,
            _ => return false,
        }
    }
    acl.next().is_none_or(|rest| rest == "#")
}

/// Hooks for `--auth none`: everyone connects; an optional ACL filters topics.
#[derive(Debug, Default, Clone)]
pub struct OpenHooks {
    acl: Option<Acl>,
}

impl OpenHooks {
    pub fn new(acl: Option<Acl>) -> OpenHooks {
        OpenHooks { acl }
    }
}

impl Hooks for OpenHooks {
    /// The username, for user-specific ACL entries.
    type Identity = Option<String>;

    async fn authenticate(&self, info: ConnectInfo<'_>) -> AuthDecision<Option<String>> {
        AuthDecision::Allow(info.username.map(str::to_string))
    }

    async fn authorize_publish(
        &self,
        username: &Option<String>,
        client_id: &str,
        topic: &str,
    ) -> TopicVerdict {
        self.acl
            .as_ref()
            .is_none_or(|acl| acl.allows(username.as_deref(), client_id, topic, true))
            .into()
    }

    async fn authorize_subscribe(
        &self,
        username: &Option<String>,
        client_id: &str,
        filter: &str,
    ) -> FilterVerdict {
        self.acl
            .as_ref()
            .is_none_or(|acl| acl.allows(username.as_deref(), client_id, filter, false))
            .into()
    }

    /// ACL refusals answer 0x80 "unspecified error" in 5.0 too, as the Eclipse Paho
    /// interoperability suite (and clients written against it) expect for a filter an
    /// `acl_file` denies.
    fn subscribe_refusal_code(&self) -> u8 {
        crate::protocol::reason::UNSPECIFIED_ERROR
    }

    /// A 3.1.1 PUBLISH the ACL denies is acknowledged and dropped, as mosquitto does with
    /// an `acl_file`: this mode is where its users bring their ACL files, and their
    /// devices expect to stay connected (platform mode closes instead).
    fn v3_publish_refusal(&self) -> V3PublishRefusal {
        V3PublishRefusal::AckAndDrop
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "topic readwrite #\ntopic deny test/nosubscribe\nuser alice\ntopic read a/#\npattern write dev/%c/up\n";

    #[test]
    fn anonymous_rules_and_deny() {
        let acl = Acl::parse(FILE).unwrap();
        assert!(acl.allows(None, "c1", "any/topic", true));
        assert!(acl.allows(None, "c1", "test/#", false));
        assert!(!acl.allows(None, "c1", "test/nosubscribe", false));
        assert!(!acl.allows(None, "c1", "test/nosubscribe", true));
    }

    #[test]
    fn user_rules_and_patterns() {
        let acl = Acl::parse(FILE).unwrap();
        assert!(acl.allows(Some("alice"), "c1", "a/b", false));
        assert!(!acl.allows(Some("alice"), "c1", "a/b", true));
        assert!(acl.allows(Some("alice"), "c1", "dev/c1/up", true));
        assert!(!acl.allows(Some("alice"), "c1", "dev/c2/up", true));
        assert!(!acl.allows(Some("alice"), "c1", "other", false));
    }

    #[test]
    fn filters_need_a_covering_rule() {
        assert!(covers("a/#", "a/+/c"));
        assert!(covers("a/+", "a/+"));
        assert!(!covers("a/+", "a/#"));
        assert!(!covers("a/b", "a/+"));
        assert!(covers("#", "$SYS/x"));
        assert!(covers("a/b", "a/b"));
        assert!(!covers("a/b", "a/b/c"));
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let err = Acl::parse("topic readwrite #\ntopic bogus x\n").unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
    }
}
