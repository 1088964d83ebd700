//! Prometheus metrics of the Flight server, and the HTTP endpoint that
//! serves them with `/healthz`.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use rtp_scoring::LiveModel;
use rtp_service_support::EventMetrics;

/// Labels of a failed request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailureLabels {
    /// The Flight method.
    pub method: String,
    /// The gRPC status code.
    pub code: String,
}

/// Labels of a request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MethodLabels {
    /// The Flight method.
    pub method: String,
}

/// Labels of the model version gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VersionLabels {
    /// The bundle version.
    pub version: String,
}

/// Every metric the server exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Rows scored (with or without a row error).
    pub rows: Counter,
    /// Scored rows flagged as overestimated.
    pub overestimated: Counter,
    /// Rows that came back with an `error`.
    pub row_errors: Counter,
    /// Batches scored.
    pub batches: Counter,
    /// Requests received, by method, counted on entry.
    pub requests: Family<MethodLabels, Counter>,
    /// Calls refused for a missing or wrong bearer token.
    pub auth_failures: Counter,
    /// Requests that failed, by method and status code.
    pub failures: Family<FailureLabels, Counter>,
    /// Seconds to score one batch (features + model).
    pub batch_latency: Histogram,
    /// Seconds spent computing features, summed.
    pub feature_seconds: Counter<f64, std::sync::atomic::AtomicU64>,
    /// Seconds spent in the model, summed.
    pub model_seconds: Counter<f64, std::sync::atomic::AtomicU64>,
    model_version: Family<VersionLabels, Gauge>,
    reloads: Counter,
    reload_failures: Counter,
    store_readable: Gauge,
    stored_bytes: Gauge,
    events: EventMetrics,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with every metric at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("rtp_flight");
        let rows = Counter::default();
        let overestimated = Counter::default();
        let row_errors = Counter::default();
        let batches = Counter::default();
        let requests = Family::<MethodLabels, Counter>::default();
        let failures = Family::<FailureLabels, Counter>::default();
        let auth_failures = Counter::default();
        let batch_latency = Histogram::new(exponential_buckets(0.0005, 2.0, 16));
        let feature_seconds = Counter::<f64, _>::default();
        let model_seconds = Counter::<f64, _>::default();
        let model_version = Family::<VersionLabels, Gauge>::default();
        let reloads = Counter::default();
        let reload_failures = Counter::default();
        let store_readable = Gauge::default();
        let stored_bytes = Gauge::default();
        registry.register("rows_scored", "Job rows scored", rows.clone());
        registry.register(
            "overestimated_rows",
            "Scored rows whose request is above the overestimate factor times the p90",
            overestimated.clone(),
        );
        registry.register(
            "row_errors",
            "Job rows returned with an error instead of a prediction",
            row_errors.clone(),
        );
        registry.register("batches", "Record batches scored", batches.clone());
        registry.register(
            "requests",
            "Requests received, by Flight method",
            requests.clone(),
        );
        registry.register(
            "auth_failures",
            "Calls refused for a missing or wrong bearer token",
            auth_failures.clone(),
        );
        registry.register(
            "request_failures",
            "Requests that failed, by method and gRPC code",
            failures.clone(),
        );
        registry.register(
            "batch_latency_seconds",
            "Time to score one record batch",
            batch_latency.clone(),
        );
        registry.register(
            "feature_seconds",
            "Time spent computing features",
            feature_seconds.clone(),
        );
        registry.register(
            "model_seconds",
            "Time spent evaluating the ensemble",
            model_seconds.clone(),
        );
        registry.register(
            "model_version",
            "The bundle version serving (value 1)",
            model_version.clone(),
        );
        registry.register("model_reloads", "New bundles swapped in", reloads.clone());
        registry.register(
            "model_reload_failures",
            "Bundles refused at reload (the old model kept serving)",
            reload_failures.clone(),
        );
        registry.register(
            "model_store_readable",
            "1 while the bundle store's latest pointer can be read; 0 when new bundles cannot arrive",
            store_readable.clone(),
        );
        registry.register(
            "stored_table_bytes",
            "Memory held by tables stored with DoPut",
            stored_bytes.clone(),
        );
        let events = EventMetrics::register(&mut registry);
        Self {
            registry,
            rows,
            overestimated,
            row_errors,
            batches,
            requests,
            auth_failures,
            failures,
            batch_latency,
            feature_seconds,
            model_seconds,
            model_version,
            reloads,
            reload_failures,
            store_readable,
            stored_bytes,
            events,
        }
    }

    /// Counts a request to `method`.
    pub fn request(&self, method: &str) {
        self.requests
            .get_or_create(&MethodLabels {
                method: method.into(),
            })
            .inc();
    }

    /// Counts a failed request.
    pub fn failure(&self, method: &str, status: &tonic::Status) {
        self.failures
            .get_or_create(&FailureLabels {
                method: method.into(),
                code: format!("{:?}", status.code()),
            })
            .inc();
    }

    /// The text exposition, with the model gauges brought up to date.
    pub fn render(&self, live: &LiveModel, stored_bytes: u64) -> String {
        self.model_version.clear();
        self.model_version
            .get_or_create(&VersionLabels {
                version: live.current().version().to_owned(),
            })
            .set(1);
        catch_up(&self.reloads, live.reloads());
        catch_up(&self.reload_failures, live.reload_failures());
        self.store_readable.set(i64::from(live.store_readable()));
        self.stored_bytes.set(stored_bytes as i64);
        let events = live.event_stats();
        self.events.update(
            events.source_counts(),
            events.newest_event_s,
            events.records,
            events.store_bytes,
        );
        if let Some(follower) = live.follower_status() {
            self.events
                .update_follower(follower.lag_s, follower.polls_ok, follower.polls_failed);
        }
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

/// Raises a counter to a total kept elsewhere.
fn catch_up(counter: &Counter, total: u64) {
    let now = counter.get();
    if total > now {
        counter.inc_by(total - now);
    }
}

/// What the HTTP endpoint reads.
#[derive(Debug, Clone)]
pub struct HttpState {
    /// The metrics.
    pub metrics: Arc<Metrics>,
    /// The serving model.
    pub live: Arc<LiveModel>,
    /// Stored tables, for their memory gauge.
    pub tables: Arc<crate::tables::TableStore>,
}

/// `/metrics`, `/healthz` (a model serves: the server only listens once
/// one is loaded, and keeps serving it when a reload is refused) and
/// `/readyz` (also: its inputs are fresh, no follower too far behind).
pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(state)
}

async fn metrics(State(state): State<HttpState>) -> impl IntoResponse {
    let body = state
        .metrics
        .render(&state.live, state.tables.stored_bytes());
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
}

async fn readyz(State(state): State<HttpState>) -> impl IntoResponse {
    match state.live.readiness() {
        Ok(()) => healthz(State(state)).await.into_response(),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")).into_response(),
    }
}

async fn healthz(State(state): State<HttpState>) -> impl IntoResponse {
    (
        StatusCode::OK,
        format!("serving {}\n", state.live.current().version()),
    )
}
