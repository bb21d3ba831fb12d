//! `--event-store` URL parsing and password redaction (secrets never reach a log line).

use crate::error::EventsError;

/// A parsed sink URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreUrl {
    /// `redis`, `nats`, `rabbitmq-stream`.
    pub scheme: String,
    /// User name, if any.
    pub user: Option<String>,
    /// Password, if any (never logged).
    pub password: Option<String>,
    /// Host name or address.
    pub host: String,
    /// Port (scheme default when absent).
    pub port: u16,
}

/// Replaces the password of `scheme://user:pass@host` with `***`.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return url.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "redis" => Some(6379),
        "nats" => Some(4222),
        "rabbitmq-stream" => Some(5552),
        _ => None,
    }
}

impl StoreUrl {
    /// Parses `scheme://[user[:pass]@]host[:port][/...]`.
    pub fn parse(url: &str) -> Result<StoreUrl, EventsError> {
        let bad = |why: &str| EventsError::Config(format!("event store {}: {why}", redact(url)));
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad("missing scheme://"))?;
        let default = default_port(scheme)
            .ok_or_else(|| bad("unknown scheme (use redis://, nats:// or rabbitmq-stream://)"))?;
        let rest = rest.split('/').next().unwrap_or("");
        let (userinfo, hostport) = match rest.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, rest),
        };
        let (user, password) = match userinfo {
            Some(u) => match u.split_once(':') {
                Some((n, p)) => (Some(n.to_string()), Some(p.to_string())),
                None => (Some(u.to_string()), None),
            },
            None => (None, None),
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) => (h, p.parse::<u16>().map_err(|_| bad("bad port"))?),
            None => (hostport, default),
        };
        if host.is_empty() {
            return Err(bad("missing host"));
        }
        Ok(StoreUrl {
            scheme: scheme.to_string(),
            user,
            password,
            host: host.to_string(),
            port,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact("rabbitmq-stream://guest:secret@127.0.0.1:5552"),
            "rabbitmq-stream://guest:***@127.0.0.1:5552"
        );
        assert_eq!(redact("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
        assert_eq!(redact("redis://:pw@h:1"), "redis://:***@h:1");
    }

    #[test]
    fn parses_store_urls() {
        let u = StoreUrl::parse("rabbitmq-stream://guest:guest@localhost:5552").unwrap();
        assert_eq!(
            (
                u.host.as_str(),
                u.port,
                u.user.as_deref(),
                u.password.as_deref()
            ),
            ("localhost", 5552, Some("guest"), Some("guest"))
        );
        assert_eq!(StoreUrl::parse("nats://h").unwrap().port, 4222);
        assert!(StoreUrl::parse("kafka://h:1").is_err());
        assert!(StoreUrl::parse("redis://h:notaport").is_err());
        let e = StoreUrl::parse("ftp://u:topsecret@h")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("topsecret"), "{e}");
    }
}
