//! The analytics breakdowns stored with an evaluation: quality per runtime
//! bucket, per partition and per user, a sample of predictions, and the
//! requested/actual distribution, all on the test jobs.

use std::collections::HashMap;

use rtp_bundle::evaluation_details::{
    BucketQuality, EvaluationDetails, GROUP_EXTREMES, GroupQuality, IntervalBucket, MAX_SAMPLES,
    MIN_GROUP_JOBS, NodeHours, PREDICTION_BUCKETS, PredictionSample, RATIO_EDGES, RUNTIME_BUCKETS,
    RatioBin,
};

use rtp_scoring::AdviceOptions;

use crate::frame::{FeatureFrame, MISSING_ID, PARTITION_COLUMN};

/// Predictions for the test jobs, in the order of the test rows.
#[derive(Debug, Clone, Copy)]
pub struct TestPredictions<'a> {
    /// Rows of the frame that were tested.
    pub rows: &'a [usize],
    /// p10, p50, p90, seconds.
    pub p10: &'a [f64],
    /// Median, seconds.
    pub p50: &'a [f64],
    /// p90, seconds.
    pub p90: &'a [f64],
    /// The most each suggestion may be, seconds.
    pub suggestion_ceiling_s: &'a [f64],
}

/// One tested job, as the breakdowns see it.
#[derive(Debug, Clone, Copy)]
struct Tested {
    actual: f64,
    request: f64,
    p10: f64,
    p50: f64,
    p90: f64,
    suggestion_ceiling_s: f64,
}

impl Tested {
    fn abs_error(&self) -> f64 {
        (self.p50 - self.actual).abs()
    }
    fn within_2x(&self) -> bool {
        (0.5..=2.0).contains(&(self.p50.max(1.0) / self.actual.max(1.0)))
    }
    fn covered(&self) -> bool {
        self.p10 <= self.actual && self.actual <= self.p90
    }
    fn request_ratio(&self) -> f64 {
        self.request / self.actual.max(1.0)
    }
    /// What a server with the default advice suggests.
    fn suggestion(&self) -> f64 {
        AdviceOptions::default().suggested_wallclock(self.p90, self.suggestion_ceiling_s)
    }
}

/// The breakdowns of `predictions` against the frame's actual runtimes.
pub fn details(frame: &FeatureFrame, predictions: TestPredictions<'_>) -> EvaluationDetails {
    let tested: Vec<Tested> = predictions
        .rows
        .iter()
        .enumerate()
        .map(|(i, &r)| Tested {
            actual: frame.run_time_s[r],
            request: frame.wallclock_req_s[r],
            p10: predictions.p10[i],
            p50: predictions.p50[i],
            p90: predictions.p90[i],
            suggestion_ceiling_s: predictions.suggestion_ceiling_s[i],
        })
        .collect();
    let nodes = numeric(frame, "f_nodes");
    let node_count = |i: usize| {
        nodes
            .map(|v| v[predictions.rows[i]] as f64)
            .filter(|n| n.is_finite() && *n >= 1.0)
            .unwrap_or(1.0)
    };
    let mut partitions = groups(frame, PARTITION_COLUMN, predictions.rows, &tested);
    partitions.retain(|g| g.n >= MIN_GROUP_JOBS);
    let mut users = groups(frame, "cat_user", predictions.rows, &tested);
    users.retain(|g| g.n >= MIN_GROUP_JOBS);
    if users.len() > 2 * GROUP_EXTREMES {
        users.drain(GROUP_EXTREMES..users.len() - GROUP_EXTREMES);
    }
    let mut node_hours = NodeHours {
        requested: 0.0,
        used: 0.0,
        suggested: 0.0,
        suggestion_exceeded: 0.0,
    };
    let mut exceeded = 0usize;
    for (i, t) in tested.iter().enumerate() {
        let n = node_count(i) / 3600.0;
        node_hours.requested += t.request * n;
        node_hours.used += t.actual * n;
        let suggestion = t.suggestion();
        node_hours.suggested += suggestion * n;
        exceeded += usize::from(t.actual > suggestion);
    }
    node_hours.suggestion_exceeded = share(exceeded, tested.len());
    EvaluationDetails {
        by_runtime: RUNTIME_BUCKETS
            .iter()
            .map(|&(lo, hi, label)| {
                let inside: Vec<&Tested> = tested
                    .iter()
                    .filter(|t| in_bucket(t.actual, lo, hi))
                    .collect();
                bucket(label, lo, hi, &inside)
            })
            .collect(),
        interval_by_prediction: PREDICTION_BUCKETS
            .iter()
            .map(|&(lo, hi, label)| {
                let inside: Vec<&Tested> =
                    tested.iter().filter(|t| in_bucket(t.p50, lo, hi)).collect();
                interval_bucket(label, lo, hi, &inside)
            })
            .collect(),
        partitions,
        users,
        predicted_vs_actual: sample(&tested),
        request_ratio: ratio_bins(&tested),
        node_hours,
    }
}

fn numeric<'a>(frame: &'a FeatureFrame, name: &str) -> Option<&'a [f32]> {
    frame
        .numeric
        .iter()
        .find(|c| c.name == name)
        .map(|c| c.values.as_slice())
}

/// Whether `value` lies in `[lo, hi)` (no upper bound without `hi`).
fn in_bucket(value: f64, lo: f64, hi: Option<f64>) -> bool {
    value >= lo && hi.is_none_or(|h| value < h)
}

fn share(count: usize, of: usize) -> f64 {
    if of == 0 {
        f64::NAN
    } else {
        count as f64 / of as f64
    }
}

fn interval_bucket(label: &str, lo: f64, hi: Option<f64>, jobs: &[&Tested]) -> IntervalBucket {
    let n = jobs.len();
    let count = |f: &dyn Fn(&Tested) -> bool| share(jobs.iter().filter(|t| f(t)).count(), n);
    IntervalBucket {
        label: label.to_owned(),
        lo_s: lo,
        hi_s: hi,
        n: n as u64,
        coverage: count(&|t| t.covered()),
        below_p10: count(&|t| t.actual < t.p10),
        above_p90: count(&|t| t.actual > t.p90),
        width_ln: if n == 0 {
            f64::NAN
        } else {
            jobs.iter()
                .map(|t| t.p90.ln_1p() - t.p10.ln_1p())
                .sum::<f64>()
                / n as f64
        },
    }
}

fn bucket(label: &str, lo: f64, hi: Option<f64>, jobs: &[&Tested]) -> BucketQuality {
    let n = jobs.len();
    let mean = |f: &dyn Fn(&Tested) -> f64| {
        if n == 0 {
            f64::NAN
        } else {
            jobs.iter().map(|t| f(t)).sum::<f64>() / n as f64
        }
    };
    let count = |f: &dyn Fn(&Tested) -> bool| share(jobs.iter().filter(|t| f(t)).count(), n);
    BucketQuality {
        label: label.to_owned(),
        lo_s: lo,
        hi_s: hi,
        n: n as u64,
        mae_h: mean(&|t| t.abs_error()) / 3600.0,
        request_mae_h: mean(&|t| (t.request - t.actual).abs()) / 3600.0,
        within_2x: count(&|t| t.within_2x()),
        coverage: count(&|t| t.covered()),
        below_p10: count(&|t| t.actual < t.p10),
        above_p90: count(&|t| t.actual > t.p90),
    }
}

/// Quality per value of categorical column `name`, worst error first.
fn groups(
    frame: &FeatureFrame,
    name: &str,
    rows: &[usize],
    tested: &[Tested],
) -> Vec<GroupQuality> {
    let Some(column) = frame.categorical.iter().find(|c| c.name == name) else {
        return Vec::new();
    };
    let mut members: HashMap<u32, Vec<&Tested>> = HashMap::new();
    for (i, &r) in rows.iter().enumerate() {
        let id = column.ids[r];
        if id != MISSING_ID {
            members.entry(id).or_default().push(&tested[i]);
        }
    }
    let mut out: Vec<GroupQuality> = members
        .into_iter()
        .map(|(id, jobs)| {
            let n = jobs.len();
            let mut ratios: Vec<f64> = jobs.iter().map(|t| t.request_ratio()).collect();
            ratios.sort_by(f64::total_cmp);
            GroupQuality {
                name: column.dictionary[id as usize].clone(),
                n: n as u64,
                mae_h: jobs.iter().map(|t| t.abs_error()).sum::<f64>() / n as f64 / 3600.0,
                within_2x: share(jobs.iter().filter(|t| t.within_2x()).count(), n),
                coverage: share(jobs.iter().filter(|t| t.covered()).count(), n),
                median_request_ratio: ratios[n / 2],
            }
        })
        .collect();
    out.sort_by(|a, b| {
        b.mae_h
            .total_cmp(&a.mae_h)
            .then_with(|| a.name.cmp(&b.name))
    });
    out
}

/// Every k-th job, so the sample spans the whole test period.
fn sample(tested: &[Tested]) -> Vec<PredictionSample> {
    let step = tested.len().div_ceil(MAX_SAMPLES).max(1);
    tested
        .iter()
        .step_by(step)
        .map(|t| PredictionSample {
            actual_s: t.actual,
            p50_s: t.p50,
            p10_s: t.p10,
            p90_s: t.p90,
        })
        .collect()
}

fn ratio_bins(tested: &[Tested]) -> Vec<RatioBin> {
    let mut bins: Vec<RatioBin> = RATIO_EDGES
        .iter()
        .enumerate()
        .map(|(i, &lo)| RatioBin {
            lo,
            hi: RATIO_EDGES.get(i + 1).copied(),
            n: 0,
        })
        .collect();
    for t in tested {
        let ratio = t.request_ratio();
        let i = RATIO_EDGES
            .partition_point(|&edge| edge <= ratio)
            .saturating_sub(1);
        bins[i].n += 1;
    }
    bins
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{CategoricalColumn, NumericColumn};

    #[test]
    fn breakdowns_of_a_small_test_set() {
        // four jobs: two in partition a (one badly predicted), two in b
        let frame = FeatureFrame {
            run_time_s: vec![100.0, 1000.0, 7200.0, 200_000.0],
            wallclock_req_s: vec![3600.0, 3600.0, 14_400.0, 259_200.0],
            numeric: vec![NumericColumn {
                name: "f_nodes".into(),
                values: vec![1.0, 2.0, 1.0, 4.0],
            }],
            categorical: vec![CategoricalColumn::from_values(
                "cat_partition",
                ["a", "a", "b", "b"].map(Some),
            )],
            ..Default::default()
        };
        let rows = [0, 1, 2, 3];
        let p50 = [150.0, 5000.0, 7000.0, 190_000.0];
        let p10 = [50.0, 2000.0, 6000.0, 100_000.0];
        let p90 = [300.0, 9000.0, 8000.0, 250_000.0];
        let d = details(
            &frame,
            TestPredictions {
                rows: &rows,
                p10: &p10,
                p50: &p50,
                p90: &p90,
                // Limits enforced: suggestions stop at the request.
                suggestion_ceiling_s: &frame.wallclock_req_s,
            },
        );
        let counts: Vec<u64> = d.by_runtime.iter().map(|b| b.n).collect();
        assert_eq!(counts, vec![1, 1, 1, 0, 0, 1]);
        assert_eq!(d.by_runtime[1].below_p10, 1.0); // 1000 s < p10 of 2000 s
        assert!(d.by_runtime[3].mae_h.is_nan());
        // By predicted p50: 150 s in 1–10 min, 5000 s and 7000 s in 1–4 h
        // (the first covered, the second's 1000 s below its p10), 190,000 s
        // in ≥ 24 h.
        let by_p50: Vec<u64> = d.interval_by_prediction.iter().map(|b| b.n).collect();
        assert_eq!(by_p50, vec![0, 1, 0, 2, 0, 1]);
        let hours = &d.interval_by_prediction[3];
        assert_eq!(
            (hours.coverage, hours.below_p10, hours.above_p90),
            (0.5, 0.5, 0.0)
        );
        let width = ((9001f64).ln() - 2001f64.ln() + 8001f64.ln() - 6001f64.ln()) / 2.0;
        assert!((hours.width_ln - width).abs() < 1e-12);
        // fewer than MIN_GROUP_JOBS per partition: none ranked
        assert!(d.partitions.is_empty());
        assert_eq!(d.predicted_vs_actual.len(), 4);
        // ratios 36, 3.6, 2, 1.296
        let n: Vec<u64> = d.request_ratio.iter().map(|b| b.n).collect();
        assert_eq!(n, vec![0, 1, 0, 1, 1, 0, 0, 1, 0, 0]);
        let nh = d.node_hours;
        assert!(
            (nh.requested - (3600.0 + 7200.0 + 14_400.0 + 4.0 * 259_200.0) / 3600.0).abs() < 1e-9
        );
        assert!((nh.used - (100.0 + 2000.0 + 7200.0 + 800_000.0) / 3600.0).abs() < 1e-9);
        // suggestions 300, 3600 (capped by the request), 8100, 250_200
        assert!((nh.suggested - (300.0 + 7200.0 + 8100.0 + 4.0 * 250_200.0) / 3600.0).abs() < 1e-9);
        assert_eq!(nh.suggestion_exceeded, 0.0);
    }

    #[test]
    fn groups_rank_worst_first() {
        let n = 2 * MIN_GROUP_JOBS as usize;
        let frame = FeatureFrame {
            run_time_s: vec![1000.0; n],
            wallclock_req_s: vec![4000.0; n],
            categorical: vec![CategoricalColumn::from_values(
                "cat_user",
                (0..n).map(|i| Some(["good", "bad"][i % 2])),
            )],
            ..Default::default()
        };
        let rows: Vec<usize> = (0..n).collect();
        let p50: Vec<f64> = (0..n)
            .map(|i| if i % 2 == 0 { 1000.0 } else { 4600.0 })
            .collect();
        let d = details(
            &frame,
            TestPredictions {
                rows: &rows,
                p10: &p50,
                p50: &p50,
                p90: &p50,
                suggestion_ceiling_s: &frame.wallclock_req_s,
            },
        );
        let names: Vec<&str> = d.users.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, vec!["bad", "good"]);
        assert!((d.users[0].mae_h - 1.0).abs() < 1e-12);
        assert_eq!(d.users[1].coverage, 1.0);
        assert_eq!(d.users[0].median_request_ratio, 4.0);
    }
}
