//! The mail settings of `serve` (password-reset and verification mail: where it goes,
//! who sends it, which base URLs its links may take), flattened into
//! [`super::Settings`]: same flags, variables and `--config` keys as every other
//! setting.

use std::net::SocketAddr;

use clap::Args;
use secrecy::{ExposeSecret, SecretString};

use crate::secrets::parse_secret;

#[derive(Args, Debug)]
pub struct MailSettings {
    /// SMTP server for password-reset mail: smtp://[user:pass@]host[:port][?tls=required]
    /// or smtps://...; without it the mail is written to <data dir>/mail
    #[arg(long, env = "MAGNETITE_SMTP_URL", hide_env_values = true, value_parser = parse_secret)]
    pub smtp_url: Option<SecretString>,
    /// Base URL of links in mail, e.g. https://iot.example.com (reset links are
    /// <public url>/password/reset?token=...) [default: http://<HTTP address>, with
    /// 127.0.0.1 for 0.0.0.0]
    #[arg(long, env = "MAGNETITE_PUBLIC_URL", value_parser = public_url)]
    pub public_url: Option<String>,
    /// Another UI base URL (repeat or comma-separate) that a reset request's Referer
    /// may choose for the link instead of --public-url (SuperMQ's UI sends Referer)
    #[arg(long = "ui-host", env = "MAGNETITE_UI_HOSTS", value_delimiter = ',', value_parser = public_url)]
    pub ui_hosts: Vec<String>,
    /// Sender of password-reset mail
    #[arg(
        long,
        env = "MAGNETITE_SMTP_FROM",
        default_value = "Magnetite <noreply@localhost>"
    )]
    pub smtp_from: String,
}

impl MailSettings {
    /// `--public-url`, else the HTTP API's own address `http_addr`.
    pub fn public_url_or(&self, http_addr: SocketAddr) -> String {
        match &self.public_url {
            Some(url) => url.clone(),
            None => default_public_url(http_addr),
        }
    }

    /// SMTP server of `--smtp-url`, when set (empty counts as unset).
    pub fn smtp_url(&self) -> Option<&str> {
        self.smtp_url
            .as_ref()
            .map(|url| url.expose_secret())
            .filter(|url| !url.is_empty())
    }
}

/// `--public-url`: an absolute http(s) URL with a host, kept without a trailing `/`.
fn public_url(url: &str) -> Result<String, String> {
    let url = url.trim().trim_end_matches('/');
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() && !host.contains(char::is_whitespace) => {
            Ok(url.to_string())
        }
        _ => Err(format!(
            "must be http://host[:port][/path] or https://..., got {url:?}"
        )),
    }
}

/// The HTTP API's own address: a wildcard listen address becomes loopback, which
/// works on the machine itself; anything reachable from elsewhere needs --public-url.
fn default_public_url(http_addr: SocketAddr) -> String {
    let ip = match http_addr.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => std::net::IpAddr::from([127, 0, 0, 1]),
        ip if ip.is_unspecified() => std::net::IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, http_addr.port()))
}
