//! Topic names, topic filters and how they match (MQTT 5.0 §4.7, 3.1.1 §4.7).

/// Why a `$share/...` filter is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    #[error("shared subscription needs $share/<group>/<filter>")]
    MalformedShared,
    #[error("shared subscription group name must not contain '+', '#' or '/'")]
    InvalidShareName,
}

/// A topic name as PUBLISH carries it: not empty, no wildcards, at most 65,535 bytes.
pub fn valid_topic_name(topic: &str) -> bool {
    !topic.is_empty() && topic.len() <= 65_535 && !topic.contains(['+', '#', '\0'])
}

/// A topic filter: `#` only as the whole last level, `+` only as a whole level.
pub fn valid_topic_filter(filter: &str) -> bool {
    if filter.is_empty() || filter.len() > 65_535 || filter.contains('\0') {
        return false;
    }
    let mut levels = filter.split('/').peekable();
    while let Some(level) = levels.next() {
        let is_last = levels.peek().is_none();
        match level {
            "#" if !is_last => return false,
            "#" | "+" => {}
            other if other.contains(['+', '#']) => return false,
            _ => {}
        }
    }
    true
}

pub fn level_count(topic: &str) -> usize {
    topic.split('/').count()
}

/// Whether `filter` matches the topic name `topic`. Filters starting with a wildcard do
/// not match topics starting with `$` [MQTT-4.7.2-1]; `a/#` matches `a`.
pub fn matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && filter.starts_with(['+', '#']) {
        return false;
    }
    let mut topic_levels = topic.split('/');
    for pattern in filter.split('/') {
        if pattern == "#" {
            return true;
        }
        match topic_levels.next() {
            Some(level) if pattern == "+" || pattern == level => {}
            _ => return false,
        }
    }
    topic_levels.next().is_none()
}

/// Splits `$share/<group>/<filter>` into `(group, filter)`; `Ok(None)` for a plain filter.
pub fn parse_shared(filter: &str) -> Result<Option<(&str, &str)>, TopicError> {
    let Some(rest) = filter.strip_prefix("$share/") else {
        if filter == "$share" {
            return Err(TopicError::MalformedShared);
        }
        return Ok(None);
    };
    let Some((group, inner)) = rest.split_once('/') else {
        return Err(TopicError::MalformedShared);
    };
    if group.is_empty() || inner.is_empty() {
        return Err(TopicError::MalformedShared);
    }
    if group.contains(['+', '#']) {
        return Err(TopicError::InvalidShareName);
    }
    Ok(Some((group, inner)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching_table() {
        let cases = [
            ("sport/#", "sport", true),
            ("sport/#", "sport/tennis/player1", true),
            ("sport/tennis/+", "sport/tennis/player1", true),
            ("sport/tennis/+", "sport/tennis/player1/ranking", false),
            ("sport/+", "sport", false),
            ("sport/+", "sport/", true),
            ("+/+", "/finance", true),
            ("/+", "/finance", true),
            ("+", "/finance", false),
            ("#", "$SYS/x", false),
            ("+/x", "$SYS/x", false),
            ("$SYS/#", "$SYS/x", true),
            ("a/b", "a/b", true),
            ("a/b", "a/b/c", false),
            ("a//b", "a//b", true),
        ];
        for (filter, topic, expected) in cases {
            assert_eq!(matches(filter, topic), expected, "{filter} vs {topic}");
        }
    }

    #[test]
    fn filter_validity() {
        for ok in ["#", "a/#", "+", "+/+", "a/+/b", "/", "a//b"] {
            assert!(valid_topic_filter(ok), "{ok}");
        }
        for bad in ["", "a#", "a/#/b", "a+", "a/b+/c", "##"] {
            assert!(!valid_topic_filter(bad), "{bad}");
        }
        assert!(valid_topic_name("a/b"));
        assert!(!valid_topic_name("a/+"));
        assert!(!valid_topic_name(""));
    }

    #[test]
    fn shared_subscriptions() {
        assert_eq!(parse_shared("$share/g/a/+"), Ok(Some(("g", "a/+"))));
        assert_eq!(parse_shared("a/b"), Ok(None));
        assert_eq!(parse_shared("$share/g"), Err(TopicError::MalformedShared));
        assert_eq!(parse_shared("$share//a"), Err(TopicError::MalformedShared));
        assert_eq!(
            parse_shared("$share/g+/a"),
            Err(TopicError::InvalidShareName)
        );
    }
}
