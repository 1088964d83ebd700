//! The edge's settings: the built-in defaults (`configs/edge-api.toml`), an
//! optional file over them, then overrides the binary reads from the
//! environment. The raw form mirrors the file; [`EdgeConfig`] holds what
//! the server uses, with the TLS and auth choices resolved.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use rtp_scoring::AdviceOptions;
use serde::Deserialize;

const DEFAULTS: &str = include_str!("../../configs/edge-api.toml");

/// Environment variables the binary maps onto keys (dotted paths).
pub const ENV_OVERRIDES: [(&str, &str); 9] = [
    ("RTP_EDGE_SCORING_THREADS", "scoring_threads"),
    ("RTP_EDGE_TOP_CONTRIBUTIONS", "top_contributions"),
    ("RTP_EDGE_LISTEN", "listen"),
    ("RTP_EDGE_METRICS_LISTEN", "metrics_listen"),
    ("RTP_BUNDLE_DIR", "bundle_dir"),
    ("RTP_EDGE_LOG_FORMAT", "log_format"),
    ("RTP_EDGE_TOKEN", "auth.token"),
    ("RTP_EDGE_TLS_CERT", "tls.cert"),
    ("RTP_EDGE_TLS_KEY", "tls.key"),
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    listen: SocketAddr,
    metrics_listen: SocketAddr,
    bundle_dir: PathBuf,
    watch_interval_s: f64,
    max_batch_jobs: usize,
    top_contributions: usize,
    scoring_threads: usize,
    log_format: LogFormat,
    auth: RawAuth,
    tls: RawTls,
    advice: AdviceOptions,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuth {
    token: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert: PathBuf,
    key: PathBuf,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// PEM files of the server's TLS identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// Certificate chain.
    pub cert: PathBuf,
    /// Private key.
    pub key: PathBuf,
}

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
    /// Threads scoring single predictions.
    pub scoring_threads: usize,
    /// Log line format.
    pub log_format: LogFormat,
    /// The bearer token callers must present, if any.
    pub auth_token: Option<String>,
    /// TLS identity; plaintext when absent.
    pub tls: Option<TlsFiles>,
    /// How suggestions are made.
    pub advice: AdviceOptions,
}

/// A configuration that cannot be used, with the file or key at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The TOML is invalid or has a wrong key or value.
    #[error("{origin}: {message}")]
    Invalid {
        /// The file or variable at fault.
        origin: String,
        /// What is wrong.
        message: String,
    },
}

impl EdgeConfig {
    /// The defaults, overlaid by `file` if given, then by `overrides`
    /// (dotted key, value) as the binary collected them from the
    /// environment.
    pub fn load(file: Option<&Path>, overrides: &[(&str, String)]) -> Result<Self, ConfigError> {
        let invalid = |origin: &str, message: String| ConfigError::Invalid {
            origin: origin.to_owned(),
            message,
        };
        let mut table: toml::Table = DEFAULTS
            .parse()
            .map_err(|e: toml::de::Error| invalid("built-in defaults", e.to_string()))?;
        let origin = file.map_or_else(|| "configuration".to_owned(), |p| p.display().to_string());
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_owned(),
                source,
            })?;
            let layer: toml::Table = text
                .parse()
                .map_err(|e: toml::de::Error| invalid(&origin, e.to_string()))?;
            merge(&mut table, layer);
        }
        for (key, value) in overrides {
            set_dotted(&mut table, key, value);
        }
        let raw: RawConfig = table
            .try_into()
            .map_err(|e: toml::de::Error| invalid(&origin, e.to_string()))?;
        Self::try_from(raw).map_err(|message| invalid(&origin, message))
    }
}

impl TryFrom<RawConfig> for EdgeConfig {
    type Error = String;

    fn try_from(raw: RawConfig) -> Result<Self, String> {
        if !(raw.watch_interval_s.is_finite() && raw.watch_interval_s > 0.0) {
            return Err("watch_interval_s must be positive".into());
        }
        if raw.scoring_threads == 0 {
            return Err("scoring_threads must be at least 1".into());
        }
        if raw.max_batch_jobs == 0 {
            return Err("max_batch_jobs must be at least 1".into());
        }
        let empty = |p: &Path| p.as_os_str().is_empty();
        let tls = match (empty(&raw.tls.cert), empty(&raw.tls.key)) {
            (true, true) => None,
            (false, false) => Some(TlsFiles {
                cert: raw.tls.cert,
                key: raw.tls.key,
            }),
            _ => return Err("tls.cert and tls.key must be given together".into()),
        };
        let token = raw.auth.token.trim().to_owned();
        Ok(Self {
            listen: raw.listen,
            metrics_listen: raw.metrics_listen,
            bundle_dir: raw.bundle_dir,
            watch_interval: std::time::Duration::from_secs_f64(raw.watch_interval_s),
            max_batch_jobs: raw.max_batch_jobs,
            top_contributions: raw.top_contributions,
            scoring_threads: raw.scoring_threads,
            log_format: raw.log_format,
            auth_token: (!token.is_empty()).then_some(token),
            tls,
            advice: raw.advice,
        })
    }
}

fn merge(base: &mut toml::Table, layer: toml::Table) {
    for (key, value) in layer {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(l)) => merge(b, l),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// Sets `a.b` = `value`: a number or boolean when it reads as one, else a
/// string (addresses, paths, tokens).
fn set_dotted(table: &mut toml::Table, key: &str, value: &str) {
    match key.split_once('.') {
        Some((head, rest)) => {
            let inner = table
                .entry(head)
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if let toml::Value::Table(inner) = inner {
                set_dotted(inner, rest, value);
            }
        }
        None => {
            let typed = if let Ok(i) = value.parse::<i64>() {
                toml::Value::Integer(i)
            } else if let Ok(f) = value.parse::<f64>() {
                toml::Value::Float(f)
            } else if let Ok(b) = value.parse::<bool>() {
                toml::Value::Boolean(b)
            } else {
                toml::Value::String(value.into())
            };
            table.insert(key.into(), typed);
        }
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
        assert_eq!(config.tls, None);
        assert_eq!(config.auth_token, None);
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
                ("scoring_threads", "3".into()),
            ],
        )
        .unwrap();
        assert_eq!(config.auth_token.as_deref(), Some("s3cret"));
        assert_eq!(config.tls.unwrap().key, PathBuf::from("k.pem"));
        assert_eq!(config.listen.port(), 1);
        assert_eq!(config.scoring_threads, 3);
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
