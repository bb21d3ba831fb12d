//! The overload-protection settings of `serve` (README "Overload protection"),
//! flattened into [`crate::cli::Settings`]: same flags, variables and `--config` keys
//! as every other setting.

use std::num::NonZeroU32;

use clap::Args;
use magnetite_broker::memory::MemoryAmount;
use magnetite_broker::OverloadConfig;

#[derive(Args, Debug, Clone, Default)]
pub struct OverloadSettings {
    /// Resident memory past which QoS 0 deliveries are shed and new MQTT connections
    /// refused (CONNACK 0x97 / 3.1.1 0x03): bytes (e.g. 2GiB, 2147483648) or a
    /// percentage of RAM (e.g. 80%) [default: off]
    #[arg(long, env = "MAGNETITE_MEMORY_HIGH_WATERMARK")]
    pub memory_high_watermark: Option<MemoryAmount>,
    /// Resident memory at or below which that stops, same units [default: 90% of the
    /// high watermark]
    #[arg(
        long,
        env = "MAGNETITE_MEMORY_LOW_WATERMARK",
        requires = "memory_high_watermark"
    )]
    pub memory_low_watermark: Option<MemoryAmount>,
    /// MQTT CONNECTs admitted per second from all sources together; more get CONNACK
    /// 0x9F with a retry hint (3.1.1: 0x03) [default: off]
    #[arg(long, env = "MAGNETITE_MAX_CONNECT_RATE")]
    pub max_connect_rate: Option<NonZeroU32>,
    /// MQTT CONNECTs admitted per second from one IPv4 address or IPv6 /64 [default: off]
    #[arg(long, env = "MAGNETITE_MAX_CONNECT_RATE_PER_IP")]
    pub max_connect_rate_per_ip: Option<NonZeroU32>,
    /// PUBLISH packets per second per MQTT client; a faster client is slowed down by
    /// not reading its socket [default: off]
    #[arg(long, env = "MAGNETITE_MAX_PUBLISH_RATE")]
    pub max_publish_rate: Option<NonZeroU32>,
    /// Topic + payload bytes per second per MQTT client, throttled the same way
    /// [default: off]
    #[arg(long, env = "MAGNETITE_MAX_PUBLISH_BANDWIDTH")]
    pub max_publish_bandwidth: Option<NonZeroU32>,
    /// host[:port] of another broker that MQTT 5 clients refused by an overload limit
    /// are sent to (CONNACK 0x9C Use another server + Server Reference)
    #[arg(long, env = "MAGNETITE_SERVER_REFERENCE")]
    pub server_reference: Option<String>,
}

impl OverloadSettings {
    /// The engine's overload configuration; a percentage is resolved against this
    /// machine's memory (fails where it cannot be read).
    pub fn broker_config(&self) -> anyhow::Result<OverloadConfig> {
        let resolve = |amount: Option<MemoryAmount>, flag: &str| {
            amount
                .map(MemoryAmount::resolve)
                .transpose()
                .map_err(|e| anyhow::anyhow!("--{flag}: {e}"))
        };
        Ok(OverloadConfig {
            memory_high_watermark: resolve(self.memory_high_watermark, "memory-high-watermark")?,
            memory_low_watermark: resolve(self.memory_low_watermark, "memory-low-watermark")?,
            max_connect_rate: self.max_connect_rate,
            max_connect_rate_per_ip: self.max_connect_rate_per_ip,
            max_publish_rate: self.max_publish_rate,
            max_publish_bandwidth: self.max_publish_bandwidth,
            server_reference: self.server_reference.clone().filter(|s| !s.is_empty()),
        })
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::cli::{Cli, Command};

    fn overload(args: &[&str]) -> Result<super::OverloadSettings, clap::Error> {
        let argv = ["magnetite", "serve"].iter().chain(args);
        let Command::Serve(settings) = Cli::try_parse_from(argv)?.command else {
            panic!("serve");
        };
        Ok(settings.overload)
    }

    #[test]
    fn every_limit_is_off_by_default() {
        let config = overload(&[]).unwrap().broker_config().unwrap();
        assert!(config.memory_high_watermark.is_none());
        assert!(config.max_connect_rate.is_none() && config.max_connect_rate_per_ip.is_none());
        assert!(config.max_publish_rate.is_none() && config.max_publish_bandwidth.is_none());
        assert!(config.server_reference.is_none());
    }

    #[test]
    fn limits_parse_and_resolve() {
        let settings = overload(&[
            "--memory-high-watermark=1GiB",
            "--memory-low-watermark=50%",
            "--max-connect-rate=500",
            "--max-connect-rate-per-ip=5",
            "--max-publish-rate=100",
            "--max-publish-bandwidth=65536",
            "--server-reference=mqtt-2.example.com:1883",
        ])
        .unwrap();
        let config = settings.broker_config().unwrap();
        assert_eq!(config.memory_high_watermark, Some(1 << 30));
        assert!(config.memory_low_watermark.is_some_and(|low| low > 0));
        assert_eq!(config.max_connect_rate.map(|r| r.get()), Some(500));
        assert_eq!(config.max_connect_rate_per_ip.map(|r| r.get()), Some(5));
        assert_eq!(config.max_publish_rate.map(|r| r.get()), Some(100));
        assert_eq!(config.max_publish_bandwidth.map(|r| r.get()), Some(65536));
        assert_eq!(
            config.server_reference.as_deref(),
            Some("mqtt-2.example.com:1883")
        );
    }

    #[test]
    fn zero_rates_and_bad_sizes_are_refused() {
        for bad in [
            &["--max-connect-rate=0"][..],
            &["--max-publish-rate=0"],
            &["--memory-high-watermark=lots"],
            &["--memory-high-watermark=150%"],
            &["--memory-low-watermark=1GiB"],
        ] {
            assert!(overload(bad).is_err(), "{bad:?}");
        }
    }
}
