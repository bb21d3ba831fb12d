//! MQTT topics and filters as NATS subjects.
//!
//! With platform auth every routed topic has the canonical form
//! `m/<domain>/c/<channel>[/<subtopic>]`; its subject is the same levels joined with `.`:
//! `m.<domain>.c.<channel>[.<subtopic levels>]`, the subject Magistrala services use.
//! With `--auth none` any topic may be used, so subjects get their own root, `mqtt.`,
//! and never mix with Magistrala's: `a/b` crosses as `mqtt.a.b`.
//!
//! NATS cannot carry every MQTT level: `.` separates tokens, `*` and `>` are wildcards,
//! whitespace ends a subject and an empty token is invalid. Each level is escaped: `%`,
//! `.`, `*`, `>` and ASCII whitespace/control characters become `%XX` (two hex digits),
//! and an empty level becomes `%` alone (unambiguous, as a real `%` is always `%25`).
//! The subject only decides who receives a message; the exact topic travels inside it,
//! so nothing has to be unescaped.

/// Which root subjects hang from (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubjectScheme {
    /// Platform auth: canonical topics start with `m/`, subjects with `m.`.
    Magistrala,
    /// `--auth none`: any topic, under `mqtt.`.
    Plain,
}

impl SubjectScheme {
    fn root(self) -> Option<&'static str> {
        match self {
            SubjectScheme::Magistrala => None,
            SubjectScheme::Plain => Some("mqtt"),
        }
    }

    /// The wildcard subject every message of this scheme crosses under.
    pub fn every_subject(self) -> String {
        match self.root() {
            Some(root) => format!("{root}.>"),
            None => "m.>".to_string(),
        }
    }

    /// The subject a message published to `topic` crosses on.
    pub fn topic_subject(self, topic: &str) -> String {
        let mut subject = String::with_capacity(topic.len() + 8);
        if let Some(root) = self.root() {
            subject.push_str(root);
            subject.push('.');
        }
        for (i, level) in topic.split('/').enumerate() {
            if i > 0 {
                subject.push('.');
            }
            escape_level(level, &mut subject);
        }
        subject
    }

    /// The subjects to subscribe to for an MQTT `filter`: `+` becomes `*`, a trailing
    /// `#` becomes `>`. `a/#` also matches `a` itself in MQTT while `a.>` needs at least
    /// one more token in NATS, so it needs a second subject `a`. A filter that is only
    /// `#` matches every topic, each of which has at least one level: `>` (under the root)
    /// covers them all.
    pub fn filter_subjects(self, filter: &str) -> Vec<String> {
        let mut subject = String::with_capacity(filter.len() + 8);
        if let Some(root) = self.root() {
            subject.push_str(root);
            subject.push('.');
        }
        let mut parent = None;
        for (i, level) in filter.split('/').enumerate() {
            if i > 0 {
                subject.push('.');
            }
            match level {
                "+" => subject.push('*'),
                "#" => {
                    if i > 0 {
                        // Without the separator just pushed.
                        parent = Some(subject[..subject.len() - 1].to_string());
                    }
                    subject.push('>');
                }
                _ => escape_level(level, &mut subject),
            }
        }
        let mut subjects = vec![subject];
        subjects.extend(parent);
        subjects
    }
}

/// `level` escaped as one NATS token (an instance id in a marker subject, say).
pub(crate) fn escape_token(level: &str) -> String {
    let mut token = String::with_capacity(level.len());
    escape_level(level, &mut token);
    token
}

fn escape_level(level: &str, out: &mut String) {
    if level.is_empty() {
        out.push('%');
        return;
    }
    for c in level.chars() {
        if matches!(c, '%' | '.' | '*' | '>') || c.is_ascii_whitespace() || c.is_ascii_control() {
            out.push_str(&format!("%{:02X}", c as u32));
        } else {
            out.push(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::SubjectScheme::{Magistrala, Plain};

    #[test]
    fn canonical_topics_cross_on_magistrala_subjects() {
        assert_eq!(Magistrala.topic_subject("m/d1/c/ch1"), "m.d1.c.ch1");
        assert_eq!(
            Magistrala.topic_subject("m/d1/c/ch1/room/temp"),
            "m.d1.c.ch1.room.temp"
        );
    }

    #[test]
    fn plain_topics_cross_under_their_own_root() {
        assert_eq!(Plain.topic_subject("a/b"), "mqtt.a.b");
        assert_eq!(Plain.topic_subject("m/d/c/ch"), "mqtt.m.d.c.ch");
    }

    #[test]
    fn what_nats_cannot_carry_is_escaped() {
        assert_eq!(
            Plain.topic_subject("a.b/c d/*/>/%"),
            "mqtt.a%2Eb.c%20d.%2A.%3E.%25"
        );
        assert_eq!(Plain.topic_subject("/a//b/"), "mqtt.%.a.%.b.%");
        assert_eq!(Plain.topic_subject("tab\there"), "mqtt.tab%09here");
        assert_eq!(Plain.topic_subject("température"), "mqtt.température");
    }

    #[test]
    fn wildcards_map_to_nats_wildcards() {
        assert_eq!(Plain.filter_subjects("a/+/c"), ["mqtt.a.*.c"]);
        assert_eq!(Plain.filter_subjects("#"), ["mqtt.>"]);
        assert_eq!(Magistrala.filter_subjects("m/d/c/ch/+"), ["m.d.c.ch.*"]);
    }

    #[test]
    fn a_trailing_hash_also_matches_the_parent_level() {
        assert_eq!(
            Magistrala.filter_subjects("m/d/c/ch/#"),
            ["m.d.c.ch.>", "m.d.c.ch"]
        );
        assert_eq!(Plain.filter_subjects("a/+/#"), ["mqtt.a.*.>", "mqtt.a.*"]);
    }

    #[test]
    fn a_filter_subject_matches_the_subjects_of_its_topics() {
        // `+` stays one token even for an escaped or empty level.
        assert_eq!(Plain.topic_subject("a//c"), "mqtt.a.%.c");
        assert_eq!(Plain.filter_subjects("a/+/c"), ["mqtt.a.*.c"]);
        assert_eq!(Plain.filter_subjects("a/x.y"), ["mqtt.a.x%2Ey"]);
        assert_eq!(Plain.topic_subject("a/x.y"), "mqtt.a.x%2Ey");
    }
}
