//! The edge's settings: the built-in defaults (`configs/edge-api.toml`), an
//! optional file over them, then overrides the binary reads from the
//! environment. The raw form mirrors the file; [`EdgeConfig`] holds what
//! the server uses, with the TLS and auth choices resolved.

use std::net::SocketAddr;
use std::path::PathBuf;

use rtp_scoring::AdviceOptions;
use serde::Deserialize;

const DEFAULTS: &str = include_str!("../../configs/edge-api.toml");

/// Environment variables the binary maps onto keys (dotted paths).
pub const ENV_OVERRIDES: [(&str, &str); 12] = [
    ("RTP_EDGE_WORKER_THREADS", "worker_threads"),
    ("RTP_EDGE_TOP_CONTRIBUTIONS", "top_contributions"),
    ("RTP_EDGE_LISTEN", "listen"),
    ("RTP_EDGE_METRICS_LISTEN", "metrics_listen"),
    ("RTP_BUNDLE_DIR", "bundle_dir"),
    ("RTP_EDGE_LOG_FORMAT", "log_format"),
    ("RTP_EDGE_TOKEN", "auth.token"),
    ("RTP_EDGE_ALLOW_PLAINTEXT", "auth.allow_plaintext"),
    ("RTP_EDGE_TLS_CERT", "tls.cert"),
    ("RTP_EDGE_TLS_KEY", "tls.key"),
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
    max_batch_jobs: usize,
    top_contributions: usize,
    worker_threads: usize,
    log_format: LogFormat,
    auth: AuthSettings,
    tls: TlsSettings,
    advice: AdviceOptions,
    events: EventsSettings,
}

use rtp_service_support::EventsSettings;
pub use rtp_service_support::LogFormat;
pub use rtp_service_support::access::Access;
pub use rtp_service_support::access::TlsFiles;
use rtp_service_support::access::{AuthSettings, TlsSettings};

/// The edge's validated settings.
#[derive(Debug, Clone)]
pub struct EdgeConfig {
    /// gRPC address.
    pub listen: SocketAddr,
    /// Address of `/metrics`, `/healthz` and `/readyz`.
    pub metrics_listen: SocketAddr,
    /// The bundle store followed.
    pub bundle_dir: PathBuf,
    /// How often `latest` is checked.
    pub watch_interval: std::time::Duration,
    /// Most jobs in one batch request.
    pub max_batch_jobs: usize,
    /// Contributions returned per prediction.
    pub top_contributions: usize,
    /// Threads answering calls; 0 = one per core.
    pub worker_threads: usize,
    /// Log line format.
    pub log_format: LogFormat,
    /// The bearer token callers must present and the TLS identity.
    pub access: Access,
    /// How suggestions are made.
    pub advice: AdviceOptions,
    /// Where job events are stored and how they are keyed.
    pub events: EventsSettings,
}

pub use rtp_service_support::{ConfigError, Settings};

impl Settings for EdgeConfig {
    type Raw = RawConfig;
    const DEFAULTS: &'static str = DEFAULTS;

    fn validate(raw: RawConfig) -> Result<Self, String> {
        if !(raw.watch_interval_s.is_finite() && raw.watch_interval_s > 0.0) {
            return Err("watch_interval_s must be positive".into());
        }
        if raw.max_batch_jobs == 0 {
            return Err("max_batch_jobs must be at least 1".into());
        }
        let access = Access::resolve(&raw.auth, &raw.tls, raw.listen)?;
        Ok(Self {
            listen: raw.listen,
            metrics_listen: raw.metrics_listen,
            bundle_dir: raw.bundle_dir,
            watch_interval: std::time::Duration::from_secs_f64(raw.watch_interval_s),
            max_batch_jobs: raw.max_batch_jobs,
            top_contributions: raw.top_contributions,
            worker_threads: raw.worker_threads,
            log_format: raw.log_format,
            access,
            advice: raw.advice,
            events: raw.events.validate()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_plaintext_open_and_loopback() {
        let config = EdgeConfig::load(None, &[]).unwrap();
        assert!(config.listen.ip().is_loopback());
        assert!(config.metrics_listen.ip().is_loopback());
        assert_eq!(config.access.tls, None);
        assert_eq!(config.access.token, None);
        assert_eq!(config.top_contributions, 5);
    }

    #[test]
    fn overrides_reach_nested_keys() {
        let config = EdgeConfig::load(
            None,
            &[
                ("auth.token", "s3cret".into()),
                ("tls.cert", "c.pem".into()),
                ("tls.key", "k.pem".into()),
                ("listen", "127.0.0.1:1".into()),
                ("max_batch_jobs", "3".into()),
                ("worker_threads", "1".into()),
            ],
        )
        .unwrap();
        assert_eq!(config.access.token.as_deref(), Some("s3cret"));
        assert_eq!(config.access.tls.unwrap().key, PathBuf::from("k.pem"));
        assert_eq!(config.listen.port(), 1);
        assert_eq!(config.max_batch_jobs, 3);
        assert_eq!(config.worker_threads, 1);
    }

    #[test]
    fn a_token_without_tls_off_loopback_needs_an_explicit_yes() {
        let token = ("auth.token", "s3cret".to_owned());
        let public = ("listen", "0.0.0.0:50051".to_owned());
        let err = EdgeConfig::load(None, &[token.clone(), public.clone()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("plaintext on 0.0.0.0:50051"), "{err}");
        // On loopback, with TLS, or when explicitly allowed, it starts.
        EdgeConfig::load(None, std::slice::from_ref(&token)).unwrap();
        EdgeConfig::load(
            None,
            &[
                token.clone(),
                public.clone(),
                ("tls.cert", "c.pem".into()),
                ("tls.key", "k.pem".into()),
            ],
        )
        .unwrap();
        EdgeConfig::load(
            None,
            &[token, public, ("auth.allow_plaintext", "true".into())],
        )
        .unwrap();
    }

    #[test]
    fn half_a_tls_identity_and_bad_keys_are_named() {
        let err = EdgeConfig::load(None, &[("tls.cert", "c.pem".into())])
            .unwrap_err()
            .to_string();
        assert!(err.contains("tls.cert and tls.key"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.toml");
        std::fs::write(&path, "[auth]\ntokn = 1\n").unwrap();
        let err = EdgeConfig::load(Some(&path), &[]).unwrap_err().to_string();
        assert!(err.contains("tokn"), "{err}");
    }
}
