//! The LightGBM member, trained in-process: one quantile model per quantile,
//! early-stopped on the validation slice, then refit on every row.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rtp_bundle::MemberKind;

use super::member::{FittedModel, MemberFit};
use super::{ModelInput, QUANTILES, quantile_tag};
use crate::config::TrainOptions;
use crate::error::Result;
use crate::lgbm::{Booster, Dataset};

/// Version of the LightGBM library linked by `lightgbm3-sys`.
pub const LIGHTGBM_VERSION: &str = "4.7.0";

fn param_string(params: &BTreeMap<String, String>) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The LightGBM member as trained, with what its phases took.
#[derive(Debug)]
pub struct LightgbmFit {
    /// The member.
    pub fit: MemberFit,
    /// Gain importance per column of the p50 model.
    pub gains: Vec<f64>,
    /// Wall time per phase, in order: `datasets` (binning the fit,
    /// validation and refit sets), then per quantile `pNN fit` (early
    /// stopping and the validation predictions) and `pNN refit` (the refit,
    /// its parity predictions and the model text).
    pub phases: Vec<(String, Duration)>,
}

/// Trains the member on every column.
pub fn fit_lightgbm(m: &ModelInput, options: &TrainOptions) -> Result<LightgbmFit> {
    let mut phases = Vec::new();
    let started = Instant::now();
    let n = m.x.rows;
    let fit_x = m.x.row_range(0..m.n_fit);
    let valid_x = m.x.row_range(m.n_fit..n);
    let fit_y: Vec<f32> = m.y[..m.n_fit].iter().map(|&y| y as f32).collect();
    let valid_y: Vec<f32> = m.valid_y().iter().map(|&y| y as f32).collect();

    let categorical: Vec<String> = m
        .categorical
        .iter()
        .enumerate()
        .filter(|(_, c)| **c)
        .map(|(i, _)| i.to_string())
        .collect();
    let mut params = options.lightgbm.clone();
    params.insert("verbosity".into(), "-1".into());
    params.insert("objective".into(), "quantile".into());
    params.insert("metric".into(), "quantile".into());
    params.insert("num_threads".into(), options.threads.to_string());
    params.insert("seed".into(), options.seed.to_string());
    if !categorical.is_empty() {
        params.insert("categorical_feature".into(), categorical.join(","));
    }
    // Datasets carry the parameters: categorical columns are declared there.
    let dataset_params = param_string(&params);
    let train_set = Dataset::new(&fit_x, &fit_y, &dataset_params, None)?;
    let valid_set = Dataset::new(&valid_x, &valid_y, &dataset_params, Some(&train_set))?;
    let all_set = if options.refit_with_validation {
        let all_y: Vec<f32> = m.y.iter().map(|&y| y as f32).collect();
        Some(Dataset::new(&m.x, &all_y, &dataset_params, None)?)
    } else {
        None
    };
    let parity_x = m.x.row_range(0..m.parity_rows.min(n));
    phases.push(("datasets".to_owned(), started.elapsed()));

    let mut models = Vec::with_capacity(QUANTILES.len());
    let mut validation = Vec::with_capacity(QUANTILES.len());
    let mut library_parity = Vec::with_capacity(QUANTILES.len());
    let mut gains = Vec::new();
    for q in QUANTILES {
        let tag = quantile_tag(q);
        let started = Instant::now();
        let mut model_params = params.clone();
        model_params.insert("alpha".into(), q.to_string());
        let model_params = param_string(&model_params);
        let mut booster = Booster::new(&train_set, &model_params, m.x.cols)?;
        booster.add_validation(&valid_set)?;
        let best_iteration = boost_with_early_stopping(&mut booster, options)?;
        validation.push(booster.predict(&valid_x, best_iteration as i32)?);
        phases.push((format!("{tag} fit"), started.elapsed()));
        let started = Instant::now();
        // The validation slice holds the most recent jobs, the ones most like
        // those to come: refit on all rows for the rounds early stopping chose.
        if let Some(all_set) = &all_set {
            booster = Booster::new(all_set, &model_params, m.x.cols)?;
            for _ in 0..best_iteration {
                if booster.update()? {
                    break;
                }
            }
        }
        tracing::info!(
            quantile = q,
            best_iteration,
            "trained LightGBM quantile model"
        );
        library_parity.push(booster.predict(&parity_x, best_iteration as i32)?);
        if q == 0.5 {
            gains = booster.gain_importance(best_iteration as i32)?;
        }
        models.push(FittedModel {
            quantile: q,
            best_iteration,
            text: booster.model_string(best_iteration as i32)?,
        });
        phases.push((format!("{tag} refit"), started.elapsed()));
    }
    params.remove("alpha");
    Ok(LightgbmFit {
        fit: MemberFit {
            kind: MemberKind::Lightgbm,
            library_version: LIGHTGBM_VERSION.into(),
            inputs: (0..m.x.cols).collect(),
            models,
            params,
            validation,
            library_parity,
        },
        gains,
        phases,
    })
}

/// Boosts until `early_stopping_rounds` rounds in a row have not improved
/// the validation loss, and returns the round of the last improvement. A
/// round improves when it lowers the best loss so far by at least
/// `early_stopping_min_gain` of it: the long tail of rounds that each take
/// a sliver off the loss costs training and prediction time and buys
/// nothing measurable on later jobs.
fn boost_with_early_stopping(booster: &mut Booster, options: &TrainOptions) -> Result<u32> {
    let mut best = f64::INFINITY;
    let mut best_iteration = 0u32;
    for iteration in 1..=options.num_iterations {
        let finished = booster.update()?;
        let score = booster.eval(1)?;
        if improves(score, best, options.early_stopping_min_gain) {
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

/// Whether a validation loss of `score` improves on `best` by at least
/// `min_gain` of it (and by more than rounding either way).
fn improves(score: f64, best: f64, min_gain: f64) -> bool {
    if !best.is_finite() {
        return score < best;
    }
    score < best - (min_gain * best.abs()).max(1e-12)
}

#[cfg(test)]
mod tests {
    use super::improves;

    #[test]
    fn a_round_improves_by_the_least_share_of_the_best_loss() {
        assert!(improves(0.5, f64::INFINITY, 0.001));
        assert!(!improves(f64::NAN, f64::INFINITY, 0.001));
        // 0.1 % of 0.2 is 0.0002.
        assert!(improves(0.2 - 0.000_21, 0.2, 0.001));
        assert!(!improves(0.2 - 0.000_19, 0.2, 0.001));
        // Without a least share, any gain above rounding counts.
        assert!(improves(0.2 - 1e-9, 0.2, 0.0));
        assert!(!improves(0.2 - 1e-13, 0.2, 0.0));
        assert!(!improves(0.3, 0.2, 0.0));
    }
}
