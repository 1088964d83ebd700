//! Prometheus metrics of the edge, and the HTTP endpoint that serves them
//! with the liveness and readiness probes.
//!
//! `/healthz` answers while the process runs; `/readyz` only while a model
//! is loaded and serving, so an orchestrator routes traffic to ready
//! replicas but does not restart one that is merely reloading.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use rtp_scoring::LiveModel;
use rtp_service_support::EventMetrics;

/// Labels of a finished call.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    /// The RPC method.
    pub method: String,
    /// The gRPC status code.
    pub code: String,
}

/// Labels of the latency histogram.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MethodLabels {
    /// The RPC method.
    pub method: String,
}

/// Labels of the model version gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VersionLabels {
    /// The bundle version.
    pub version: String,
}

/// The unary method that predicts one job.
const SINGLE_PREDICTION: &str = "Predict";

/// Latency buckets, seconds: 50 µs to about 3 s.
const LATENCY_BUCKETS: [f64; 17] = [
    0.00005, 0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
    0.5, 1.0, 2.5, 5.0,
];

/// Every metric the edge exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<CallLabels, Counter>,
    latency: Family<MethodLabels, Histogram>,
    in_flight: Gauge,
    /// Jobs predicted.
    predictions: Counter,
    overestimated: Counter,
    requested_node_hours: Counter<f64, AtomicU64>,
    suggested_node_hours: Counter<f64, AtomicU64>,
    /// Jobs refused inside batches and streams.
    pub job_failures: Counter,
    /// Calls refused for a missing or wrong bearer token.
    pub auth_failures: Counter,
    model_version: Family<VersionLabels, Gauge>,
    model_created: Gauge<f64, AtomicU64>,
    reloads: Counter,
    reload_failures: Counter,
    store_readable: Gauge,
    events: EventMetrics,
    /// Single predictions answered (Predict calls and stream messages that
    /// were predicted), for GetModelInfo's mean latency.
    singles: AtomicU64,
    /// Their summed latency, nanoseconds.
    singles_nanos: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with every metric at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("rtp_edge");
        let requests = Family::<CallLabels, Counter>::default();
        let latency = Family::<MethodLabels, Histogram>::new_with_constructor(
            (|| Histogram::new(LATENCY_BUCKETS)) as fn() -> Histogram,
        );
        let in_flight = Gauge::default();
        let predictions = Counter::default();
        let overestimated = Counter::default();
        let requested_node_hours = Counter::<f64, AtomicU64>::default();
        let suggested_node_hours = Counter::<f64, AtomicU64>::default();
        let job_failures = Counter::default();
        let auth_failures = Counter::default();
        let model_version = Family::<VersionLabels, Gauge>::default();
        let model_created = Gauge::<f64, AtomicU64>::default();
        let reloads = Counter::default();
        let reload_failures = Counter::default();
        let store_readable = Gauge::default();
        registry.register(
            "requests",
            "Finished gRPC calls by method and status code",
            requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time to answer a unary call or one stream message, by method",
            latency.clone(),
        );
        registry.register(
            "in_flight_requests",
            "Calls being served",
            in_flight.clone(),
        );
        registry.register("predictions", "Jobs predicted", predictions.clone());
        registry.register(
            "overestimated",
            "Predicted jobs whose request is above the overestimate factor times the p90",
            overestimated.clone(),
        );
        registry.register(
            "requested_node_hours",
            "Node-hours the predicted jobs request (nodes × requested wallclock)",
            requested_node_hours.clone(),
        );
        registry.register(
            "suggested_node_hours",
            "Node-hours the predicted jobs would request at the suggested wallclock",
            suggested_node_hours.clone(),
        );
        registry.register(
            "job_failures",
            "Jobs of batches and streams refused as invalid",
            job_failures.clone(),
        );
        registry.register(
            "auth_failures",
            "Calls refused for a missing or wrong bearer token",
            auth_failures.clone(),
        );
        registry.register(
            "model_version",
            "The bundle version serving (value 1)",
            model_version.clone(),
        );
        registry.register(
            "model_created_timestamp_seconds",
            "When the serving bundle was published, Unix seconds",
            model_created.clone(),
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
        let events = EventMetrics::register(&mut registry);
        Self {
            registry,
            requests,
            latency,
            in_flight,
            predictions,
            overestimated,
            requested_node_hours,
            suggested_node_hours,
            job_failures,
            auth_failures,
            model_version,
            model_created,
            reloads,
            reload_failures,
            store_readable,
            events,
            singles: AtomicU64::new(0),
            singles_nanos: AtomicU64::new(0),
        }
    }

    /// Counts a predicted job: `nodes` and `wallclock_s` as requested.
    pub fn record_prediction(
        &self,
        nodes: i32,
        wallclock_s: f64,
        answer: &rtp_proto::v1::PredictResponse,
    ) {
        self.predictions.inc();
        if answer.overestimated {
            self.overestimated.inc();
        }
        let nodes = f64::from(nodes.max(1));
        if wallclock_s.is_finite() && wallclock_s > 0.0 {
            self.requested_node_hours
                .inc_by(nodes * wallclock_s / 3600.0);
        }
        if answer.suggested_wallclock_seconds.is_finite() {
            self.suggested_node_hours
                .inc_by(nodes * answer.suggested_wallclock_seconds / 3600.0);
        }
    }

    /// Starts timing a call of `method`; it counts as in flight until the
    /// returned guard is finished or dropped (dropped = cancelled).
    pub fn call(self: &Arc<Self>, method: &'static str) -> Call {
        self.in_flight.inc();
        Call {
            metrics: Arc::clone(self),
            method,
            started: Instant::now(),
            done: false,
        }
    }

    /// Records the latency of one call or stream message; `predicted`
    /// when it was a single prediction that succeeded.
    pub fn observe_message(&self, method: &'static str, started: Instant, predicted: bool) {
        let elapsed = started.elapsed();
        self.latency(method).observe(elapsed.as_secs_f64());
        if predicted {
            self.singles.fetch_add(1, Ordering::Relaxed);
            self.singles_nanos
                .fetch_add(elapsed.as_nanos() as u64, Ordering::Relaxed);
        }
    }

    fn latency(&self, method: &str) -> Histogram {
        self.latency
            .get_or_create(&MethodLabels {
                method: method.to_owned(),
            })
            .clone()
    }

    /// (jobs predicted by any method, the mean latency of a single
    /// prediction in ms).
    pub fn served(&self) -> (u64, f64) {
        let n = self.singles.load(Ordering::Relaxed);
        let nanos = self.singles_nanos.load(Ordering::Relaxed);
        let mean_ms = if n == 0 {
            0.0
        } else {
            nanos as f64 / n as f64 / 1e6
        };
        (self.predictions.get(), mean_ms)
    }

    /// The text exposition, with the model gauges brought up to date.
    pub fn render(&self, live: &LiveModel) -> String {
        let scorer = live.current();
        self.model_version.clear();
        self.model_version
            .get_or_create(&VersionLabels {
                version: scorer.version().to_owned(),
            })
            .set(1);
        if let Ok(created) = chrono::DateTime::parse_from_rfc3339(&scorer.manifest().created) {
            self.model_created.set(created.timestamp() as f64);
        }
        catch_up(&self.reloads, live.reloads());
        catch_up(&self.reload_failures, live.reload_failures());
        self.store_readable.set(i64::from(live.store_readable()));
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

/// A call being served.
#[derive(Debug)]
pub struct Call {
    metrics: Arc<Metrics>,
    method: &'static str,
    started: Instant,
    done: bool,
}

impl Call {
    /// Records the call's outcome; unary calls also record their latency.
    pub fn finish(mut self, code: tonic::Code, unary: bool) {
        self.done = true;
        let m = &self.metrics;
        m.requests
            .get_or_create(&CallLabels {
                method: self.method.to_owned(),
                code: format!("{code:?}"),
            })
            .inc();
        if unary {
            let predicted = code == tonic::Code::Ok && self.method == SINGLE_PREDICTION;
            m.observe_message(self.method, self.started, predicted);
        }
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        self.metrics.in_flight.dec();
        if !self.done {
            self.metrics
                .requests
                .get_or_create(&CallLabels {
                    method: self.method.to_owned(),
                    code: format!("{:?}", tonic::Code::Cancelled),
                })
                .inc();
        }
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
}

/// `/metrics`, `/healthz` and `/readyz`.
pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "alive\n" }))
        .route("/readyz", get(readyz))
        .with_state(state)
}

async fn metrics(State(state): State<HttpState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(&state.live),
    )
}

async fn readyz(State(state): State<HttpState>) -> impl IntoResponse {
    match state.live.readiness() {
        Ok(()) => (
            StatusCode::OK,
            format!("serving {}\n", state.live.current().version()),
        ),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")),
    }
}
