//! What the dashboard's analytics page shows about a model, computed by the
//! pipeline on the held-out test jobs and stored in the manifest: quality by
//! runtime bucket, calibration of the interval, the best- and worst-served
//! partitions and users, a sample of predicted vs. actual runtimes, and how
//! far users' requests are from what their jobs used.
//!
//! Everything here is aggregated (or sampled) so the manifest stays small
//! whatever the size of the test set.

use serde::{Deserialize, Serialize};

use crate::manifest::number_or_nan;

/// Held-out detail beyond the headline metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvaluationDetails {
    /// Quality and interval calibration per actual-runtime bucket.
    pub by_runtime: Vec<BucketQuality>,
    /// The interval's coverage and width per bucket of the predicted p50:
    /// whether it holds for the jobs a prediction calls short as for those
    /// it calls long (conditioning on the actual runtime cannot: a job that
    /// ended surprisingly early falls below any honest p10).
    #[serde(default)]
    pub interval_by_prediction: Vec<IntervalBucket>,
    /// Every partition with enough test jobs, worst mean absolute error first.
    pub partitions: Vec<GroupQuality>,
    /// The users with enough test jobs, worst first: at most the worst and
    /// the best [`GROUP_EXTREMES`] each.
    pub users: Vec<GroupQuality>,
    /// A deterministic sample of (actual, p50, p10, p90) runtimes, seconds.
    pub predicted_vs_actual: Vec<PredictionSample>,
    /// Distribution of requested wallclock over actual runtime.
    pub request_ratio: Vec<RatioBin>,
    /// Node-hours of the test jobs: requested, used and suggested.
    pub node_hours: NodeHours,
}

/// Users (and partitions) need this many test jobs to be ranked.
pub const MIN_GROUP_JOBS: u64 = 20;
/// How many of the worst and of the best users are kept.
pub const GROUP_EXTREMES: usize = 10;
/// Most points kept in [`EvaluationDetails::predicted_vs_actual`].
pub const MAX_SAMPLES: usize = 1000;

/// Quality of the jobs whose actual runtime falls in `[lo_s, hi_s)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BucketQuality {
    /// Human label, e.g. `1–8 h`.
    pub label: String,
    /// Lower bound, seconds (inclusive).
    #[serde(deserialize_with = "number_or_nan")]
    pub lo_s: f64,
    /// Upper bound, seconds (exclusive); `None` for the open last bucket.
    pub hi_s: Option<f64>,
    /// Test jobs in the bucket.
    pub n: u64,
    /// Model mean absolute error, hours.
    #[serde(deserialize_with = "number_or_nan")]
    pub mae_h: f64,
    /// Mean absolute error of the user's own request, hours.
    #[serde(deserialize_with = "number_or_nan")]
    pub request_mae_h: f64,
    /// Share predicted within a factor of two.
    #[serde(deserialize_with = "number_or_nan")]
    pub within_2x: f64,
    /// Share of actual runtimes inside the p10–p90 interval.
    #[serde(deserialize_with = "number_or_nan")]
    pub coverage: f64,
    /// Share of actual runtimes below the p10.
    #[serde(deserialize_with = "number_or_nan")]
    pub below_p10: f64,
    /// Share of actual runtimes above the p90.
    #[serde(deserialize_with = "number_or_nan")]
    pub above_p90: f64,
}

/// The p10–p90 interval for the test jobs whose predicted p50 falls in
/// `[lo_s, hi_s)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntervalBucket {
    /// Human label, e.g. `1 – 10 min`.
    pub label: String,
    /// Lower bound, seconds (inclusive).
    #[serde(deserialize_with = "number_or_nan")]
    pub lo_s: f64,
    /// Upper bound, seconds (exclusive); `None` for the open last bucket.
    pub hi_s: Option<f64>,
    /// Test jobs in the bucket.
    pub n: u64,
    /// Share of actual runtimes inside the interval.
    #[serde(deserialize_with = "number_or_nan")]
    pub coverage: f64,
    /// Share below the p10.
    #[serde(deserialize_with = "number_or_nan")]
    pub below_p10: f64,
    /// Share above the p90.
    #[serde(deserialize_with = "number_or_nan")]
    pub above_p90: f64,
    /// Mean ln(1 + p90) − ln(1 + p10).
    #[serde(deserialize_with = "number_or_nan")]
    pub width_ln: f64,
}

/// Quality for one partition or user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupQuality {
    /// Partition or user name, as in the job records.
    pub name: String,
    /// Test jobs.
    pub n: u64,
    /// Model mean absolute error, hours.
    #[serde(deserialize_with = "number_or_nan")]
    pub mae_h: f64,
    /// Share predicted within a factor of two.
    #[serde(deserialize_with = "number_or_nan")]
    pub within_2x: f64,
    /// Share inside the p10–p90 interval.
    #[serde(deserialize_with = "number_or_nan")]
    pub coverage: f64,
    /// Median of requested wallclock over actual runtime.
    #[serde(deserialize_with = "number_or_nan")]
    pub median_request_ratio: f64,
}

/// One sampled test job.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PredictionSample {
    /// Actual runtime, seconds.
    #[serde(deserialize_with = "number_or_nan")]
    pub actual_s: f64,
    /// Predicted median, seconds.
    #[serde(deserialize_with = "number_or_nan")]
    pub p50_s: f64,
    /// Predicted p10, seconds.
    #[serde(deserialize_with = "number_or_nan")]
    pub p10_s: f64,
    /// Predicted p90, seconds.
    #[serde(deserialize_with = "number_or_nan")]
    pub p90_s: f64,
}

/// Test jobs whose requested/actual ratio falls in `[lo, hi)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RatioBin {
    /// Lower bound (inclusive).
    #[serde(deserialize_with = "number_or_nan")]
    pub lo: f64,
    /// Upper bound (exclusive); `None` for the open last bin.
    pub hi: Option<f64>,
    /// Jobs in the bin.
    pub n: u64,
}

/// Node-hours summed over the test jobs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct NodeHours {
    /// As requested by the users.
    #[serde(deserialize_with = "number_or_nan")]
    pub requested: f64,
    /// As used (actual runtime).
    #[serde(deserialize_with = "number_or_nan")]
    pub used: f64,
    /// Had every job requested the suggested wallclock (p90 rounded up,
    /// never above the request).
    #[serde(deserialize_with = "number_or_nan")]
    pub suggested: f64,
    /// Share of test jobs whose runtime exceeded the suggestion.
    #[serde(deserialize_with = "number_or_nan")]
    pub suggestion_exceeded: f64,
}

/// Actual-runtime buckets of [`EvaluationDetails::by_runtime`]: bounds in
/// seconds and labels.
pub const RUNTIME_BUCKETS: [(f64, Option<f64>, &str); 6] = [
    (0.0, Some(600.0), "< 10 min"),
    (600.0, Some(3_600.0), "10 min – 1 h"),
    (3_600.0, Some(14_400.0), "1 – 4 h"),
    (14_400.0, Some(28_800.0), "4 – 8 h"),
    (28_800.0, Some(172_800.0), "8 – 48 h"),
    (172_800.0, None, "≥ 48 h"),
];

/// Predicted-p50 buckets of [`EvaluationDetails::interval_by_prediction`]:
/// finer at the short end, where most jobs of most logs are predicted.
pub const PREDICTION_BUCKETS: [(f64, Option<f64>, &str); 6] = [
    (0.0, Some(60.0), "< 1 min"),
    (60.0, Some(600.0), "1 – 10 min"),
    (600.0, Some(3_600.0), "10 min – 1 h"),
    (3_600.0, Some(14_400.0), "1 – 4 h"),
    (14_400.0, Some(86_400.0), "4 – 24 h"),
    (86_400.0, None, "≥ 24 h"),
];

/// Lower bounds of the request-ratio bins; the last bin is open.
pub const RATIO_EDGES: [f64; 10] = [0.0, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 20.0, 50.0, 100.0];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_bucket_round_trips_through_json() {
        let bucket = BucketQuality {
            label: "≥ 48 h".into(),
            lo_s: 172_800.0,
            hi_s: None,
            n: 0,
            mae_h: f64::NAN,
            request_mae_h: f64::NAN,
            within_2x: f64::NAN,
            coverage: f64::NAN,
            below_p10: f64::NAN,
            above_p90: f64::NAN,
        };
        let json = serde_json::to_string(&bucket).unwrap();
        let back: BucketQuality = serde_json::from_str(&json).unwrap();
        assert!(back.mae_h.is_nan() && back.coverage.is_nan());
        assert_eq!(back.lo_s, 172_800.0);
    }
}
