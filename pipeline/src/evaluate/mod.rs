//! Evaluation: train on the past, test on the future, and compare the model
//! with the baselines on exactly the same test jobs.
//!
//! Protocols: a holdout (eligible jobs sorted by submit time, the last
//! `test_frac` are the test set) and NREL's rolling protocol (at each step t,
//! train on jobs that ended in the window before t, test on jobs submitted in
//! [t, t + step)).

pub mod ablation;
mod details;
pub mod max_ratio;
mod metrics;
mod report;
pub mod serving;

use std::collections::BTreeMap;

pub use metrics::quality;
pub use report::{render_ablation, render_table};
use rtp_bundle::QualityMetrics;
use rtp_bundle::manifest::EvaluationSummary;

use crate::config::{StateFilter, TrainOptions};
use crate::error::{PipelineError, Result};
use crate::frame::FeatureFrame;
use crate::train::{Predictions, ScoredRows, TrainedModel, train};

/// How train and test jobs are chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Protocol {
    /// The last `test_frac` of eligible jobs by submit time are the test set.
    Holdout {
        /// Test share.
        test_frac: f64,
    },
    /// NREL's rolling protocol.
    Rolling {
        /// Training window, seconds.
        window_s: i64,
        /// Test step, seconds.
        step_s: i64,
    },
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Holdout { test_frac } => write!(f, "holdout test_frac={test_frac}"),
            Self::Rolling { window_s, step_s } => write!(
                f,
                "rolling window={}d step={}d",
                *window_s as f64 / 86_400.0,
                *step_s as f64 / 86_400.0
            ),
        }
    }
}

/// Parses durations such as `100d`, `12h`, `30m`, `45s`.
pub fn parse_span(text: &str) -> Result<i64> {
    let text = text.trim();
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(text.len()),
    );
    let value: f64 = number
        .parse()
        .map_err(|_| PipelineError::Config(format!("bad duration {text:?}: use e.g. 100d, 12h")))?;
    let scale = match unit {
        "d" => 86_400.0,
        "h" => 3_600.0,
        "m" => 60.0,
        "s" | "" => 1.0,
        "w" => 604_800.0,
        _ => {
            return Err(PipelineError::Config(format!(
                "bad duration unit in {text:?}: use d, h, m, s or w"
            )));
        }
    };
    let seconds = (value * scale).round() as i64;
    if seconds <= 0 {
        return Err(PipelineError::Config(format!(
            "duration {text:?} must be positive"
        )));
    }
    Ok(seconds)
}

/// Rows eligible for training and evaluation: an accepted final state and
/// a positive runtime. A missing request is a missing feature (sites that
/// enforce no limit record none), so such jobs are kept; a request that is
/// present but not positive is a bad record.
pub fn eligible_rows(frame: &FeatureFrame, states: &StateFilter) -> Vec<usize> {
    let accepted: Vec<bool> = frame.states.iter().map(|s| states.accepts(s)).collect();
    (0..frame.len())
        .filter(|&r| {
            let request = frame.wallclock_req_s[r];
            accepted[frame.state[r] as usize]
                && frame.run_time_s[r] > 0.0
                && (request.is_nan() || request > 0.0)
        })
        .collect()
}

/// The outcome of an evaluation.
#[derive(Debug)]
pub struct Evaluation {
    /// Metrics of the model and the baselines.
    pub summary: EvaluationSummary,
    /// The model trained on the last (holdout: only) training set.
    pub model: TrainedModel,
    /// The test rows of the frame, in test order.
    pub test_rows: Vec<usize>,
    /// The test jobs themselves, in test order: what the replays need of
    /// them, so that the frame can be let go while they run.
    pub test_jobs: TestJobs,
    /// The model's predictions for every job submitted in the test period
    /// as served live (see [`serving`]), when the serving replay ran for a
    /// schedule replay to follow: that replay reuses them.
    pub served_live: Option<ServedLive>,
    /// The blend's raw outputs for the test jobs, in test order, when one
    /// model scored them all (the holdout): the serving replays reuse them
    /// for jobs served with the same model inputs.
    pub test_scored: Option<ScoredRows>,
}

/// Predictions for the jobs of the test period as served live.
#[derive(Debug, Clone, Default)]
pub struct ServedLive {
    /// Job key per job, in the order of `predictions`.
    pub job_key: Vec<i64>,
    /// The model's predictions.
    pub predictions: Predictions,
}

/// The identity, submit time and outcome of each test job.
#[derive(Debug, Clone, Default)]
pub struct TestJobs {
    /// Job key per test job.
    pub job_key: Vec<i64>,
    /// Submit time, epoch seconds.
    pub submit_s: Vec<i64>,
    /// Runtime in seconds.
    pub run_time_s: Vec<f64>,
}

impl TestJobs {
    /// The jobs of `rows` of `frame`, in that order.
    pub fn of(frame: &FeatureFrame, rows: &[usize]) -> Self {
        Self {
            job_key: rows.iter().map(|&r| frame.job_key[r]).collect(),
            submit_s: rows.iter().map(|&r| frame.submit_s[r]).collect(),
            run_time_s: rows.iter().map(|&r| frame.run_time_s[r]).collect(),
        }
    }

    /// Where the test period starts: the first test job's submit.
    pub fn first_submit_s(&self) -> Option<i64> {
        self.submit_s.iter().copied().min()
    }
}

/// Evaluates under `protocol` on the eligible jobs of `frame`.
pub fn evaluate(
    frame: &FeatureFrame,
    states: &StateFilter,
    protocol: Protocol,
    options: &TrainOptions,
) -> Result<Evaluation> {
    let mut eligible = eligible_rows(frame, states);
    eligible.sort_by_key(|&r| (frame.submit_s[r], frame.job_key[r]));
    let mut test_rows = Vec::new();
    let mut blend = Predictions::default();
    let mut members: BTreeMap<String, Predictions> = BTreeMap::new();
    let mut last_model = None;
    let folds = folds(frame, &eligible, protocol)?;
    let one_model = folds.len() == 1;
    let mut test_scored = None;
    for (train_rows, fold_test) in folds {
        let model = train(frame, &train_rows, options)?;
        let (blended, by_member, scored) = model.predict_with_members(frame, &fold_test)?;
        test_scored = one_model.then_some(scored);
        blend.extend(blended);
        for (member, predicted) in model.members.iter().zip(by_member) {
            members
                .entry(member.fit.kind.name().to_owned())
                .or_default()
                .extend(predicted);
        }
        test_rows.extend_from_slice(&fold_test);
        last_model = Some(model);
    }
    let model = last_model.ok_or_else(|| {
        PipelineError::NotEnoughData("the protocol produced no train/test split".into())
    })?;
    let actual: Vec<f64> = test_rows.iter().map(|&r| frame.run_time_s[r]).collect();
    let (baselines, baselines_dropped) = baselines(frame, &test_rows, &actual);
    let summary = EvaluationSummary {
        protocol: protocol.to_string(),
        n_test: test_rows.len() as u64,
        model: quality(&blend.p50, &actual, Some((&blend.p10, &blend.p90))),
        likely: Some(quality(
            &blend.likely,
            &actual,
            Some((&blend.p10, &blend.p90)),
        )),
        members: members
            .into_iter()
            .map(|(name, p)| (name, quality(&p.p50, &actual, Some((&p.p10, &p.p90)))))
            .collect(),
        baselines,
        baselines_dropped,
        details: Some(details::details(
            frame,
            details::TestPredictions {
                rows: &test_rows,
                p10: &blend.p10,
                p50: &blend.p50,
                p90: &blend.p90,
                suggestion_ceiling_s: &blend.suggestion_ceiling_s,
            },
        )),
        serving: Vec::new(),
        replay: None,
        ablation: Vec::new(),
    };
    Ok(Evaluation {
        summary,
        model,
        test_jobs: TestJobs::of(frame, &test_rows),
        test_rows,
        served_live: None,
        test_scored,
    })
}

/// The baselines' quality on `test_rows`, and the baselines left out with
/// the reason: a baseline is compared only where it predicts every test job
/// (without a request, `user_request` and `max_ratio5` predict nothing, and
/// `last2` nothing for a user's first job).
fn baselines(
    frame: &FeatureFrame,
    test_rows: &[usize],
    actual: &[f64],
) -> (BTreeMap<String, QualityMetrics>, BTreeMap<String, String>) {
    let column = |values: &[f64]| -> Vec<f64> { test_rows.iter().map(|&r| values[r]).collect() };
    let predictions = [
        ("user_request", column(&frame.base_user_request_s)),
        ("last2", column(&frame.base_last2_s)),
        (
            "max_ratio5",
            max_ratio::max_ratio_baseline(frame, test_rows),
        ),
    ];
    let without_request = test_rows
        .iter()
        .filter(|&&r| frame.wallclock_req_s[r].is_nan())
        .count();
    let mut kept = BTreeMap::new();
    let mut dropped = BTreeMap::new();
    for (name, predicted) in predictions {
        let missing = predicted.iter().filter(|p| !p.is_finite()).count();
        if missing == 0 {
            kept.insert(name.to_owned(), quality(&predicted, actual, None));
        } else {
            let why = if without_request > 0 {
                format!(
                    "no prediction for {missing} of {} test jobs ({without_request} have no requested time)",
                    test_rows.len()
                )
            } else {
                format!(
                    "no prediction for {missing} of {} test jobs",
                    test_rows.len()
                )
            };
            dropped.insert(name.to_owned(), why);
        }
    }
    (kept, dropped)
}

/// The model's predictions for `rows` of `served`, where `test_of_row[r]`
/// names the test job (in test order) row `r` is, if it is one: a test job
/// served with the model inputs it was tested with keeps its test outputs
/// instead of being scored again. Also returns how many did.
pub fn served_predictions(
    evaluation: &Evaluation,
    served: &FeatureFrame,
    rows: &[usize],
    test_of_row: &[Option<usize>],
) -> Result<(Predictions, usize)> {
    let none = ScoredRows::default();
    let scored = evaluation.test_scored.as_ref().unwrap_or(&none);
    evaluation
        .model
        .predict_reusing(served, rows, scored, test_of_row)
}

/// The model's quality on the test jobs given its predictions for them
/// (one per test job, in order).
pub fn tested_quality(evaluation: &Evaluation, predicted: &Predictions) -> QualityMetrics {
    let actual = &evaluation.test_jobs.run_time_s;
    quality(
        &predicted.p50,
        actual,
        Some((&predicted.p10, &predicted.p90)),
    )
}

/// (train rows, test rows) per fold; `eligible` is sorted by submit time.
fn folds(
    frame: &FeatureFrame,
    eligible: &[usize],
    protocol: Protocol,
) -> Result<Vec<(Vec<usize>, Vec<usize>)>> {
    match protocol {
        Protocol::Holdout { test_frac } => {
            let n_test = ((eligible.len() as f64) * test_frac).round() as usize;
            if n_test == 0 || n_test >= eligible.len() {
                return Err(PipelineError::NotEnoughData(format!(
                    "{} eligible jobs cannot be split with test_frac={test_frac}",
                    eligible.len()
                )));
            }
            let (train_rows, test_rows) = eligible.split_at(eligible.len() - n_test);
            Ok(vec![(train_rows.to_vec(), test_rows.to_vec())])
        }
        Protocol::Rolling { window_s, step_s } => {
            let Some((&first, &last)) = eligible.first().zip(eligible.last()) else {
                return Ok(Vec::new());
            };
            let end = frame.submit_s[last];
            let mut t = frame.submit_s[first] + window_s;
            let mut out = Vec::new();
            while t <= end {
                let train_rows: Vec<usize> = eligible
                    .iter()
                    .copied()
                    .filter(|&r| frame.end_s[r] >= t - window_s && frame.end_s[r] < t)
                    .collect();
                let test_rows: Vec<usize> = eligible
                    .iter()
                    .copied()
                    .filter(|&r| frame.submit_s[r] >= t && frame.submit_s[r] < t + step_s)
                    .collect();
                if !test_rows.is_empty() && train_rows.len() >= 200 {
                    out.push((train_rows, test_rows));
                }
                t += step_s;
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(jobs: &[(i64, i64)]) -> FeatureFrame {
        FeatureFrame {
            job_key: (0..jobs.len() as i64).collect(),
            submit_s: jobs.iter().map(|j| j.0).collect(),
            end_s: jobs.iter().map(|j| j.1).collect(),
            run_time_s: vec![60.0; jobs.len()],
            wallclock_req_s: vec![600.0; jobs.len()],
            state: vec![0; jobs.len()],
            states: vec!["COMPLETED".into()],
            ..Default::default()
        }
    }

    #[test]
    fn rolling_folds_train_on_ended_jobs_and_test_on_the_next_step() {
        // one job a day for 400 days, each ending 2 days after submit
        let day = 86_400;
        let jobs: Vec<(i64, i64)> = (0..400).map(|d| (d * day, d * day + 2 * day)).collect();
        let f = frame(&jobs);
        let eligible: Vec<usize> = (0..f.len()).collect();
        let folds = folds(
            &f,
            &eligible,
            Protocol::Rolling {
                window_s: 300 * day,
                step_s: 7 * day,
            },
        )
        .unwrap();
        assert!(!folds.is_empty());
        for (train_rows, test_rows) in &folds {
            let t = f.submit_s[test_rows[0]];
            assert!(
                test_rows
                    .iter()
                    .all(|&r| f.submit_s[r] >= t && f.submit_s[r] < t + 7 * day)
            );
            assert!(
                train_rows
                    .iter()
                    .all(|&r| f.end_s[r] < t && f.end_s[r] >= t - 300 * day)
            );
            // jobs submitted just before t that have not ended are not trained on
            assert!(!train_rows.contains(&(test_rows[0] - 1)));
        }
        let tested: usize = folds.iter().map(|(_, t)| t.len()).sum();
        assert_eq!(tested, 100); // days 300..399, each tested exactly once
    }

    #[test]
    fn holdout_tests_the_last_jobs() {
        let f = frame(&(0..100).map(|d| (d, d + 1)).collect::<Vec<_>>());
        let eligible: Vec<usize> = (0..100).collect();
        let folds = folds(&f, &eligible, Protocol::Holdout { test_frac: 0.2 }).unwrap();
        assert_eq!(folds.len(), 1);
        assert_eq!(folds[0].0, (0..80).collect::<Vec<_>>());
        assert_eq!(folds[0].1, (80..100).collect::<Vec<_>>());
    }

    #[test]
    fn spans() {
        assert_eq!(parse_span("100d").unwrap(), 8_640_000);
        assert_eq!(parse_span("7d").unwrap(), 604_800);
        assert_eq!(parse_span("12h").unwrap(), 43_200);
        assert!(parse_span("3 weeks").is_err());
        assert!(parse_span("0d").is_err());
    }
}
