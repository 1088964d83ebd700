//! Server configuration: the built-in defaults (`configs/flight-server.toml`),
//! an optional file over them, then environment overrides.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use rtp_scoring::AdviceOptions;
use serde::Deserialize;

const DEFAULTS: &str = include_str!("../../configs/flight-server.toml");

/// Environment variables that override the file, by key.
const ENV_OVERRIDES: [(&str, &str); 3] = [
    ("RTP_FLIGHT_LISTEN", "listen"),
    ("RTP_FLIGHT_METRICS_LISTEN", "metrics_listen"),
    ("RTP_BUNDLE_DIR", "bundle_dir"),
];

/// The Flight server's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
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

impl FlightConfig {
    /// The defaults, overlaid by `file` if given, then by the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut table: toml::Table =
            DEFAULTS
                .parse()
                .map_err(|e: toml::de::Error| ConfigError::Invalid {
                    origin: "built-in defaults".into(),
                    message: e.to_string(),
                })?;
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_owned(),
                source,
            })?;
            let layer: toml::Table =
                text.parse()
                    .map_err(|e: toml::de::Error| ConfigError::Invalid {
                        origin: path.display().to_string(),
                        message: e.to_string(),
                    })?;
            merge(&mut table, layer);
        }
        for (var, key) in ENV_OVERRIDES {
            if let Ok(value) = std::env::var(var) {
                table.insert(key.into(), toml::Value::String(value));
            }
        }
        let origin = file.map_or_else(|| "configuration".to_owned(), |p| p.display().to_string());
        let config: Self = table
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Invalid {
                origin: origin.clone(),
                message: e.to_string(),
            })?;
        if config.watch_interval_s.is_nan() || config.watch_interval_s <= 0.0 {
            return Err(ConfigError::Invalid {
                origin,
                message: "watch_interval_s must be positive".into(),
            });
        }
        Ok(config)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_load_and_bind_loopback() {
        let config = FlightConfig::load(None).unwrap();
        assert!(config.listen.ip().is_loopback());
        assert!(config.metrics_listen.ip().is_loopback());
    }

    #[test]
    fn a_bad_key_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.toml");
        std::fs::write(&path, "[advice]\ngranularity = 5\n").unwrap();
        let err = FlightConfig::load(Some(&path)).unwrap_err().to_string();
        assert!(err.contains("granularity"), "{err}");
    }
}
