//! The predict page: a job's resources and limits in, the edge's prediction
//! out, with the interval, the features that moved it, a suggested request
//! and an alert when the request is far above what the job will need.

use askama::Template;
use axum::Form;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use rtp_proto::v1::{JobFeatures, PredictResponse};
use serde::Deserialize;

use super::{PageHeader, State, html, page, page_header};
use crate::error::DashboardError;
use crate::format::{clock, duration, fixed, thousands};
use crate::routes::Route;
use rtp_jobs::schema::col;
use rtp_jobs::slurm::{BareNumber, parse_duration};
use rtp_jobs::units::mb_from_gb;
use rtp_jobs::values::{parse_f64, parse_i64};
use rtp_jobs::{Job, Purpose};

/// The form's fields, in its order, with the job columns they fill.
const FORM_FIELDS: [(&str, &str); 5] = [
    (col::NODES_REQ, "nodes"),
    (col::PROCESSORS_REQ, "processors"),
    (col::GPUS_REQ, "gpus"),
    (col::MEM_REQ_MB, "memory"),
    (col::WALLCLOCK_REQ_S, "wallclock"),
];

/// The form as typed: every field a string, so a bad number is reported by
/// field instead of failing the whole request.
#[derive(Debug, Clone, Deserialize)]
pub struct PredictForm {
    /// Requested nodes.
    #[serde(default)]
    pub nodes: String,
    /// Requested processors (cores).
    #[serde(default)]
    pub processors: String,
    /// Requested GPUs.
    #[serde(default)]
    pub gpus: String,
    /// Requested memory, GB.
    #[serde(default)]
    pub mem_gb: String,
    /// Requested wallclock (seconds or Slurm time).
    #[serde(default)]
    pub wallclock: String,
    /// Partition.
    #[serde(default)]
    pub partition: String,
    /// QoS.
    #[serde(default)]
    pub qos: String,
    /// User.
    #[serde(default)]
    pub user: String,
    /// Account.
    #[serde(default)]
    pub account: String,
}

impl Default for PredictForm {
    fn default() -> Self {
        Self {
            nodes: "1".into(),
            processors: "36".into(),
            gpus: "0".into(),
            mem_gb: "0".into(),
            wallclock: "04:00:00".into(),
            partition: String::new(),
            qos: "normal".into(),
            user: String::new(),
            account: String::new(),
        }
    }
}

impl PredictForm {
    /// The job the form describes, or every field that is wrong: first
    /// what does not read as a number, then what breaks the rules every
    /// surface shares, in the form's order.
    pub fn to_job(&self) -> Result<JobFeatures, Vec<String>> {
        let mut errors: Vec<(usize, String)> = Vec::new();
        let position = |column: &str| FORM_FIELDS.iter().position(|(c, _)| *c == column);
        let mut unreadable = |column: &str, reason: String| {
            let i = position(column).expect("a form field");
            errors.push((i, format!("{}: {reason}", FORM_FIELDS[i].1)));
        };
        // The wire carries counts as i32: a larger one is no whole number it can send.
        let mut count = |column: &str, text: &str| -> Option<i64> {
            match parse_i64(text) {
                Ok(v) if v.is_none_or(|v| i32::try_from(v).is_ok()) => v,
                _ => {
                    unreadable(column, format!("{:?} is not a whole number", text.trim()));
                    None
                }
            }
        };
        let nodes = count(col::NODES_REQ, &self.nodes);
        let processors = count(col::PROCESSORS_REQ, &self.processors);
        let gpus = count(col::GPUS_REQ, &self.gpus);
        let mem_gb = parse_f64(&self.mem_gb).unwrap_or_else(|_| {
            unreadable(
                col::MEM_REQ_MB,
                format!("{:?} is not a number of GB", self.mem_gb.trim()),
            );
            None
        });
        let wallclock =
            parse_duration(&self.wallclock, BareNumber::Seconds).unwrap_or_else(|reason| {
                unreadable(col::WALLCLOCK_REQ_S, reason);
                None
            });
        let unread: Vec<usize> = errors.iter().map(|(i, _)| *i).collect();
        let job = Job::<&str> {
            nodes_req: nodes,
            processors_req: processors,
            gpus_req: gpus,
            mem_req_mb: mem_gb.map(mb_from_gb),
            wallclock_req_s: wallclock,
            submit_time: Some(chrono::Utc::now().timestamp()),
            ..Job::default()
        };
        for problem in job.normalized().problems(Purpose::Scoring).0 {
            if let Some(i) = position(problem.field).filter(|i| !unread.contains(i)) {
                errors.push((i, format!("{}: {}", FORM_FIELDS[i].1, problem.reason)));
            }
        }
        if !errors.is_empty() {
            errors.sort_by_key(|(i, _)| *i);
            return Err(errors.into_iter().map(|(_, e)| e).collect());
        }
        // Counts were read within i32; 0 is proto3's "not set".
        let wire = |v: Option<i64>| v.map_or(0, |v| i32::try_from(v).expect("read within i32"));
        let (nodes, processors, gpus) = (wire(nodes), wire(processors), wire(gpus));
        let (mem_gb, wallclock) = (mem_gb.unwrap_or(0.0), wallclock.unwrap_or(0.0));

        Ok(JobFeatures {
            processors_req: processors,
            nodes_req: nodes,
            mem_req: mem_gb,
            wallclock_req: wallclock,
            partition: self.partition.trim().to_owned(),
            qos: self.qos.trim().to_owned(),
            submit_time: 0,
            user: self.user.trim().to_owned(),
            account: self.account.trim().to_owned(),
            gpus_req: gpus,
            ..Default::default()
        })
    }
}

/// The predict page.
#[derive(Debug, Template)]
#[template(path = "predict.html")]
pub struct PredictPage {
    /// Layout.
    pub header: PageHeader,
    /// Prefilled values.
    pub form: PredictForm,
    /// Known partitions, for suggestions.
    pub partitions: Vec<String>,
    /// Known QoS values.
    pub qos_values: Vec<String>,
    /// The alert factor.
    pub factor: String,
}

/// The result fragment.
#[derive(Debug, Template)]
#[template(path = "predict_partial.html")]
pub struct PredictPartial {
    /// What to show.
    pub view: PredictView,
}

/// A prediction, ready to show.
#[derive(Debug, Clone)]
pub struct PredictView {
    /// The likely runtime as a duration.
    pub likely: String,
    /// p50 as a duration.
    pub p50: String,
    /// p10 as a duration.
    pub p10: String,
    /// p90 as a duration.
    pub p90: String,
    /// Nominal coverage of the interval, e.g. `80%`.
    pub coverage: String,
    /// Runtime category.
    pub category: String,
    /// Requested wallclock, readable and as `HH:MM:SS`.
    pub requested: String,
    /// Suggested request as `HH:MM:SS`.
    pub suggested_clock: String,
    /// Suggested request, readable.
    pub suggested: String,
    /// Top contributions.
    pub contributions: Vec<ContributionView>,
    /// The overestimation alert, when raised.
    pub alert: Option<AlertView>,
    /// Model version that answered.
    pub model_version: String,
    /// The user the job was predicted for (echoed, escaped by the template).
    pub user: String,
}

/// One feature's push on the prediction.
#[derive(Debug, Clone)]
pub struct ContributionView {
    /// Feature name.
    pub feature: String,
    /// Multiplicative effect, e.g. `×1.35`.
    pub factor: String,
    /// `longer` or `shorter`.
    pub direction: &'static str,
    /// Bar length, 0–100, relative to the largest contribution.
    pub width: u32,
}

/// The overestimation alert.
#[derive(Debug, Clone)]
pub struct AlertView {
    /// Request over p90, e.g. `6.0`.
    pub ratio: String,
    /// The configured factor.
    pub factor: String,
    /// Node-hours reserved beyond the p90.
    pub wasted_node_hours: String,
}

impl PredictView {
    /// The view of `response` for `job`, alerting above `factor` × p90.
    pub fn new(response: &PredictResponse, job: &JobFeatures, factor: f64) -> Self {
        let (p10, p50, p90) = (
            response.p10_seconds,
            response.p50_seconds,
            response.p90_seconds,
        );
        let mut contributions: Vec<(&String, f64)> = response
            .feature_importance
            .iter()
            .map(|(k, v)| (k, *v))
            .collect();
        contributions.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()).then_with(|| a.0.cmp(b.0)));
        let largest = contributions.first().map_or(0.0, |c| c.1.abs());
        let request = job.wallclock_req;
        let alert = (request > factor * p90 && p90 > 0.0).then(|| AlertView {
            ratio: fixed(request / p90, 1),
            factor: fixed(factor, 1),
            wasted_node_hours: thousands_or_fraction(
                (request - p90) * f64::from(job.nodes_req) / 3600.0,
            ),
        });
        Self {
            likely: duration(response.likely_seconds),
            p50: duration(p50),
            p10: duration(p10),
            p90: duration(p90),
            coverage: format!("{:.0}%", response.prediction_confidence * 100.0),
            category: response.runtime_category.clone(),
            requested: format!("{} ({})", duration(request), clock(request)),
            suggested_clock: clock(response.suggested_wallclock_seconds),
            suggested: duration(response.suggested_wallclock_seconds),
            contributions: contributions
                .into_iter()
                .map(|(feature, value)| ContributionView {
                    feature: feature.clone(),
                    factor: format!("×{:.2}", value.exp()),
                    direction: if value >= 0.0 { "longer" } else { "shorter" },
                    width: if largest > 0.0 {
                        ((value.abs() / largest) * 100.0).round() as u32
                    } else {
                        0
                    },
                })
                .collect(),
            alert,
            model_version: response.model_version.clone(),
            user: job.user.clone(),
        }
    }
}

fn thousands_or_fraction(value: f64) -> String {
    if value < 10.0 {
        fixed(value, 1)
    } else {
        thousands(value)
    }
}

/// `GET /predict`.
pub async fn show(state: State, headers: HeaderMap) -> Result<Response, DashboardError> {
    let (header, cookie) = page_header(&state, &headers, Route::Predict, "Predict a job's runtime");
    let (partitions, qos_values) = match state.bundles.active() {
        Ok(active) => (active.partitions.clone(), active.qos.clone()),
        Err(_) => (Vec::new(), Vec::new()),
    };
    let mut form = PredictForm::default();
    if let Some(first) = partitions.first() {
        form.partition = first.clone();
    }
    page(
        &PredictPage {
            header,
            form,
            partitions,
            qos_values,
            factor: fixed(state.config.overestimate_factor, 1),
        },
        cookie,
    )
}

/// `POST /predict` (htmx): the result fragment.
pub async fn submit(
    state: State,
    Form(form): Form<PredictForm>,
) -> Result<Response, DashboardError> {
    let job = form
        .to_job()
        .map_err(|errors| DashboardError::Invalid(errors.join("; ")))?;
    let response = state.edge.predict(job.clone()).await.inspect_err(|e| {
        if !matches!(e, DashboardError::Upstream { rejected: true, .. }) {
            state.metrics.upstream_failure("edge");
        }
    })?;
    let view = PredictView::new(&response, &job, state.config.overestimate_factor);
    Ok(html(StatusCode::OK, PredictPartial { view }.render()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_field_is_named() {
        let form = PredictForm {
            nodes: "0".into(),
            processors: "many".into(),
            mem_gb: "-1".into(),
            wallclock: "tomorrow".into(),
            ..PredictForm::default()
        };
        let errors = form.to_job().unwrap_err();
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(errors[0].starts_with("nodes:"));
        assert!(errors[1].starts_with("processors:"));
        assert!(errors[2].starts_with("memory:"));
        assert!(errors[3].starts_with("wallclock:"));
        let job = PredictForm::default().to_job().unwrap();
        assert_eq!(job.wallclock_req, 14_400.0);
        assert_eq!(job.submit_time, 0);
    }

    #[test]
    fn the_alert_counts_node_hours_beyond_the_p90() {
        let response = PredictResponse {
            p10_seconds: 600.0,
            p50_seconds: 1800.0,
            p90_seconds: 3600.0,
            suggested_wallclock_seconds: 3600.0,
            prediction_confidence: 0.8,
            feature_importance: [("f_req".to_owned(), -0.5), ("f_nodes".to_owned(), 0.1)].into(),
            ..Default::default()
        };
        let job = JobFeatures {
            nodes_req: 4,
            wallclock_req: 8.0 * 3600.0,
            ..Default::default()
        };
        let view = PredictView::new(&response, &job, 2.0);
        let alert = view.alert.unwrap();
        assert_eq!(alert.ratio, "8.0");
        assert_eq!(alert.wasted_node_hours, "28"); // (8 h − 1 h) × 4 nodes
        assert_eq!(view.contributions[0].feature, "f_req");
        assert_eq!(view.contributions[0].direction, "shorter");
        assert_eq!(view.contributions[1].width, 20);
        assert_eq!(view.suggested_clock, "1:00:00");
        let calm = PredictView::new(
            &response,
            &JobFeatures {
                wallclock_req: 7200.0,
                ..job
            },
            2.0,
        );
        assert!(calm.alert.is_none());
    }
}
