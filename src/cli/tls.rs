//! The TLS settings of `serve` (README "TLS, mutual TLS and client certificates"):
//! the TLS listeners, the server certificate and how client certificates are asked
//! for, flattened into [`super::Settings`]: same flags, variables and `--config` keys
//! as every other setting.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum TlsClientAuth {
    /// Client certificates are verified when sent; password logins still work.
    #[default]
    Optional,
    /// The TLS handshake fails without a client certificate.
    Required,
}

#[derive(Args, Debug)]
pub struct TlsSettings {
    /// MQTT over TLS, when a certificate is configured
    #[arg(long, env = "MAGNETITE_MQTTS_ADDR", default_value = "0.0.0.0:8883")]
    pub mqtts_addr: SocketAddr,
    /// MQTT over secure WebSocket, path /mqtt, when a certificate is configured
    #[arg(long, env = "MAGNETITE_WSS_ADDR", default_value = "0.0.0.0:8084")]
    pub wss_addr: SocketAddr,
    /// Server certificate chain (PEM); reloaded when the file changes
    #[arg(long, env = "MAGNETITE_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// Server private key (PEM)
    #[arg(long, env = "MAGNETITE_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Extra CAs (PEM) that may sign client certificates; the platform CA always may
    #[arg(long, env = "MAGNETITE_TLS_CLIENT_CA")]
    pub tls_client_ca: Option<PathBuf>,
    /// Client certificates
    #[arg(long, env = "MAGNETITE_TLS_CLIENT_AUTH", value_enum, default_value_t = TlsClientAuth::Optional)]
    pub tls_client_auth: TlsClientAuth,
    /// First run: generate a CA and a server certificate in the data dir (once)
    #[arg(long, env = "MAGNETITE_TLS_SELF_SIGNED")]
    pub tls_self_signed: bool,
}
