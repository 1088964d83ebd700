//! Server configuration: the built-in defaults (`configs/flight-server.toml`),
//! an optional file over them, then environment overrides.

use std::net::SocketAddr;
use std::path::PathBuf;

use rtp_scoring::AdviceOptions;
pub use rtp_service_support::access::Access;
use rtp_service_support::access::{AuthSettings, TlsSettings};
use serde::Deserialize;

const DEFAULTS: &str = include_str!("../../configs/flight-server.toml");

/// Environment variables the binary maps onto keys.
pub const ENV_OVERRIDES: [(&str, &str); 12] = [
    ("RTP_FLIGHT_LISTEN", "listen"),
    ("RTP_FLIGHT_TOKEN", "auth.token"),
    ("RTP_FLIGHT_ALLOW_PLAINTEXT", "auth.allow_plaintext"),
    ("RTP_FLIGHT_TLS_CERT", "tls.cert"),
    ("RTP_FLIGHT_TLS_KEY", "tls.key"),
    ("RTP_FLIGHT_METRICS_LISTEN", "metrics_listen"),
    ("RTP_BUNDLE_DIR", "bundle_dir"),
    ("RTP_FLIGHT_SHARED_DIR", "scale_out.shared_dir"),
    ("RTP_FLIGHT_ADVERTISE", "scale_out.advertise"),
    ("RTP_FLIGHT_LOG_FORMAT", "log_format"),
    ("RTP_EVENTS_STORE", "events.store"),
    ("RTP_EVENTS_SACCT", "events.sacct"),
];

/// The settings as the file spells them, before validation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    listen: SocketAddr,
    metrics_listen: SocketAddr,
    bundle_dir: PathBuf,
    watch_interval_s: f64,
    max_stored_mib: u64,
    max_message_mib: usize,
    log_format: rtp_service_support::LogFormat,
    auth: AuthSettings,
    tls: TlsSettings,
    advice: AdviceOptions,
    scale_out: ScaleOut,
    events: rtp_service_support::EventsSettings,
}

/// The Flight server's settings.
#[derive(Debug, Clone)]
pub struct FlightConfig {
    /// Arrow Flight address.
    pub listen: SocketAddr,
    /// Address of `/metrics` and `/healthz`.
    pub metrics_listen: SocketAddr,
    /// The bundle store followed.
    pub bundle_dir: PathBuf,
    /// Seconds between checks of `latest`.
    pub watch_interval_s: f64,
    /// Memory for stored tables, MiB.
    pub max_stored_mib: u64,
    /// Largest gRPC message, MiB.
    pub max_message_mib: usize,
    /// How log lines are written.
    pub log_format: rtp_service_support::LogFormat,
    /// How suggestions are made.
    pub advice: AdviceOptions,
    /// Scoring shared tables across replicas.
    pub scale_out: ScaleOut,
    /// The bearer token callers must present and the TLS identity.
    pub access: Access,
    /// Where job events are stored and how they are keyed.
    pub events: rtp_service_support::EventsSettings,
}

/// Replicas and the directory they share.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScaleOut {
    /// Directory of shared Parquet job tables; empty: off.
    pub shared_dir: PathBuf,
    /// Locations of the other replicas.
    pub peers: Vec<String>,
    /// This replica's location; empty: from the bound address.
    pub advertise: String,
}

pub use rtp_service_support::{ConfigError, Settings};

impl Settings for FlightConfig {
    type Raw = RawConfig;
    const DEFAULTS: &'static str = DEFAULTS;

    fn validate(config: RawConfig) -> Result<Self, String> {
        if !(config.watch_interval_s.is_finite() && config.watch_interval_s > 0.0) {
            return Err("watch_interval_s must be positive".into());
        }
        let location = |l: &str| l.starts_with("grpc://") || l.starts_with("grpc+tls://");
        let scale_out = &config.scale_out;
        if let Some(bad) = scale_out.peers.iter().find(|p| !location(p)) {
            return Err(format!(
                "scale_out.peers: {bad:?} is not a Flight location (grpc://HOST:PORT)"
            ));
        }
        if !scale_out.advertise.is_empty() && !location(&scale_out.advertise) {
            return Err("scale_out.advertise must be grpc://HOST:PORT".into());
        }
        let access = Access::resolve(&config.auth, &config.tls, config.listen)?;
        Ok(Self {
            listen: config.listen,
            metrics_listen: config.metrics_listen,
            bundle_dir: config.bundle_dir,
            watch_interval_s: config.watch_interval_s,
            max_stored_mib: config.max_stored_mib,
            max_message_mib: config.max_message_mib,
            log_format: config.log_format,
            advice: config.advice,
            scale_out: config.scale_out,
            access,
            events: config.events.validate()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_load_and_bind_loopback() {
        let config = FlightConfig::load(None, &[]).unwrap();
        assert!(config.listen.ip().is_loopback());
        assert!(config.metrics_listen.ip().is_loopback());
    }

    #[test]
    fn the_log_format_comes_from_the_environment_too() {
        let pick = |value: &str| {
            let overrides = rtp_service_support::overrides_from(&ENV_OVERRIDES, |var| {
                if var == "RTP_FLIGHT_LOG_FORMAT" {
                    Ok(value.to_owned())
                } else {
                    Err(())
                }
            });
            FlightConfig::load(None, &overrides)
        };
        assert_eq!(
            FlightConfig::load(None, &[]).unwrap().log_format,
            rtp_service_support::LogFormat::Text
        );
        assert_eq!(
            pick("json").unwrap().log_format,
            rtp_service_support::LogFormat::Json
        );
        let err = pick("xml").unwrap_err().to_string();
        assert!(
            err.contains("log_format") && err.contains("environment"),
            "{err}"
        );
    }

    #[test]
    fn a_token_needs_tls_off_loopback() {
        let env = |pairs: &[(&'static str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (*k, (*v).to_owned()))
                .collect::<Vec<_>>()
        };
        let open = FlightConfig::load(None, &[]).unwrap();
        assert_eq!(open.access, Access::default());
        let err = FlightConfig::load(
            None,
            &env(&[("listen", "0.0.0.0:8815"), ("auth.token", "t")]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("auth.allow_plaintext"), "{err}");
        let config = FlightConfig::load(
            None,
            &env(&[
                ("listen", "0.0.0.0:8815"),
                ("auth.token", "t"),
                ("tls.cert", "c.pem"),
                ("tls.key", "k.pem"),
            ]),
        )
        .unwrap();
        assert_eq!(config.access.token.as_deref(), Some("t"));
        assert!(config.access.tls.is_some());
    }

    #[test]
    fn a_bad_key_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.toml");
        std::fs::write(&path, "[advice]\ngranularity = 5\n").unwrap();
        let err = FlightConfig::load(Some(&path), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("granularity"), "{err}");
    }
}
