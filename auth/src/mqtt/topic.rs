//! Platform topics: `m/<domain>/c/<channel>[/<subtopic>]` and the legacy
//! `channels/<channel>/messages[/<subtopic>]`.
//!
//! Subtopic rules (Magistrala's, see `reference/notes-kaa-aruna.md`): URL-unescaped,
//! leading/trailing `/` trimmed; no empty level, no space, and no wildcard character
//! mixed into a level. Wildcards `+` and `#` are allowed in a subscription's subtopic
//! only, as whole levels; never in the domain or channel part.

use std::borrow::Cow;

/// A parsed platform topic or filter.
#[derive(Debug, PartialEq, Eq)]
pub struct ChannelTopic<'a> {
    /// `None` for the legacy form (the client's own domain).
    pub domain: Option<&'a str>,
    pub channel: &'a str,
    /// The normalised subtopic (unescaped, trimmed); borrowed when already normal.
    pub subtopic: Option<Cow<'a, str>>,
    /// The text after `<channel>/` (legacy: after `messages/`) as sent, if any.
    pub raw_subtopic: Option<&'a str>,
}

impl ChannelTopic<'_> {
    /// The topic's prefix as the client wrote it: `m/<domain>/c/<channel>` or
    /// `channels/<channel>/messages`.
    pub fn written_prefix(&self) -> String {
        match self.domain {
            Some(domain) => format!("m/{domain}/c/{}", self.channel),
            None => format!("channels/{}/messages", self.channel),
        }
    }

    /// True when the text already is `m/<domain_id>/c/<channel_id>[/<subtopic>]` with a
    /// normal subtopic, so it can be routed as sent (no copy).
    pub fn is_canonical(&self, domain_id: &str, channel_id: &str) -> bool {
        self.domain == Some(domain_id)
            && self.channel == channel_id
            && self.subtopic.as_deref() == self.raw_subtopic
    }
}

/// The canonical name of a channel: `m/<domain id>/c/<channel id>`.
pub fn canonical_prefix(domain_id: &str, channel_id: &str) -> String {
    format!("m/{domain_id}/c/{channel_id}")
}

/// `prefix[/<subtopic>]`.
pub fn with_subtopic(mut prefix: String, subtopic: Option<&str>) -> String {
    if let Some(sub) = subtopic {
        prefix.push('/');
        prefix.push_str(sub);
    }
    prefix
}

/// Parses a PUBLISH topic (no wildcards anywhere).
pub fn parse_publish(topic: &str) -> Option<ChannelTopic<'_>> {
    parse(topic, false)
}

/// Parses a SUBSCRIBE filter (wildcards only inside the subtopic).
pub fn parse_subscribe(filter: &str) -> Option<ChannelTopic<'_>> {
    parse(filter, true)
}

fn parse(topic: &str, wildcards: bool) -> Option<ChannelTopic<'_>> {
    let (domain, channel, rest) = if let Some(rest) = topic.strip_prefix("m/") {
        let (domain, rest) = rest.split_once("/c/")?;
        let (channel, rest) = split_first(rest);
        (Some(domain), channel, rest)
    } else if let Some(rest) = topic.strip_prefix("channels/") {
        let (channel, rest) = split_first(rest);
        let rest = rest?;
        let rest = match rest.strip_prefix("messages") {
            Some("") => None,
            Some(r) => Some(r.strip_prefix('/')?),
            None => return None,
        };
        (None, channel, rest)
    } else {
        return None;
    };
    if domain.is_some_and(|d| !plain_level(d)) || !plain_level(channel) {
        return None;
    }
    let subtopic = match rest {
        None => None,
        Some(raw) => subtopic(raw, wildcards)?,
    };
    Some(ChannelTopic {
        domain,
        channel,
        subtopic,
        raw_subtopic: rest,
    })
}

fn split_first(s: &str) -> (&str, Option<&str>) {
    match s.split_once('/') {
        Some((first, rest)) => (first, Some(rest)),
        None => (s, None),
    }
}

/// A domain or channel part: non-empty, no wildcard, no space.
fn plain_level(s: &str) -> bool {
    !s.is_empty() && !s.contains(['+', '#', '*', '>', ' ', '/'])
}

/// The normalised subtopic, `Some(None)` when it trims to nothing, `None` if malformed.
/// A wildcard must be written as one: an escaped `+` or `#` is refused, not unescaped
/// into a wildcard; so are control characters.
fn subtopic(raw: &str, wildcards: bool) -> Option<Option<Cow<'_, str>>> {
    let unescaped = percent_decode(raw)?;
    let wildcard_chars = |s: &str| s.chars().filter(|c| matches!(c, '+' | '#')).count();
    if wildcard_chars(&unescaped) != wildcard_chars(raw) || unescaped.contains(char::is_control) {
        return None;
    }
    let trimmed = match unescaped {
        Cow::Borrowed(s) => Cow::Borrowed(s.trim_matches('/')),
        Cow::Owned(s) => Cow::Owned(s.trim_matches('/').to_string()),
    };
    if trimmed.is_empty() {
        return Some(None);
    }
    let levels: Vec<&str> = trimmed.split('/').collect();
    for (i, level) in levels.iter().enumerate() {
        if level.is_empty() || level.contains(char::is_whitespace) {
            return None;
        }
        let is_wildcard = *level == "+" || (*level == "#" && i == levels.len() - 1);
        if is_wildcard {
            if !wildcards {
                return None;
            }
        } else if level.contains(['+', '#', '*', '>']) {
            return None;
        }
    }
    Some(Some(trimmed))
}

fn percent_decode(s: &str) -> Option<Cow<'_, str>> {
    if !s.contains('%') {
        return Some(Cow::Borrowed(s));
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_two_forms() {
        let t = parse_publish("m/dom/c/ch1/temp/r%2Fx").unwrap();
        assert_eq!(t.domain, Some("dom"));
        assert_eq!(t.channel, "ch1");
        assert_eq!(t.subtopic.as_deref(), Some("temp/r/x"));
        let t = parse_publish("channels/ch1/messages").unwrap();
        assert_eq!((t.domain, t.channel, t.subtopic), (None, "ch1", None));
        let t = parse_publish("channels/ch1/messages/a/b/").unwrap();
        assert_eq!(t.subtopic.as_deref(), Some("a/b"));
        assert_eq!(parse_publish("m/d/c/ch").unwrap().subtopic, None);
    }

    #[test]
    fn refuses_malformed_topics() {
        for bad in [
            "m/d/c/",
            "m/d/x/ch",
            "m//c/ch",
            "m/d/c/ch/a//b",
            "m/d/c/ch/a b",
            "m/d/c/ch/room%201",
            "m/d/c/ch/a%2",
            "m/d/c/ch/te*st",
            "channels/ch",
            "channels/ch/msgs",
            "channels/ch/messagesX",
            "other/topic",
            "m/d/c/ch/+",
            "m/d/c/ch/%2B",
            "m/d/c/ch/a%00b",
            "m/d/c/ch/a%0Ab",
        ] {
            assert!(parse_publish(bad).is_none(), "{bad} accepted");
        }
    }

    #[test]
    fn canonical_only_when_ids_and_a_normal_subtopic() {
        let t = parse_publish("m/d1/c/ch1/a/b").unwrap();
        assert!(t.is_canonical("d1", "ch1"));
        assert!(!t.is_canonical("d1", "other"));
        for not_canonical in ["m/d1/c/ch1/a/b/", "m/d1/c/ch1/a%2Fb", "m/d1/c/ch1/"] {
            let t = parse_publish(not_canonical).unwrap();
            assert!(!t.is_canonical("d1", "ch1"), "{not_canonical}");
        }
        let legacy = parse_publish("channels/ch1/messages/a").unwrap();
        assert!(!legacy.is_canonical("d1", "ch1"));
        assert_eq!(legacy.written_prefix(), "channels/ch1/messages");
    }

    #[test]
    fn wildcards_only_inside_the_subtopic() {
        assert!(parse_subscribe("m/d/c/ch/#").is_some());
        assert!(parse_subscribe("m/d/c/ch/+/temp").is_some());
        assert!(parse_subscribe("channels/ch/messages/#").is_some());
        for bad in [
            "m/+/c/ch",
            "m/d/c/+",
            "m/d/c/#",
            "channels/+/messages",
            "m/d/c/ch/a+",
            "m/d/c/ch/#/x",
            "m/d/c/ch/%23",
            "m/d/c/ch/%2B/x",
        ] {
            assert!(parse_subscribe(bad).is_none(), "{bad} accepted");
        }
    }
}
