//! The dashboard's settings: built-in defaults (`configs/dashboard.toml`),
//! an optional file, then environment overrides the binary collects. The raw
//! form mirrors the file; [`DashboardConfig`] holds parsed addresses,
//! durations and byte counts.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use rtp_service_support::access::AuthSettings;
use rtp_service_support::settings::positive_seconds;
pub use rtp_service_support::{ConfigError, Settings};

const DEFAULTS: &str = include_str!("../../configs/dashboard.toml");

/// Environment variables the binary maps onto keys (dotted paths).
pub const ENV_OVERRIDES: [(&str, &str); 13] = [
    ("RTP_DASHBOARD_LISTEN", "listen"),
    ("RTP_DASHBOARD_TOKEN", "auth.token"),
    ("RTP_DASHBOARD_ALLOW_PLAINTEXT", "auth.allow_plaintext"),
    ("RTP_FLIGHT_TOKEN", "flight.token"),
    ("RTP_DASHBOARD_FLIGHT_CA", "flight.ca"),
    ("RTP_BUNDLE_DIR", "bundle_dir"),
    ("RTP_DASHBOARD_LOG_FORMAT", "log_format"),
    ("RTP_DASHBOARD_EDGE", "edge.address"),
    ("RTP_EDGE_TOKEN", "edge.token"),
    ("RTP_DASHBOARD_EDGE_CA", "edge.ca"),
    ("RTP_DASHBOARD_EDGE_METRICS", "edge.metrics_url"),
    ("RTP_DASHBOARD_FLIGHT", "flight.address"),
    ("RTP_DASHBOARD_FLIGHT_METRICS", "flight.metrics_url"),
];

/// The settings as the file spells them, before validation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    listen: SocketAddr,
    bundle_dir: PathBuf,
    log_format: LogFormat,
    edge: RawEdge,
    flight: RawFlight,
    batch: RawBatch,
    alerts: RawAlerts,
    live: RawLive,
    auth: AuthSettings,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEdge {
    address: String,
    token: String,
    ca: PathBuf,
    metrics_url: String,
    timeout_s: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFlight {
    address: String,
    token: String,
    ca: PathBuf,
    metrics_url: String,
    timeout_s: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBatch {
    max_upload_mib: f64,
    page_rows: usize,
    kept_results: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAlerts {
    overestimate_factor: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLive {
    poll_interval_s: f64,
    scrape_timeout_s: f64,
}

pub use rtp_service_support::LogFormat;

/// How the predict page reaches the gRPC edge.
#[derive(Debug, Clone)]
pub struct EdgeTarget {
    /// `http://` or `https://` address.
    pub address: String,
    /// Bearer token, if the edge wants one.
    pub token: Option<String>,
    /// CA certificate for TLS, if not the system roots.
    pub ca: Option<PathBuf>,
    /// Its `/metrics` URL.
    pub metrics_url: String,
    /// Deadline of one call.
    pub timeout: Duration,
}

/// How the batch page reaches the Flight server.
#[derive(Debug, Clone)]
pub struct FlightTarget {
    /// `http://` or `https://` address.
    pub address: String,
    /// Bearer token, if the Flight server wants one.
    pub token: Option<String>,
    /// CA certificate for TLS, if not the system roots.
    pub ca: Option<PathBuf>,
    /// Its `/metrics` URL.
    pub metrics_url: String,
    /// Deadline of one scoring exchange.
    pub timeout: Duration,
}

/// The dashboard's validated settings.
#[derive(Debug, Clone)]
pub struct DashboardConfig {
    /// HTTP address.
    pub listen: SocketAddr,
    /// The bundle store whose `latest` the analytics page shows.
    pub bundle_dir: PathBuf,
    /// Log line format.
    pub log_format: LogFormat,
    /// The token a visitor must present (HTTP Basic password or Bearer).
    pub token: Option<String>,
    /// The gRPC edge.
    pub edge: EdgeTarget,
    /// The Flight server.
    pub flight: FlightTarget,
    /// Largest upload, bytes.
    pub max_upload_bytes: usize,
    /// Rows per page of a scored upload.
    pub page_rows: usize,
    /// Scored uploads kept for paging and download.
    pub kept_results: usize,
    /// Requests above this times the p90 are flagged.
    pub overestimate_factor: f64,
    /// Live page refresh period.
    pub poll_interval: Duration,
    /// Deadline of one metrics scrape.
    pub scrape_timeout: Duration,
}

fn url(key: &str, value: &str, schemes: &[&str]) -> Result<String, String> {
    let value = value.trim();
    if schemes.iter().any(|s| value.starts_with(s)) && value.len() > 8 {
        Ok(value.to_owned())
    } else {
        Err(format!(
            "{key} = {value:?} must start with {}",
            schemes.join(" or ")
        ))
    }
}

/// A gRPC service's address, token and CA, checked; `section` names the keys.
struct Target {
    address: String,
    token: Option<String>,
    ca: Option<PathBuf>,
}

fn target(section: &str, address: &str, token: &str, ca: PathBuf) -> Result<Target, String> {
    let address = url(
        &format!("{section}.address"),
        address,
        &["http://", "https://"],
    )?;
    let ca = (!ca.as_os_str().is_empty()).then_some(ca);
    if ca.is_some() && !address.starts_with("https://") {
        return Err(format!(
            "{section}.ca is set but {section}.address is not https://"
        ));
    }
    let token = token.trim();
    Ok(Target {
        address,
        token: (!token.is_empty()).then(|| token.to_owned()),
        ca,
    })
}

impl Settings for DashboardConfig {
    type Raw = RawConfig;
    const DEFAULTS: &'static str = DEFAULTS;

    fn validate(raw: RawConfig) -> Result<Self, String> {
        let mib = raw.batch.max_upload_mib;
        if !(mib.is_finite() && mib > 0.0) {
            return Err("batch.max_upload_mib must be positive".into());
        }
        if raw.batch.page_rows == 0 || raw.batch.kept_results == 0 {
            return Err("batch.page_rows and batch.kept_results must be at least 1".into());
        }
        let factor = raw.alerts.overestimate_factor;
        if !(factor.is_finite() && factor >= 1.0) {
            return Err("alerts.overestimate_factor must be at least 1".into());
        }
        let edge = target("edge", &raw.edge.address, &raw.edge.token, raw.edge.ca)?;
        let flight = target(
            "flight",
            &raw.flight.address,
            &raw.flight.token,
            raw.flight.ca,
        )?;
        let token = raw.auth.token.trim().to_owned();
        // The dashboard serves plain HTTP: off loopback, a token would cross
        // the network readable unless a TLS proxy is in front.
        if !token.is_empty() && !raw.listen.ip().is_loopback() && !raw.auth.allow_plaintext {
            return Err(format!(
                "auth.token is set but the dashboard serves plain HTTP on {}: listen on \
                 loopback behind a TLS proxy, or put one in front and set \
                 auth.allow_plaintext = true",
                raw.listen
            ));
        }
        Ok(Self {
            listen: raw.listen,
            bundle_dir: raw.bundle_dir,
            log_format: raw.log_format,
            token: (!token.is_empty()).then_some(token),
            edge: EdgeTarget {
                address: edge.address,
                token: edge.token,
                ca: edge.ca,
                metrics_url: url("edge.metrics_url", &raw.edge.metrics_url, &["http://"])?,
                timeout: positive_seconds("edge.timeout_s", raw.edge.timeout_s)?,
            },
            flight: FlightTarget {
                address: flight.address,
                token: flight.token,
                ca: flight.ca,
                metrics_url: url("flight.metrics_url", &raw.flight.metrics_url, &["http://"])?,
                timeout: positive_seconds("flight.timeout_s", raw.flight.timeout_s)?,
            },
            max_upload_bytes: (mib * 1024.0 * 1024.0) as usize,
            page_rows: raw.batch.page_rows,
            kept_results: raw.batch.kept_results,
            overestimate_factor: factor,
            poll_interval: positive_seconds("live.poll_interval_s", raw.live.poll_interval_s)?,
            scrape_timeout: positive_seconds("live.scrape_timeout_s", raw.live.scrape_timeout_s)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_bind_loopback_and_point_at_local_services() {
        let config = DashboardConfig::load(None, &[]).unwrap();
        assert!(config.listen.ip().is_loopback());
        assert_eq!(config.edge.address, "http://127.0.0.1:50051");
        assert_eq!(config.max_upload_bytes, 16 * 1024 * 1024);
        assert_eq!(config.edge.token, None);
    }

    #[test]
    fn bad_values_are_named() {
        let err = |key: &str, value: &str| {
            DashboardConfig::load(None, &[(key, value.to_owned())])
                .unwrap_err()
                .to_string()
        };
        assert!(err("edge.address", "127.0.0.1:1").contains("edge.address"));
        assert!(err("batch.max_upload_mib", "0").contains("max_upload_mib"));
        assert!(err("edge.ca", "ca.pem").contains("edge.ca"));
        assert!(err("alerts.overestimate_factor", "0.5").contains("overestimate_factor"));
        assert!(err("flight.ca", "ca.pem").contains("flight.ca"));
    }

    #[test]
    fn a_token_off_loopback_needs_a_proxy_in_front() {
        let load = |pairs: &[(&'static str, &str)]| {
            let pairs: Vec<_> = pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
            DashboardConfig::load(None, &pairs)
        };
        assert_eq!(load(&[]).unwrap().token, None);
        let err = load(&[("listen", "0.0.0.0:8080"), ("auth.token", "t")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("auth.allow_plaintext"), "{err}");
        let behind_proxy = load(&[
            ("listen", "0.0.0.0:8080"),
            ("auth.token", "t"),
            ("auth.allow_plaintext", "true"),
        ])
        .unwrap();
        assert_eq!(behind_proxy.token.as_deref(), Some("t"));
        let config = load(&[
            ("flight.address", "https://flight:8815"),
            ("flight.token", " f "),
        ])
        .unwrap();
        assert_eq!(config.flight.token.as_deref(), Some("f"));
    }
}
