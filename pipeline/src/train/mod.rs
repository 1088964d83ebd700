//! Training: an ensemble of quantile models (p10, p50, p90 on log1p
//! runtime) from LightGBM, XGBoost and CatBoost, early-stopped on a temporal
//! validation slice, blended with weights fitted on that slice, with the
//! p10–p90 interval calibrated conformally on it. Every model is loaded
//! into the native engine and checked against its library's own
//! predictions before it can be published.

mod blend;
mod codes;
mod lightgbm_member;
mod member;
mod python_env;
mod python_members;
mod scored;

use std::collections::BTreeMap;

use rtp_bundle::{Ensemble, LoadedMember, MemberKind, QualityMetrics};
use rtp_trees::Forest;

pub use codes::{CategoryCodes, fit_codes, label, model_matrix};
pub use lightgbm_member::{LIGHTGBM_VERSION, LightgbmFit, fit_lightgbm};
pub use member::{FittedModel, MemberFit};
pub use python_members::{read_predictions, write_matrix};
pub use rtp_bundle::parity::max_rel_diff;
use rtp_bundle::parity::{self, ParitySample, QuantileParity};
pub use scored::{ScoredRows, row_fingerprints};

use crate::config::TrainOptions;
use crate::error::{PipelineError, Result};
use crate::frame::FeatureFrame;
use crate::lgbm::ColumnMajor;

/// The quantiles every bundle predicts: p10 and p90 bound the interval,
/// p50 is the median, and with p30 and p70 they describe the predicted
/// distribution well enough to read the likely runtime off it
/// ([`rtp_bundle::likely`]).
pub const QUANTILES: [f64; 5] = [0.1, 0.3, 0.5, 0.7, 0.9];

/// Where p10, p50 and p90 are in [`QUANTILES`].
const INTERVAL: [usize; 3] = [0, 2, 4];

/// The name of quantile `q` in file and column names: `p10`, `p50`, `p90`.
pub fn quantile_tag(q: f64) -> String {
    format!("p{:02}", (q * 100.0).round() as u32)
}

use rtp_bundle::RequestCap;
use rtp_bundle::interval::calibrated_seconds;
pub use rtp_bundle::interval::{KILL_GRACE_S, to_seconds};
use rtp_bundle::likely::LikelyRule;
use rtp_bundle::manifest::IntervalCalibration;
use rtp_bundle::request_cap::EndedJob;

/// What the models are trained on, recorded in the bundle.
pub const TARGET: rtp_bundle::Target = rtp_bundle::Target::Log1pRunTime;

/// Fewest training rows worth fitting a model on.
const MIN_TRAIN_ROWS: usize = 50;

/// A trained member with its checks and its own interval calibration.
#[derive(Debug, Clone)]
pub struct TrainedMember {
    /// What its trainer produced.
    pub fit: MemberFit,
    /// Largest relative native-vs-library difference on the parity rows.
    pub parity_max_rel_diff: f64,
    /// Conformal margin of the member alone (log units).
    pub margin: f64,
}

/// A trained ensemble with everything needed to apply it.
#[derive(Debug, Clone)]
pub struct TrainedModel {
    /// Model inputs in order: numeric, then categorical.
    pub feature_names: Vec<String>,
    /// How many of them are numeric (the rest are categorical).
    pub numeric_count: usize,
    /// Category codes.
    pub codes: CategoryCodes,
    /// The members as trained.
    pub members: Vec<TrainedMember>,
    /// The members loaded into the native engine, with the blend weights.
    pub ensemble: Ensemble,
    /// Gain importance per feature of the LightGBM p50 model (empty without LightGBM).
    pub feature_importance: BTreeMap<String, f64>,
    /// The conformal margin added around the blended interval (log units),
    /// with the coverage it aims at and the coverage before it.
    pub interval: IntervalCalibration,
    /// How far past their request the training jobs ran: the cap on
    /// predictions.
    pub request_cap: RequestCap,
    /// How the likely runtime is read off the quantiles.
    pub likely: LikelyRule,
    /// Rows the trees were fit on.
    pub train_rows: usize,
    /// Rows of the validation slice.
    pub validation_rows: usize,
    /// The calibrated blend's quality on the validation slice (before any
    /// refit on it).
    pub validation: QualityMetrics,
    /// First and last submit time of the training rows.
    pub submit_span: (i64, i64),
    /// The first parity rows with each library's predictions, for the bundle.
    pub parity_sample: ParitySample,
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
    /// The likely runtime: the value most likely within 2× of the actual.
    pub likely: Vec<f64>,
    /// The most a suggested request may be (the request where limits hold,
    /// the learned cap where not): what servers round the p90 up to.
    pub suggestion_ceiling_s: Vec<f64>,
}

/// What every member trains on: the most recent eligible rows (at most
/// `max_train_rows`) in submit order, as one model matrix whose last
/// `validation_frac` is the validation slice (the most recently submitted
/// jobs).
#[derive(Debug)]
pub struct ModelInput {
    /// Rows of the frame, in submit order: the fit rows, then the
    /// validation slice.
    pub rows: Vec<usize>,
    /// Rows before the validation slice.
    pub n_fit: usize,
    /// Category codes fitted on `rows`.
    pub codes: CategoryCodes,
    /// The model matrix of `rows`.
    pub x: ColumnMajor,
    /// Labels of `rows`.
    pub y: Vec<f64>,
    /// Feature names, in column order: numeric, then categorical.
    pub feature_names: Vec<String>,
    /// How many columns are numeric.
    pub numeric_count: usize,
    /// Whether each column holds category codes.
    pub categorical: Vec<bool>,
    /// Rows (from the first) on which library predictions are recorded for
    /// the parity check.
    pub parity_rows: usize,
}

impl ModelInput {
    /// Chooses the training rows among the eligible `rows` of `frame` and
    /// builds their matrix.
    pub fn build(frame: &FeatureFrame, rows: &[usize], options: &TrainOptions) -> Result<Self> {
        let mut rows = rows.to_vec();
        rows.sort_by_key(|&r| (frame.submit_s[r], frame.job_key[r]));
        // Recent jobs say most about the next ones; beyond the cap, older
        // jobs cost training time and add little.
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
        let codes = fit_codes(frame, &rows);
        let x = model_matrix(frame, &rows, &codes);
        let y = rows.iter().map(|&r| label(frame, r)).collect();
        let numeric_count = frame.numeric.len();
        Ok(Self {
            n_fit: rows.len() - n_valid,
            parity_rows: options.parity_rows.min(rows.len()),
            categorical: (0..x.cols).map(|j| j >= numeric_count).collect(),
            feature_names: frame.feature_names(),
            numeric_count,
            codes,
            x,
            y,
            rows,
        })
    }

    /// Labels of the validation slice.
    pub fn valid_y(&self) -> &[f64] {
        &self.y[self.n_fit..]
    }
}

/// Trains on `rows` of `frame` (eligible jobs): the most recently submitted
/// `validation_frac` of them form the validation slice.
pub fn train(frame: &FeatureFrame, rows: &[usize], options: &TrainOptions) -> Result<TrainedModel> {
    let input = ModelInput::build(frame, rows, options)?;
    let (x, rows, n_fit) = (&input.x, input.rows.as_slice(), input.n_fit);
    let (feature_names, categorical, codes) =
        (&input.feature_names, &input.categorical, &input.codes);

    let mut fits = Vec::new();
    let mut feature_importance = BTreeMap::new();
    if options.members.contains(&MemberKind::Lightgbm) {
        let fitted = lightgbm_member::fit_lightgbm(&input, options)?;
        feature_importance = feature_names.iter().cloned().zip(fitted.gains).collect();
        fits.push(fitted.fit);
    }
    let python: Vec<MemberKind> = options
        .members
        .iter()
        .copied()
        .filter(|k| *k != MemberKind::Lightgbm)
        .collect();
    if !python.is_empty() {
        // High-cardinality ids reach these members only through their
        // history statistics: one-hot or category splits over thousands of
        // users overfit, and CatBoost would need counter features.
        let inputs: Vec<usize> = (0..x.cols)
            .filter(|&j| {
                let name = &feature_names[j];
                !categorical[j]
                    || (!options.history_only.contains(name)
                        && codes.cardinality(name) <= options.max_onehot_categories)
            })
            .collect();
        fits.extend(python_members::fit_python_members(
            &input, &inputs, &python, options,
        )?);
    }
    fits.sort_by_key(|f| options.members.iter().position(|k| *k == f.kind));

    let valid_y = input.valid_y();
    let mut members = Vec::with_capacity(fits.len());
    let mut loaded = Vec::with_capacity(fits.len());
    for fit in fits {
        let (forests, parity_max_rel_diff) = load_and_check(&fit, x, input.parity_rows)?;
        let (margin, _) = conformal_margin(
            &fit.validation[INTERVAL[0]],
            &fit.validation[INTERVAL[2]],
            valid_y,
            options.interval_coverage,
        );
        loaded.push(LoadedMember {
            kind: fit.kind,
            inputs: fit.inputs.clone(),
            forests,
        });
        members.push(TrainedMember {
            fit,
            parity_max_rel_diff,
            margin,
        });
    }
    let parity_sample = parity_sample(x, feature_names, &members, input.parity_rows);

    let mut weights = Vec::with_capacity(QUANTILES.len());
    let mut blended = Vec::with_capacity(QUANTILES.len());
    for (qi, q) in QUANTILES.into_iter().enumerate() {
        let preds: Vec<&[f64]> = members
            .iter()
            .map(|m| m.fit.validation[qi].as_slice())
            .collect();
        let w = blend::choose_weights(&preds, valid_y, q);
        let mut out = vec![0.0; valid_y.len()];
        blend::blend_into(&preds, &w, &mut out);
        tracing::info!(quantile = q, weights = ?w, "blend weights");
        weights.push(w);
        blended.push(out);
    }
    let (margin, raw_validation_coverage) = conformal_margin(
        &blended[INTERVAL[0]],
        &blended[INTERVAL[2]],
        valid_y,
        options.interval_coverage,
    );
    let interval = IntervalCalibration {
        nominal_coverage: options.interval_coverage,
        margin,
        raw_validation_coverage,
    };
    let request_cap = learn_request_cap(frame, rows);
    let likely = LikelyRule {
        error_weight: options.likely_error_weight,
        ..LikelyRule::default()
    };
    let calibration = Calibration {
        interval: &interval,
        cap: &request_cap,
        likely: &likely,
    };
    let validation = validation_quality(frame, &rows[n_fit..], &blended, &calibration);
    let ensemble = Ensemble::new(QUANTILES.to_vec(), x.cols, loaded, weights)?;
    Ok(TrainedModel {
        feature_names: feature_names.clone(),
        numeric_count: input.numeric_count,
        codes: codes.clone(),
        members,
        ensemble,
        feature_importance,
        interval,
        request_cap,
        likely,
        train_rows: if options.refit_with_validation {
            rows.len()
        } else {
            n_fit
        },
        validation_rows: rows.len() - n_fit,
        validation,
        submit_span: (
            frame.submit_s[rows[0]],
            frame.submit_s[*rows.last().unwrap()],
        ),
        parity_sample,
    })
}

/// The first rows of the parity check, with what each library predicted for
/// them: servers replay them through the native engine on every load.
fn parity_sample(
    x: &ColumnMajor,
    feature_names: &[String],
    members: &[TrainedMember],
    parity_rows: usize,
) -> ParitySample {
    let rows = parity_rows.min(parity::SAMPLE_ROWS);
    ParitySample {
        features: feature_names.to_vec(),
        columns: (0..x.cols)
            .map(|j| {
                x.column(j)[..rows]
                    .iter()
                    .map(|&v| (!v.is_nan()).then_some(v))
                    .collect()
            })
            .collect(),
        members: members
            .iter()
            .map(|m| {
                let quantiles = m
                    .fit
                    .models
                    .iter()
                    .zip(&m.fit.library_parity)
                    .map(|(model, library)| QuantileParity {
                        quantile: model.quantile,
                        library: library[..rows].to_vec(),
                    })
                    .collect();
                (m.fit.kind.name().to_owned(), quantiles)
            })
            .collect(),
    }
}

/// Whether and how far the training jobs ran past their requests.
fn learn_request_cap(frame: &FeatureFrame, rows: &[usize]) -> RequestCap {
    let cap = RequestCap::learn(rows.iter().map(|&r| EndedJob {
        partition: frame.partition_of(r),
        run_time_s: frame.run_time_s[r],
        request_s: frame.wallclock_req_s[r],
    }));
    tracing::info!(
        over_share = cap.overall.over_share,
        factor = cap.overall.factor,
        partitions = cap.partitions.len(),
        "jobs past their request in the training data"
    );
    cap
}

/// Quality of the blended, calibrated validation predictions (`blended`
/// holds one log-unit vector per quantile for `valid_rows`).
fn validation_quality(
    frame: &FeatureFrame,
    valid_rows: &[usize],
    blended: &[Vec<f64>],
    calibration: &Calibration,
) -> QualityMetrics {
    let p = seconds(frame, valid_rows, blended, calibration);
    let actual: Vec<f64> = valid_rows.iter().map(|&r| frame.run_time_s[r]).collect();
    crate::evaluate::quality(&p.p50, &actual, Some((&p.p10, &p.p90)))
}

/// Loads a member's models into the native engine and compares its
/// predictions with the library's own on the parity rows.
fn load_and_check(
    fit: &MemberFit,
    x: &ColumnMajor,
    parity_rows: usize,
) -> Result<(Vec<Forest>, f64)> {
    let format = fit.kind.model_format();
    let columns: Vec<&[f32]> = fit
        .inputs
        .iter()
        .map(|&j| &x.column(j)[..parity_rows])
        .collect();
    let tolerance = parity::tolerance(fit.kind);
    let mut forests = Vec::with_capacity(fit.models.len());
    let mut worst = 0.0f64;
    for (model, library) in fit.models.iter().zip(&fit.library_parity) {
        let forest =
            Forest::parse(&model.text, format).map_err(PipelineError::model(fit.kind.name()))?;
        let mut native = vec![0.0; parity_rows];
        forest
            .predict_columns(&columns, &mut native)
            .map_err(PipelineError::model(fit.kind.name()))?;
        let diff = max_rel_diff(&native, library);
        if diff.is_nan() || diff > tolerance || library.len() != parity_rows {
            return Err(PipelineError::Parity(format!(
                "{} quantile {}: max relative difference {diff:e} on {parity_rows} rows (tolerance {tolerance:e})",
                fit.kind, model.quantile
            )));
        }
        worst = worst.max(diff);
        forests.push(forest);
    }
    tracing::info!(member = %fit.kind, max_rel_diff = worst, rows = parity_rows, "native engine matches the library");
    Ok((forests, worst))
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
    /// Model inputs for `rows`, checked against the training features.
    fn inputs(&self, frame: &FeatureFrame, rows: &[usize]) -> Result<ColumnMajor> {
        if frame.feature_names() != self.feature_names {
            return Err(PipelineError::Features(
                "feature columns differ from those the model was trained on".into(),
            ));
        }
        Ok(model_matrix(frame, rows, &self.codes))
    }

    /// Blended raw outputs (log units) for `rows`: one vector per quantile.
    pub fn predict_log(&self, frame: &FeatureFrame, rows: &[usize]) -> Result<Vec<Vec<f64>>> {
        let x = self.inputs(frame, rows)?;
        Ok(self.ensemble.log_quantiles(&x.columns())?)
    }

    /// Calibrated blended predictions in seconds for `rows`.
    pub fn predict(&self, frame: &FeatureFrame, rows: &[usize]) -> Result<Predictions> {
        let raw = self.predict_log(frame, rows)?;
        Ok(seconds(
            frame,
            rows,
            &raw,
            &self.calibration(&self.interval),
        ))
    }

    /// Calibrated predictions for `rows`, the same as [`TrainedModel::predict`]
    /// gives, bit for bit. Frame row `r` takes the outputs of scored row
    /// `scored_of_row[r]` when its model inputs have that row's fingerprint;
    /// only the others go through the forests. Also returns how many rows
    /// were reused.
    pub fn predict_reusing(
        &self,
        frame: &FeatureFrame,
        rows: &[usize],
        scored: &ScoredRows,
        scored_of_row: &[Option<usize>],
    ) -> Result<(Predictions, usize)> {
        debug_assert_eq!(frame.len(), scored_of_row.len());
        let x = self.inputs(frame, rows)?;
        let reused: Vec<Option<usize>> = row_fingerprints(&x)
            .into_iter()
            .zip(rows)
            .map(|(fingerprint, &r)| scored_of_row[r].filter(|&k| scored.matches(k, fingerprint)))
            .collect();
        let fresh_rows: Vec<usize> = (0..rows.len()).filter(|&i| reused[i].is_none()).collect();
        let fresh = if fresh_rows.is_empty() {
            // Every row is reused, so the scored rows have every quantile.
            vec![Vec::new(); scored.raw.len()]
        } else {
            let x = x.select_rows(&fresh_rows);
            self.ensemble.log_quantiles(&x.columns())?
        };
        drop(x);
        let raw: Vec<Vec<f64>> = fresh
            .iter()
            .enumerate()
            .map(|(q, fresh)| {
                let mut fresh = fresh.iter();
                reused
                    .iter()
                    .map(|k| match k {
                        Some(k) => scored.raw[q][*k],
                        None => *fresh.next().expect("one fresh output per fresh row"),
                    })
                    .collect()
            })
            .collect();
        let predictions = seconds(frame, rows, &raw, &self.calibration(&self.interval));
        Ok((predictions, rows.len() - fresh_rows.len()))
    }

    /// Calibrated blended predictions and each member's own, in seconds, for
    /// `rows`: every forest is evaluated once, and the blend is the one
    /// [`TrainedModel::predict`] gives, bit for bit. The blend's raw outputs
    /// come too, for [`TrainedModel::predict_reusing`].
    pub fn predict_with_members(
        &self,
        frame: &FeatureFrame,
        rows: &[usize],
    ) -> Result<(Predictions, Vec<Predictions>, ScoredRows)> {
        let x = self.inputs(frame, rows)?;
        let columns = x.columns();
        let raw: Vec<Vec<Vec<f64>>> = (0..self.members.len())
            .map(|m| self.ensemble.member_log_quantiles(m, &columns))
            .collect::<std::result::Result<_, _>>()?;
        let blended = self.ensemble.blend_member_outputs(&raw)?;
        let blend = seconds(frame, rows, &blended, &self.calibration(&self.interval));
        let members = raw
            .iter()
            .enumerate()
            .map(|(m, member_raw)| {
                let interval = IntervalCalibration {
                    margin: self.members[m].margin,
                    ..self.interval.clone()
                };
                seconds(frame, rows, member_raw, &self.calibration(&interval))
            })
            .collect();
        let scored = ScoredRows {
            fingerprints: row_fingerprints(&x),
            raw: blended,
        };
        Ok((blend, members, scored))
    }

    /// Calibrated predictions of member `m` alone, in seconds.
    pub fn predict_member(
        &self,
        m: usize,
        frame: &FeatureFrame,
        rows: &[usize],
    ) -> Result<Predictions> {
        let x = self.inputs(frame, rows)?;
        let raw = self.ensemble.member_log_quantiles(m, &x.columns())?;
        let interval = IntervalCalibration {
            margin: self.members[m].margin,
            ..self.interval.clone()
        };
        Ok(seconds(frame, rows, &raw, &self.calibration(&interval)))
    }

    fn calibration<'a>(&'a self, interval: &'a IntervalCalibration) -> Calibration<'a> {
        Calibration {
            interval,
            cap: &self.request_cap,
            likely: &self.likely,
        }
    }
}

impl Predictions {
    /// The predictions of `rows`, in that order.
    pub fn select(&self, rows: &[usize]) -> Predictions {
        let pick = |v: &[f64]| rows.iter().map(|&r| v[r]).collect();
        Predictions {
            p10: pick(&self.p10),
            p50: pick(&self.p50),
            p90: pick(&self.p90),
            likely: pick(&self.likely),
            suggestion_ceiling_s: pick(&self.suggestion_ceiling_s),
        }
    }

    /// Appends `other`'s rows.
    pub fn extend(&mut self, other: Predictions) {
        self.p10.extend(other.p10);
        self.p50.extend(other.p50);
        self.p90.extend(other.p90);
        self.likely.extend(other.likely);
        self.suggestion_ceiling_s.extend(other.suggestion_ceiling_s);
    }
}

/// What turns the blend's raw quantiles into the seconds a user sees.
struct Calibration<'a> {
    interval: &'a IntervalCalibration,
    cap: &'a RequestCap,
    likely: &'a LikelyRule,
}

fn seconds(
    frame: &FeatureFrame,
    rows: &[usize],
    raw: &[Vec<f64>],
    calibration: &Calibration,
) -> Predictions {
    let cap = calibration.cap;
    let mut out = Predictions::default();
    let mut row_q = vec![0.0; raw.len()];
    for (i, &r) in rows.iter().enumerate() {
        let (partition, request) = (frame.partition_of(r), frame.wallclock_req_s[r]);
        for (v, q) in row_q.iter_mut().zip(raw) {
            *v = q[i];
        }
        let ([p10, p50, p90], likely) = calibrated_seconds(
            TARGET,
            &QUANTILES,
            INTERVAL,
            &row_q,
            calibration.interval.margin,
            cap.cap_s(partition, request),
            Some(calibration.likely),
        );
        out.p10.push(p10);
        out.p50.push(p50);
        out.p90.push(p90);
        out.likely.push(likely);
        out.suggestion_ceiling_s
            .push(cap.suggestion_ceiling_s(partition, request));
    }
    out
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
}
