//! The live page's numbers: request rate, error rate and latency
//! percentiles of the edge and the Flight server, computed from two
//! successive scrapes of their Prometheus endpoints (the window between two
//! polls), the way `rate()` and `histogram_quantile()` would.
//!
//! One sampler scrapes on a fixed period while the dashboard runs, so every
//! viewer sees the same windows and the sparkline holds the last
//! [`HISTORY`] readings from before the page was opened.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::prom_text::{Sample, parse};
use crate::scrape::get_text;

/// Rates kept per service for the sparkline.
pub const HISTORY: usize = 60;

/// Which service a target is; they expose different metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceKind {
    /// The gRPC edge (`rtp_edge_*`).
    Edge,
    /// The Flight server (`rtp_flight_*`).
    Flight,
}

impl ServiceKind {
    fn name(self) -> &'static str {
        match self {
            Self::Edge => "gRPC edge",
            Self::Flight => "Flight server",
        }
    }
}

/// One service's health over the last window.
#[derive(Debug, Clone)]
pub struct ServiceHealth {
    /// Display name.
    pub name: &'static str,
    /// The scraped URL.
    pub url: String,
    /// Why the scrape failed, if it did.
    pub error: Option<String>,
    /// What `rate` counts, e.g. `requests/s`.
    pub rate_unit: &'static str,
    /// Requests (edge) or rows (Flight) per second.
    pub rate: f64,
    /// A second rate: predictions/s (edge) or batches/s (Flight).
    pub secondary: (&'static str, f64),
    /// Share of requests that failed in the window.
    pub error_share: f64,
    /// Latency percentiles, seconds: p50, p90, p99.
    pub latency: [f64; 3],
    /// Whether the numbers cover the last window or, with no traffic in
    /// it, everything since the service started.
    pub since_start: bool,
    /// Window length, seconds (0 on the first scrape).
    pub window_s: f64,
    /// The model version served.
    pub model_version: Option<String>,
    /// Recent values of `rate`, oldest first.
    pub history: Vec<f64>,
}

#[derive(Debug)]
struct Snapshot {
    at: Instant,
    samples: Vec<Sample>,
}

#[derive(Debug)]
struct Target {
    kind: ServiceKind,
    url: String,
    last: Option<Snapshot>,
    history: VecDeque<f64>,
}

/// Every service at one moment.
#[derive(Debug, Clone)]
pub struct Reading {
    /// When the scrapes finished.
    pub at: chrono::DateTime<chrono::Utc>,
    /// Per service, edge first.
    pub services: Vec<ServiceHealth>,
}

/// Scrapes the services and turns counters into rates.
#[derive(Debug)]
pub struct LiveMonitor {
    targets: Mutex<Vec<Target>>,
    latest: Mutex<Option<Reading>>,
    urls: Vec<(ServiceKind, String)>,
    timeout: Duration,
}

impl LiveMonitor {
    /// A monitor of the edge and Flight metrics endpoints.
    pub fn new(edge_url: String, flight_url: String, timeout: Duration) -> Self {
        let urls = vec![
            (ServiceKind::Edge, edge_url),
            (ServiceKind::Flight, flight_url),
        ];
        let targets = urls
            .iter()
            .map(|(kind, url)| Target {
                kind: *kind,
                url: url.clone(),
                last: None,
                history: VecDeque::new(),
            })
            .collect();
        Self {
            targets: Mutex::new(targets),
            latest: Mutex::new(None),
            urls,
            timeout,
        }
    }

    /// The newest reading, or a fresh one if there is none yet.
    pub async fn reading(&self) -> Reading {
        let latest = self.latest.lock().expect("live reading lock").clone();
        match latest {
            Some(reading) => reading,
            None => self.poll().await,
        }
    }

    /// Scrapes every `every` until the task is dropped or aborted.
    pub async fn sample(&self, every: Duration) {
        let mut ticks = tokio::time::interval(every);
        // A slow scrape delays the next one rather than bunching them up.
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            self.poll().await;
        }
    }

    /// Scrapes every service now, reports each over the window since the
    /// previous poll, and keeps the result as the newest reading.
    pub async fn poll(&self) -> Reading {
        let services = self.scrape().await;
        let reading = Reading {
            at: chrono::Utc::now(),
            services,
        };
        *self.latest.lock().expect("live reading lock") = Some(reading.clone());
        reading
    }

    async fn scrape(&self) -> Vec<ServiceHealth> {
        let scrapes =
            futures::future::join_all(self.urls.iter().map(|(_, url)| get_text(url, self.timeout)))
                .await;
        let now = Instant::now();
        let mut targets = self.targets.lock().expect("live monitor lock");
        targets
            .iter_mut()
            .zip(scrapes)
            .map(|(target, scraped)| {
                let samples = scraped.and_then(|text| parse(&text).map_err(|e| e.to_string()));
                match samples {
                    Ok(samples) => {
                        let current = Snapshot { at: now, samples };
                        let health = health(target, &current);
                        target.history.push_back(health.rate);
                        if target.history.len() > HISTORY {
                            target.history.pop_front();
                        }
                        target.last = Some(current);
                        ServiceHealth {
                            history: target.history.iter().copied().collect(),
                            ..health
                        }
                    }
                    Err(error) => {
                        target.last = None;
                        ServiceHealth {
                            error: Some(error),
                            ..empty(target)
                        }
                    }
                }
            })
            .collect()
    }
}

fn empty(target: &Target) -> ServiceHealth {
    ServiceHealth {
        name: target.kind.name(),
        url: target.url.clone(),
        error: None,
        rate_unit: "",
        rate: f64::NAN,
        secondary: ("", f64::NAN),
        error_share: f64::NAN,
        latency: [f64::NAN; 3],
        since_start: false,
        window_s: 0.0,
        model_version: None,
        history: Vec::new(),
    }
}

/// Sum of the samples called `name` that `keep` accepts.
fn total(samples: &[Sample], name: &str, keep: impl Fn(&Sample) -> bool) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name && keep(s))
        .map(|s| s.value)
        .sum()
}

/// Cumulative bucket counts of histogram `name`, summed over its other
/// labels, by upper bound.
fn buckets(samples: &[Sample], name: &str) -> Vec<(f64, f64)> {
    let bucket = format!("{name}_bucket");
    let mut out: Vec<(f64, f64)> = Vec::new();
    for s in samples.iter().filter(|s| s.name == bucket) {
        let Some(le) = s.label("le").and_then(|le| match le {
            "+Inf" => Some(f64::INFINITY),
            v => v.parse().ok(),
        }) else {
            continue;
        };
        match out.iter_mut().find(|(b, _)| *b == le) {
            Some((_, count)) => *count += s.value,
            None => out.push((le, s.value)),
        }
    }
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out
}

/// The `q` quantile of cumulative `buckets`, interpolated linearly inside
/// the bucket it falls in, as Prometheus' `histogram_quantile` does.
pub fn quantile(q: f64, buckets: &[(f64, f64)]) -> f64 {
    let Some(&(_, count)) = buckets.last() else {
        return f64::NAN;
    };
    if count <= 0.0 {
        return f64::NAN;
    }
    let rank = q * count;
    let mut lower = (0.0, 0.0);
    for &(le, cumulative) in buckets {
        if cumulative >= rank {
            if le.is_infinite() {
                return lower.0; // beyond the last finite bound
            }
            let in_bucket = cumulative - lower.1;
            let fraction = if in_bucket > 0.0 {
                (rank - lower.1) / in_bucket
            } else {
                1.0
            };
            return lower.0 + (le - lower.0) * fraction;
        }
        lower = (le, cumulative);
    }
    f64::NAN
}

fn difference(now: &[(f64, f64)], before: &[(f64, f64)]) -> Vec<(f64, f64)> {
    now.iter()
        .map(|&(le, count)| {
            let old = before
                .iter()
                .find(|(b, _)| *b == le)
                .map_or(0.0, |(_, c)| *c);
            (le, (count - old).max(0.0))
        })
        .collect()
}

fn health(target: &Target, current: &Snapshot) -> ServiceHealth {
    let (requests, failed, secondary, secondary_label, histogram, unit) = match target.kind {
        ServiceKind::Edge => (
            "rtp_edge_requests_total",
            "rtp_edge_requests_total",
            "rtp_edge_predictions_total",
            "predictions/s",
            "rtp_edge_request_duration_seconds",
            "requests/s",
        ),
        ServiceKind::Flight => (
            "rtp_flight_rows_scored_total",
            "rtp_flight_request_failures_total",
            "rtp_flight_batches_total",
            "batches/s",
            "rtp_flight_batch_latency_seconds",
            "rows/s",
        ),
    };
    let count = |samples: &[Sample]| {
        let all = total(samples, requests, |_| true);
        let bad = match target.kind {
            ServiceKind::Edge => total(samples, failed, |s| s.label("code") != Some("Ok")),
            ServiceKind::Flight => total(samples, failed, |_| true),
        };
        let attempts = match target.kind {
            ServiceKind::Edge => all,
            // a failed Flight request scores no batch: attempts = batches + failures
            ServiceKind::Flight => total(samples, secondary, |_| true) + bad,
        };
        (all, bad, attempts, total(samples, secondary, |_| true))
    };
    let now = count(&current.samples);
    let hist_now = buckets(&current.samples, histogram);
    let version = current
        .samples
        .iter()
        .find(|s| s.name.ends_with("_model_version") && s.value > 0.0)
        .and_then(|s| s.label("version").map(str::to_owned));
    let mut health = ServiceHealth {
        rate_unit: unit,
        model_version: version,
        ..empty(target)
    };
    let previous = target.last.as_ref().filter(|p| p.at < current.at);
    let (window, delta, hist) = match previous {
        Some(before) => {
            let then = count(&before.samples);
            let seconds = current.at.duration_since(before.at).as_secs_f64();
            let delta = (
                (now.0 - then.0).max(0.0),
                (now.1 - then.1).max(0.0),
                (now.2 - then.2).max(0.0),
                (now.3 - then.3).max(0.0),
            );
            let hist = difference(&hist_now, &buckets(&before.samples, histogram));
            (seconds, Some(delta), hist)
        }
        None => (0.0, None, Vec::new()),
    };
    health.window_s = window;
    if let Some(d) = delta.filter(|_| window > 0.0) {
        health.rate = d.0 / window;
        health.secondary = (secondary_label, d.3 / window);
    } else {
        health.rate = 0.0;
        health.secondary = (secondary_label, 0.0);
    }
    let in_window = delta.is_some_and(|d| d.2 > 0.0);
    let (bad, attempts, latency_buckets) = match delta {
        Some(d) if in_window => (d.1, d.2, hist),
        _ => (now.1, now.2, hist_now),
    };
    health.since_start = !in_window;
    health.error_share = if attempts > 0.0 {
        bad / attempts
    } else {
        f64::NAN
    };
    health.latency = [0.5, 0.9, 0.99].map(|q| quantile(q, &latency_buckets));
    health
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_like_prometheus() {
        // 10 observations: 5 ≤ 1 ms, 4 in (1, 5] ms, 1 in (5, 10] ms
        let b = [
            (0.001, 5.0),
            (0.005, 9.0),
            (0.01, 10.0),
            (f64::INFINITY, 10.0),
        ];
        assert!((quantile(0.5, &b) - 0.001).abs() < 1e-12);
        assert!((quantile(0.9, &b) - 0.005).abs() < 1e-12);
        assert!((quantile(0.7, &b) - 0.003).abs() < 1e-12);
        assert!((quantile(0.99, &b) - 0.0095).abs() < 1e-12);
        assert!(quantile(0.5, &[]).is_nan());
        // everything beyond the last finite bound reports that bound
        assert_eq!(quantile(0.5, &[(0.1, 0.0), (f64::INFINITY, 3.0)]), 0.1);
    }

    fn snapshot(at: Instant, text: &str) -> Snapshot {
        Snapshot {
            at,
            samples: parse(text).unwrap(),
        }
    }

    #[test]
    fn edge_rates_come_from_the_window_between_scrapes() {
        let t0 = Instant::now();
        let before = "rtp_edge_requests_total{method=\"Predict\",code=\"Ok\"} 10\n\
             rtp_edge_request_duration_seconds_bucket{method=\"Predict\",le=\"0.001\"} 10\n\
             rtp_edge_request_duration_seconds_bucket{method=\"Predict\",le=\"+Inf\"} 10\n";
        let after = "rtp_edge_requests_total{method=\"Predict\",code=\"Ok\"} 28\n\
             rtp_edge_requests_total{method=\"Predict\",code=\"InvalidArgument\"} 2\n\
             rtp_edge_predictions_total 28\n\
             rtp_edge_model_version{version=\"v1\"} 1\n\
             rtp_edge_request_duration_seconds_bucket{method=\"Predict\",le=\"0.001\"} 10\n\
             rtp_edge_request_duration_seconds_bucket{method=\"Predict\",le=\"0.01\"} 30\n\
             rtp_edge_request_duration_seconds_bucket{method=\"Predict\",le=\"+Inf\"} 30\n";
        let target = Target {
            kind: ServiceKind::Edge,
            url: "http://x/metrics".into(),
            last: Some(snapshot(t0, before)),
            history: VecDeque::new(),
        };
        let h = health(&target, &snapshot(t0 + Duration::from_secs(2), after));
        assert!((h.rate - 10.0).abs() < 1e-9); // 20 requests in 2 s
        assert!((h.error_share - 0.1).abs() < 1e-9);
        assert!(!h.since_start);
        // all 20 requests of the window took 1–10 ms
        assert!(h.latency[0] > 0.001 && h.latency[0] < 0.01);
        assert_eq!(h.model_version.as_deref(), Some("v1"));
    }
}
