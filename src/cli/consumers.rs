//! The event-consumer settings of `serve` (README "Event consumers"), flattened into
//! [`super::Settings`]: same flags, variables and `--config` keys as every other
//! setting.

use std::time::Duration;

use clap::Args;

use super::parsers::{at_least_a_millisecond, duration};

#[derive(Args, Debug)]
pub struct ConsumerSettings {
    /// Event consumers: unacknowledged deliveries come again after this (e.g. 30s)
    #[arg(long, env = "MAGNETITE_CONSUMER_ACK_WAIT", default_value = "30s", value_parser = duration)]
    pub consumer_ack_wait: Duration,
    /// Event consumers not fetched for this long are deleted (e.g. 7d)
    #[arg(long, env = "MAGNETITE_CONSUMER_EXPIRY", default_value = "7d", value_parser = duration)]
    pub consumer_expiry: Duration,
    /// Keep-alive interval of consumer streams (SSE comment, WebSocket ping)
    #[arg(long, env = "MAGNETITE_CONSUMER_KEEPALIVE", default_value = "30s", value_parser = at_least_a_millisecond)]
    pub consumer_keepalive: Duration,
    /// Most event consumers one user may hold
    #[arg(long, env = "MAGNETITE_CONSUMER_MAX_PER_USER", default_value_t = 100)]
    pub consumer_max_per_user: u64,
    /// Most unacknowledged deliveries per event consumer
    #[arg(long, env = "MAGNETITE_CONSUMER_MAX_PENDING", default_value_t = 10_000)]
    pub consumer_max_pending: u64,
    /// Most open event-consumer streams (SSE and WebSocket) per user; more get 429
    #[arg(
        long,
        env = "MAGNETITE_CONSUMER_MAX_STREAMS_PER_USER",
        default_value_t = 10
    )]
    pub consumer_max_streams_per_user: u64,
    /// Most open event-consumer streams on this instance in all; more get 429
    #[arg(long, env = "MAGNETITE_CONSUMER_MAX_STREAMS", default_value_t = 1000)]
    pub consumer_max_streams: u64,
}
