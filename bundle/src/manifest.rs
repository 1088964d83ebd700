//! The bundle manifest: what a bundle holds and how it was made.
//!
//! A server decides from the manifest alone whether it can use a bundle
//! (format version, feature list) and what to report about it.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

use crate::target::Target;

/// JSON has no NaN: serde_json writes it as `null` (an empty bucket's mean
/// error, an undefined R²), and this reads `null` back as NaN.
pub(crate) fn number_or_nan<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(deserializer)?.unwrap_or(f64::NAN))
}

fn nan() -> f64 {
    f64::NAN
}

/// Shortest actual runtime a relative error is taken against: a job that
/// ran for two seconds would otherwise weigh like thousands of hour-long ones.
pub const MAPE_FLOOR_S: f64 = 60.0;

/// Version of the bundle layout written by this crate.
pub const FORMAT_VERSION: u32 = 5;

pub use crate::layout::MANIFEST_FILE;

/// Contents of `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Layout version ([`FORMAT_VERSION`] when written by this crate).
    pub format_version: u32,
    /// Bundle version, also its directory name.
    pub version: String,
    /// Creation time, RFC 3339, UTC.
    pub created: String,
    /// SHA-256 of the canonical job table the bundle was trained from.
    pub input_fingerprint: String,
    /// SHA-256 over the feature SQL files (names and contents, in order).
    pub sql_sha256: String,
    /// What the models predict; read back to turn predictions into seconds.
    pub target: Target,
    /// Model inputs, in the column order the models expect.
    pub features: Vec<FeatureSpec>,
    /// The ensemble's members: tree models, one per quantile each.
    pub members: Vec<MemberSpec>,
    /// Per quantile, the weight of each member in the blend (log scale).
    pub blend: Vec<BlendWeights>,
    /// Calibration applied to the p10–p90 interval.
    pub interval: IntervalCalibration,
    /// How the likely runtime is read off the quantiles; absent in bundles
    /// of three quantiles, whose likely runtime is their p50.
    #[serde(default)]
    pub likely: Option<crate::likely::LikelyRule>,
    /// How far past its request a job can run, learned from the training
    /// jobs with the evidence: caps predictions and suggestions.
    #[serde(default)]
    pub request_cap: crate::RequestCap,
    /// File mapping each categorical feature's values to model codes.
    pub categories_file: String,
    /// Parquet file of per-entity history as of the end of the training data.
    pub history_file: String,
    /// Parquet file of per-queue counts as of the end of the training data.
    pub queue_file: String,
    /// Directory with the feature SQL files the models were trained with.
    pub sql_dir: String,
    /// JSON file of training rows with each library's predictions, replayed
    /// through the native engine on every load ([`crate::parity`]).
    pub parity_file: String,
    /// What the models were trained on.
    pub training: TrainingSummary,
    /// Held-out quality, when the bundle was made by an evaluation run.
    pub evaluation: Option<EvaluationSummary>,
    /// Gain importance per feature, summed over the LightGBM p50 model's trees.
    pub feature_importance: BTreeMap<String, f64>,
    /// SHA-256 of every other file of the bundle, by path relative to its
    /// directory. [`crate::StagedBundle::publish`] fills it in (whatever the
    /// caller put here is replaced) and [`crate::BundleStore::open`] checks it.
    pub files: BTreeMap<String, String>,
}

/// One model input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureSpec {
    /// Column name in the feature table.
    pub name: String,
    /// How the model treats it.
    pub kind: FeatureKind,
}

/// How a model treats a feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureKind {
    /// A number; null is "missing".
    Numeric,
    /// A string mapped to an integer code by the bundle's category file.
    Categorical,
}

/// The library a member's models come from, and so their file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberKind {
    /// LightGBM, text model files.
    Lightgbm,
    /// XGBoost, JSON model files.
    Xgboost,
    /// CatBoost, JSON model files (oblivious trees, one-hot categoricals).
    Catboost,
}

impl MemberKind {
    /// Every kind, in blend order.
    pub const ALL: [MemberKind; 3] = [Self::Lightgbm, Self::Xgboost, Self::Catboost];

    /// The name used in configuration, manifests and reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Lightgbm => "lightgbm",
            Self::Xgboost => "xgboost",
            Self::Catboost => "catboost",
        }
    }

    /// The kind with the given name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The model file format the native engine reads for this kind.
    pub fn model_format(self) -> rtp_trees::ModelFormat {
        match self {
            Self::Lightgbm => rtp_trees::ModelFormat::LightGbm,
            Self::Xgboost => rtp_trees::ModelFormat::XgBoost,
            Self::Catboost => rtp_trees::ModelFormat::CatBoost,
        }
    }
}

impl std::fmt::Display for MemberKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One member of the ensemble.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberSpec {
    /// Which library trained it.
    pub kind: MemberKind,
    /// That library's version.
    pub library_version: String,
    /// The features it reads, in its models' input order (a subset of the
    /// bundle's features).
    pub inputs: Vec<String>,
    /// Its quantile models.
    pub models: Vec<QuantileModel>,
    /// The parameters it was trained with.
    pub params: BTreeMap<String, String>,
    /// Largest relative difference between the native engine and the
    /// library's own predictions, checked on training rows before publishing.
    pub parity_max_rel_diff: f64,
}

/// The blend of one quantile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlendWeights {
    /// The quantile.
    pub quantile: f64,
    /// Weight per member name; non-negative, summing to 1.
    pub weights: BTreeMap<String, f64>,
}

/// One quantile model of a member.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuantileModel {
    /// The quantile it predicts, e.g. 0.5.
    pub quantile: f64,
    /// Model file name inside the bundle.
    pub file: String,
    /// Boosting rounds kept after early stopping.
    pub best_iteration: u32,
}

/// Conformal widening of the p10–p90 interval, fitted on the validation slice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntervalCalibration {
    /// The coverage the interval aims at (0.8 for p10–p90).
    pub nominal_coverage: f64,
    /// Amount subtracted from the p10 and added to the p90, in target (log) units.
    /// Negative values narrow an interval that was too wide.
    pub margin: f64,
    /// Coverage on the validation slice before calibration.
    pub raw_validation_coverage: f64,
}

/// What the models were trained on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingSummary {
    /// Rows used to fit the trees.
    pub rows: u64,
    /// Rows of the temporal validation slice (early stopping, calibration).
    pub validation_rows: u64,
    /// The blend's quality on the validation slice, with its calibrated
    /// interval. The slice chose the stopping rounds, weights and margin, so
    /// this is optimistic; the evaluation's test metrics are the honest ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation: Option<QualityMetrics>,
    /// Job states eligible for training.
    pub states: Vec<String>,
    /// First submit time of the training rows, epoch seconds (cluster clock).
    pub first_submit_s: i64,
    /// Last submit time of the training rows.
    pub last_submit_s: i64,
    /// Last end time in the history the bundle's state was built from.
    pub history_until_s: i64,
}

/// Held-out quality of the model and of the baselines on the same jobs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvaluationSummary {
    /// How train and test were split, e.g. `holdout test_frac=0.2`.
    pub protocol: String,
    /// Number of test jobs.
    pub n_test: u64,
    /// The blended model's quality (its p50 and interval).
    pub model: QualityMetrics,
    /// The blend's likely runtime ([`crate::likely`]) on the same jobs,
    /// with the same interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub likely: Option<QualityMetrics>,
    /// Each member alone (its own interval calibration), by name.
    #[serde(default)]
    pub members: BTreeMap<String, QualityMetrics>,
    /// Baselines by name (`user_request`, `last2`, `max_ratio5`), each on
    /// exactly the model's test jobs.
    pub baselines: BTreeMap<String, QualityMetrics>,
    /// Baselines left out because some test jobs lack what they need (a
    /// log without requested times), with the reason.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub baselines_dropped: BTreeMap<String, String>,
    /// Breakdowns for the dashboard's analytics page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<crate::evaluation_details::EvaluationDetails>,
    /// The blend on the same test jobs scored as served: from state
    /// followed by job events (`live`), frozen at the training cut
    /// (`frozen`), or rebuilt periodically (`refresh:<d>`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub serving: Vec<ServingQuality>,
    /// The test period scheduled again with the model's suggestions as
    /// the jobs' limits, against the users' requests and perfect knowledge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<SchedulingReplay>,
    /// The same evaluation without one feature family at a time
    /// (`rtp evaluate --ablation`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ablation: Vec<AblationRow>,
}

/// The model's quality without one family of features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AblationRow {
    /// The family left out.
    pub family: String,
    /// How many features it has.
    pub features: u32,
    /// The blend's quality without them.
    pub without: QualityMetrics,
}

/// A trace scheduled by a simulated cluster three times, with different
/// runtime estimates (`rtp replay`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SchedulingReplay {
    /// Queue discipline: `easy` (FCFS with EASY backfilling), `easy-sjbf`
    /// (EASY trying the shortest estimate first) or `fcfs`.
    pub policy: String,
    /// What an underestimated job does: `kill` (killed at its limit and
    /// resubmitted with the user's request) or `extend` (runs on; the
    /// scheduler's estimate becomes the request).
    pub overrun: String,
    /// Processors of the simulated cluster.
    pub processors: u32,
    /// Where `processors` came from (the trace's header, its peak use, or
    /// the command line).
    pub processors_from: String,
    /// Jobs of the test period that were not simulated, by reason.
    pub skipped: BTreeMap<String, u64>,
    /// The test period: `requests`, `suggestions`, `predictions`, `perfect`.
    pub runs: Vec<ReplayRun>,
    /// The whole trace with requests and with perfect knowledge: the
    /// simulator against published figures.
    #[serde(default)]
    pub whole_trace: Vec<ReplayRun>,
}

impl SchedulingReplay {
    /// The simulated cluster in words: its discipline, size and what an
    /// underestimated job does.
    pub fn setting(&self) -> String {
        let policy = match self.policy.as_str() {
            "easy" => "FCFS with EASY backfilling",
            "easy-sjbf" => "FCFS with EASY backfilling, shortest estimate first",
            _ => "FCFS",
        };
        let overrun = match self.overrun.as_str() {
            "kill" => "a job that outlives its limit is killed and resubmitted with its request",
            _ => "a job that outlives its estimate runs on and the scheduler expects its request",
        };
        format!(
            "{policy} on {} processors ({}); {overrun}",
            self.processors, self.processors_from
        )
    }
}

/// One simulated schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplayRun {
    /// Which estimates the scheduler had.
    pub estimates: String,
    /// Jobs simulated.
    pub jobs: u64,
    /// Mean wait (response time less runtime, killed attempts included), hours.
    pub mean_wait_h: f64,
    /// Mean bounded slowdown, runtimes bounded below by 10 s.
    pub bounded_slowdown: f64,
    /// Useful processor-seconds over the processors' time from the first
    /// submit to the last end.
    pub utilisation: f64,
    /// Share of jobs killed at least once at an underestimated limit.
    pub killed_share: f64,
    /// Killed attempts' processor-seconds over the useful ones.
    pub wasted_share: f64,
    /// Per day of submit: mean wait (hours) and bounded slowdown.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub daily: Vec<ReplayDay>,
}

/// One day of a replay.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReplayDay {
    /// Start of the day, Unix seconds.
    pub day_s: i64,
    /// Jobs submitted that day.
    pub jobs: u64,
    /// Their mean wait, hours.
    pub mean_wait_h: f64,
    /// Their mean bounded slowdown.
    pub bounded_slowdown: f64,
}

/// The blend's quality under one serving mode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServingQuality {
    /// `live`, `frozen` or `refresh:<duration>`.
    pub mode: String,
    /// The blend's quality.
    pub model: QualityMetrics,
}

/// Error measures of a point prediction (and its interval) against actual runtimes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct QualityMetrics {
    /// Mean absolute error, hours.
    #[serde(deserialize_with = "number_or_nan")]
    pub mae_h: f64,
    /// Median absolute error, minutes.
    #[serde(deserialize_with = "number_or_nan")]
    pub medae_min: f64,
    /// Root mean squared error, hours.
    #[serde(deserialize_with = "number_or_nan")]
    pub rmse_h: f64,
    /// Coefficient of determination on seconds.
    #[serde(deserialize_with = "number_or_nan")]
    pub r2: f64,
    /// Share with 0.5 ≤ max(pred,1)/max(actual,1) ≤ 2.
    #[serde(deserialize_with = "number_or_nan")]
    pub within_2x: f64,
    /// Share with |pred − actual| ≤ 10 minutes.
    #[serde(deserialize_with = "number_or_nan")]
    pub within_10min: f64,
    /// Share predicted below the actual runtime.
    #[serde(deserialize_with = "number_or_nan")]
    pub under_rate: f64,
    /// Mean absolute percentage error, percent: mean of
    /// |pred − actual| / max(actual, [`MAPE_FLOOR_S`]) × 100.
    /// NaN in bundles written before it was recorded.
    #[serde(default = "nan", deserialize_with = "number_or_nan")]
    pub mape_pct: f64,
    /// Share of actual runtimes inside the predicted p10–p90 interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage_p10_p90: Option<f64>,
    /// Mean width of the p10–p90 interval in log space,
    /// ln(1 + p90) − ln(1 + p10): what the coverage costs (a wider interval
    /// that covers is no free win).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_width_ln: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coverage_is_omitted_when_absent() {
        let m = QualityMetrics {
            mae_h: 1.0,
            medae_min: 2.0,
            rmse_h: 3.0,
            r2: 0.5,
            within_2x: 0.6,
            within_10min: 0.2,
            under_rate: 0.4,
            mape_pct: 35.0,
            coverage_p10_p90: None,
            interval_width_ln: None,
        };
        let json = serde_json::to_string(&m).unwrap();
        assert!(!json.contains("coverage"), "{json}");
        let back: QualityMetrics = serde_json::from_str(&json).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn metrics_written_before_mape_read_it_as_nan() {
        let json = r#"{"mae_h":1.0,"medae_min":2.0,"rmse_h":3.0,"r2":0.5,
            "within_2x":0.6,"within_10min":0.2,"under_rate":0.4}"#;
        let m: QualityMetrics = serde_json::from_str(json).unwrap();
        assert!(m.mape_pct.is_nan());
        assert_eq!(m.mae_h, 1.0);
    }
}
