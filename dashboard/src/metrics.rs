//! The dashboard's own Prometheus metrics: requests by route and status,
//! server time per route (what the < 200 ms page budget is measured
//! against), failures of the services it calls, and uploaded rows.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Labels of a served request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The route pattern, e.g. `/batch/{id}/page/{page}`.
    pub route: String,
    /// HTTP status code.
    pub status: u16,
}

/// Labels of a route.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// The route pattern.
    pub route: String,
}

/// Labels of a failed call to another service.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UpstreamLabels {
    /// `edge` or `flight`.
    pub upstream: String,
}

/// Labels of uploaded rows.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RowLabels {
    /// `scored` or `invalid`.
    pub outcome: String,
}

/// Server-time buckets, seconds: page budgets are in milliseconds.
const DURATION_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Every metric of the dashboard.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    duration: Family<RouteLabels, Histogram>,
    upstream_failures: Family<UpstreamLabels, Counter>,
    upload_rows: Family<RowLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric under the `rtp_dashboard` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("rtp_dashboard");
        let requests = Family::<RequestLabels, Counter>::default();
        let duration = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(DURATION_BUCKETS.iter().copied())
        });
        let upstream_failures = Family::<UpstreamLabels, Counter>::default();
        let upload_rows = Family::<RowLabels, Counter>::default();
        registry.register("requests", "HTTP requests served", requests.clone());
        registry.register(
            "request_duration_seconds",
            "Server time per request, by route",
            duration.clone(),
        );
        registry.register(
            "upstream_failures",
            "Failed calls to the edge or the Flight server",
            upstream_failures.clone(),
        );
        registry.register(
            "upload_rows",
            "Rows of uploaded CSV files, by outcome",
            upload_rows.clone(),
        );
        Self {
            registry,
            requests,
            duration,
            upstream_failures,
            upload_rows,
        }
    }

    /// Counts a served request.
    pub fn request(&self, route: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_owned(),
                status,
            })
            .inc();
        self.duration
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
            })
            .observe(seconds);
    }

    /// Counts a failed call to `upstream`.
    pub fn upstream_failure(&self, upstream: &str) {
        self.upstream_failures
            .get_or_create(&UpstreamLabels {
                upstream: upstream.to_owned(),
            })
            .inc();
    }

    /// Counts uploaded rows.
    pub fn upload(&self, scored: usize, invalid: usize) {
        for (outcome, n) in [("scored", scored), ("invalid", invalid)] {
            self.upload_rows
                .get_or_create(&RowLabels {
                    outcome: outcome.to_owned(),
                })
                .inc_by(n as u64);
        }
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}
