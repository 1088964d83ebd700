//! The analytics page: how good the serving model is and for whom, from the
//! evaluation the pipeline stored in the bundle (test jobs the model never
//! saw). Charts are drawn once per bundle version.

use std::sync::{Arc, Mutex};

use askama::Template;
use axum::http::HeaderMap;
use axum::response::Response;
use rtp_bundle::QualityMetrics;
use rtp_bundle::evaluation_details::{EvaluationDetails, GroupQuality};
use rtp_bundle::manifest::ServingQuality;

use super::{PageHeader, State, page, page_header};
use crate::bundle_view::ActiveBundle;
use crate::charts::{Series, Svg, grouped_bars, predicted_vs_actual, ranked_bars};
use crate::error::DashboardError;
use crate::format::{fixed, percent, thousands};
use crate::routes::Route;

/// Features shown in the importance chart.
const TOP_FEATURES: usize = 15;

/// The analytics page.
#[derive(Debug, Template)]
#[template(path = "analytics.html")]
pub struct AnalyticsPage {
    /// Layout.
    pub header: PageHeader,
    /// The analytics of the serving bundle.
    pub view: Arc<AnalyticsView>,
}

/// Everything the page shows, computed once per bundle version.
#[derive(Debug, Default)]
pub struct AnalyticsView {
    /// Bundle version.
    pub version: String,
    /// Evaluation protocol and test size, or why there is none.
    pub protocol: String,
    /// Whether an evaluation is stored.
    pub evaluated: bool,
    /// Model vs. baselines.
    pub predictors: Vec<PredictorRow>,
    /// What serving from a frozen state instead of a live one costs, as
    /// a sentence (empty when the evaluation did not measure both).
    pub serving_gap: String,
    /// Error by runtime bucket.
    pub error_chart: Svg,
    /// Interval coverage by runtime bucket.
    pub coverage_chart: Svg,
    /// Per-bucket numbers.
    pub buckets: Vec<BucketRow>,
    /// The interval per bucket of the predicted p50 (formatted: coverage,
    /// below p10, above p90, mean log width), in bundles that record it.
    pub interval_buckets: Vec<IntervalRow>,
    /// Whether the cluster enforces its limits, as the training jobs showed
    /// (what caps the predictions and suggestions).
    pub limits: String,
    /// Predicted vs. actual.
    pub scatter: Svg,
    /// Points in the scatter.
    pub scatter_points: usize,
    /// Gain importance.
    pub importance_chart: Svg,
    /// Partitions, worst first.
    pub partitions: Vec<GroupRow>,
    /// Users: worst then best.
    pub users: Vec<GroupRow>,
    /// Requested/actual distribution.
    pub ratio_chart: Svg,
    /// Node-hours on the test jobs.
    pub node_hours: Vec<(&'static str, String)>,
    /// Whether the breakdowns exist (bundles made by an evaluation run).
    pub detailed: bool,
}

/// One line of the model-vs-baselines table.
#[derive(Debug, Clone)]
pub struct PredictorRow {
    /// Name.
    pub name: String,
    /// `model`, `member`, `baseline` or `served` (the ensemble scored
    /// through a server's state: live, frozen or refreshed).
    pub kind: &'static str,
    /// Formatted metrics: MAE h, MedAE min, MAPE %, within 2×, within
    /// 10 min, under-prediction rate, coverage.
    pub cells: [String; 7],
}

/// One runtime bucket.
#[derive(Debug, Clone)]
pub struct BucketRow {
    /// Label.
    pub label: String,
    /// Jobs.
    pub n: String,
    /// Formatted: model MAE h, request MAE h, within 2×, coverage, below p10, above p90.
    pub cells: [String; 6],
}

/// One predicted-runtime bucket of the interval.
#[derive(Debug, Clone)]
pub struct IntervalRow {
    /// Label.
    pub label: String,
    /// Jobs.
    pub n: String,
    /// Formatted: coverage, below p10, above p90, mean width ln(1 + p90) − ln(1 + p10).
    pub cells: [String; 4],
}

/// One partition or user.
#[derive(Debug, Clone)]
pub struct GroupRow {
    /// Name.
    pub name: String,
    /// Formatted: jobs, MAE h, within 2×, coverage, median request/actual.
    pub cells: [String; 5],
}

fn predictor(name: &str, kind: &'static str, m: &QualityMetrics) -> PredictorRow {
    PredictorRow {
        name: name.to_owned(),
        kind,
        cells: [
            fixed(m.mae_h, 3),
            fixed(m.medae_min, 1),
            fixed(m.mape_pct, 0),
            percent(m.within_2x),
            percent(m.within_10min),
            percent(m.under_rate),
            m.coverage_p10_p90.map_or("–".to_owned(), percent),
        ],
    }
}

/// The frozen-vs-live gap of the served ensemble, in words.
fn serving_gap(serving: &[ServingQuality]) -> String {
    let mode = |name: &str| serving.iter().find(|s| s.mode == name).map(|s| &s.model);
    let (Some(live), Some(frozen)) = (mode("live"), mode("frozen")) else {
        return String::new();
    };
    format!(
        "Served from the state frozen at the end of its training data, this model's MAE \
         would be {:+.3} h and its share within 2× {:+.1} points against a state that \
         follows the cluster's job events (live).",
        frozen.mae_h - live.mae_h,
        100.0 * (frozen.within_2x - live.within_2x)
    )
}

fn group(g: &GroupQuality) -> GroupRow {
    GroupRow {
        name: g.name.clone(),
        cells: [
            thousands(g.n as f64),
            fixed(g.mae_h, 2),
            percent(g.within_2x),
            percent(g.coverage),
            format!("{}×", fixed(g.median_request_ratio, 1)),
        ],
    }
}

impl AnalyticsView {
    /// The view of `bundle`.
    pub fn new(bundle: &ActiveBundle) -> Self {
        let manifest = &bundle.manifest;
        let mut view = AnalyticsView {
            version: manifest.version.clone(),
            ..Default::default()
        };
        let mut importance: Vec<(String, f64)> = manifest
            .feature_importance
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        let total: f64 = importance.iter().map(|i| i.1).sum();
        importance.sort_by(|a, b| b.1.total_cmp(&a.1));
        importance.truncate(TOP_FEATURES);
        if total > 0.0 {
            for item in &mut importance {
                item.1 /= total;
            }
        }
        view.importance_chart = ranked_bars(
            "Share of the LightGBM median model's split gain per feature",
            &importance,
            percent,
        );
        let Some(evaluation) = &manifest.evaluation else {
            view.protocol = "this bundle was trained without a held-out evaluation (`rtp train`); \
                             bundles made by `rtp run` carry one"
                .to_owned();
            return view;
        };
        view.evaluated = true;
        view.limits = manifest.request_cap.describe();
        view.protocol = format!(
            "{} · {} test jobs",
            evaluation.protocol,
            thousands(evaluation.n_test as f64)
        );
        view.predictors
            .push(predictor("ensemble", "model", &evaluation.model));
        if let Some(likely) = &evaluation.likely {
            view.predictors
                .push(predictor("ensemble likely", "model", likely));
        }
        for (name, m) in &evaluation.members {
            view.predictors.push(predictor(name, "member", m));
        }
        for (name, m) in &evaluation.baselines {
            view.predictors.push(predictor(name, "baseline", m));
        }
        for served in &evaluation.serving {
            let name = format!("served {}", served.mode);
            view.predictors
                .push(predictor(&name, "served", &served.model));
        }
        view.serving_gap = serving_gap(&evaluation.serving);
        if let Some(details) = &evaluation.details {
            view.detailed = true;
            view.add_details(details, manifest.interval.nominal_coverage);
        }
        view
    }

    fn add_details(&mut self, d: &EvaluationDetails, nominal: f64) {
        let labels: Vec<String> = d.by_runtime.iter().map(|b| b.label.clone()).collect();
        self.error_chart = grouped_bars(
            "Mean absolute error by actual runtime, hours",
            &labels,
            &[
                Series {
                    name: "model",
                    class: "s0",
                    values: d.by_runtime.iter().map(|b| b.mae_h).collect(),
                },
                Series {
                    name: "user request",
                    class: "s1",
                    values: d.by_runtime.iter().map(|b| b.request_mae_h).collect(),
                },
            ],
            |v| format!("{v:.1} h"),
            None,
        );
        self.coverage_chart = grouped_bars(
            "Share of actual runtimes inside the p10–p90 interval, by actual runtime",
            &labels,
            &[
                Series {
                    name: "inside p10–p90",
                    class: "s0",
                    values: d.by_runtime.iter().map(|b| b.coverage).collect(),
                },
                Series {
                    name: "below p10",
                    class: "s2",
                    values: d.by_runtime.iter().map(|b| b.below_p10).collect(),
                },
                Series {
                    name: "above p90",
                    class: "s1",
                    values: d.by_runtime.iter().map(|b| b.above_p90).collect(),
                },
            ],
            |v| format!("{:.0}%", v * 100.0),
            Some((nominal, "nominal")),
        );
        self.buckets = d
            .by_runtime
            .iter()
            .map(|b| BucketRow {
                label: b.label.clone(),
                n: thousands(b.n as f64),
                cells: [
                    fixed(b.mae_h, 2),
                    fixed(b.request_mae_h, 2),
                    percent(b.within_2x),
                    percent(b.coverage),
                    percent(b.below_p10),
                    percent(b.above_p90),
                ],
            })
            .collect();
        self.interval_buckets = d
            .interval_by_prediction
            .iter()
            .filter(|b| b.n > 0)
            .map(|b| IntervalRow {
                label: b.label.clone(),
                n: thousands(b.n as f64),
                cells: [
                    percent(b.coverage),
                    percent(b.below_p10),
                    percent(b.above_p90),
                    fixed(b.width_ln, 2),
                ],
            })
            .collect();
        let points: Vec<(f64, f64, f64, f64)> = d
            .predicted_vs_actual
            .iter()
            .map(|p| (p.actual_s, p.p50_s, p.p10_s, p.p90_s))
            .collect();
        self.scatter_points = points.len();
        self.scatter = predicted_vs_actual(
            "Predicted median against actual runtime, log scales, sampled test jobs",
            &points,
        );
        self.partitions = d.partitions.iter().map(group).collect();
        self.users = d.users.iter().map(group).collect();
        let ratio_labels: Vec<String> = d
            .request_ratio
            .iter()
            .map(|b| match b.hi {
                Some(hi) => format!("{}–{}×", b.lo, hi),
                None => format!("≥ {}×", b.lo),
            })
            .collect();
        let total: u64 = d.request_ratio.iter().map(|b| b.n).sum();
        self.ratio_chart = grouped_bars(
            "Test jobs by requested wallclock over actual runtime",
            &ratio_labels,
            &[Series {
                name: "share of jobs",
                class: "s0",
                values: d
                    .request_ratio
                    .iter()
                    .map(|b| b.n as f64 / total.max(1) as f64)
                    .collect(),
            }],
            |v| format!("{:.0}%", v * 100.0),
            None,
        );
        let nh = d.node_hours;
        self.node_hours = vec![
            ("requested by users", thousands(nh.requested)),
            ("used", thousands(nh.used)),
            (
                "had users requested the suggestion",
                thousands(nh.suggested),
            ),
            (
                "jobs that outran the suggestion",
                percent(nh.suggestion_exceeded),
            ),
        ];
    }
}

/// Caches the view of the serving version.
#[derive(Debug, Default)]
pub struct AnalyticsCache {
    current: Mutex<Option<Arc<AnalyticsView>>>,
}

impl AnalyticsCache {
    /// The view of `bundle`, computed when its version is new.
    pub fn view(&self, bundle: &ActiveBundle) -> Arc<AnalyticsView> {
        let mut current = self.current.lock().expect("analytics cache lock");
        match current.as_ref() {
            Some(view) if view.version == bundle.manifest.version => Arc::clone(view),
            _ => {
                let view = Arc::new(AnalyticsView::new(bundle));
                *current = Some(Arc::clone(&view));
                view
            }
        }
    }
}

/// `GET /analytics`.
pub async fn show(state: State, headers: HeaderMap) -> Result<Response, DashboardError> {
    let (header, cookie) = page_header(&state, &headers, Route::Analytics, "Model analytics");
    let bundle = state.bundles.active()?;
    let view = state.analytics.view(&bundle);
    page(&AnalyticsPage { header, view }, cookie)
}
