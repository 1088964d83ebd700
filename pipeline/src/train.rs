//! Training: three LightGBM quantile models (p10, p50, p90) on log1p(runtime),
//! early-stopped on a temporal validation slice, with the p10–p90 interval
//! calibrated conformally on that slice.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::config::TrainOptions;
use crate::error::{PipelineError, Result};
use crate::frame::{FeatureFrame, MISSING_ID};
use crate::lgbm::{Booster, ColumnMajor, Dataset};

/// The quantiles every bundle predicts.
pub const QUANTILES: [f64; 3] = [0.1, 0.5, 0.9];

/// Seconds a job may run past its limit before the scheduler kills it; no
/// prediction exceeds request + grace.
pub const KILL_GRACE_S: f64 = 60.0;

/// Fewest training rows worth fitting a model on.
const MIN_TRAIN_ROWS: usize = 50;

/// Maps each categorical feature's values to LightGBM category codes.
/// Codes follow descending training frequency; unseen values are missing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CategoryCodes {
    /// Per categorical feature, its values in code order.
    pub columns: BTreeMap<String, Vec<String>>,
}

impl CategoryCodes {
    /// Builds the codes from the given rows of `frame`.
    pub fn fit(frame: &FeatureFrame, rows: &[usize]) -> Self {
        let mut columns = BTreeMap::new();
        for col in &frame.categorical {
            let mut counts: HashMap<u32, u64> = HashMap::new();
            for &r in rows {
                let id = col.ids[r];
                if id != MISSING_ID {
                    *counts.entry(id).or_default() += 1;
                }
            }
            let mut ids: Vec<(u32, u64)> = counts.into_iter().collect();
            ids.sort_by(|a, b| {
                b.1.cmp(&a.1)
                    .then_with(|| col.dictionary[a.0 as usize].cmp(&col.dictionary[b.0 as usize]))
            });
            let values = ids
                .into_iter()
                .map(|(id, _)| col.dictionary[id as usize].clone())
                .collect();
            columns.insert(col.name.clone(), values);
        }
        Self { columns }
    }

    /// Per categorical column of `frame`, the code of each interned id (NaN if unseen).
    fn lookup(&self, frame: &FeatureFrame) -> Vec<Vec<f32>> {
        frame
            .categorical
            .iter()
            .map(|col| {
                let codes: HashMap<&str, f32> = self
                    .columns
                    .get(&col.name)
                    .map(|values| {
                        values
                            .iter()
                            .enumerate()
                            .map(|(code, v)| (v.as_str(), code as f32))
                            .collect()
                    })
                    .unwrap_or_default();
                col.dictionary
                    .iter()
                    .map(|v| codes.get(v.as_str()).copied().unwrap_or(f32::NAN))
                    .collect()
            })
            .collect()
    }
}

/// Builds the column-major model input for `rows` of `frame`.
pub fn model_matrix(frame: &FeatureFrame, rows: &[usize], codes: &CategoryCodes) -> ColumnMajor {
    let lookup = codes.lookup(frame);
    let cols = frame.numeric.len() + frame.categorical.len();
    let mut values = Vec::with_capacity(rows.len() * cols);
    for col in &frame.numeric {
        values.extend(rows.iter().map(|&r| col.values[r]));
    }
    for (col, table) in frame.categorical.iter().zip(&lookup) {
        values.extend(rows.iter().map(|&r| match col.ids[r] {
            MISSING_ID => f32::NAN,
            id => table[id as usize],
        }));
    }
    ColumnMajor {
        values,
        rows: rows.len(),
        cols,
    }
}

/// The training label of row `r`: log1p of its runtime.
pub fn label(frame: &FeatureFrame, r: usize) -> f64 {
    frame.run_time_s[r].max(0.0).ln_1p()
}

/// One fitted quantile model.
#[derive(Debug)]
pub struct QuantileFit {
    /// The quantile.
    pub quantile: f64,
    /// The booster.
    pub booster: Booster,
    /// Rounds kept.
    pub best_iteration: u32,
}

/// A trained set of quantile models with everything needed to apply them.
#[derive(Debug)]
pub struct TrainedModel {
    /// Model inputs in order: numeric, then categorical.
    pub feature_names: Vec<String>,
    /// How many of them are numeric (the rest are categorical).
    pub numeric_count: usize,
    /// Category codes.
    pub codes: CategoryCodes,
    /// p10, p50, p90.
    pub fits: Vec<QuantileFit>,
    /// Conformal margin added around the interval (log units).
    pub margin: f64,
    /// The coverage the margin was calibrated to.
    pub interval_coverage: f64,
    /// Interval coverage on the validation slice before calibration.
    pub raw_validation_coverage: f64,
    /// Rows the trees were fit on.
    pub train_rows: usize,
    /// Rows of the validation slice.
    pub validation_rows: usize,
    /// First and last submit time of the training rows.
    pub submit_span: (i64, i64),
    /// LightGBM parameters shared by the three models.
    pub params: BTreeMap<String, String>,
}

/// Predictions for a set of rows, in seconds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Predictions {
    /// Lower end of the calibrated interval.
    pub p10: Vec<f64>,
    /// Median.
    pub p50: Vec<f64>,
    /// Upper end of the calibrated interval.
    pub p90: Vec<f64>,
}

fn param_string(params: &BTreeMap<String, String>) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Trains on `rows` of `frame` (eligible jobs): the most recently submitted
/// `validation_frac` of them form the validation slice.
pub fn train(frame: &FeatureFrame, rows: &[usize], options: &TrainOptions) -> Result<TrainedModel> {
    let mut rows = rows.to_vec();
    rows.sort_by_key(|&r| (frame.submit_s[r], frame.job_key[r]));
    // Recent jobs say most about the next ones; beyond the cap, older jobs
    // cost training time and add little.
    if rows.len() > options.max_train_rows {
        rows.drain(..rows.len() - options.max_train_rows);
    }
    let n_valid = ((rows.len() as f64) * options.validation_frac).round() as usize;
    let n_valid = n_valid.clamp(1, rows.len().saturating_sub(1).max(1));
    if rows.len() < MIN_TRAIN_ROWS + n_valid {
        return Err(PipelineError::NotEnoughData(format!(
            "{} eligible training jobs; at least {} needed",
            rows.len(),
            MIN_TRAIN_ROWS + n_valid
        )));
    }
    let (fit_rows, valid_rows) = rows.split_at(rows.len() - n_valid);
    let codes = CategoryCodes::fit(frame, fit_rows);
    let fit_x = model_matrix(frame, fit_rows, &codes);
    let valid_x = model_matrix(frame, valid_rows, &codes);
    let fit_y: Vec<f32> = fit_rows.iter().map(|&r| label(frame, r) as f32).collect();
    let valid_y: Vec<f64> = valid_rows.iter().map(|&r| label(frame, r)).collect();
    let valid_y32: Vec<f32> = valid_y.iter().map(|&y| y as f32).collect();

    let numeric_count = frame.numeric.len();
    let categorical: Vec<String> = (numeric_count..fit_x.cols).map(|i| i.to_string()).collect();
    let mut params = options.lightgbm.clone();
    params.insert("verbosity".into(), "-1".into());
    params.insert("objective".into(), "quantile".into());
    params.insert("metric".into(), "quantile".into());
    if !categorical.is_empty() {
        params.insert("categorical_feature".into(), categorical.join(","));
    }
    let dataset_params = param_string(&params);
    let train_set = Dataset::new(&fit_x, &fit_y, &dataset_params, None)?;
    let valid_set = Dataset::new(&valid_x, &valid_y32, &dataset_params, Some(&train_set))?;

    let mut fits = Vec::with_capacity(QUANTILES.len());
    let mut valid_preds = Vec::with_capacity(QUANTILES.len());
    for q in QUANTILES {
        let mut model_params = params.clone();
        model_params.insert("alpha".into(), q.to_string());
        let mut booster = Booster::new(&train_set, &param_string(&model_params), fit_x.cols)?;
        booster.add_validation(&valid_set)?;
        let best_iteration = boost_with_early_stopping(&mut booster, options)?;
        valid_preds.push(booster.predict(&valid_x, best_iteration as i32)?);
        tracing::info!(quantile = q, best_iteration, "trained quantile model");
        fits.push(QuantileFit {
            quantile: q,
            booster,
            best_iteration,
        });
    }

    // The validation slice holds the most recent jobs, the ones most like
    // those to come: refit on all rows for the rounds early stopping chose.
    let codes = if options.refit_with_validation {
        let codes = CategoryCodes::fit(frame, &rows);
        let all_x = model_matrix(frame, &rows, &codes);
        let all_y: Vec<f32> = rows.iter().map(|&r| label(frame, r) as f32).collect();
        let all_set = Dataset::new(&all_x, &all_y, &dataset_params, None)?;
        for fit in &mut fits {
            let mut model_params = params.clone();
            model_params.insert("alpha".into(), fit.quantile.to_string());
            let mut booster = Booster::new(&all_set, &param_string(&model_params), all_x.cols)?;
            for _ in 0..fit.best_iteration {
                if booster.update()? {
                    break;
                }
            }
            fit.booster = booster;
        }
        codes
    } else {
        codes
    };

    let (margin, raw_validation_coverage) = conformal_margin(
        &valid_preds[0],
        &valid_preds[2],
        &valid_y,
        options.interval_coverage,
    );
    params.remove("alpha");
    Ok(TrainedModel {
        feature_names: frame.feature_names(),
        numeric_count,
        codes,
        fits,
        margin,
        interval_coverage: options.interval_coverage,
        raw_validation_coverage,
        train_rows: if options.refit_with_validation {
            rows.len()
        } else {
            fit_rows.len()
        },
        validation_rows: valid_rows.len(),
        submit_span: (
            frame.submit_s[rows[0]],
            frame.submit_s[*rows.last().unwrap()],
        ),
        params,
    })
}

fn boost_with_early_stopping(booster: &mut Booster, options: &TrainOptions) -> Result<u32> {
    let mut best = f64::INFINITY;
    let mut best_iteration = 0u32;
    for iteration in 1..=options.num_iterations {
        let finished = booster.update()?;
        let score = booster.eval(1)?;
        if score < best - 1e-12 {
            best = score;
            best_iteration = iteration;
        } else if iteration - best_iteration >= options.early_stopping_rounds {
            break;
        }
        if finished {
            break;
        }
    }
    Ok(best_iteration.max(1))
}

/// Split-conformal widening of [lo, hi] (conformalised quantile regression):
/// the score of a validation job is how far outside the interval its label
/// lies (negative inside); the margin is the score quantile that gives the
/// target coverage. Returns (margin, coverage before calibration).
pub fn conformal_margin(lo: &[f64], hi: &[f64], y: &[f64], coverage: f64) -> (f64, f64) {
    let n = y.len();
    if n == 0 {
        return (0.0, f64::NAN);
    }
    let mut scores: Vec<f64> = (0..n).map(|i| (lo[i] - y[i]).max(y[i] - hi[i])).collect();
    let inside = scores.iter().filter(|s| **s <= 0.0).count();
    scores.sort_by(f64::total_cmp);
    let rank = ((n as f64 + 1.0) * coverage).ceil() as usize;
    let margin = scores[rank.clamp(1, n) - 1];
    (margin, inside as f64 / n as f64)
}

impl TrainedModel {
    /// Raw model outputs (log units) for `rows`: one vector per quantile.
    pub fn predict_log(&self, frame: &FeatureFrame, rows: &[usize]) -> Result<Vec<Vec<f64>>> {
        if frame.feature_names() != self.feature_names {
            return Err(PipelineError::Features(
                "feature columns differ from those the model was trained on".into(),
            ));
        }
        let x = model_matrix(frame, rows, &self.codes);
        self.fits
            .iter()
            .map(|fit| fit.booster.predict(&x, fit.best_iteration as i32))
            .collect()
    }

    /// Calibrated predictions in seconds for `rows`.
    pub fn predict(&self, frame: &FeatureFrame, rows: &[usize]) -> Result<Predictions> {
        let raw = self.predict_log(frame, rows)?;
        let mut out = Predictions::default();
        for (i, &r) in rows.iter().enumerate() {
            let [p10, p50, p90] = to_seconds(
                [raw[0][i], raw[1][i], raw[2][i]],
                self.margin,
                frame.wallclock_req_s[r],
            );
            out.p10.push(p10);
            out.p50.push(p50);
            out.p90.push(p90);
        }
        Ok(out)
    }
}

/// Turns log-unit quantiles into ordered seconds: widens by the conformal
/// margin, caps at the request plus the kill grace (a job cannot outlive its
/// limit), and removes quantile crossing.
pub fn to_seconds(log_q: [f64; 3], margin: f64, request_s: f64) -> [f64; 3] {
    let cap = if request_s.is_finite() && request_s > 0.0 {
        request_s + KILL_GRACE_S
    } else {
        f64::INFINITY
    };
    let secs = |v: f64| v.exp_m1().clamp(0.0, cap);
    let p50 = secs(log_q[1]);
    let p10 = secs(log_q[0] - margin).min(p50);
    let p90 = secs(log_q[2] + margin).max(p50);
    [p10, p50, p90]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conformal_margin_reaches_target_coverage() {
        let y: Vec<f64> = (0..1000).map(|i| i as f64 / 100.0).collect();
        let lo = vec![4.0; 1000];
        let hi = vec![6.0; 1000];
        let (margin, raw) = conformal_margin(&lo, &hi, &y, 0.8);
        assert!((raw - 0.201).abs() < 1e-9, "{raw}");
        let covered = y
            .iter()
            .filter(|&&v| v >= 4.0 - margin && v <= 6.0 + margin)
            .count() as f64
            / 1000.0;
        assert!((0.8..0.82).contains(&covered), "{covered}");
    }

    #[test]
    fn seconds_are_ordered_and_capped_at_the_request() {
        let [p10, p50, p90] = to_seconds([8.0, 7.0, 9.0], 0.0, 1800.0);
        assert!(p10 <= p50 && p50 <= p90);
        assert_eq!(p90, 1800.0 + KILL_GRACE_S);
        let [_, p50, _] = to_seconds([1.0, 2.0, 3.0], 0.1, f64::NAN);
        assert!((p50 - 2f64.exp_m1()).abs() < 1e-12);
    }
}
