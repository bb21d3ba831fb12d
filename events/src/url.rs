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
        let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("missing scheme://"))?;
        let default = default_port(scheme).ok_or_else(|| {
            bad("unknown scheme (use redis://, nats:// or rabbitmq-stream://)")
        })?;
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
