//! What one bridge is: `--bridge` / `[[bridge]]` parsed into a [`BridgeSpec`], and the
//! topic mappings ([`Mapping`]) that say what crosses the link and under which name.
//!
//! The flag is one string of `key=value` pairs separated by commas (a TOML table is
//! turned into that string by the binary), so a bridge is one value however many
//! mappings it has:
//!
//! ```text
//! name=cloud,url=mqtts://cloud.example:8883,client-id=site-1,username=ID,password-file=/etc/s,
//! out=sensors/# -> site-1/sensors/# qos 1,in=cmd/site-1/# -> cmd/#
//! ```
//!
//! A mapping is `<source filter> [-> <destination filter>] [qos N]`: the two filters
//! may differ only in the literal levels before the first wildcard (the prefixes), which
//! is what a message's topic has swapped. Same model as mosquitto's bridge `topic`
//! lines (pattern + local prefix + remote prefix), written as the two names a reader sees.

use std::path::PathBuf;
use std::time::Duration;

use magnetite_protocol::topic::{matches, valid_topic_filter};
use magnetite_protocol::{ProtocolVersion, QoS};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SpecError {
    /// Names the position only: the text may hold a password.
    #[error("part {0} is not a key=value pair")]
    NotAPair(usize),
    #[error("unknown bridge setting `{0}`")]
    UnknownKey(String),
    #[error("bridge setting `{0}` is missing")]
    Missing(&'static str),
    #[error("bad value for `{key}`: {reason}")]
    BadValue { key: String, reason: String },
    #[error("bad mapping `{mapping}`: {reason}")]
    BadMapping { mapping: String, reason: String },
}

fn bad(key: &str, reason: impl Into<String>) -> SpecError {
    SpecError::BadValue {
        key: key.to_string(),
        reason: reason.into(),
    }
}

/// How the bridge reaches its upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Mqtt,
    Mqtts,
    Ws,
    Wss,
}

impl Scheme {
    pub fn is_tls(self) -> bool {
        matches!(self, Scheme::Mqtts | Scheme::Wss)
    }
    pub fn is_websocket(self) -> bool {
        matches!(self, Scheme::Ws | Scheme::Wss)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub scheme: Scheme,
    pub host: String,
    pub port: u16,
    /// The WebSocket path (`/mqtt` when the URL has none).
    pub path: String,
}

/// A password that never shows in `Debug` output (logs, errors).
#[derive(Clone, PartialEq, Eq)]
pub struct Password(pub String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

/// TLS material for mqtts/wss: the CA that signed the upstream's certificate (the
/// system's roots are not used), and a client certificate for mutual TLS.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFiles {
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

/// One `--bridge`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeSpec {
    /// Names the queue directory, the metrics label and the events (default `bridge`).
    pub name: String,
    pub upstream: Upstream,
    pub client_id: String,
    pub username: Option<String>,
    pub password: Option<Password>,
    pub version: ProtocolVersion,
    /// Clean session / clean start upstream (default true). With false the upstream
    /// keeps the inbound subscriptions and queues commands while the link is down.
    pub clean: bool,
    pub keep_alive: u16,
    pub tls: TlsFiles,
    /// Local messages sent upstream.
    pub outbound: Vec<Mapping>,
    /// Upstream messages published locally.
    pub inbound: Vec<Mapping>,
    /// Declare every connected local device upstream as served by this gateway
    /// (`$magnetite/endpoints/<id>`, see [`crate::devices`]); default false.
    pub declare: bool,
}

/// Limits of every bridge's store-and-forward queue.
#[derive(Debug, Clone, Copy)]
pub struct QueueLimits {
    pub max_bytes: u64,
    pub max_age: Duration,
}

/// A topic mapping in one direction: messages whose topic matches `filter` cross the
/// link with `source_prefix` replaced by `dest_prefix`, at most at `qos`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    pub filter: String,
    pub source_prefix: String,
    pub dest_prefix: String,
    pub qos: QoS,
}

impl Mapping {
    pub fn parse(text: &str) -> Result<Mapping, SpecError> {
        let fail = |reason: &str| SpecError::BadMapping {
            mapping: text.to_string(),
            reason: reason.to_string(),
        };
        let mut words = text.split_whitespace();
        let source = words.next().ok_or_else(|| fail("empty"))?;
        let mut dest = source;
        let mut qos = QoS::AtLeastOnce;
        while let Some(word) = words.next() {
            match (word, words.next()) {
                ("->", Some(to)) => dest = to,
                ("qos", Some(level)) => {
                    qos = level
                        .parse::<u8>()
                        .ok()
                        .and_then(QoS::from_u8)
                        .ok_or_else(|| fail("qos is 0, 1 or 2"))?;
                }
                _ => return Err(fail("expected `-> <filter>` or `qos <n>`")),
            }
        }
        if !valid_topic_filter(source) || !valid_topic_filter(dest) {
            return Err(fail("not a valid topic filter"));
        }
        let (source_prefix, source_tail) = split_prefix(source);
        let (dest_prefix, dest_tail) = split_prefix(dest);
        if source_tail != dest_tail {
            return Err(fail("the two sides must end with the same wildcard levels"));
        }
        Ok(Mapping {
            filter: source.to_string(),
            source_prefix: source_prefix.to_string(),
            dest_prefix: dest_prefix.to_string(),
            qos,
        })
    }

    /// The destination topic of a message published under `topic`, when it matches.
    pub fn remap(&self, topic: &str) -> Option<String> {
        if !matches(&self.filter, topic) {
            return None;
        }
        match topic.strip_prefix(self.source_prefix.as_str()) {
            Some(rest) => Some(format!("{}{rest}", self.dest_prefix)),
            // `a/#` matches `a` itself: the parent level maps to the parent level.
            None => Some(self.dest_prefix.trim_end_matches('/').to_string()),
        }
    }
}

/// A filter cut before its first wildcard level: (`a/b/`, `+/c/#`). A filter without a
/// wildcard is all prefix.
fn split_prefix(filter: &str) -> (&str, &str) {
    let mut at = 0;
    for level in filter.split('/') {
        if level == "+" || level == "#" {
            return filter.split_at(at);
        }
        at += level.len() + 1;
    }
    (filter, "")
}

/// The first mapping of `mappings` that takes `topic`, with the destination topic.
pub fn route<'a>(mappings: &'a [Mapping], topic: &str) -> Option<(&'a Mapping, String)> {
    mappings
        .iter()
        .find_map(|m| m.remap(topic).map(|dest| (m, dest)))
}

impl std::str::FromStr for BridgeSpec {
    type Err = SpecError;

    fn from_str(text: &str) -> Result<BridgeSpec, SpecError> {
        let mut builder = SpecBuilder::default();
        for (at, pair) in text.split(',').map(str::trim).enumerate() {
            if pair.is_empty() {
                continue;
            }
            let (key, value) = pair.split_once('=').ok_or(SpecError::NotAPair(at + 1))?;
            builder.set(key.trim(), value.trim())?;
        }
        builder.build()
    }
}

#[derive(Default)]
struct SpecBuilder {
    name: Option<String>,
    url: Option<url::Url>,
    client_id: Option<String>,
    username: Option<String>,
    password: Option<Password>,
    version: Option<ProtocolVersion>,
    clean: Option<bool>,
    keep_alive: Option<u16>,
    tls: TlsFiles,
    outbound: Vec<Mapping>,
    inbound: Vec<Mapping>,
    declare: Option<bool>,
}

fn boolean(key: &str, value: &str) -> Result<bool, SpecError> {
    value.parse().map_err(|_| bad(key, "true or false"))
}

impl SpecBuilder {
    fn set(&mut self, key: &str, value: &str) -> Result<(), SpecError> {
        match key {
            "name" => self.name = Some(value.to_string()),
            "url" => self.url = Some(url::Url::parse(value).map_err(|e| bad(key, e.to_string()))?),
            "client-id" => self.client_id = Some(value.to_string()),
            "username" => self.username = Some(value.to_string()),
            "password" => self.password = Some(Password(value.to_string())),
            "password-file" => {
                let text = std::fs::read_to_string(value)
                    .map_err(|e| bad(key, format!("reading {value}: {e}")))?;
                self.password = Some(Password(text.trim_end().to_string()));
            }
            "version" => {
                self.version = Some(match value {
                    "3.1.1" | "3" | "4" => ProtocolVersion::V311,
                    "5" | "5.0" => ProtocolVersion::V5,
                    _ => return Err(bad(key, "3.1.1 or 5")),
                })
            }
            "clean" => self.clean = Some(boolean(key, value)?),
            "declare" => self.declare = Some(boolean(key, value)?),
            "keepalive" => self.keep_alive = Some(value.parse().map_err(|_| bad(key, "seconds"))?),
            "ca" => self.tls.ca = Some(value.into()),
            "cert" => self.tls.cert = Some(value.into()),
            "key" => self.tls.key = Some(value.into()),
            "out" => self.outbound.push(Mapping::parse(value)?),
            "in" => self.inbound.push(Mapping::parse(value)?),
            _ => return Err(SpecError::UnknownKey(key.to_string())),
        }
        Ok(())
    }

    fn build(self) -> Result<BridgeSpec, SpecError> {
        let url = self.url.ok_or(SpecError::Missing("url"))?;
        let upstream = upstream(&url)?;
        let name = self.name.unwrap_or_else(|| "bridge".to_string());
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(bad(
                "name",
                "letters, digits, - and _ only (it names a directory)",
            ));
        }
        let username = self
            .username
            .or_else(|| (!url.username().is_empty()).then(|| url.username().to_string()));
        let password = self
            .password
            .or_else(|| url.password().map(|p| Password(p.to_string())));
        if self.tls.cert.is_some() != self.tls.key.is_some() {
            return Err(bad("cert", "cert and key go together"));
        }
        if self.tls.ca.is_some() && !upstream.scheme.is_tls() {
            return Err(bad("ca", "only for mqtts:// and wss:// upstreams"));
        }
        Ok(BridgeSpec {
            client_id: self
                .client_id
                .unwrap_or_else(|| format!("magnetite-{name}")),
            name,
            upstream,
            username,
            password,
            version: self.version.unwrap_or(ProtocolVersion::V5),
            clean: self.clean.unwrap_or(true),
            keep_alive: self.keep_alive.unwrap_or(30),
            tls: self.tls,
            outbound: self.outbound,
            inbound: self.inbound,
            declare: self.declare.unwrap_or(false),
        })
    }
}

fn upstream(url: &url::Url) -> Result<Upstream, SpecError> {
    let (scheme, default_port) = match url.scheme() {
        "mqtt" | "tcp" => (Scheme::Mqtt, 1883),
        "mqtts" | "ssl" => (Scheme::Mqtts, 8883),
        "ws" => (Scheme::Ws, 80),
        "wss" => (Scheme::Wss, 443),
        other => return Err(bad("url", format!("unknown scheme `{other}`"))),
    };
    let host = url
        .host_str()
        .ok_or_else(|| bad("url", "no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let path = match url.path() {
        "" | "/" => "/mqtt".to_string(),
        path => path.to_string(),
    };
    Ok(Upstream {
        scheme,
        host,
        port: url.port().unwrap_or(default_port),
        path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mapping_swaps_the_literal_prefix_and_keeps_the_wildcard_part() {
        let out = Mapping::parse("sensors/# -> site-1/sensors/# qos 0").unwrap();
        assert_eq!(out.qos, QoS::AtMostOnce);
        assert_eq!(
            out.remap("sensors/a/t").as_deref(),
            Some("site-1/sensors/a/t")
        );
        assert_eq!(out.remap("sensors").as_deref(), Some("site-1/sensors"));
        assert_eq!(out.remap("other/a"), None);
        let inbound = Mapping::parse("cmd/site-1/+/set -> devices/+/set").unwrap();
        assert_eq!(inbound.qos, QoS::AtLeastOnce);
        assert_eq!(
            inbound.remap("cmd/site-1/lamp/set").as_deref(),
            Some("devices/lamp/set")
        );
        let same = Mapping::parse("a/#").unwrap();
        assert_eq!(same.remap("a/b").as_deref(), Some("a/b"));
        let exact = Mapping::parse("a/b -> c").unwrap();
        assert_eq!(exact.remap("a/b").as_deref(), Some("c"));
        assert_eq!(exact.remap("a/b/c"), None);
    }

    #[test]
    fn mappings_whose_wildcard_parts_differ_or_are_malformed_are_refused() {
        for text in [
            "a/# -> b/+",
            "a/+ -> b",
            "a/# qos 3",
            "a/# ->",
            "a/#/b",
            "",
            "a/# to b/#",
        ] {
            assert!(Mapping::parse(text).is_err(), "{text}");
        }
    }

    #[test]
    fn a_spec_reads_every_setting_and_credentials_from_the_url() {
        let spec: BridgeSpec =
            "name=cloud,url=mqtts://id:secret@cloud.example,version=3.1.1,clean=false,\
            out=s/# -> e/s/#,out=t,in=c/# -> d/#,ca=/ca.pem,keepalive=10,declare=true"
                .parse()
                .unwrap();
        assert!(spec.declare);
        assert_eq!(spec.upstream.scheme, Scheme::Mqtts);
        assert_eq!(spec.upstream.port, 8883);
        assert_eq!(spec.username.as_deref(), Some("id"));
        assert_eq!(spec.password, Some(Password("secret".into())));
        assert_eq!(spec.version, ProtocolVersion::V311);
        assert!(!spec.clean);
        assert_eq!(spec.outbound.len(), 2);
        assert_eq!(spec.inbound.len(), 1);
        assert_eq!(spec.client_id, "magnetite-cloud");
        assert_eq!(spec.keep_alive, 10);
        assert!(
            !format!("{spec:?}").contains("secret"),
            "the password never shows"
        );
    }

    #[test]
    fn bad_specs_name_what_is_wrong() {
        let err = |text: &str| text.parse::<BridgeSpec>().unwrap_err();
        assert_eq!(err("out=a"), SpecError::Missing("url"));
        assert_eq!(
            err("url=mqtt://h,colour=red"),
            SpecError::UnknownKey("colour".into())
        );
        assert!(matches!(err("url=http://h"), SpecError::BadValue { .. }));
        assert!(matches!(
            err("url=mqtt://h,name=../x"),
            SpecError::BadValue { .. }
        ));
        assert!(matches!(
            err("url=mqtt://h,cert=/c"),
            SpecError::BadValue { .. }
        ));
        assert!(matches!(
            err("url=mqtt://h,declare=yes"),
            SpecError::BadValue { .. }
        ));
        assert!(!"url=mqtt://h".parse::<BridgeSpec>().unwrap().declare);
        assert!(matches!(
            err("url=mqtt://h,nonsense"),
            SpecError::NotAPair(_)
        ));
    }
}
